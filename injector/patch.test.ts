// injectionPatch() beyond the golden files: pods as weft inject and odd
// clients send them (no metadata, null maps), options, precedence, and the
// errors a malformed pod gets.
import { describe, expect, it } from 'vitest';
import { findWeftError } from '../proto/errors.ts';
import { applyPatch, type JsonPatchOp } from './json-patch.ts';
import { injectionPatch, shutdownTimings, type InjectOptions, type NamespaceMeta } from './patch.ts';
import { PROXY_NODE_FLAGS } from '../proto/entry-points.ts';

const OPTS: InjectOptions = { proxyImage: 'img:1', proxyVersion: '1.2.3' };
const ENABLED: NamespaceMeta = { name: 'demo', annotations: { 'weft.dev/inject': 'enabled' } };
const PLAIN: NamespaceMeta = { name: 'demo' };

function pod(extra: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return { metadata: { name: 'p', ...extra }, spec: { containers: [{ name: 'app', image: 'app:1' }], ...spec } };
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return findWeftError(err)?.code;
  }
  return undefined;
}

type Patched = {
  metadata: { annotations: Record<string, string> };
  spec: {
    containers: { name: string; env: { name: string; value?: string }[]; resources?: unknown; image?: string; command?: string[] }[];
    initContainers: { name: string; image: string; command: string[] }[];
    volumes: { name: string }[];
  };
};

function injected(p: unknown, ns: NamespaceMeta = ENABLED, opts: InjectOptions = OPTS): Patched {
  const r = injectionPatch(p, ns, opts);
  expect(r.inject, r.reason).toBe(true);
  return applyPatch(p, r.patch) as Patched;
}

const env = (p: Patched, name: string): string | undefined => p.spec.containers[0]?.env.find((e) => e.name === name)?.value;

