// Acceptance 2 of the Kubernetes issue: a TrafficSplit in each of v1alpha1
// (weights "500m"), v1alpha2, v1alpha3 (with HTTPRouteGroup matches) and
// v1alpha4 reaches a connected proxy's config stream within 1 second of
// `kubectl apply`, against a real kube-apiserver.
//
// The control plane runs in-process (control-plane.ts start()) on the
// Kubernetes source, with the TokenReview validator; the "proxy" is a
// config-stream client that subscribes with a real TokenRequest token and
// acks every update. Pods are created through the API and marked Running
// with addresses in 198.18.0.0/15; the controller manager's EndpointSlice
// controller makes their slices (discovery.k8s.io/v1beta1 on 1.20). Each
// latency is measured from just before `kubectl apply` starts (so it
// includes kubectl's own start-up) to the update's arrival.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCluster } from './cluster-gate.ts';
import { startCluster, type Cluster } from './harness.ts';
import { installSmiCrds } from './smi-crds.ts';
import {
  apply,
  createRunningPod,
  ensureNamespace,
  ensureServiceAccount,
  service,
  serviceOf,
  startKubeControlPlane,
  subscribeConfig,
  type ConfigWatch,
  type KubeControlPlane,
} from './kube-mesh-fixture.ts';
import type { ProxyConfig } from '../../proto/mesh.ts';

const NS = 'split-demo';
const ROOTS = ['web-a1', 'web-a2', 'web-a3', 'web-a4'];
const LATENCY_BUDGET_MS = 1000;

