// Injected Jobs and CronJobs finish on a real node (issue 14 acceptance 4).
// The apiserver is 1.20 (no native sidecars): weft-proxy is a regular
// container, and the control plane, which watches pods, tells a pod's proxy
// to shut down once its app containers are done for good
// (control-plane/workload-done.ts; ConfigUpdate.shutdown). The proxy exits 0,
// so the pod's phase is the app's: Succeeded, or Failed.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCluster } from './cluster-gate.ts';
import { waitFor } from './mesh-journey-fixture.ts';
import { startInstalledMesh, type InstalledMesh, type PodJson } from './real-mesh-fixture.ts';
import { demoWebYaml } from './demo-manifests.ts';
import { NODE_IMAGES } from './real-node.ts';

const NS = 'batch';

const WEB = demoWebYaml({ namespace: NS });

const job = (name: string, restartPolicy: 'Never' | 'OnFailure', image: string, command: readonly string[]): string => `
apiVersion: batch/v1
kind: Job
metadata: { name: ${name}, namespace: ${NS} }
spec:
  backoffLimit: 0
  template:
    metadata: { labels: { job: ${name} } }
    spec:
      restartPolicy: ${restartPolicy}
      containers:
        - name: ${name}
          image: ${image}
          imagePullPolicy: Never
          command: ${JSON.stringify(command)}
`;

/** The Job's app calls the meshed web Service through its proxy, then exits by the answer. */
const CALL_WEB = "const r = await fetch('http://web/'); console.log('web answered', r.status); process.exit(r.status === 200 ? 0 : 1);";

const CRON = `
apiVersion: batch/v1beta1
kind: CronJob
metadata: { name: tick, namespace: ${NS} }
spec:
  schedule: "*/1 * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: tick
              image: ${NODE_IMAGES.weft}
              imagePullPolicy: Never
              command: [node, --input-type=module, -e, ${JSON.stringify(CALL_WEB)}]
`;

interface Finished {
  pod: PodJson;
  /** When this test saw the pod's terminal phase. */
  seenAt: number;
}

describeCluster('injected Jobs and CronJobs finish on a real node (the proxy is told to shut down)', () => {
  let mesh: InstalledMesh;

  const terminal = async (jobName: string, timeoutMs = 90_000): Promise<Finished> =>
    waitFor(`a terminal pod of job ${jobName}`, async () => {
      const [pod] = await mesh.pods(NS, `job=${jobName}`);
      return pod && (pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed') ? { pod, seenAt: Date.now() } : undefined;
    }, timeoutMs, 250).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}\n${await mesh.diagnostics([NS])}`);
    });

  const statusOf = (pod: PodJson, container: string) => pod.status.containerStatuses?.find((c) => c.name === container)?.state.terminated;

  beforeAll(async () => {
    mesh = await startInstalledMesh();
    await mesh.meshedNamespace(NS);
    await mesh.apply(WEB);
    await mesh.readyPods(NS, 'app=web', 1);
  }, 400_000);

  afterAll(async () => {
    await mesh?.stop();
  }, 120_000);

  it('a Job whose app calls a meshed service and exits 0: its pod reaches Succeeded within 10 s of the app exiting', async () => {
    await mesh.apply(job('ok', 'Never', NODE_IMAGES.weft, ['node', '--input-type=module', '-e', CALL_WEB]));
    const { pod, seenAt } = await terminal('ok');
    expect(pod.spec.containers.map((c) => c.name)).toEqual(['weft-proxy', 'ok']);
    expect(pod.status.phase).toBe('Succeeded');
    const app = statusOf(pod, 'ok');
    expect(app?.exitCode).toBe(0);
    expect(statusOf(pod, 'weft-proxy')?.exitCode).toBe(0);
    const logs = await mesh.cluster.kubectl(['-n', NS, 'logs', pod.metadata.name, '-c', 'ok']);
    expect(logs.stdout).toContain('web answered 200');
    // finishedAt has a resolution of one second: the bound holds with that second to spare.
    const afterExit = seenAt - Date.parse(app?.finishedAt ?? '');
    process.stdout.write(`jobs: pod Succeeded seen ${afterExit} ms after the app's finishedAt\n`);
    expect(afterExit).toBeLessThan(10_000);
    await mesh.cluster.kubectl(['-n', NS, 'wait', '--for=condition=complete', 'job/ok', '--timeout=30s'], { timeoutMs: 40_000 });
  });

  it('a Job whose app exits 3: its pod reaches Failed (the proxy exits 0), the Job fails', async () => {
    await mesh.apply(job('fails', 'Never', NODE_IMAGES.busybox, ['sh', '-c', 'sleep 1; exit 3']));
    const { pod, seenAt } = await terminal('fails');
    expect(pod.status.phase).toBe('Failed');
    const app = statusOf(pod, 'fails');
    expect(app?.exitCode).toBe(3);
    expect(statusOf(pod, 'weft-proxy')?.exitCode).toBe(0);
    expect(seenAt - Date.parse(app?.finishedAt ?? '')).toBeLessThan(10_000);
    await mesh.cluster.kubectl(['-n', NS, 'wait', '--for=condition=failed', 'job/fails', '--timeout=30s'], { timeoutMs: 40_000 });
  });

  it('a long-running meshed Deployment next to them is never told to shut down', async () => {
    const [web] = await mesh.readyPods(NS, 'app=web', 1);
    expect(web?.status.containerStatuses?.every((c) => c.restartCount === 0 && c.state.running !== undefined)).toBe(true);
  });

  it('an injected CronJob (restartPolicy OnFailure) runs a Job that completes', async () => {
    await mesh.apply(CRON);
    const done = await waitFor('a completed Job of CronJob tick', async () => {
      const jobs = (await mesh.cluster.api<{ items: { metadata: { name: string; ownerReferences?: { kind: string; name: string }[] }; status: { succeeded?: number } }[] }>('GET', `/apis/batch/v1/namespaces/${NS}/jobs`)).body.items;
      return jobs.find((j) => j.metadata.ownerReferences?.some((o) => o.kind === 'CronJob' && o.name === 'tick') && (j.status.succeeded ?? 0) >= 1);
    }, 150_000, 1000).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}\n${await mesh.diagnostics([NS])}`);
    });
    const pods = (await mesh.pods(NS, `job-name=${done.metadata.name}`)).filter((p) => p.status.phase === 'Succeeded');
    expect(pods.length).toBe(1);
    expect(pods[0]?.spec.containers.map((c) => c.name)).toEqual(['weft-proxy', 'tick']);
  }, 180_000);
});
