// Golden tests of injectionPatch(): each injector/testdata/<case>.yaml holds
// a Namespace and a Pod, and optionally a `kind: InjectOptions` document whose
// `options` are merged over GOLDEN_OPTIONS (e.g. `nativeSidecar: true`);
// <case>.patch.json holds the expected decision and JSON Patch (or the
// expected error). Regenerate after an intended change with
// WEFT_UPDATE_GOLDEN=1 npx vitest run injector/patch-golden.test.ts, and
// review the diff.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { InjectError } from './inject-error.ts';
import { applyPatch } from './json-patch.ts';
import { injectionPatch, type InjectOptions, type NamespaceMeta } from './patch.ts';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const UPDATE = process.env.WEFT_UPDATE_GOLDEN === '1';

export const GOLDEN_OPTIONS: InjectOptions = { proxyImage: 'ghcr.io/weft/weft:0.1.0', proxyVersion: '0.1.0' };

interface Case {
  namespace: NamespaceMeta;
  pod: Record<string, unknown>;
  options: InjectOptions;
}

function load(file: string): Case {
  const docs = parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => d.toJS() as Record<string, unknown>);
  const ns = docs.find((d) => d.kind === 'Namespace') as { metadata: NamespaceMeta } | undefined;
  const pod = docs.find((d) => d.kind === 'Pod');
  if (pod === undefined) throw new Error(`${file}: no Pod`);
  const podNs = (pod.metadata as { namespace?: string }).namespace ?? 'default';
  const extra = docs.find((d) => d.kind === 'InjectOptions') as { options?: Partial<InjectOptions> } | undefined;
  return { namespace: ns?.metadata ?? { name: podNs }, pod, options: { ...GOLDEN_OPTIONS, ...extra?.options } };
}

function run(c: Case): unknown {
  try {
    return injectionPatch(c.pod, c.namespace, c.options);
  } catch (err) {
    if (!(err instanceof InjectError)) throw err;
    return { error: { code: err.code, key: err.key ?? null, message: err.message } };
  }
}

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('injectionPatch golden files (injector/testdata)', () => {
  it('has the cases the issue lists', () => {
    for (const name of [
      'namespace-annotated', 'namespace-labelled', 'pod-opt-out', 'pod-opt-in', 'host-network', 'kube-system',
      'already-injected', 'skip-ports', 'resources', 'log-level', 'no-annotations', 'existing-init-volumes',
      'job-classic-sidecar', 'job-native-sidecar', 'native-sidecar-no-init',
    ]) {
      expect(cases).toContain(`${name}.yaml`);
    }
  });

  it.each(cases)('%s', (file) => {
    const c = load(file);
    const actual = run(c);
    const goldenPath = join(DIR, file.replace(/\.yaml$/, '.patch.json'));
    const text = `${JSON.stringify(actual, null, 2)}\n`;
    if (UPDATE) writeFileSync(goldenPath, text);
    expect(existsSync(goldenPath), `${goldenPath} missing; run with WEFT_UPDATE_GOLDEN=1`).toBe(true);
    expect(actual).toEqual(JSON.parse(readFileSync(goldenPath, 'utf8')));

    // Whatever the golden file says, the patch must apply to the pod it came from.
    const result = actual as { inject?: boolean; patch?: Parameters<typeof applyPatch>[1] };
    if (result.inject === true && result.patch !== undefined) {
      type Container = { name: string; restartPolicy?: string; startupProbe?: unknown; lifecycle?: unknown };
      const patched = applyPatch(c.pod, result.patch) as { spec: { containers: Container[]; initContainers: Container[] } };
      const appNames = (c.pod.spec as { containers: { name: string }[] }).containers.map((x) => x.name);
      if (c.options.nativeSidecar === true) {
        // weft-init, then the proxy as a native sidecar, after the pod's own init containers; the app containers untouched in place.
        expect(patched.spec.initContainers.slice(-2).map((x) => x.name)).toEqual(['weft-init', 'weft-proxy']);
        const proxy = patched.spec.initContainers.at(-1);
        expect(proxy?.restartPolicy).toBe('Always');
        expect(proxy?.startupProbe).toBeDefined();
        expect(proxy?.lifecycle).toBeUndefined();
        expect(patched.spec.containers.map((x) => x.name)).toEqual(appNames);
      } else {
        expect(patched.spec.containers.map((x) => x.name)).toEqual(['weft-proxy', ...appNames]);
        expect(patched.spec.initContainers.at(-1)?.name).toBe('weft-init');
        expect(patched.spec.containers[0]?.restartPolicy).toBeUndefined();
      }
      // Injecting the injected pod again is a no-op, in either shape.
      expect(injectionPatch(patched, c.namespace, c.options).decision).toBe('already-injected');
      expect(injectionPatch(patched, c.namespace, { ...c.options, nativeSidecar: c.options.nativeSidecar !== true }).decision).toBe('already-injected');
    }
  });
});