describe('injectionPatch', () => {
  it('adds metadata whole when the object has none (a bare pod template)', () => {
    const p = { spec: { containers: [{ name: 'app' }] } };
    const r = injectionPatch(p, ENABLED, OPTS);
    expect(r.patch[0]).toEqual({
      op: 'add',
      path: '/metadata',
      value: { annotations: { 'weft.dev/proxy-version': '1.2.3', 'kubectl.kubernetes.io/default-container': 'app' } },
    });
    expect(applyPatch(p, r.patch).spec.containers.map((c) => c.name)).toEqual(['weft-proxy', 'app']);
  });

  it('treats null maps and lists (as YAML writes an empty key) like missing ones', () => {
    const p = pod({ annotations: null, labels: null }, { initContainers: null, volumes: null });
    const out = injected(p);
    expect(out.metadata.annotations['weft.dev/proxy-version']).toBe('1.2.3');
    expect(out.spec.initContainers.map((c) => c.name)).toEqual(['weft-init']);
    expect(out.spec.volumes.map((v) => v.name)).toEqual(['weft-identity-token', 'weft-trust-bundle']);
  });

  it('keeps an existing default-container annotation', () => {
    const ops = injectionPatch(pod({ annotations: { 'kubectl.kubernetes.io/default-container': 'x' } }), ENABLED, OPTS).patch;
    expect(ops.filter((o: JsonPatchOp) => o.path.includes('default-container'))).toEqual([]);
  });

  it("lets the pod's opt-in win over the namespace's opt-out", () => {
    const ns = { name: 'demo', labels: { 'weft.dev/inject': 'disabled' } };
    expect(injectionPatch(pod({ annotations: { 'weft.dev/inject': 'enabled' } }), ns, OPTS).decision).toBe('injected');
    expect(injectionPatch(pod(), ns, OPTS).decision).toBe('not-enabled');
  });

  it('derives the control plane address and identity from the mesh namespace and trust domain', () => {
    const out = injected(pod(), ENABLED, { ...OPTS, meshNamespace: 'mesh', trustDomain: 'example.org' });
    expect(env(out, 'WEFT_CONTROL_PLANE')).toBe('weft-control-plane.mesh.svc:8086');
    expect(env(out, 'WEFT_CONTROL_PLANE_ID')).toBe('spiffe://example.org/ns/mesh/sa/weft-control-plane');
    expect(env(out, 'WEFT_TRUST_DOMAIN')).toBe('example.org');
    expect(injectionPatch(pod(), { name: 'mesh', annotations: { 'weft.dev/inject': 'enabled' } }, { ...OPTS, meshNamespace: 'mesh' }).decision).toBe(
      'system-namespace',
    );
  });

  it('takes images, install dir and commands from the options', () => {
    const out = injected(pod(), ENABLED, { ...OPTS, initImage: 'init:9', installDir: '/opt/weft/' });
    expect(out.spec.initContainers[0]?.image).toBe('init:9');
    expect(out.spec.initContainers[0]?.command).toEqual(['node', '/opt/weft/injector/init-main.js']);
    expect(out.spec.containers[0]?.command).toEqual(['node', ...PROXY_NODE_FLAGS, '/opt/weft/proxy/main.js']);
    const custom = injected(pod(), ENABLED, { ...OPTS, proxyCommand: ['weft-proxy'], initCommand: ['weft-init'] });
    expect(custom.spec.containers[0]?.command).toEqual(['weft-proxy']);
    expect(custom.spec.initContainers[0]?.command).toEqual(['weft-init']);
  });

  it('merges default resources, namespace annotations and pod annotations, the pod last', () => {
    const ns = { ...ENABLED, annotations: { ...ENABLED.annotations, 'config.weft.dev/proxy-cpu-limit': '2' } };
    const out = injected(pod({ annotations: { 'config.weft.dev/proxy-cpu-request': '200m' } }), ns, {
      ...OPTS,
      defaultResources: { cpuRequest: '10m', memoryRequest: '20Mi' },
    });
    expect(out.spec.containers[0]?.resources).toEqual({ requests: { cpu: '200m', memory: '20Mi' }, limits: { cpu: '2' } });
  });

  it('refuses pods it cannot read with WEFT_ERR_INJECT_POD_INVALID', () => {
    for (const bad of [
      null,
      'pod',
      [],
      {},
      { spec: null },
      { spec: { containers: [] } },
      { spec: { containers: {} } },
      { spec: { containers: [{}] } },
      { spec: { containers: ['app'] } },
      { metadata: 'x', spec: { containers: [{ name: 'a' }] } },
      { metadata: { annotations: { a: 1 } }, spec: { containers: [{ name: 'a' }] } },
      { metadata: { annotations: [] }, spec: { containers: [{ name: 'a' }] } },
      { spec: { containers: [{ name: 'a' }], hostNetwork: 'yes' } },
      { spec: { containers: [{ name: 'a' }], volumes: [{}] } },
    ]) {
      expect(codeOf(() => injectionPatch(bad, ENABLED, OPTS)), JSON.stringify(bad)).toBe('WEFT_ERR_INJECT_POD_INVALID');
    }
  });

  it('refuses a pod that already has a volume the proxy needs', () => {
    expect(codeOf(() => injectionPatch(pod({}, { volumes: [{ name: 'weft-trust-bundle', emptyDir: {} }] }), ENABLED, OPTS))).toBe(
      'WEFT_ERR_INJECT_CONFLICT',
    );
  });

  it('never reads the annotations of a pod it will not inject (an opted-out pod with a bad port is fine)', () => {
    const p = pod({ annotations: { 'weft.dev/inject': 'disabled', 'config.weft.dev/skip-inbound-ports': 'x' } });
    expect(injectionPatch(p, ENABLED, OPTS).decision).toBe('opted-out');
    expect(injectionPatch(pod({ annotations: { 'config.weft.dev/skip-inbound-ports': 'x' } }), PLAIN, OPTS).decision).toBe('not-enabled');
  });

  it('does not repeat the admin port when the annotation lists it', () => {
    const r = injectionPatch(pod({ annotations: { 'config.weft.dev/skip-inbound-ports': '4191,80' } }), ENABLED, OPTS);
    expect(JSON.stringify(r.patch)).toContain('"--skip-inbound-ports","4191,80"');
  });

  it('validates opaque-ports without using it', () => {
    expect(codeOf(() => injectionPatch(pod({ annotations: { 'config.weft.dev/opaque-ports': 'mysql' } }), ENABLED, OPTS))).toBe(
      'WEFT_ERR_INJECT_ANNOTATION_INVALID',
    );
  });
});

