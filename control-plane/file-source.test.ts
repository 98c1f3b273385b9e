import { cp, mkdtemp, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WeftError } from '../proto/errors.ts';
import type { ClusterState } from './cluster-state.ts';
import { createFileSource, isManifestFile, type FileSource, type FileSourceOptions } from './file-source.ts';
import { ManifestError } from './manifest-parse.ts';
import { pod } from './testdata/builders.ts';

const DEMO = fileURLToPath(new URL('./testdata/demo/', import.meta.url));

async function waitFor(what: string, check: () => boolean, timeoutMs = 2000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const weights = (s: ClusterState | undefined): number[] => s?.trafficSplits[0]?.backends.map((b) => b.weight) ?? [];

describe('file source', () => {
  let dir: string;
  let source: FileSource | undefined;
  let states: ClusterState[];
  let errors: WeftError[];
  const last = (): ClusterState | undefined => states[states.length - 1];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-files-'));
    await cp(DEMO, dir, { recursive: true });
    states = [];
    errors = [];
  });

  afterEach(async () => {
    await source?.close();
    source = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function start(opts: Partial<FileSourceOptions> = {}): Promise<FileSource> {
    source = createFileSource({ path: dir, debounceMs: 20, pollMs: 0, onError: (e) => errors.push(e), ...opts });
    await source.start((s) => states.push(s));
    return source;
  }

  it('loads the demo folder and emits it once on start', async () => {
    const src = await start();
    expect(states).toHaveLength(1);
    const s = states[0]!;
    expect(src.current()).toBe(s);
    expect(errors).toEqual([]);
    expect(s.namespaces.map((n) => [n.name, n.annotations['weft.dev/inject']])).toEqual([['demo', 'enabled']]);
    expect(s.services.map((x) => x.name)).toEqual(['web', 'web-v1', 'web-v2']);
    expect(s.workloads.map((w) => [w.name, w.replicas, w.command])).toEqual([
      ['client', 1, ['weft-demo', 'client']],
      ['web-v1', 2, ['weft-demo', 'server']],
      ['web-v2', 2, ['weft-demo', 'server']],
    ]);
    expect(s.trafficSplits.map((t) => [t.name, t.service, t.backends])).toEqual([
      [
        'web',
        'web',
        [
          { service: 'web-v1', weight: 90 },
          { service: 'web-v2', weight: 10 },
        ],
      ],
    ]);
    expect(s.pods).toEqual([]);
    expect(s.endpoints).toEqual([]);
  });

  it('computes endpoints from the pods it is given, emitting only on change', async () => {
    const src = await start();
    const pods = [
      pod('web-v1-0', '127.0.1.1', { app: 'web', version: 'v1' }),
      pod('web-v2-0', '127.0.2.1', { app: 'web', version: 'v2' }, { ready: false }),
    ];
    src.setPods(pods);
    expect(states).toHaveLength(2);
    const s = last()!;
    expect(s.pods.map((p) => p.name)).toEqual(['web-v1-0', 'web-v2-0']);
    expect(s.endpoints.map((e) => [e.service, e.ports.map((p) => p.port), e.addresses.map((a) => `${a.ip}:${a.ready}`)])).toEqual([
      ['web', [8080], ['127.0.1.1:true', '127.0.2.1:false']],
      ['web-v1', [8080], ['127.0.1.1:true']],
      ['web-v2', [8080], ['127.0.2.1:false']],
    ]);
    src.setPods([...pods].reverse());
    expect(states).toHaveLength(2);
  });

  it('pods set before start are used from the first state', async () => {
    source = createFileSource({ path: dir, pollMs: 0 });
    source.setPods([pod('web-v1-0', '127.0.1.1', { app: 'web', version: 'v1' })]);
    await source.start((s) => states.push(s));
    expect(states[0]?.endpoints.map((e) => e.service)).toEqual(['web', 'web-v1']);
  });

  it('applies an edit within a second', async () => {
    await start({ debounceMs: 100 });
    const file = join(dir, 'split.yaml');
    const t0 = Date.now();
    await writeFile(file, (await readFile(file, 'utf8')).replace('weight: 90', 'weight: 50').replace('weight: 10', 'weight: 50'));
    await waitFor('the new weights', () => weights(last())[0] === 50, 1000);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(weights(last())).toEqual([50, 50]);
    expect(errors).toEqual([]);
  });

  it('picks up an editor-style atomic save (write elsewhere, rename over)', async () => {
    await start();
    const file = join(dir, 'split.yaml');
    const tmp = join(dir, '.split.yaml.swp');
    await writeFile(tmp, (await readFile(file, 'utf8')).replace('weight: 10', 'weight: 30'));
    await rename(tmp, file);
    await waitFor('the new weights', () => weights(last())[1] === 30);
  });

  it('a broken file keeps its last good objects and reports file, document and field', async () => {
    await start();
    const file = join(dir, 'split.yaml');
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.replace('weight: 10', 'weight: -10'));
    await waitFor('an error', () => errors.length > 0);
    const e = errors[0]!;
    expect(e.code).toBe('WEFT_ERR_MANIFEST_INVALID');
    expect(e).toBeInstanceOf(ManifestError);
    expect(e).toMatchObject({ file: 'split.yaml', document: 1, field: 'spec.backends[1].weight' });
    expect(states).toHaveLength(1); // nothing changed: the last good split is in force
    expect(weights(source!.current())).toEqual([90, 10]);

    // The same broken content is reported once.
    await source!.reload();
    expect(errors).toHaveLength(1);

    await writeFile(file, good.replace('weight: 10', 'weight: 20'));
    await waitFor('the fixed weights', () => weights(last())[1] === 20);
  });

  it('bad YAML in one file costs nothing from the others', async () => {
    await writeFile(join(dir, 'web.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: web\n');
    await start();
    expect(errors.map((e) => [e.code, (e as ManifestError).file])).toEqual([['WEFT_ERR_MANIFEST_INVALID', 'web.yaml']]);
    expect(states).toHaveLength(1);
    expect(states[0]?.services).toEqual([]);
    expect(states[0]?.trafficSplits).toHaveLength(1);
    expect(states[0]?.workloads.map((w) => w.name)).toEqual(['client']);
  });

  it('removing a file removes its objects; adding one adds them; other files are ignored', async () => {
    await start();
    await unlink(join(dir, 'split.yaml'));
    await waitFor('the split to go', () => last()?.trafficSplits.length === 0);
    const n = states.length;
    await writeFile(join(dir, 'notes.txt'), 'apiVersion: nonsense');
    await writeFile(join(dir, '.hidden.yaml'), 'nonsense: [');
    await sleep(100);
    expect(states).toHaveLength(n);
    expect(errors).toEqual([]);
    await writeFile(
      join(dir, 'extra.yml'),
      'apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: demo}\nspec: {selector: {app: api}, ports: [{port: 80}]}\n',
    );
    await waitFor('the new service', () => last()?.services.some((s) => s.name === 'api') === true);
  });

  it('a file emptied stays in force until it is still empty a debounce later', async () => {
    const src = await start({ debounceMs: 50 });
    await writeFile(join(dir, 'split.yaml'), '');
    await src.reload();
    expect(src.current().trafficSplits).toHaveLength(1);
    await waitFor('the split to go', () => last()?.trafficSplits.length === 0);
    expect(errors).toEqual([]);
  });

  it('an object defined in two files: the first file (by name) wins, the other is reported', async () => {
    await writeFile(join(dir, 'zz-copy.yaml'), await readFile(join(dir, 'split.yaml'), 'utf8'));
    await start();
    expect(states[0]?.trafficSplits).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'WEFT_ERR_MANIFEST_INVALID', file: 'zz-copy.yaml' });
    await source!.reload();
    expect(errors).toHaveLength(1);
  });

  it('watches a single file', async () => {
    const file = join(dir, 'split.yaml');
    await start({ path: file });
    expect(states[0]?.trafficSplits).toHaveLength(1);
    expect(states[0]?.services).toEqual([]);
    await writeFile(file, (await readFile(file, 'utf8')).replace('weight: 10', 'weight: 11'));
    await waitFor('the new weights', () => weights(last())[1] === 11);
  });

  it('the poll picks up changes even without watch events', async () => {
    const src = await start({ pollMs: 50, debounceMs: 10_000 });
    const file = join(dir, 'split.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('weight: 10', 'weight: 12'));
    await waitFor('the poll', () => weights(last())[1] === 12);
    expect(src.current()).toBe(last());
  });

  it('a missing folder fails start with WEFT_ERR_SOURCE_UNAVAILABLE', async () => {
    source = createFileSource({ path: join(dir, 'nope') });
    await expect(source.start(() => {})).rejects.toMatchObject({ code: 'WEFT_ERR_SOURCE_UNAVAILABLE' });
  });

  it('an empty folder is an empty state', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'weft-empty-'));
    try {
      await start({ path: empty });
      expect(states).toHaveLength(1);
      expect(states[0]?.services).toEqual([]);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('after close nothing is emitted', async () => {
    const src = await start();
    await src.close();
    await writeFile(join(dir, 'split.yaml'), 'broken: [');
    src.setPods([pod('x', '127.0.9.9', { app: 'web' })]);
    await sleep(100);
    expect(states).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it('isManifestFile', () => {
    expect(['a.yaml', 'b.yml', 'c.json', 'D.YAML'].every(isManifestFile)).toBe(true);
    expect(['.a.yaml', 'a.yaml~', 'README.md', 'a.yaml.swp'].some(isManifestFile)).toBe(false);
  });
});
