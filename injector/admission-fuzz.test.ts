// Fuzzing reviewAdmission() with generated and mutated AdmissionReviews
// (seeded PRNG, reproducible: WEFT_FUZZ_SEED=n, WEFT_FUZZ_RUNS=n). Whatever
// comes in, the answer is a well-formed AdmissionReview (uid echoed, allowed
// a boolean, a patch that decodes and applies to the pod it was computed
// from) or a 4xx with an error code; it never throws, and never takes the
// internal-error path (that would be a bug).
import { describe, expect, it } from 'vitest';
import { reviewAdmission, type AdmissionDeps } from './admission.ts';
import type { AdmissionAnswer, AdmissionResponse } from './admission-errors.ts';
import { admissionReview, TEST_OPTIONS } from './admission-test-fixtures.ts';
import { applyPatch, type JsonPatchOp } from './json-patch.ts';
import { StaticNamespaceLookup } from './namespace-lookup.ts';
import { mulberry32 as prng } from '../test/harness/seeded-random.ts';

const SEED = Number(process.env.WEFT_FUZZ_SEED ?? 20261101);
const RUNS = Number(process.env.WEFT_FUZZ_RUNS ?? 2000);

type Rand = ReturnType<typeof prng>;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const chance = (r: Rand, p: number): boolean => r() < p;

const KEYS = [
  'weft.dev/inject',
  'weft.dev/proxy-version',
  'kubectl.kubernetes.io/default-container',
  'config.weft.dev/skip-inbound-ports',
  'config.weft.dev/skip-outbound-ports',
  'config.weft.dev/opaque-ports',
  'config.weft.dev/proxy-cpu-request',
  'config.weft.dev/proxy-cpu-limit',
  'config.weft.dev/proxy-memory-request',
  'config.weft.dev/proxy-memory-limit',
  'config.weft.dev/proxy-log-level',
  'a~b/c',
  'app',
];
const VALUES = ['enabled', 'disabled', 'ENABLED', 'true', '', '80', '80,443', '1-65535', '0', '65536', 'x', '100m', '1', '64Mi',
  '64MB', '-1', '1e3', 'debug', 'trace', '9-3', ' 25 , 26 ', '\u0000', 'é', '4191', '4143', 'web'];
const NAMESPACES = ['demo', 'plain', 'kube-system', 'weft-system', 'nowhere', 'labelled', 'broken', ''];

function randomJson(r: Rand, depth = 0): unknown {
  switch (Math.floor(r() * (depth > 2 ? 5 : 7))) {
    case 0: return null;
    case 1: return chance(r, 0.5);
    case 2: return pick(r, [0, -1, 1.5, 4191, 1e308, Number.MAX_SAFE_INTEGER]);
    case 3: return pick(r, VALUES);
    case 4: return pick(r, KEYS);
    case 5: return Array.from({ length: Math.floor(r() * 3) }, () => randomJson(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(r() * 3) }, () => [pick(r, KEYS), randomJson(r, depth + 1)]));
  }
}

function randomMap(r: Rand): Record<string, string> | null | undefined {
  if (chance(r, 0.15)) return chance(r, 0.5) ? null : undefined;
  return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, () => [pick(r, KEYS), pick(r, VALUES)]));
}

function randomContainer(r: Rand, i: number): Record<string, unknown> {
  const c: Record<string, unknown> = { name: chance(r, 0.05) ? pick(r, ['weft-proxy', 'weft-init']) : `c${i}`, image: 'x:1' };
  if (chance(r, 0.3)) c.ports = [{ containerPort: pick(r, [80, 8080, 4191, 4143, 4140]) }];
  return c;
}

function randomPod(r: Rand): Record<string, unknown> {
  const metadata: Record<string, unknown> = { generateName: 'p-' };
  const annotations = randomMap(r);
  const labels = randomMap(r);
  if (annotations !== undefined) metadata.annotations = annotations;
  if (labels !== undefined) metadata.labels = labels;
  const spec: Record<string, unknown> = { containers: Array.from({ length: 1 + Math.floor(r() * 3) }, (_, i) => randomContainer(r, i)) };
  if (chance(r, 0.3)) spec.initContainers = chance(r, 0.2) ? null : [randomContainer(r, 9)];
  if (chance(r, 0.3)) spec.volumes = chance(r, 0.2) ? null : [{ name: pick(r, ['data', 'weft-trust-bundle']), emptyDir: {} }];
  if (chance(r, 0.1)) spec.hostNetwork = chance(r, 0.8) ? true : 'yes';
  return { apiVersion: 'v1', kind: 'Pod', metadata: chance(r, 0.05) ? undefined : metadata, spec };
}

/** Replaces or deletes one random node somewhere in `v`. */
function mutate(r: Rand, v: unknown): unknown {
  if (v === null || typeof v !== 'object' || chance(r, 0.15)) return randomJson(r);
  const copy: Record<string, unknown> | unknown[] = Array.isArray(v) ? [...v] : { ...(v as Record<string, unknown>) };
  const keys = Object.keys(copy);
  if (keys.length === 0) return randomJson(r);
  const k = pick(r, keys);
  if (!Array.isArray(copy) && chance(r, 0.25)) {
    delete copy[k];
  } else {
    (copy as Record<string, unknown>)[k] = mutate(r, (copy as Record<string, unknown>)[k]);
  }
  return copy;
}

