// reviewAdmission(): one AdmissionReview body in, the HTTP status and body out.
import { describe, expect, it } from 'vitest';
import { reviewAdmission, MAX_REVIEW_BYTES, type AdmissionDeps } from './admission.ts';
import type { AdmissionResponse } from './admission-errors.ts';
import { admissionReview, testPod, TEST_OPTIONS } from './admission-test-fixtures.ts';
import { applyPatch, type JsonPatchOp } from './json-patch.ts';
import { StaticNamespaceLookup } from './namespace-lookup.ts';

const deps: AdmissionDeps = {
  namespaces: new StaticNamespaceLookup([
    { name: 'demo', annotations: { 'weft.dev/inject': 'enabled' } },
    { name: 'plain', labels: { team: 'x' } },
  ]),
  inject: TEST_OPTIONS,
};

async function review(body: unknown, d: AdmissionDeps = deps) {
  const a = await reviewAdmission(typeof body === 'string' ? body : JSON.stringify(body), d);
  return { ...a, response: (a.body as { response?: AdmissionResponse }).response, error: (a.body as { error?: { code: string; message: string } }).error };
}

function patchOf(r: AdmissionResponse | undefined): JsonPatchOp[] {
  expect(r?.patchType).toBe('JSONPatch');
  return JSON.parse(Buffer.from(r?.patch ?? '', 'base64').toString('utf8')) as JsonPatchOp[];
}