describeCluster('Kubernetes source: TrafficSplit v1alpha1..v1alpha4 reach a proxy within 1 s', () => {
  let cluster: Cluster;
  let kcp: KubeControlPlane;
  let watch: ConfigWatch;
  const latencies: Record<string, number> = {};

  beforeAll(async () => {
    cluster = await startCluster();
    await installSmiCrds(cluster);
    await ensureNamespace(cluster, NS);
    await cluster.waitForServiceAccount(NS);
    for (const sa of ['web', 'client']) await ensureServiceAccount(cluster, NS, sa);
    await apply(cluster, [
      ...ROOTS.map((r) => service(NS, r, { app: 'web' })),
      service(NS, 'web-v1', { app: 'web', version: 'v1' }),
      service(NS, 'web-v2', { app: 'web', version: 'v2' }),
    ]);
    await createRunningPod(cluster, { namespace: NS, name: 'web-v1-a', labels: { app: 'web', version: 'v1' }, serviceAccount: 'web', ip: '198.18.1.10' });
    await createRunningPod(cluster, { namespace: NS, name: 'web-v2-a', labels: { app: 'web', version: 'v2' }, serviceAccount: 'web', ip: '198.18.1.20' });

    kcp = await startKubeControlPlane(cluster);
    const token = await cluster.requestToken(NS, 'client');
    watch = subscribeConfig(kcp.cp, token, { namespace: NS, pod: 'client-1', serviceAccount: 'client' });
    // Ready once both backends have their (meshed) endpoint.
    await watch.waitFor((c) => ['web-v1', 'web-v2'].every((s) => (serviceOf(c, NS, s)?.endpoints.length ?? 0) === 1), 30_000);
  }, 180_000);

  afterAll(async () => {
    watch?.close();
    await kcp?.close();
    await cluster?.stop();
    if (Object.keys(latencies).length > 0) process.stderr.write(`apply -> proxy config latencies (ms): ${JSON.stringify(latencies)}\n`);
  });

  /** Applies `objects` and returns the first update that satisfies `pred`, with the latency from before the apply. */
  async function applyAndWait(label: string, objects: object[], pred: (c: ProxyConfig) => boolean): Promise<ProxyConfig> {
    const from = watch.updates.length;
    const t0 = performance.now();
    const waiting = watch.waitFor(pred, 10_000, from);
    await apply(cluster, objects);
    const got = await waiting;
    const ms = Math.round(got.at - t0);
    latencies[label] = ms;
    expect(ms, `${label}: apply -> config took ${ms} ms`).toBeLessThan(LATENCY_BUDGET_MS);
    return got.config;
  }

  const backendsOf = (c: ProxyConfig, root: string): Array<[string, number]> =>
    (serviceOf(c, NS, root)?.routes.at(-1)?.backends ?? []).map((b) => [b.service, b.weight]);

  it('reads the endpoints from EndpointSlices (v1beta1 here) with SPIFFE IDs of meshed pods', () => {
    expect(kcp.source.versions().endpointSlices).toBe('discovery.k8s.io/v1beta1');
    expect(kcp.source.versions().trafficSplits).toBe('split.smi-spec.io/v1alpha4');
    const v1 = serviceOf(watch.latest(), NS, 'web-v1')!;
    expect(v1.endpoints).toEqual([
      expect.objectContaining({ address: '198.18.1.10', port: 8080, identity: `spiffe://cluster.local/ns/${NS}/sa/web`, pod: 'web-v1-a' }),
    ]);
    // The client's own inbound identity comes from its token.
    expect(watch.latest()!.inbound.identity).toBe(`spiffe://cluster.local/ns/${NS}/sa/client`);
  });

  it('v1alpha1 with quantity weights ("500m", "1500m") -> 1:3', async () => {
    const c = await applyAndWait(
      'v1alpha1',
      [{ apiVersion: 'split.smi-spec.io/v1alpha1', kind: 'TrafficSplit', metadata: { name: 'split-a1', namespace: NS }, spec: { service: 'web-a1', backends: [{ service: 'web-v1', weight: '500m' }, { service: 'web-v2', weight: '1500m' }] } }],
      (x) => backendsOf(x, 'web-a1').length === 2,
    );
    expect(backendsOf(c, 'web-a1')).toEqual([[`web-v1.${NS}`, 1], [`web-v2.${NS}`, 3]]);
  });

  it('v1alpha2 with integer weights -> 90:10', async () => {
    const c = await applyAndWait(
      'v1alpha2',
      [{ apiVersion: 'split.smi-spec.io/v1alpha2', kind: 'TrafficSplit', metadata: { name: 'split-a2', namespace: NS }, spec: { service: 'web-a2', backends: [{ service: 'web-v1', weight: 90 }, { service: 'web-v2', weight: 10 }] } }],
      (x) => backendsOf(x, 'web-a2').length === 2,
    );
    expect(backendsOf(c, 'web-a2')).toEqual([[`web-v1.${NS}`, 90], [`web-v2.${NS}`, 10]]);
  });

  it('v1alpha3 with HTTPRouteGroup matches -> a header route to web-v2, the rest to the root', async () => {
    const c = await applyAndWait(
      'v1alpha3',
      [
        {
          apiVersion: 'specs.smi-spec.io/v1alpha3',
          kind: 'HTTPRouteGroup',
          metadata: { name: 'canary-users', namespace: NS },
          spec: { matches: [{ name: 'beta', pathRegex: '/api', methods: ['GET'], headers: [{ 'x-canary': 'yes' }] }] },
        },
        {
          apiVersion: 'split.smi-spec.io/v1alpha3',
          kind: 'TrafficSplit',
          metadata: { name: 'split-a3', namespace: NS },
          spec: { service: 'web-a3', matches: [{ kind: 'HTTPRouteGroup', name: 'canary-users' }], backends: [{ service: 'web-v2', weight: 100 }] },
        },
      ],
      (x) => (serviceOf(x, NS, 'web-a3')?.routes.length ?? 0) === 2,
    );
    const routes = serviceOf(c, NS, 'web-a3')!.routes;
    expect(routes[0]).toMatchObject({
      name: 'split-a3/canary-users/beta',
      matches: [{ methods: ['GET'], headers: [{ name: 'x-canary', regex: 'yes' }], path: { regex: '(?:/api).*' } }],
      backends: [{ service: `web-v2.${NS}`, weight: 100 }],
    });
    expect(routes[1]).toMatchObject({ name: 'default', backends: [] }); // unmatched: the root's own endpoints
  });

  it('v1alpha4 (the stored version) -> 30:70', async () => {
    const c = await applyAndWait(
      'v1alpha4',
      [{ apiVersion: 'split.smi-spec.io/v1alpha4', kind: 'TrafficSplit', metadata: { name: 'split-a4', namespace: NS }, spec: { service: 'web-a4', backends: [{ service: 'web-v1', weight: 30 }, { service: 'web-v2', weight: 70 }] } }],
      (x) => backendsOf(x, 'web-a4').length === 2,
    );
    expect(backendsOf(c, 'web-a4')).toEqual([[`web-v1.${NS}`, 30], [`web-v2.${NS}`, 70]]);
  });

  it('an edit of a live split (Flagger-style weight shift) and a delete reach the proxy within 1 s', async () => {
    const c = await applyAndWait(
      'v1alpha2 edit',
      [{ apiVersion: 'split.smi-spec.io/v1alpha2', kind: 'TrafficSplit', metadata: { name: 'split-a2', namespace: NS }, spec: { service: 'web-a2', backends: [{ service: 'web-v1', weight: 0 }, { service: 'web-v2', weight: 100 }] } }],
      (x) => backendsOf(x, 'web-a2').length === 1,
    );
    expect(backendsOf(c, 'web-a2')).toEqual([[`web-v2.${NS}`, 100]]);
    const from = watch.updates.length;
    const t0 = performance.now();
    const waiting = watch.waitFor((x) => (serviceOf(x, NS, 'web-a2')?.routes.length ?? 0) === 0, 10_000, from);
    await cluster.kubectl(['-n', NS, 'delete', 'trafficsplit', 'split-a2']);
    const got = await waiting;
    latencies['delete'] = Math.round(got.at - t0);
    expect(latencies['delete']).toBeLessThan(LATENCY_BUDGET_MS);
  });

  it('the splits written in older versions read back the same through the stored version (conversion: None)', async () => {
    const got = await cluster.kubectl(['-n', NS, 'get', 'trafficsplits.v1alpha4.split.smi-spec.io', 'split-a1', '-o', 'json']);
    const obj = JSON.parse(got.stdout) as { apiVersion: string; spec: { backends: Array<{ weight: unknown }> } };
    expect(obj.apiVersion).toBe('split.smi-spec.io/v1alpha4');
    expect(obj.spec.backends.map((b) => b.weight)).toEqual(['500m', '1500m']);
    // ... and the source still reads them as 1:3.
    expect(backendsOf(watch.latest()!, 'web-a1')).toEqual([[`web-v1.${NS}`, 1], [`web-v2.${NS}`, 3]]);
  });

  it('a new pod behind a backend shows up as an endpoint within 1 s of being marked Running', async () => {
    const from = watch.updates.length;
    await cluster.api('POST', `/api/v1/namespaces/${NS}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-v2-b', labels: { app: 'web', version: 'v2' } },
      spec: { serviceAccountName: 'web', automountServiceAccountToken: false, containers: [{ name: 'app', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }, { name: 'weft-proxy', image: 'weft' }] },
    });
    const t0 = performance.now();
    const waiting = watch.waitFor((x) => (serviceOf(x, NS, 'web-v2')?.endpoints.length ?? 0) === 2, 10_000, from);
    await cluster.markPodRunning(NS, 'web-v2-b', { ip: '198.18.1.21' });
    const got = await waiting;
    latencies['new endpoint'] = Math.round(got.at - t0);
    expect(latencies['new endpoint']).toBeLessThan(LATENCY_BUDGET_MS);
    expect(serviceOf(got.config, NS, 'web-v2')!.endpoints.map((e) => e.address)).toEqual(['198.18.1.20', '198.18.1.21']);
  });

  it('reported no source errors', () => {
    expect(kcp.errors.map((e) => e.message)).toEqual([]);
  });
});
