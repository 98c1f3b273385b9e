// No request lost on a real node while pods come and go (issue 14
// acceptance 5 and 6): a meshed client pod sends 200 requests/s to a meshed
// web Service (3 replicas) while
//   - a web pod is deleted (the kubelet sends SIGTERM to its app and its
//     proxy at once, then the endpoints controller drops it);
//   - the control-plane pod is deleted (its Deployment replaces it), and
//     then the control plane is scaled to zero, a new web pod is created
//     while it is down (its proxy cannot get a certificate: the pod stays
//     unready), and the control plane comes back: the new pod becomes Ready.
// The load runs in the client's app container (http-load.ts).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCluster } from './cluster-gate.ts';
import { waitFor } from './mesh-journey-fixture.ts';
import { isReady, startInstalledMesh, type InstalledMesh, type PodJson } from './real-mesh-fixture.ts';
import { demoWebYaml, idleYaml } from './demo-manifests.ts';

const LOAD = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'http-load.ts'), 'utf8');
const NS = 'shop';

const APPS = `${demoWebYaml({ namespace: NS, replicas: 3, latencyMs: 5 })}
---
${idleYaml(NS, 'client')}`;

interface LoadResult {
  sent: number;
  statuses: Record<string, number>;
  errorCodes: Record<string, number>;
  failures: number;
  failureSamples: string[];
  pods: Record<string, number>;
}

describeCluster('no request lost on a real node: a server pod deleted, the control plane deleted and down, under 200 requests/s', () => {
  let mesh: InstalledMesh;
  let client: PodJson;

  const load = async (seconds: number): Promise<LoadResult> => {
    const r = await mesh.script(NS, client.metadata.name, LOAD, [JSON.stringify({ url: 'http://web/', rps: 200, seconds })], { timeoutMs: (seconds + 60) * 1000 });
    if (r.exitCode !== 0) throw new Error(`http-load exited ${r.exitCode}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as LoadResult;
  };
  const controlPlanePods = async (): Promise<PodJson[]> => mesh.pods('weft-system', 'app.kubernetes.io/name=weft-control-plane');

  beforeAll(async () => {
    mesh = await startInstalledMesh();
    await mesh.meshedNamespace(NS);
    await mesh.apply(APPS);
    await mesh.readyPods(NS, 'app=web', 3);
    [client] = (await mesh.readyPods(NS, 'app=client', 1)) as [PodJson];
    // Warm: every client-proxy-to-web connection made before the clock starts.
    await load(3);
  }, 400_000);

  afterAll(async () => {
    await mesh?.stop();
  }, 120_000);

  it('deleting a web pod while the client sends 200 requests/s: zero failed requests', async () => {
    const [victim] = await mesh.readyPods(NS, 'app=web', 3);
    const running = load(25);
    await sleep(6000);
    await mesh.cluster.kubectl(['-n', NS, 'delete', 'pod', victim?.metadata.name ?? '', '--wait=false']);
    const r = await running;
    process.stdout.write(`disruption: web pod deleted under load: ${JSON.stringify({ sent: r.sent, statuses: r.statuses, failures: r.failures, pods: r.pods })}\n`);
    expect(r.failureSamples).toEqual([]);
    expect(r.failures).toBe(0);
    expect(r.statuses).toEqual({ '200': 5000 });
    // The victim answered before it went, and its replacement took over.
    expect(r.pods[victim?.metadata.name ?? '']).toBeGreaterThan(0);
    await mesh.readyPods(NS, 'app=web', 3);
  }, 180_000);

  it('deleting the control-plane pod, then running without a control plane: zero failed requests; a pod created while it is down becomes Ready once it is back', async () => {
    const [cp] = await controlPlanePods();
    if (cp === undefined) throw new Error('no control-plane pod');
    const running = load(70);
    await sleep(3000);
    // 1. The pod deleted: its Deployment starts another.
    await mesh.cluster.kubectl(['-n', 'weft-system', 'delete', 'pod', cp.metadata.name, '--wait=false']);
    await waitFor('a new control-plane pod Ready', async () => {
      const pods = (await controlPlanePods()).filter((p) => p.metadata.name !== cp.metadata.name && isReady(p));
      return pods.length === 1 ? true : undefined;
    }, 60_000, 250);
    // 2. No control plane at all.
    await mesh.cluster.kubectl(['-n', 'weft-system', 'scale', 'deployment/weft-control-plane', '--replicas=0']);
    await waitFor('no control-plane pod', async () => ((await controlPlanePods()).length === 0 ? true : undefined), 60_000, 250);
    const before = new Set((await mesh.pods(NS, 'app=web')).map((p) => p.metadata.name));
    await mesh.cluster.kubectl(['-n', NS, 'scale', 'deployment/web', '--replicas=4']);
    const newcomer = await waitFor('the fourth web pod created', async () => (await mesh.pods(NS, 'app=web')).find((p) => !before.has(p.metadata.name)), 30_000, 250);
    await sleep(8000);
    const waiting = (await mesh.pods(NS, 'app=web')).find((p) => p.metadata.name === newcomer.metadata.name);
    expect(waiting && isReady(waiting), 'a pod whose proxy has no control plane must not be Ready').toBe(false);
    // 3. The control plane back.
    await mesh.cluster.kubectl(['-n', 'weft-system', 'scale', 'deployment/weft-control-plane', '--replicas=1']);
    await waitFor(`${newcomer.metadata.name} Ready`, async () => {
      const p = (await mesh.pods(NS, 'app=web')).find((x) => x.metadata.name === newcomer.metadata.name);
      return p && isReady(p) ? true : undefined;
    }, 150_000, 500).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}\n${await mesh.diagnostics([NS, 'weft-system'])}`);
    });
    const r = await running;
    process.stdout.write(`disruption: control plane deleted and down under load: ${JSON.stringify({ sent: r.sent, statuses: r.statuses, failures: r.failures, pods: r.pods })}\n`);
    expect(r.failureSamples).toEqual([]);
    expect(r.failures).toBe(0);
    expect(r.statuses).toEqual({ '200': 14_000 });
  }, 300_000);
});
