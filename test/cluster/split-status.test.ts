// Acceptance 3 of the Kubernetes issue: each TrafficSplit edge case of
// DESIGN.md (missing backend, backend without endpoints, all weights zero,
// backend port mismatch) yields its status condition (written to the status
// subresource) and a Warning Event on the TrafficSplit, and a sane config:
// the other backends keep their traffic, or the root's own endpoints take it;
// never a rejected snapshot. Statuses are written only when they change.
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

const NS = 'status-demo';

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
}
interface SplitObject {
  metadata: { resourceVersion: string; generation: number };
  status?: { observedGeneration?: number; conditions?: Condition[]; backends?: Array<{ service: string; routed: boolean; reason: string }> };
}
interface EventObject {
  type: string;
  reason: string;
  message: string;
  involvedObject: { kind: string; name: string; uid: string };
  source?: { component?: string };
}

describeCluster('TrafficSplit status: conditions and Events for the edge cases', () => {
  let cluster: Cluster;
  let kcp: KubeControlPlane;
  let watch: ConfigWatch;

  const split = (name: string, root: string, backends: Array<[string, number]>): object => ({
    apiVersion: 'split.smi-spec.io/v1alpha2',
    kind: 'TrafficSplit',
    metadata: { name, namespace: NS },
    spec: { service: root, backends: backends.map(([s, weight]) => ({ service: s, weight })) },
  });

  async function getSplit(name: string): Promise<SplitObject> {
    const res = await cluster.api<SplitObject>('GET', `/apis/split.smi-spec.io/v1alpha4/namespaces/${NS}/trafficsplits/${name}`);
    expect(res.status).toBe(200);
    return res.body;
  }

  async function waitForCondition(name: string, type: string, pred: (c: Condition) => boolean, timeoutMs = 10_000): Promise<SplitObject> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const obj = await getSplit(name);
      const c = obj.status?.conditions?.find((x) => x.type === type);
      if (c !== undefined && pred(c)) return obj;
      if (Date.now() > deadline) throw new Error(`${name}: condition ${type} not as expected; status ${JSON.stringify(obj.status)}; errors ${kcp.errors.map((e) => e.message).join(' | ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function eventsOf(name: string): Promise<EventObject[]> {
    const res = await cluster.api<{ items: EventObject[] }>('GET', `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`);
    expect(res.status).toBe(200);
    return res.body.items;
  }

  async function waitForEvent(name: string, reason: string): Promise<EventObject> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const e = (await eventsOf(name)).find((x) => x.reason === reason);
      if (e !== undefined) return e;
      if (Date.now() > deadline) throw new Error(`${name}: no ${reason} Event; have ${JSON.stringify(await eventsOf(name))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const backendsOf = (c: ProxyConfig | undefined, root: string): Array<[string, number]> =>
    (serviceOf(c, NS, root)?.routes.at(-1)?.backends ?? []).map((b) => [b.service, b.weight]);

  beforeAll(async () => {
    cluster = await startCluster();
    await installSmiCrds(cluster);
    await ensureNamespace(cluster, NS);
    await cluster.waitForServiceAccount(NS);
    for (const sa of ['web', 'client']) await ensureServiceAccount(cluster, NS, sa);
    await apply(cluster, [
      ...['r-missing', 'r-noeps', 'r-zero', 'r-ports'].map((r) => service(NS, r, { app: 'web' })),
      service(NS, 'web-v1', { app: 'web', version: 'v1' }),
      service(NS, 'web-v2', { app: 'web', version: 'v2' }),
      service(NS, 'web-empty', { app: 'nobody' }),
      service(NS, 'web-otherport', { app: 'web', version: 'v2' }, [{ name: 'grpc', port: 9090, targetPort: 8080 }]),
    ]);
    await createRunningPod(cluster, { namespace: NS, name: 'web-v1-a', labels: { app: 'web', version: 'v1' }, serviceAccount: 'web', ip: '198.18.2.10' });
    await createRunningPod(cluster, { namespace: NS, name: 'web-v2-a', labels: { app: 'web', version: 'v2' }, serviceAccount: 'web', ip: '198.18.2.20' });
    kcp = await startKubeControlPlane(cluster);
    watch = subscribeConfig(kcp.cp, await cluster.requestToken(NS, 'client'), { namespace: NS, pod: 'client-1', serviceAccount: 'client' });
    await watch.waitFor((c) => (serviceOf(c, NS, 'web-v2')?.endpoints.length ?? 0) === 1 && (serviceOf(c, NS, 'web-v1')?.endpoints.length ?? 0) === 1, 30_000);
    await apply(cluster, [
      split('split-missing', 'r-missing', [['web-v1', 50], ['web-gone', 50]]),
      split('split-noeps', 'r-noeps', [['web-v1', 50], ['web-empty', 50]]),
      split('split-zero', 'r-zero', [['web-v1', 0], ['web-v2', 0]]),
      split('split-ports', 'r-ports', [['web-v1', 50], ['web-otherport', 50]]),
    ]);
  }, 180_000);

  afterAll(async () => {
    watch?.close();
    await kcp?.close();
    await cluster?.stop();
  });

  it('missing backend: ResolvedRefs False / BackendNotFound, a Warning Event, the other backend takes all', async () => {
    const obj = await waitForCondition('split-missing', 'ResolvedRefs', (c) => c.status === 'False');
    expect(obj.status?.conditions?.find((c) => c.type === 'ResolvedRefs')).toMatchObject({ reason: 'BackendNotFound', message: expect.stringContaining('web-gone') });
    expect(obj.status?.conditions?.find((c) => c.type === 'Routed')).toMatchObject({ status: 'True', reason: 'WeightsApplied' });
    expect(obj.status?.observedGeneration).toBe(obj.metadata.generation);
    expect(obj.status?.backends).toEqual([
      { service: 'web-v1', weight: 50, routed: true, reason: '' },
      { service: 'web-gone', weight: 50, routed: false, reason: 'BackendNotFound' },
    ]);
    const e = await waitForEvent('split-missing', 'BackendNotFound');
    expect(e).toMatchObject({ type: 'Warning', involvedObject: { kind: 'TrafficSplit', name: 'split-missing' }, source: { component: 'weft-control-plane' } });
    await watch.waitFor((c) => backendsOf(c, 'r-missing').length === 1);
    expect(backendsOf(watch.latest(), 'r-missing')).toEqual([[`web-v1.${NS}`, 50]]);
  });

  it('backend without endpoints: BackendsReady False / BackendNoEndpoints, a Warning Event, the other backend takes all', async () => {
    const obj = await waitForCondition('split-noeps', 'BackendsReady', (c) => c.status === 'False');
    expect(obj.status?.conditions?.find((c) => c.type === 'BackendsReady')).toMatchObject({ reason: 'BackendNoEndpoints', message: expect.stringContaining('web-empty') });
    await waitForEvent('split-noeps', 'BackendNoEndpoints');
    expect(backendsOf(watch.latest(), 'r-noeps')).toEqual([[`web-v1.${NS}`, 50]]);
  });

  it('all weights zero: Routed False / AllWeightsZero, a Warning Event, the root service keeps its own endpoints', async () => {
    const obj = await waitForCondition('split-zero', 'Routed', (c) => c.status === 'False');
    expect(obj.status?.conditions?.find((c) => c.type === 'Routed')).toMatchObject({ reason: 'AllWeightsZero' });
    await waitForEvent('split-zero', 'AllWeightsZero');
    const root = serviceOf(watch.latest(), NS, 'r-zero')!;
    expect(root.routes).toEqual([expect.objectContaining({ name: 'split-zero', backends: [] })]); // empty backends = the root itself
    expect(root.endpoints.map((e) => e.address)).toEqual(['198.18.2.10', '198.18.2.20']);
  });

  it('backend port mismatch: ResolvedRefs False / BackendPortMismatch, a Warning Event, the other backend takes all', async () => {
    const obj = await waitForCondition('split-ports', 'ResolvedRefs', (c) => c.status === 'False');
    expect(obj.status?.conditions?.find((c) => c.type === 'ResolvedRefs')).toMatchObject({ reason: 'BackendPortMismatch', message: expect.stringContaining('web-otherport') });
    await waitForEvent('split-ports', 'BackendPortMismatch');
    expect(backendsOf(watch.latest(), 'r-ports')).toEqual([[`web-v1.${NS}`, 50]]);
  });

  it('writes only on change: unrelated cluster changes leave the statuses (and their resourceVersions) alone', async () => {
    await kcp.writer.idle();
    const before = await Promise.all(['split-missing', 'split-noeps', 'split-zero', 'split-ports'].map(getSplit));
    const eventsBefore = (await Promise.all(['split-missing', 'split-noeps', 'split-zero', 'split-ports'].map(eventsOf))).flat().length;
    const from = watch.updates.length;
    await apply(cluster, [service(NS, 'unrelated', { app: 'unrelated' })]);
    await watch.waitFor((c) => serviceOf(c, NS, 'unrelated') !== undefined, 10_000, from);
    await new Promise((r) => setTimeout(r, 500));
    await kcp.writer.idle();
    const after = await Promise.all(['split-missing', 'split-noeps', 'split-zero', 'split-ports'].map(getSplit));
    expect(after.map((o) => o.metadata.resourceVersion)).toEqual(before.map((o) => o.metadata.resourceVersion));
    expect((await Promise.all(['split-missing', 'split-noeps', 'split-zero', 'split-ports'].map(eventsOf))).flat().length).toBe(eventsBefore);
  });

  it('recovers: creating the missing backend flips ResolvedRefs to True with a new lastTransitionTime, and BackendNotFound is not reported again', async () => {
    const before = await getSplit('split-missing');
    const oldTransition = before.status!.conditions!.find((c) => c.type === 'ResolvedRefs')!.lastTransitionTime;
    const routedTransition = before.status!.conditions!.find((c) => c.type === 'Routed')!.lastTransitionTime;
    const notFound = (await eventsOf('split-missing')).filter((e) => e.reason === 'BackendNotFound').length;
    await new Promise((r) => setTimeout(r, 1100)); // timestamps have 1 s resolution
    await apply(cluster, [service(NS, 'web-gone', { app: 'web', version: 'v2' })]);
    const obj = await waitForCondition('split-missing', 'ResolvedRefs', (c) => c.status === 'True');
    const rr = obj.status!.conditions!.find((c) => c.type === 'ResolvedRefs')!;
    expect(rr.reason).toBe('ResolvedRefs');
    expect(rr.lastTransitionTime).not.toBe(oldTransition);
    // Routed stayed True: its transition time did not move.
    expect(obj.status!.conditions!.find((c) => c.type === 'Routed')!.lastTransitionTime).toBe(routedTransition);
    await watch.waitFor((c) => backendsOf(c, 'r-missing').length === 2);
    // The fixed problem is not reported again. (The new backend may have had
    // no endpoints for a moment: a BackendNoEndpoints Warning then is right.)
    expect((await eventsOf('split-missing')).filter((e) => e.reason === 'BackendNotFound').length).toBe(notFound);
  });

  it('an invalid split (negative weight) is not Accepted, gets an InvalidWeight Event, and the root keeps its endpoints', async () => {
    await apply(cluster, [split('split-zero', 'r-zero', [['web-v1', -5], ['web-v2', 10]])]);
    const obj = await waitForCondition('split-zero', 'Accepted', (c) => c.status === 'False');
    expect(obj.status?.conditions).toHaveLength(1);
    expect(obj.status?.conditions?.[0]).toMatchObject({ reason: 'InvalidWeight' });
    expect(obj.status?.observedGeneration).toBe(obj.metadata.generation);
    await waitForEvent('split-zero', 'InvalidWeight');
    await watch.waitFor((c) => (serviceOf(c, NS, 'r-zero')?.routes.length ?? -1) === 0);
  });

  it('without a status subresource on the CRD, writes the status on the object itself (no observedGeneration: it could never be current)', async () => {
    const crd = JSON.parse((await cluster.kubectl(['get', 'crd', 'trafficsplits.split.smi-spec.io', '-o', 'json'])).stdout) as {
      spec: { versions: Array<{ subresources?: unknown }> };
    };
    for (const v of crd.spec.versions) delete v.subresources;
    await cluster.kubectl(['replace', '-f', '-'], { input: JSON.stringify(crd) });
    // Until the apiserver has dropped the subresource, the writer may still use it: wait for the 404.
    const deadline = Date.now() + 15_000;
    while ((await cluster.api('GET', `/apis/split.smi-spec.io/v1alpha4/namespaces/${NS}/trafficsplits/split-noeps/status`)).status !== 404) {
      if (Date.now() > deadline) throw new Error('status subresource still served');
      await new Promise((r) => setTimeout(r, 200));
    }
    await apply(cluster, [split('split-plain', 'r-noeps', [['web-v1', 1], ['web-gone', 0]])]);
    // r-noeps already has split-noeps without matches: this one conflicts (Accepted False / Conflict).
    const obj = await waitForCondition('split-plain', 'Accepted', (c) => c.status === 'False');
    expect(obj.status?.conditions?.[0]).toMatchObject({ reason: 'Conflict' });
    expect(obj.status).not.toHaveProperty('observedGeneration');
    await waitForEvent('split-plain', 'Conflict');
    // Written once: the object's own resourceVersion settles (no write loop through generation bumps).
    await kcp.writer.idle();
    await new Promise((r) => setTimeout(r, 500));
    const rv = (await getSplit('split-plain')).metadata.resourceVersion;
    await apply(cluster, [service(NS, 'unrelated-2', { app: 'x' })]);
    await new Promise((r) => setTimeout(r, 1000));
    await kcp.writer.idle();
    expect((await getSplit('split-plain')).metadata.resourceVersion).toBe(rv);
  });

  it('reported no errors', () => {
    expect(kcp.errors.map((e) => e.message)).toEqual([]);
  });
});
