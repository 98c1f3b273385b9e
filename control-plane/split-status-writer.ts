// Writes each TrafficSplit's status (config-translator.ts's SplitStatus) back
// to the cluster, and an Event for each problem as it appears; a second writer
// (`kind: 'TrafficTarget'`) does the same for TrafficTargets
// (authz-compile.ts's TargetStatus: conditions only):
//
//   status:
//     observedGeneration: 3            (with a status subresource only)
//     conditions:                      Accepted, ResolvedRefs, BackendsReady, Routed
//     - {type, status, reason, message, lastTransitionTime}
//     backends:
//     - {service, weight, routed, reason}
//
// - Only when it changed: the wanted status is compared (lastTransitionTime
//   aside) with the one the informer cache holds, and with what this writer
//   last wrote while the cache has not caught up. lastTransitionTime moves
//   only when a condition's status flips.
// - The status subresource when the CRD has one (PATCH .../status, merge
//   patch); else the object itself. Without the subresource every write bumps
//   metadata.generation, so observedGeneration is left out there (it could
//   never be current).
// - Events (core/v1, type Warning, reason = the condition's reason, on the
//   TrafficSplit) for each False condition that is new: a missing backend,
//   no endpoints, all weights zero, a backend port mismatch, an invalid or
//   conflicting split... Written with the status change, so once per change.
// - Latest wins: update() hands over the newest statuses; one write pass runs
//   at a time; failures are retried with backoff (on the newest statuses).
import { hostname } from 'node:os';
import { WeftError } from '../proto/errors.ts';
/** A condition as the translators give it (SplitCondition, TargetCondition). */
export interface ObjectCondition {
  readonly type: string;
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
}

/** The status of one object: conditions, and (TrafficSplit) its backends. */
export interface ObjectStatus {
  readonly namespace: string;
  readonly name: string;
  readonly conditions: readonly ObjectCondition[];
  readonly backends?: ReadonlyArray<{ service: string; weight: number; routed: boolean; reason: string }>;
}
import { kubeApiError, type KubeClient } from './kube-client.ts';
import { backoffDelay } from './kube-informers.ts';
import type { ServedObject } from './kubernetes-source.ts';

export const EVENT_SOURCE_COMPONENT = 'weft-control-plane';

export interface StatusCondition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface WrittenSplitStatus {
  observedGeneration?: number;
  conditions: StatusCondition[];
  backends?: Array<{ service: string; weight: number; routed: boolean; reason: string }>;
}

export interface SplitEvent {
  type: 'Warning';
  reason: string;
  message: string;
}

type Obj = Record<string, unknown>;

function currentConditions(currentStatus: unknown): StatusCondition[] {
  const c = (currentStatus as { conditions?: unknown } | undefined)?.conditions;
  return Array.isArray(c) ? (c.filter((x) => typeof x === 'object' && x !== null) as StatusCondition[]) : [];
}

/**
 * Pure: the status to write for `s`, given the object's current status (to
 * keep lastTransitionTime) and generation (undefined: leave out observedGeneration).
 */
export function wantedStatus(s: ObjectStatus, currentStatus: unknown, generation: number | undefined, now: string): WrittenSplitStatus {
  const before = currentConditions(currentStatus);
  const conditions = s.conditions.map((c): StatusCondition => {
    const prev = before.find((p) => p.type === c.type);
    return {
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
      lastTransitionTime: prev !== undefined && prev.status === c.status && typeof prev.lastTransitionTime === 'string' ? prev.lastTransitionTime : now,
    };
  });
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
    ...(s.backends !== undefined ? { backends: s.backends.map((b) => ({ service: b.service, weight: b.weight, routed: b.routed, reason: b.reason })) } : {}),
  };
}

/** Pure: a status's content without lastTransitionTime, for comparison. */
export function statusKey(status: unknown): string {
  const s = (status ?? {}) as Obj;
  const conditions = currentConditions(status).map((c) => [c.type, c.status, c.reason, c.message]);
  return JSON.stringify([s.observedGeneration ?? null, conditions, s.backends ?? []]);
}

/** Pure: the Events for conditions that are False now and were not (with the same reason and message) before. */
export function newProblemEvents(conditions: readonly ObjectCondition[], currentStatus: unknown): SplitEvent[] {
  const before = currentConditions(currentStatus);
  const out: SplitEvent[] = [];
  for (const c of conditions) {
    if (c.status !== 'False') continue;
    const prev = before.find((p) => p.type === c.type);
    if (prev !== undefined && prev.status === 'False' && prev.reason === c.reason && prev.message === c.message) continue;
    out.push({ type: 'Warning', reason: c.reason, message: c.message });
  }
  return out;
}

export interface SplitStatusWriterOptions {
  client: KubeClient;
  /** Whose statuses (default TrafficSplit): the involved object's kind of its Events, and error messages. */
  kind?: 'TrafficSplit' | 'TrafficTarget';
  /** The object as cached by the source, and its path (KubernetesSource.trafficSplit / trafficTarget). */
  lookup: (namespace: string, name: string) => ServedObject | undefined;
  onError?: (err: WeftError) => void;
  /** Told of each status written (for logs and tests). */
  onWritten?: (s: { namespace: string; name: string; status: WrittenSplitStatus; events: SplitEvent[] }) => void;
  now?: () => Date;
  /** Backoff after a failed pass (default 1 s doubling to 30 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** reportingInstance of Events (default the host name). */
  instance?: string;
}

export interface SplitStatusWriter {
  /** The newest statuses of every object (ControlPlaneConfig.onSplitStatus / onTargetStatus). */
  update(statuses: readonly ObjectStatus[]): void;
  /** Resolves when no pass is running or due (retries included). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

interface Written {
  key: string;
  status: WrittenSplitStatus;
  /** resourceVersions of the object before and after the write. */
  before: string;
  after: string;
}