function mangleText(r: Rand, text: string): string {
  switch (Math.floor(r() * 4)) {
    case 0: return text.slice(0, Math.floor(r() * text.length));
    case 1: {
      const i = Math.floor(r() * text.length);
      return text.slice(0, i) + pick(r, ['"', '{', '}', ',', '\\', '\u0000', '\ud800', ']']) + text.slice(i + 1);
    }
    case 2: return text.replace(/"uid":/, '"uid":"dup","uid":');
    default: return `${text}${pick(r, ['', ' ', 'x', '{}'])}`;
  }
}

const deps: AdmissionDeps = {
  namespaces: new StaticNamespaceLookup([
    { name: 'demo', annotations: { 'weft.dev/inject': 'enabled', 'config.weft.dev/proxy-memory-limit': '64Mi' } },
    { name: 'labelled', labels: { 'weft.dev/inject': 'enabled' } },
    { name: 'broken', annotations: { 'weft.dev/inject': 'on', 'config.weft.dev/skip-inbound-ports': 'x' }, labels: { 'weft.dev/inject': 'disabled' } },
    { name: 'kube-system', annotations: { 'weft.dev/inject': 'enabled' } },
  ]),
  inject: TEST_OPTIONS,
};

/** Checks one answer against the request text it came from; returns the outcome. */
function checkAnswer(text: string, a: AdmissionAnswer): string {
  if (a.status !== 200) {
    expect([400, 413]).toContain(a.status);
    const err = (a.body as { error: { code: string; message: string } }).error;
    expect(err.code).toMatch(/^WEFT_ERR_INJECT_/);
    expect(err.message.length).toBeGreaterThan(0);
    return a.outcome;
  }
  expect(a.outcome).not.toBe('error');
  const req = JSON.parse(text) as { apiVersion: string; request: { uid: string; object: unknown } };
  const body = a.body as { apiVersion: string; kind: string; response: AdmissionResponse };
  expect(body.kind).toBe('AdmissionReview');
  expect(body.apiVersion).toBe(req.apiVersion);
  expect(body.response.uid).toBe(req.request.uid);
  expect(typeof body.response.allowed).toBe('boolean');
  // The wire form must survive a JSON round trip unchanged (no undefined, no NaN).
  expect(JSON.parse(JSON.stringify(body))).toEqual(body);
  if (!body.response.allowed) expect(body.response.status?.message).toMatch(/WEFT_ERR_INJECT_/);
  for (const w of body.response.warnings ?? []) expect(w.length).toBeLessThanOrEqual(256);
  if (body.response.patch !== undefined) {
    expect(body.response.patchType).toBe('JSONPatch');
    const ops = JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8')) as JsonPatchOp[];
    expect(Array.isArray(ops)).toBe(true);
    const patched = applyPatch(req.request.object, ops) as { spec: { containers: { name: string }[] } };
    expect(patched.spec.containers[0]?.name).toBe('weft-proxy');
  }
  return a.outcome;
}

describe(`admission fuzz (seed ${SEED}, ${RUNS} runs per kind)`, () => {
  it('generated reviews of random pods: always a well-formed answer', async () => {
    const r = prng(SEED);
    const seen = new Map<string, number>();
    for (let i = 0; i < RUNS; i++) {
      const body = admissionReview(randomPod(r), { uid: `uid-${i}`, namespace: pick(r, NAMESPACES), operation: chance(r, 0.9) ? 'CREATE' : pick(r, ['UPDATE', 'CONNECT']) });
      const text = JSON.stringify(body);
      const outcome = checkAnswer(text, await reviewAdmission(text, deps));
      seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
    }
    // The generator reaches the interesting decisions, not only errors.
    for (const o of ['injected', 'not-enabled', 'opted-out', 'denied', 'already-injected', 'system-namespace', 'host-network', 'invalid-pod']) {
      expect(seen.get(o) ?? 0, `outcome ${o} never happened: ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
    }
  });

  it('structurally mutated reviews: always a well-formed answer or a 4xx', async () => {
    const r = prng(SEED + 1);
    for (let i = 0; i < RUNS; i++) {
      let v: unknown = admissionReview(randomPod(r), { uid: `uid-${i}`, namespace: pick(r, NAMESPACES) });
      for (let m = 1 + Math.floor(r() * 3); m > 0; m--) v = mutate(r, v);
      const text = JSON.stringify(v) ?? 'null';
      const a = await reviewAdmission(text, deps);
      try {
        checkAnswer(text, a);
      } catch (err) {
        throw new Error(`run ${i}: ${text.slice(0, 2000)}\n-> ${JSON.stringify(a).slice(0, 2000)}`, { cause: err });
      }
    }
  });

  it('mangled bytes: never throws, 200 only for what still parses', async () => {
    const r = prng(SEED + 2);
    for (let i = 0; i < RUNS; i++) {
      const text = mangleText(r, JSON.stringify(admissionReview(randomPod(r), { uid: `uid-${i}` })));
      const a = await reviewAdmission(text, deps);
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      if (!parses) expect(a.status).toBe(400);
      else checkAnswer(text, a);
    }
  });

  it('random binary bodies: 400', async () => {
    const r = prng(SEED + 3);
    for (let i = 0; i < 200; i++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(r() * 512) }, () => Math.floor(r() * 256)));
      const a = await reviewAdmission(bytes, deps);
      expect(a.status).toBe(400);
    }
  });
});
