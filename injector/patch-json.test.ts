// The webhook's fast serialization must write exactly what JSON.stringify
// writes: patchJson() for every patch injectionPatch() builds (golden cases
// and variants), answerJson() for every kind of answer; and the injected
// values, shared between patches, cannot be changed through one of them.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { admissionReview, testPod, TEST_OPTIONS } from './admission-test-fixtures.ts';
import { answerJson } from './admission-errors.ts';
import { reviewAdmission } from './admission.ts';
import { InjectError } from './inject-error.ts';
import { StaticNamespaceLookup } from './namespace-lookup.ts';
import { injectionPatch, patchJson, type InjectOptions, type NamespaceMeta } from './patch.ts';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const OPTS: InjectOptions = { proxyImage: 'img:1', proxyVersion: '1.2.3' };
const ENABLED: NamespaceMeta = { name: 'demo', annotations: { 'weft.dev/inject': 'enabled' } };

function goldenCases(): Array<{ file: string; pod: unknown; namespace: NamespaceMeta }> {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((file) => {
      const docs = parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => d.toJS() as Record<string, unknown>);
      const ns = docs.find((d) => d.kind === 'Namespace') as { metadata: NamespaceMeta } | undefined;
      const pod = docs.find((d) => d.kind === 'Pod') as { metadata?: { namespace?: string } };
      return { file, pod, namespace: ns?.metadata ?? { name: pod.metadata?.namespace ?? 'default' } };
    });
}

function tryPatch(pod: unknown, ns: NamespaceMeta, opts: InjectOptions) {
  try {
    return injectionPatch(pod, ns, opts);
  } catch (err) {
    if (err instanceof InjectError) return undefined;
    throw err;
  }
}

describe('patchJson', () => {
  it('is JSON.stringify of the patch for every golden case, twice (built, then cached)', () => {
    for (const c of goldenCases()) {
      for (let i = 0; i < 2; i++) {
        const r = tryPatch(c.pod, c.namespace, { proxyImage: 'ghcr.io/weft/weft:0.1.0', proxyVersion: '0.1.0' });
        if (r === undefined) continue;
        expect(patchJson(r.patch), c.file).toBe(JSON.stringify(r.patch));
      }
    }
  });

  it('is JSON.stringify of the patch for pods with and without metadata, arrays, settings and options', () => {
    const annotations = [
      undefined,
      {},
      { 'config.weft.dev/skip-inbound-ports': '25,8000-8100', 'config.weft.dev/skip-outbound-ports': '3306' },
      { 'config.weft.dev/proxy-cpu-request': '100m', 'config.weft.dev/proxy-memory-limit': '64Mi', 'config.weft.dev/proxy-log-level': 'debug' },
      { 'a/b~c': 'x"y\\z\u2028' },
    ];
    const specs = [{}, { initContainers: [{ name: 'setup' }], volumes: [{ name: 'data', emptyDir: {} }] }, { initContainers: null, volumes: [] }];
    const options: InjectOptions[] = [
      OPTS,
      { ...OPTS, installDir: '/opt/weft/', trustDomain: 'example.org', meshNamespace: 'mesh', tokenExpirationSeconds: 3600 },
      { ...OPTS, defaultResources: { cpuRequest: '50m' }, defaultLogLevel: 'warn', imagePullPolicy: 'Always' },
      { ...OPTS, nativeSidecar: true },
    ];
    for (const a of annotations) {
      for (const spec of specs) {
        for (const o of options) {
          const pods = [
            { metadata: { name: 'p', ...(a !== undefined ? { annotations: a } : {}) }, spec: { containers: [{ name: 'app' }], ...spec } },
            { spec: { containers: [{ name: 'app' }], ...spec } },
          ];
          for (const p of pods) {
            const r = injectionPatch(p, ENABLED, o);
            expect(r.inject).toBe(true);
            expect(patchJson(r.patch)).toBe(JSON.stringify(r.patch));
          }
        }
      }
    }
  });

  it('follows options changed in place', () => {
    const o: InjectOptions = { ...OPTS };
    const before = patchJson(injectionPatch(testPod(), ENABLED, o).patch);
    o.proxyImage = 'img:2';
    const after = injectionPatch(testPod(), ENABLED, o);
    expect(patchJson(after.patch)).toBe(JSON.stringify(after.patch));
    expect(patchJson(after.patch)).not.toBe(before);
    expect(JSON.stringify(after.patch)).toContain('"image":"img:2"');
  });

  it('shares the injected values between patches, frozen', () => {
    const a = injectionPatch(testPod(), ENABLED, OPTS).patch;
    const b = injectionPatch(testPod(), ENABLED, OPTS).patch;
    const proxyOf = (ops: typeof a) => ops.find((op) => op.path === '/spec/containers/0');
    const pa = proxyOf(a);
    expect(pa).toBeDefined();
    expect(proxyOf(b)).toEqual(pa);
    const value = (pa as unknown as { value: { image: string; env: unknown[] } }).value;
    expect(() => {
      value.image = 'changed';
    }).toThrow(TypeError);
    expect(() => value.env.push({})).toThrow(TypeError);
  });

  it('never freezes what the caller passed in', () => {
    const proxyCommand = ['node', '/x/proxy.js'];
    const defaultResources = { cpuRequest: '10m' };
    const o: InjectOptions = { ...OPTS, proxyCommand, awaitCommand: ['true'], initCommand: ['true'], defaultResources };
    const p = testPod();
    injectionPatch(p, ENABLED, o);
    for (const v of [proxyCommand, defaultResources, o.awaitCommand, o.initCommand, o, p, p.spec]) expect(Object.isFrozen(v)).toBe(false);
  });
});

describe('answerJson', () => {
  const deps = { namespaces: new StaticNamespaceLookup([ENABLED, { name: 'bad', annotations: { 'weft.dev/inject': 'maybe' } }]), inject: TEST_OPTIONS };

  it('is JSON.stringify of the body for every kind of answer', async () => {
    const bodies: unknown[] = [
      admissionReview(testPod()),
      admissionReview(testPod(), { uid: 'x"patch":""\\"patch":""' }),
      admissionReview(testPod({ 'weft.dev/inject': 'enabled' }), { namespace: 'bad' }),
      admissionReview(testPod(), { namespace: 'other' }),
      admissionReview(testPod({ 'weft.dev/inject': 'sometimes' })),
      admissionReview(testPod({ 'config.weft.dev/proxy-log-level': 'loud"\u0001' }), { namespace: 'bad' }),
      admissionReview({ spec: 'nope' }),
      { ...admissionReview(testPod()), apiVersion: 'admission.k8s.io/v1beta1' },
      { kind: 'Nothing' },
    ];
    let patched = 0;
    for (const b of bodies) {
      const a = await reviewAdmission(JSON.stringify(b), deps);
      if ('response' in a.body && a.body.response.patch !== undefined) patched++;
      expect(answerJson(a.body)).toBe(JSON.stringify(a.body));
    }
    expect(patched).toBe(3);
  });
});