/** The object's metadata fields the writer needs. */
function metaOf(o: ServedObject['object']): { uid: string; resourceVersion: string; generation: number | undefined } {
  const m = (o.metadata ?? {}) as { uid?: string; resourceVersion?: string; generation?: number };
  return { uid: m.uid ?? '', resourceVersion: m.resourceVersion ?? '', generation: typeof m.generation === 'number' ? m.generation : undefined };
}

export function createSplitStatusWriter(o: SplitStatusWriterOptions): SplitStatusWriter {
  const now = o.now ?? (() => new Date());
  const kind = o.kind ?? 'TrafficSplit';
  const instance = o.instance ?? hostname();
  const written = new Map<string, Written>(); // by uid
  /** Collection paths whose objects have no status subresource. */
  const noSubresource = new Set<string>();
  let latest: readonly ObjectStatus[] | undefined;
  let running: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryResolve: (() => void) | undefined;
  let failures = 0;
  let closed = false;
  let eventSeq = 0;

  const report = (err: unknown): void => {
    if (closed) return;
    o.onError?.(err instanceof WeftError ? err : new WeftError('WEFT_ERR_KUBE_API', `writing ${kind} status: ${String(err)}`, { cause: err }));
  };

  async function writeEvent(ns: string, name: string, served: ServedObject, e: SplitEvent, at: string): Promise<void> {
    const m = metaOf(served.object);
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${name}.${Date.now().toString(16)}${(eventSeq++).toString(16).padStart(4, '0')}`, namespace: ns },
      involvedObject: {
        apiVersion: served.object.apiVersion,
        kind,
        name,
        namespace: ns,
        uid: m.uid,
        resourceVersion: m.resourceVersion,
      },
      type: e.type,
      reason: e.reason,
      message: e.message,
      source: { component: EVENT_SOURCE_COMPONENT },
      reportingComponent: 'weft.dev/control-plane',
      reportingInstance: instance,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
    const res = await o.client.request('POST', `/api/v1/namespaces/${encodeURIComponent(ns)}/events`, body);
    if (res.status !== 201) throw kubeApiError(`creating Event ${e.reason} for ${kind} ${ns}/${name}`, res);
  }

  async function writeOne(s: ObjectStatus): Promise<void> {
    const served = o.lookup(s.namespace, s.name);
    if (served === undefined) return; // deleted meanwhile
    const m = metaOf(served.object);
    const collection = served.path.slice(0, served.path.lastIndexOf('/'));
    const useSubresource = !noSubresource.has(collection);
    const currentStatus = (served.object as Obj).status;
    const at = now().toISOString().replace(/\.\d+Z$/, 'Z');
    const w = written.get(m.uid);
    const want = wantedStatus(s, w !== undefined && m.resourceVersion === w.before ? w.status : currentStatus, useSubresource ? m.generation : undefined, at);
    const key = statusKey(want);
    if (statusKey(currentStatus) === key) return;
    // Written already; the cache has not seen it yet (or shows our own write).
    if (w !== undefined && w.key === key && (m.resourceVersion === w.before || m.resourceVersion === w.after)) return;
    // What was there: the cache, or our own write the cache has not caught up with.
    const baseline = w !== undefined && m.resourceVersion === w.before ? w.status : currentStatus;
    const events = newProblemEvents(s.conditions, baseline);

    const patch = async (path: string, status: WrittenSplitStatus): Promise<{ status: number; body: unknown }> =>
      o.client.request('PATCH', path, { status }, { contentType: 'application/merge-patch+json' });
    let sent = want;
    let res = useSubresource ? await patch(`${served.path}/status`, want) : await patch(served.path, want);
    if (useSubresource && res.status === 404) {
      // No status subresource (or the object is gone): try the object itself.
      sent = wantedStatus(s, currentStatus, undefined, at);
      res = await patch(served.path, sent);
      if (res.status === 200) noSubresource.add(collection);
    }
    if (res.status === 404) return;
    if (res.status !== 200) throw kubeApiError(`writing the status of ${kind} ${s.namespace}/${s.name}`, res);
    const after = ((res.body as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion) ?? '';
    written.set(m.uid, { key: statusKey(sent), status: sent, before: m.resourceVersion, after });
    for (const e of events) await writeEvent(s.namespace, s.name, served, e, at);
    o.onWritten?.({ namespace: s.namespace, name: s.name, status: sent, events });
  }

  async function pass(): Promise<void> {
    while (latest !== undefined && !closed) {
      const statuses = latest;
      latest = undefined;
      let failed = false;
      for (const s of statuses) {
        if (closed) return;
        try {
          await writeOne(s);
        } catch (err) {
          failed = true;
          report(err);
        }
      }
      if (failed) {
        // Retry the newest statuses later (those of this pass unless newer came).
        latest ??= statuses;
        const delay = backoffDelay(failures++, { initialMs: o.retryInitialMs ?? 1000, maxMs: o.retryMaxMs ?? 30_000 });
        await new Promise<void>((resolve) => {
          retryResolve = resolve;
          retryTimer = setTimeout(resolve, delay);
        });
        retryTimer = undefined;
        retryResolve = undefined;
      } else {
        failures = 0;
      }
    }
    // Forget writes of objects no longer listed.
    if (written.size > 10_000) written.clear();
  }

  function kick(): void {
    if (running !== undefined || closed) return;
    running = pass().finally(() => {
      running = undefined;
      if (latest !== undefined && !closed) kick();
    });
  }

  return {
    update(statuses) {
      if (closed) return;
      latest = statuses;
      kick();
    },
    async idle() {
      while (running !== undefined) await running;
    },
    async close() {
      closed = true;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      retryResolve?.();
      await running;
    },
  };
}
