import { describe, expect, it } from 'vitest';
import { finishedPods, shutdownReasonOf, workloadDone } from './workload-done.ts';
import { clusterStateFromKube, podFromKube, type KubeObjects } from './kube-objects.ts';

type State = { running: Record<string, unknown> } | { terminated: Record<string, unknown> } | { waiting: Record<string, unknown> };

const running: State = { running: { startedAt: '2026-11-01T00:00:01Z' } };
const exited = (exitCode: number): State => ({ terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error' } });

/** A Pod as the apiserver serves it: `app` (and `extraApps`) beside a classic weft-proxy sidecar unless told otherwise. */
function jobPod(
  o: {
    restartPolicy?: string;
    app?: State | undefined;
    extraApps?: Record<string, State | undefined>;
    proxy?: 'container' | 'native' | 'none';
    phase?: string;
  } = {},
): Record<string, unknown> {
  const proxy = o.proxy ?? 'container';
  const apps: Record<string, State | undefined> = { app: 'app' in o ? o.app : running, ...o.extraApps };
  const containers = Object.keys(apps).map((name) => ({ name, image: `${name}:1` }));
  const statuses = Object.entries(apps)
    .filter(([, s]) => s !== undefined)
    .map(([name, state]) => ({ name, state, ready: false, restartCount: 0, image: `${name}:1` }));
  if (proxy === 'container') {
    containers.unshift({ name: 'weft-proxy', image: 'weft:1' });
    statuses.push({ name: 'weft-proxy', state: running, ready: true, restartCount: 0, image: 'weft:1' });
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'report-28123-x7k2p',
      namespace: 'batch',
      annotations: { 'weft.dev/proxy-version': '0.1.0' },
      ownerReferences: [{ kind: 'Job', name: 'report-28123', controller: true }],
    },
    spec: {
      serviceAccountName: 'report',
      ...(o.restartPolicy === undefined ? {} : { restartPolicy: o.restartPolicy }),
      containers,
      initContainers: [
        { name: 'weft-init', image: 'weft:1' },
        ...(proxy === 'native' ? [{ name: 'weft-proxy', image: 'weft:1', restartPolicy: 'Always' }] : []),
      ],
    },
    status: { phase: o.phase ?? 'Running', podIP: '198.18.0.7', containerStatuses: statuses },
  };
}

describe('workloadDone', () => {
  it('Never: done once every app container terminated; Succeeded when all exited 0, else Failed', () => {
    expect(workloadDone(jobPod({ restartPolicy: 'Never', app: exited(0) }))).toBe('Succeeded');
    expect(workloadDone(jobPod({ restartPolicy: 'Never', app: exited(3) }))).toBe('Failed');
    expect(workloadDone(jobPod({ restartPolicy: 'Never', app: exited(0), extraApps: { sidecar: exited(137) } }))).toBe('Failed');
  });

  it('OnFailure: done only when every app container exited 0 (a failed one is restarted by the kubelet)', () => {
    expect(workloadDone(jobPod({ restartPolicy: 'OnFailure', app: exited(0) }))).toBe('Succeeded');
    expect(workloadDone(jobPod({ restartPolicy: 'OnFailure', app: exited(1) }))).toBeUndefined();
    expect(workloadDone(jobPod({ restartPolicy: 'OnFailure', app: { waiting: { reason: 'CrashLoopBackOff' } } }))).toBeUndefined();
  });

  it('is never done while an app container runs, waits or has no status yet', () => {
    expect(workloadDone(jobPod({ restartPolicy: 'Never', app: running }))).toBeUndefined();
    expect(workloadDone(jobPod({ restartPolicy: 'Never', app: { waiting: { reason: 'ContainerCreating' } } }))).toBeUndefined();
    expect(workloadDone(jobPod({ restartPolicy: 'Never', app: undefined }))).toBeUndefined();
    expect(workloadDone(jobPod({ restartPolicy: 'Never', app: exited(0), extraApps: { second: running } }))).toBeUndefined();
  });

  it('restartPolicy Always (also when unset, the default) is never done', () => {
    expect(workloadDone(jobPod({ restartPolicy: 'Always', app: exited(0) }))).toBeUndefined();
    expect(workloadDone(jobPod({ app: exited(0) }))).toBeUndefined();
  });

  it('only a classic weft-proxy container needs telling: not a native sidecar, not an unmeshed pod', () => {
    expect(workloadDone(jobPod({ restartPolicy: 'Never', app: exited(0), proxy: 'native' }))).toBeUndefined();
    expect(workloadDone(jobPod({ restartPolicy: 'Never', app: exited(0), proxy: 'none' }))).toBeUndefined();
  });

  it('a pod already Succeeded or Failed has no proxy left to tell', () => {
    expect(workloadDone(jobPod({ restartPolicy: 'Never', app: exited(0), phase: 'Succeeded' }))).toBeUndefined();
    expect(workloadDone(jobPod({ restartPolicy: 'Never', app: exited(2), phase: 'Failed' }))).toBeUndefined();
  });

  it('is total: odd objects are not done, never a throw', () => {
    for (const odd of [undefined, null, 7, 'pod', [], {}, { spec: null }, { spec: { restartPolicy: 'Never', containers: 'x' } },
      { spec: { restartPolicy: 'Never', containers: [{ name: 'weft-proxy' }] } },
      { spec: { restartPolicy: 'Never', containers: [{ name: 'weft-proxy' }, { name: 'app' }] }, status: { containerStatuses: [{ name: 'app', state: { terminated: null } }] } }]) {
      expect(workloadDone(odd), JSON.stringify(odd)).toBeUndefined();
    }
  });

  it('maps outcomes to the Shutdown reasons of mesh.proto', () => {
    expect(shutdownReasonOf('Succeeded')).toBe('WorkloadSucceeded');
    expect(shutdownReasonOf('Failed')).toBe('WorkloadFailed');
  });
});

describe('the pod view (kube-objects.ts) keeps the verdict, and only it', () => {
  const objects = (pods: unknown[]): KubeObjects => ({
    namespaces: [], services: [], endpointSlices: [], pods, deployments: [], trafficSplits: [], httpRouteGroups: [], trafficTargets: [], tcpRoutes: [],
  });

  it('a finished Job pod carries workloadDone; a running one has no such field', () => {
    expect(podFromKube(jobPod({ restartPolicy: 'Never', app: exited(0) }))).toMatchObject({ name: 'report-28123-x7k2p', namespace: 'batch', serviceAccount: 'report', meshed: true, workloadDone: 'Succeeded' });
    expect(podFromKube(jobPod({ restartPolicy: 'Never' }))).not.toHaveProperty('workloadDone');
  });

  it('container restarts and timestamps change nothing in the state; finishing does', () => {
    const a = jobPod({ restartPolicy: 'OnFailure', app: { waiting: { reason: 'CrashLoopBackOff' } } });
    const b = jobPod({ restartPolicy: 'OnFailure', app: running });
    const done = jobPod({ restartPolicy: 'OnFailure', app: exited(0) });
    expect(JSON.stringify(clusterStateFromKube(objects([a])))).toBe(JSON.stringify(clusterStateFromKube(objects([b]))));
    expect(JSON.stringify(clusterStateFromKube(objects([done])))).not.toBe(JSON.stringify(clusterStateFromKube(objects([b]))));
  });

  it('finishedPods indexes the finished pods of a state by namespace/name', () => {
    const other = { ...jobPod({ restartPolicy: 'Never' }), metadata: { name: 'still-running', namespace: 'batch' } };
    const state = clusterStateFromKube(objects([jobPod({ restartPolicy: 'Never', app: exited(1) }), other]));
    const done = finishedPods(state.pods);
    expect([...done.keys()]).toEqual(['batch/report-28123-x7k2p']);
    expect(done.get('batch/report-28123-x7k2p')).toMatchObject({ serviceAccount: 'report', workloadDone: 'Failed' });
  });
});
