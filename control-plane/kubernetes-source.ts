// The Kubernetes ClusterSource: informers (kube-informers.ts) on Namespaces,
// Services, EndpointSlices, Pods, Deployments, TrafficSplits and
// HTTPRouteGroups, TrafficTargets and TCPRoutes, mapped to a ClusterState by kube-objects.ts.
//
// - Versions come from discovery (kube-discovery.ts): EndpointSlices v1 or
//   v1beta1; the SMI kinds in their preferred version. Discovery is repeated
//   (default every 30 s), so SMI CRDs installed (or upgraded) later are
//   picked up; a kind whose version changes is re-listed in the new version
//   and swapped in once that list is complete.
// - A burst of events (a relist, a rollout) becomes one state: the state is
//   rebuilt from the caches a few ms after the first event (default 10 ms)
//   and emitted only when its JSON differs from the last one emitted, so
//   reconnects and resyncs cause no churn.
// - start() resolves once every informer has listed once (or rejects with
//   WEFT_ERR_SOURCE_UNAVAILABLE after startTimeoutMs); later failures go to
//   onError while the informers retry and the last state stays in force.
import type { KubernetesObject } from '@kubernetes/client-node';
import { WeftError } from '../proto/errors.ts';
import type { ClusterSource, ClusterSourceOptions } from './cluster-source.ts';
import { emptyClusterState, type ClusterState } from './cluster-state.ts';
import type { KubeClient } from './kube-client.ts';
import { discoverVersions, type WatchedVersions } from './kube-discovery.ts';
import { createResourceInformer, type BackoffOptions, type ResourceInformer } from './kube-informers.ts';
import { clusterStateFromKube, createKubeMapMemo, type KubeObjects } from './kube-objects.ts';

export interface KubernetesSourceOptions extends ClusterSourceOptions {
  client: KubeClient;
  /** Quiet time after an event before the state is rebuilt (default 10 ms). */
  coalesceMs?: number;
  /** How often discovery is repeated (default 30 s; 0: only at start). */
  rediscoverMs?: number;
  /** How long start() waits for the first complete lists (default 30 s). */
  startTimeoutMs?: number;
  /** Watch Deployments for workload data (default true). */
  workloads?: boolean;
  backoff?: BackoffOptions;
}

export type Kind = keyof KubeObjects;

/** Discoveries in a row without a kind, and the least time, before its informer stops. */
const MISSING_ROUNDS = 3;
const MISSING_MIN_MS = 30_000;

/** A served TrafficSplit and the API path of the object (for its status). */
export interface ServedObject {
  readonly object: KubernetesObject & Record<string, unknown>;
  /** e.g. /apis/split.smi-spec.io/v1alpha4/namespaces/demo/trafficsplits/web */
  readonly path: string;
}

export interface KubernetesSource extends ClusterSource {
  /** The versions being watched (after start). */
  versions(): WatchedVersions;
  /** Per watched kind: complete lists so far (1 + relists) and failed lists or watches. */
  stats(): Partial<Record<Kind, { lists: number; errors: number }>>;
  /** A TrafficSplit as currently cached, with its path; undefined when unknown. */
  trafficSplit(namespace: string, name: string): ServedObject | undefined;
  /** A TrafficTarget as currently cached, with its path; undefined when unknown. */
  trafficTarget(namespace: string, name: string): ServedObject | undefined;
}

const PLURALS: Readonly<Record<Kind, string>> = {
  namespaces: 'namespaces',
  services: 'services',
  endpointSlices: 'endpointslices',
  pods: 'pods',
  deployments: 'deployments',
  trafficSplits: 'trafficsplits',
  httpRouteGroups: 'httproutegroups',
  trafficTargets: 'traffictargets',
  tcpRoutes: 'tcproutes',
};

/** Collection path of a kind in a group/version ('v1' is the core group). */
export function collectionPath(groupVersion: string, plural: string): string {
  return groupVersion === 'v1' ? `/api/v1/${plural}` : `/apis/${groupVersion}/${plural}`;
}

interface Slot {
  groupVersion: string;
  informer: ResourceInformer;
}

