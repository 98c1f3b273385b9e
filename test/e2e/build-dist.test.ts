// `npm run build` (dist/, the image's /weft): the compiled files run on their
// own — the proxy with the flags an injected sidecar gets, and the CLI — and
// the manifests and injected commands name those .js files.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist } from '../harness/dist-build.ts';
import { entryFile, nodeArgs, PROXY_NODE_FLAGS } from '../../proto/entry-points.ts';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

describe('the build (dist/)', () => {
  let dist = '';
  let work = '';
  const children: ChildProcess[] = [];
  let app: http.Server | undefined;

  beforeAll(async () => {
    dist = await buildDist();
    work = mkdtempSync(join(tmpdir(), 'weft-dist-'));
  }, 120_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
    rmSync(work, { recursive: true, force: true });
  });

  it('holds every entry point as .js, no .ts, and the assets the code reads', () => {
    for (const c of ['proxy', 'awaitReady', 'init', 'injector', 'controlPlane', 'cli'] as const) {
      expect(existsSync(entryFile(dist, c)), c).toBe(true);
    }
    const files = filesUnder(dist);
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.test.js'))).toEqual([]);
    for (const asset of ['proto/mesh.proto', 'cli/demo/split.yaml', 'cli/bin/weft-demo', 'package.json']) {
      expect(existsSync(join(dist, asset)), asset).toBe(true);
    }
  });

  it('`node dist/cli/main.js install` renders Deployments that start the compiled files', () => {
    const r = spawnSync(process.execPath, [entryFile(dist, 'cli'), 'install', '--image', 'weft:test'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('/weft/control-plane/main.js');
    expect(r.stdout).toContain('/weft/injector/main.js');
    expect(r.stdout).not.toContain('main.ts');
  });

  it('`weft inject` from dist/ gives the sidecar the proxy flags and main.js', () => {
    const deployment = JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'demo' },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'web:1' }] } },
      },
    });
    const r = spawnSync(process.execPath, [entryFile(dist, 'cli'), 'inject', '-'], { input: deployment, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.stringify(r.stdout);
    for (const arg of nodeArgs('/weft', 'proxy')) expect(out).toContain(arg);
    expect(out).toContain('/weft/injector/init-main.js');
  });

  it('the compiled proxy, started with the sidecar flags, forwards a request', async () => {
    app = http.createServer((req, res) => res.end(`hello from ${req.url}`));
    await new Promise<void>((resolve) => app?.listen(0, '127.0.0.1', resolve));
    const appPort = (app.address() as { port: number }).port;
    const config = join(work, 'proxy.json');
    writeFileSync(
      config,
      JSON.stringify({
        version: 'dist',
        services: [{ name: 'app', namespace: 'default', ports: [{ port: 80, targetPort: appPort }], endpoints: [{ address: '127.0.0.1', port: appPort }] }],
      }),
    );
    const child = spawn(
      process.execPath,
      [...nodeArgs(dist, 'proxy'), '--config', config, '--outbound-addr', '127.0.0.1:0', '--inbound-addr', '127.0.0.1:0', '--admin-addr', '127.0.0.1:0', '--log-level', 'off'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    expect(child.spawnargs).toEqual(expect.arrayContaining([...PROXY_NODE_FLAGS]));
    let err = '';
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    const first = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const nl = out.indexOf('\n');
        if (nl !== -1) resolve(out.slice(0, nl));
      });
      child.once('exit', (code) => reject(new Error(`proxy exited ${code}: ${err}`)));
    });
    const { outbound } = (JSON.parse(first) as { listening: { outbound: number } }).listening;
    const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: outbound, path: '/x', headers: { host: 'app.default' } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        })
        .on('error', reject);
    });
    expect(body).toEqual({ status: 200, text: 'hello from /x' });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
  });
});