describe('reviewAdmission', () => {
  it('injects a pod created in an annotated namespace: allowed, JSONPatch, base64, uid echoed', async () => {
    const pod = testPod();
    const a = await review(admissionReview(pod, { uid: 'abc-123' }));
    expect(a.status).toBe(200);
    expect(a.outcome).toBe('injected');
    expect(a.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    expect(a.response).toMatchObject({ uid: 'abc-123', allowed: true });
    const patched = applyPatch(pod, patchOf(a.response)) as { spec: { containers: { name: string }[] } };
    expect(patched.spec.containers.map((c) => c.name)).toEqual(['weft-proxy', 'web']);
  });

  it('uses request.namespace (pods from a ReplicaSet have no metadata.namespace yet)', async () => {
    const a = await review(admissionReview({ ...testPod(), metadata: { namespace: 'plain' } }, { namespace: 'demo' }));
    expect(a.outcome).toBe('injected');
  });

  it('allows without a patch: unannotated namespace, unknown namespace, opted-out pod', async () => {
    for (const [ns, pod, outcome] of [
      ['plain', testPod(), 'not-enabled'],
      ['nowhere', testPod(), 'not-enabled'],
      ['demo', testPod({ 'weft.dev/inject': 'disabled' }), 'opted-out'],
    ] as const) {
      const a = await review(admissionReview(pod, { namespace: ns }));
      expect(a.status).toBe(200);
      expect(a.outcome).toBe(outcome);
      expect(a.response).toEqual({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
    }
  });

  it('injects a pod that opts in within an unknown namespace', async () => {
    const a = await review(admissionReview(testPod({ 'weft.dev/inject': 'enabled' }), { namespace: 'nowhere' }));
    expect(a.outcome).toBe('injected');
  });

  it('denies a pod with an invalid annotation, naming it and the error code', async () => {
    const a = await review(admissionReview(testPod({ 'config.weft.dev/skip-inbound-ports': '80,http' })));
    expect(a.status).toBe(200);
    expect(a.outcome).toBe('denied');
    expect(a.response?.allowed).toBe(false);
    expect(a.response?.status?.code).toBe(400);
    expect(a.response?.status?.message).toContain('config.weft.dev/skip-inbound-ports');
    expect(a.response?.status?.message).toContain('WEFT_ERR_INJECT_ANNOTATION_INVALID');
    expect(a.response?.patch).toBeUndefined();
  });

  it('denies a pod whose label and annotation disagree', async () => {
    const pod = testPod({ 'weft.dev/inject': 'enabled' });
    (pod.metadata as Record<string, unknown>).labels = { 'weft.dev/inject': 'disabled' };
    const a = await review(admissionReview(pod));
    expect(a.response?.allowed).toBe(false);
    expect(a.response?.status?.message).toContain('WEFT_ERR_INJECT_CONFLICT');
  });

  it('warns (and still decides) when the namespace annotation is invalid', async () => {
    const d = { ...deps, namespaces: new StaticNamespaceLookup([{ name: 'demo', annotations: { 'weft.dev/inject': 'yes' } }]) };
    const a = await review(admissionReview(testPod({ 'weft.dev/inject': 'enabled' })), d);
    expect(a.outcome).toBe('injected');
    expect(a.response?.warnings).toEqual([expect.stringContaining('weft injector: namespace demo: weft.dev/inject: "yes"')]);
  });

  it('answers 400 for a body that is not JSON, naming the problem', async () => {
    for (const body of ['', '{', 'null', '[]', '"x"', '\u0000\u0001']) {
      const a = await review(body);
      expect(a.status, body).toBe(400);
      expect(a.error?.code).toBe('WEFT_ERR_INJECT_REVIEW_INVALID');
      expect(a.error?.message).toMatch(/JSON/);
    }
  });

  it('answers 400 for a review without a uid, without a request, or of the wrong kind or version', async () => {
    const good = admissionReview(testPod());
    const cases: [unknown, RegExp][] = [
      [{ ...good, request: { ...(good.request as object), uid: undefined } }, /no uid/],
      [{ ...good, request: { ...(good.request as object), uid: 42 } }, /no uid/],
      [{ ...good, request: undefined }, /no request/],
      [{ ...good, kind: 'Pod' }, /expected kind AdmissionReview/],
      [{ ...good, apiVersion: 'admission.k8s.io/v2' }, /admission.k8s.io\/v1/],
    ];
    for (const [body, message] of cases) {
      const a = await review(body);
      expect(a.status).toBe(400);
      expect(a.error?.message).toMatch(message);
    }
  });

  it('answers a v1beta1 review in v1beta1, allowed, with a warning to configure v1', async () => {
    const a = await review({ ...admissionReview(testPod()), apiVersion: 'admission.k8s.io/v1beta1' });
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview' });
    expect(a.response?.allowed).toBe(true);
    expect(a.response?.patch).toBeUndefined();
    expect(a.response?.warnings?.[0]).toContain('admissionReviewVersions');
  });

  it('allows other resources, other operations and subresources unchanged', async () => {
    const cases = [
      admissionReview({ kind: 'Deployment' }, { resource: { group: 'apps', version: 'v1', resource: 'deployments' }, kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }),
      admissionReview(testPod(), { operation: 'UPDATE' }),
      admissionReview(testPod(), { operation: 'DELETE' }),
      admissionReview({ kind: 'EphemeralContainers' }, { subResource: 'ephemeralcontainers' }),
    ];
    for (const body of cases) {
      const a = await review(body);
      expect(a.status).toBe(200);
      expect(a.outcome).toBe('ignored');
      expect(a.response).toEqual({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
    }
  });

  it('allows a malformed pod with a warning (the apiserver explains the rest)', async () => {
    const a = await review(admissionReview({ kind: 'Pod', spec: { containers: 'web' } }));
    expect(a.outcome).toBe('invalid-pod');
    expect(a.response?.allowed).toBe(true);
    expect(a.response?.warnings?.[0]).toContain('spec.containers is not a list');
  });

  it('refuses bodies over 3 MiB with 413', async () => {
    const a = await reviewAdmission(Buffer.alloc(MAX_REVIEW_BYTES + 1, 0x20), deps);
    expect(a.status).toBe(413);
  });

  it('handles a large (2 MiB) pod', async () => {
    const big = testPod({ blob: 'x'.repeat(2 * 1024 * 1024) });
    const a = await review(admissionReview(big));
    expect(a.outcome).toBe('injected');
  });

  it('treats a failing namespace lookup as unannotated, with a warning', async () => {
    const d: AdmissionDeps = { ...deps, namespaces: { get: () => Promise.reject(new Error('apiserver down')) } };
    expect((await review(admissionReview(testPod()), d)).outcome).toBe('not-enabled');
    const a = await review(admissionReview(testPod({ 'weft.dev/inject': 'enabled' })), d);
    expect(a.outcome).toBe('injected');
    expect(a.response?.warnings?.[0]).toContain('could not be read');
  });

  it('fails open on an internal error: allowed, a warning, logged', async () => {
    const inject = { ...TEST_OPTIONS };
    Object.defineProperty(inject, 'proxyVersion', { get: () => { throw new Error('boom\nsecond line'); } });
    const logged: string[] = [];
    const log = (msg: string) => logged.push(msg);
    const a = await review(admissionReview(testPod()), { ...deps, inject, logger: { debug: log, info: log, warn: log, error: log } });
    expect(a.status).toBe(200);
    expect(a.outcome).toBe('error');
    expect(a.response?.allowed).toBe(true);
    expect(a.response?.warnings?.[0]).toBe('weft injector: internal error, pod not injected: boom second line');
    expect(logged).toHaveLength(1);
  });

  it('keeps warnings to one printable line of at most 256 characters', async () => {
    const d = { ...deps, namespaces: new StaticNamespaceLookup([{ name: 'demo', annotations: { 'weft.dev/inject': `x\n${'y'.repeat(500)}` } }]) };
    const a = await review(admissionReview(testPod({ 'weft.dev/inject': 'enabled' })), d);
    for (const w of a.response?.warnings ?? []) {
      expect(w.length).toBeLessThanOrEqual(256);
      expect(w).not.toMatch(/[\u0000-\u001f]/);
    }
  });
});
