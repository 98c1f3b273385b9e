// Pure: whether a pod's app containers have finished for good while its
// classic weft-proxy sidecar (a member of spec.containers) keeps running.
//
// A Job's pod (restartPolicy Never or OnFailure) completes only once every
// one of its containers has stopped; the kubelet never stops a classic
// sidecar by itself, so without help an injected Job would run forever. The
// control plane watches pods anyway: when this says a pod is done, it tells
// that pod's proxy over its config stream to shut down (mesh.proto rule 5),
// the proxy exits 0 and the pod reaches Succeeded or Failed.
//
// Done means, all of:
//   - the pod is not already Succeeded or Failed (its proxy is gone then);
//   - weft-proxy is in spec.containers (a native sidecar, an init container
//     with restartPolicy Always, is stopped by the kubelet itself);
//   - spec.restartPolicy is Never or OnFailure (Always, the default, restarts
//     whatever exits: never done);
//   - every other container of spec.containers has a status whose `state`
//     is `terminated`; with OnFailure its exitCode must be 0 as well, since
//     the kubelet restarts a container that failed.
// The result names how the pod ends: Succeeded when every app container
// exited 0, Failed otherwise (Never only).
import { PROXY_CONTAINER, type ShutdownReason } from '../proto/mesh.ts';
import type { Pod, WorkloadOutcome } from './cluster-state.ts';

export type { WorkloadOutcome };

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}
function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** From a Pod as the apiserver serves it (JSON): how its app containers ended, or undefined while they have not all ended for good. */
export function workloadDone(pod: unknown): WorkloadOutcome | undefined {
  const p = obj(pod);
  const spec = obj(p.spec);
  const status = obj(p.status);
  if (status.phase === 'Succeeded' || status.phase === 'Failed') return undefined;
  const policy = spec.restartPolicy;
  if (policy !== 'Never' && policy !== 'OnFailure') return undefined;
  const containers = list(spec.containers).map(obj);
  if (!containers.some((c) => c.name === PROXY_CONTAINER)) return undefined;
  const apps = containers.filter((c) => c.name !== PROXY_CONTAINER);
  if (apps.length === 0) return undefined;
  const statuses = new Map<unknown, Obj>();
  for (const s of list(status.containerStatuses).map(obj)) statuses.set(s.name, s);
  let failed = false;
  for (const app of apps) {
    const state = obj(statuses.get(app.name)?.state);
    if (!('terminated' in state) || typeof state.terminated !== 'object' || state.terminated === null) return undefined;
    const exitCode = obj(state.terminated).exitCode;
    if (exitCode === 0) continue;
    // OnFailure: the kubelet restarts it (the pod is not done); Never: it stays failed.
    if (policy === 'OnFailure') return undefined;
    failed = true;
  }
  return failed ? 'Failed' : 'Succeeded';
}

/** The Shutdown.reason sent to the proxy of a finished pod. */
export function shutdownReasonOf(outcome: WorkloadOutcome): ShutdownReason {
  return outcome === 'Succeeded' ? 'WorkloadSucceeded' : 'WorkloadFailed';
}

/** The finished pods of a state, by `namespace/name` (what a proxy's config stream is matched against). */
export function finishedPods(pods: readonly Pod[]): Map<string, Pod & { readonly workloadDone: WorkloadOutcome }> {
  const out = new Map<string, Pod & { readonly workloadDone: WorkloadOutcome }>();
  for (const pod of pods) {
    if (pod.workloadDone !== undefined) out.set(podKey(pod.namespace, pod.name), pod as Pod & { readonly workloadDone: WorkloadOutcome });
  }
  return out;
}

export function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