export function createKubernetesSource(opts: KubernetesSourceOptions): KubernetesSource {
  const { client } = opts;
  const coalesceMs = opts.coalesceMs ?? 10;
  const rediscoverMs = opts.rediscoverMs ?? 30_000;
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  const memo = createKubeMapMemo();
  const slots = new Map<Kind, Slot>();
  /** Informers being replaced: listed in a new version, swapped in when synced. */
  const pendingSlots = new Map<Kind, Slot>();
  /** Discoveries in a row that did not list a watched kind. */
  const missing = new Map<Kind, { rounds: number; since: number }>();
  let versions: WatchedVersions = { endpointSlices: undefined, trafficSplits: undefined, httpRouteGroups: undefined, trafficTargets: undefined, tcpRoutes: undefined };
  let state: ClusterState = emptyClusterState();
  let emitted: string | undefined;
  let onChange: ((s: ClusterState) => void) | undefined;
  let started = false;
  let closed = false;
  let ready = false; // the first lists are done: events may emit
  let timer: NodeJS.Timeout | undefined;
  let discoveryTimer: NodeJS.Timeout | undefined;
  let discovering: Promise<void> | undefined;

  const report = (err: WeftError): void => {
    if (!closed) opts.onError?.(err);
  };

  function rebuild(): void {
    timer = undefined;
    if (closed || !ready || onChange === undefined) return;
    const objects = (kind: Kind): readonly unknown[] => slots.get(kind)?.informer.list() ?? [];
    const next = clusterStateFromKube(
      {
        namespaces: objects('namespaces'),
        services: objects('services'),
        endpointSlices: objects('endpointSlices'),
        pods: objects('pods'),
        deployments: objects('deployments'),
        trafficSplits: objects('trafficSplits'),
        httpRouteGroups: objects('httpRouteGroups'),
        trafficTargets: objects('trafficTargets'),
        tcpRoutes: objects('tcpRoutes'),
      },
      memo,
    );
    const json = JSON.stringify(next);
    if (json === emitted) return;
    emitted = json;
    state = next;
    onChange(next);
  }

  function schedule(): void {
    if (closed || !ready || timer !== undefined) return;
    timer = setTimeout(rebuild, coalesceMs);
  }

  function makeSlot(kind: Kind, groupVersion: string): Slot {
    const informer = createResourceInformer({
      client,
      path: collectionPath(groupVersion, PLURALS[kind]),
      onChange: () => {
        // Events of an informer not yet swapped in change nothing visible.
        if (slots.get(kind)?.informer === informer) schedule();
      },
      onError: report,
      ...(opts.backoff !== undefined ? { backoff: opts.backoff } : {}),
    });
    return { groupVersion, informer };
  }

  /** Wanted group/version per kind under `v`. */
  function wanted(v: WatchedVersions): Map<Kind, string> {
    const m = new Map<Kind, string>([
      ['namespaces', 'v1'],
      ['services', 'v1'],
      ['pods', 'v1'],
    ]);
    if (opts.workloads ?? true) m.set('deployments', 'apps/v1');
    if (v.endpointSlices !== undefined) m.set('endpointSlices', v.endpointSlices);
    if (v.trafficSplits !== undefined) m.set('trafficSplits', v.trafficSplits);
    if (v.httpRouteGroups !== undefined) m.set('httpRouteGroups', v.httpRouteGroups);
    if (v.trafficTargets !== undefined) m.set('trafficTargets', v.trafficTargets);
    if (v.tcpRoutes !== undefined) m.set('tcpRoutes', v.tcpRoutes);
    return m;
  }

  /**
   * Brings the informers in line with `v`: new kinds start, changed versions
   * swap once synced, and a kind missing from discovery stops only after
   * MISSING_ROUNDS discoveries in a row over at least MISSING_MIN_MS: an
   * apiserver that is starting up
   * serves a partial /apis for a moment, and dropping a kind's objects on
   * its word would take endpoints away. (A deleted CRD's objects go away
   * through their own DELETED events first.)
   */
  function apply(v: WatchedVersions): void {
    const want = wanted(v);
    for (const [kind, slot] of [...slots]) {
      if (want.has(kind)) {
        missing.delete(kind);
        continue;
      }
      const m = missing.get(kind) ?? { rounds: 0, since: Date.now() };
      m.rounds++;
      missing.set(kind, m);
      if (m.rounds < MISSING_ROUNDS || Date.now() - m.since < MISSING_MIN_MS) {
        want.set(kind, slot.groupVersion); // keep it as it is for now
        continue;
      }
      missing.delete(kind);
      slots.delete(kind);
      void slot.informer.stop();
      schedule();
    }
    versions = {
      endpointSlices: want.get('endpointSlices'),
      trafficSplits: want.get('trafficSplits'),
      httpRouteGroups: want.get('httpRouteGroups'),
      trafficTargets: want.get('trafficTargets'),
      tcpRoutes: want.get('tcpRoutes'),
    };
    for (const [kind, slot] of [...pendingSlots]) {
      if (want.get(kind) !== slot.groupVersion) {
        pendingSlots.delete(kind);
        void slot.informer.stop();
      }
    }
    for (const [kind, groupVersion] of want) {
      const current = slots.get(kind);
      if (current?.groupVersion === groupVersion || pendingSlots.get(kind)?.groupVersion === groupVersion) continue;
      const slot = makeSlot(kind, groupVersion);
      if (current === undefined || !ready) {
        if (current !== undefined) void current.informer.stop();
        slots.set(kind, slot);
        slot.informer.start();
        continue;
      }
      // Replace a running informer only once the new one holds a full list.
      pendingSlots.set(kind, slot);
      slot.informer.start();
      void slot.informer.synced().then(() => {
        if (closed || pendingSlots.get(kind) !== slot) return;
        pendingSlots.delete(kind);
        const old = slots.get(kind);
        slots.set(kind, slot);
        if (old !== undefined) void old.informer.stop();
        schedule();
      });
    }
  }

  async function rediscover(): Promise<void> {
    try {
      const v = await discoverVersions(client);
      if (!closed) apply(v);
    } catch (err) {
      report(new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', `discovery failed: ${(err as Error).message}`, { cause: err }));
    }
  }

  function scheduleDiscovery(): void {
    if (closed || rediscoverMs <= 0) return;
    discoveryTimer = setTimeout(() => {
      discovering = rediscover().finally(() => {
        discovering = undefined;
        scheduleDiscovery();
      });
    }, rediscoverMs);
    discoveryTimer.unref();
  }

  async function startOnce(): Promise<void> {
    const deadline = Date.now() + startTimeoutMs;
    // Discovery, retried until the deadline (the apiserver may still be coming up).
    for (let i = 0; ; i++) {
      try {
        apply(await discoverVersions(client));
        break;
      } catch (err) {
        if (closed) return;
        if (Date.now() + 500 > deadline) {
          throw new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', `cannot reach the Kubernetes API at ${client.server}: ${(err as Error).message}`, {
            cause: err,
          });
        }
        await new Promise((r) => setTimeout(r, Math.min(2000, 250 * 2 ** i)));
      }
    }
    // Every informer lists once.
    const errors: string[] = [];
    const synced = Promise.all([...slots.values()].map((s) => s.informer.synced()));
    let timeout: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timeout = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
    });
    const outcome = await Promise.race([synced.then(() => 'ok' as const), timedOut]);
    clearTimeout(timeout);
    if (outcome === 'timeout') {
      for (const [kind, s] of slots) if (!s.informer.hasSynced) errors.push(`${kind} (${s.informer.path})`);
      throw new WeftError(
        'WEFT_ERR_SOURCE_UNAVAILABLE',
        `Kubernetes API at ${client.server}: no complete list within ${startTimeoutMs} ms of ${errors.join(', ')}`,
      );
    }
  }

  async function stopAll(): Promise<void> {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (discoveryTimer !== undefined) clearTimeout(discoveryTimer);
    discoveryTimer = undefined;
    const all = [...slots.values(), ...pendingSlots.values()];
    slots.clear();
    pendingSlots.clear();
    await Promise.all(all.map((s) => s.informer.stop()));
  }

  /** An object of `kind` as cached, and its path. */
  function served(kind: 'trafficSplits' | 'trafficTargets', namespace: string, name: string): ServedObject | undefined {
    const slot = slots.get(kind);
    if (slot === undefined) return undefined;
    const object = slot.informer.get(name, namespace) as (KubernetesObject & Record<string, unknown>) | undefined;
    if (object === undefined) return undefined;
    return { object, path: `/apis/${slot.groupVersion}/namespaces/${encodeURIComponent(namespace)}/${PLURALS[kind]}/${encodeURIComponent(name)}` };
  }

  return {
    async start(cb) {
      if (started) throw new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', 'Kubernetes source already started');
      started = true;
      try {
        await startOnce();
      } catch (err) {
        closed = true;
        await stopAll();
        throw err;
      }
      if (closed) return;
      onChange = cb;
      ready = true;
      rebuild(); // the initial state: always emitted, nothing was before
      scheduleDiscovery();
    },
    async close() {
      closed = true;
      await discovering;
      await stopAll();
    },
    current: () => state,
    versions: () => versions,
    stats() {
      const out: Partial<Record<Kind, { lists: number; errors: number }>> = {};
      for (const [kind, slot] of slots) out[kind] = slot.informer.stats();
      return out;
    },
    trafficSplit: (namespace, name) => served('trafficSplits', namespace, name),
    trafficTarget: (namespace, name) => served('trafficTargets', namespace, name),
  };
}