describe('shutdownTimings', () => {
  it('fits the proxy grace and drain within the pod termination grace period', () => {
    expect(shutdownTimings(30)).toEqual({ graceMs: 5_000, drainMs: 24_000 });
    expect(shutdownTimings(8)).toEqual({ graceMs: 2_000, drainMs: 5_000 });
    expect(shutdownTimings(0)).toEqual({ graceMs: 0, drainMs: 0 });
    for (let s = 0; s < 120; s++) {
      const t = shutdownTimings(s);
      // Never beyond the kubelet's SIGKILL, a second kept in hand once there is room for it.
      expect(t.graceMs + t.drainMs).toBeLessThanOrEqual(s * 1000);
      if (s >= 2) expect(t.graceMs + t.drainMs).toBe(s * 1000 - 1000);
      expect(t.graceMs).toBeLessThanOrEqual(5_000);
    }
  });

  it('the injected proxy gets them from the pod spec', () => {
    const pod = { metadata: { name: 'p', namespace: 'demo' }, spec: { terminationGracePeriodSeconds: 8, containers: [{ name: 'app', image: 'app' }] } };
    const r = injectionPatch(pod, { name: 'demo', annotations: { 'weft.dev/inject': 'enabled' } }, { proxyImage: 'weft:test', proxyVersion: 't' });
    const patched = applyPatch(pod, r.patch) as { spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } };
    const env = new Map((patched.spec.containers.find((c) => c.name === 'weft-proxy')?.env ?? []).map((e) => [e.name, e.value]));
    expect(env.get('WEFT_SHUTDOWN_GRACE_MS')).toBe('2000');
    expect(env.get('WEFT_DRAIN_TIMEOUT_MS')).toBe('5000');
  });

  it('a terminationGracePeriodSeconds that is not a whole number >= 0 is a bad pod', () => {
    const pod = { spec: { terminationGracePeriodSeconds: 'soon', containers: [{ name: 'app', image: 'app' }] } };
    expect(() => injectionPatch(pod, { name: 'demo', annotations: { 'weft.dev/inject': 'enabled' } }, { proxyImage: 'weft:test', proxyVersion: 't' })).toThrow(
      expect.objectContaining({ code: 'WEFT_ERR_INJECT_POD_INVALID' }),
    );
  });
});

describe('injectionPatch with nativeSidecar (Kubernetes >= 1.29)', () => {
  const NATIVE: InjectOptions = { ...OPTS, nativeSidecar: true };
  type Container = { name: string; restartPolicy?: string; env?: { name: string; value?: string }[]; lifecycle?: unknown; startupProbe?: unknown; readinessProbe?: unknown };
  type NativePatched = { spec: { containers: Container[]; initContainers: Container[] } };

  it('puts the proxy right after weft-init, after the pod\'s own init containers, with restartPolicy Always and a startupProbe on /ready', () => {
    const p = pod({}, { initContainers: [{ name: 'a' }, { name: 'b' }], containers: [{ name: 'app', readinessProbe: { tcpSocket: { port: 8080 } } }] });
    const r = injectionPatch(p, ENABLED, NATIVE);
    const out = applyPatch(p, r.patch) as NativePatched;
    expect(out.spec.initContainers.map((c) => c.name)).toEqual(['a', 'b', 'weft-init', 'weft-proxy']);
    expect(out.spec.containers.map((c) => c.name)).toEqual(['app']);
    const proxy = out.spec.initContainers[3] as Container;
    expect(proxy.restartPolicy).toBe('Always');
    expect(proxy.startupProbe).toEqual({ httpGet: { path: '/ready', port: 4191 }, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 120 });
    expect(proxy.lifecycle).toBeUndefined();
    expect(proxy.readinessProbe).toBeDefined();
    // The app's rewritten probe: its original goes to the native sidecar.
    expect(r.patch.map((op) => op.path)).toContain('/spec/initContainers/3/env/-');
    expect(JSON.parse(proxy.env?.find((e) => e.name === 'WEFT_APP_PROBES')?.value ?? '{}')).toEqual({ 'app/readyz': { tcpSocket: { port: 8080 } } });
    expect(out.spec.containers[0]?.readinessProbe).toMatchObject({ httpGet: { port: 4191, path: '/app-health/app/readyz' } });
  });

  it('leaves the classic shape as it was when off, and never injects a pod that has either shape', () => {
    const classic = injectionPatch(pod(), ENABLED, { ...OPTS, nativeSidecar: false });
    expect(classic.patch).toEqual(injectionPatch(pod(), ENABLED, OPTS).patch);
    const native = applyPatch(pod(), injectionPatch(pod(), ENABLED, NATIVE).patch);
    expect(injectionPatch(native, ENABLED, OPTS).decision).toBe('already-injected');
    // A proxy init container alone (someone else's weft-init removed) still counts.
    const proxyOnly = pod({}, { initContainers: [{ name: 'weft-proxy', restartPolicy: 'Always' }] });
    expect(injectionPatch(proxyOnly, ENABLED, NATIVE).decision).toBe('already-injected');
  });
});
