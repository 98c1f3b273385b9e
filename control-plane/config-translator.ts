// The translator: ClusterState -> one proxy's ProxyConfig, plus the status of
// every TrafficSplit. Pure: a function of its arguments only (no clock, no
// randomness, no I/O), with every list in a fixed order, so that equal states
// give equal configs and the config stream can diff snapshots.
//
// - Every Service of the cluster becomes a proxy Service with its ready
//   endpoints. An endpoint whose pod is meshed carries the pod's SPIFFE ID
//   (the peer proxy must present exactly it); any other endpoint has identity
//   '' and is called in plaintext.
// - A TrafficSplit on root service R becomes routes on R (TrafficSplit
//   semantics of DESIGN.md and SMI):
//     1. one route per HTTPRouteGroup match the split references (v1alpha3+),
//        splits in name order, with the split's weighted backends;
//     2. then one catch-all route: the weighted backends of R's split without
//        matches, or R's own endpoints when every split on R has matches
//        (SMI: unmatched requests go to the root service).
//   A backend that is missing, exposes none of R's ports or has no ready
//   endpoint is left out of the route; weight 0 is left out too. A route with
//   no backend left sends its traffic to R's own endpoints (mesh.proto: empty
//   backends = the route's own service): never a division by zero.
//   Every such case is a condition in the split's status; nothing throws.
// - Inbound: the proxy's own SPIFFE ID and its workload's app ports.
// Nothing here throws: whatever the state, a config and statuses come out.
import { formatWorkloadId } from '../identity/spiffe-id.ts';
import type {
  Endpoint,
  HttpMatch,
  InboundMode,
  InboundPolicy,
  ProxyConfig,
  Route,
  RouteDefaults,
  Service,
  ServicePort,
  WeightedBackend,
} from '../proto/mesh.ts';
import { DEFAULT_INBOUND_MODE, INBOUND_MODE_ANNOTATION, type DefaultInboundPolicy } from '../proto/mesh.ts';
import {
  byNamespaceName,
  compareStrings,
  selectorMatches,
  type ClusterService,
  type ClusterState,
  type ContainerPort,
  type HTTPRouteGroup,
  type Pod,
  type RouteMatch,
  type ServiceEndpoints,
  type TrafficSplit,
  compareIp,
} from './cluster-state.ts';
import { resolveTargetPort } from './endpoints-from-pods.ts';
import { toHttpMatch } from './smi-match.ts';
import { authzFor } from './authz-compile.ts';

export const DEFAULT_PROXY_INBOUND_PORT = 4143;
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
/** Same values as the proxy's own defaults. */
export const DEFAULT_ROUTE_DEFAULTS: RouteDefaults = {
  timeoutMs: 10_000,
  retry: { maxRetries: 2, budgetRatio: 0.2, minRetriesPerSecond: 10, retryableGrpcStatuses: [14] },
  connectTimeoutMs: 1_000,
};

/** The proxy a config is for. */
export interface ProxyTarget {
  readonly namespace: string;
  /** Its pod; without it the app ports come from workloads of the service account. */
  readonly podName?: string | undefined;
  readonly serviceAccount: string;
}

export interface TranslateOptions {
  readonly trustDomain: string;
  readonly trustBundlePem: readonly string[];
  /** Version of the snapshot (opaque). */
  readonly version: string;
  /** When not cluster.local, services also answer to name.ns.svc.<clusterDomain>. */
  readonly clusterDomain?: string | undefined;
  /** Default STRICT. */
  readonly inboundMode?: InboundMode | undefined;
  /** Peer proxies' inbound port (default 4143). */
  readonly proxyInboundPort?: number | undefined;
  readonly defaults?: RouteDefaults | undefined;
  /** Forward requests for unknown hosts (default true). */
  readonly egressAllow?: boolean | undefined;
  /** What a workload no TrafficTarget names gets, unless its pod or namespace says (default ALL_UNAUTHENTICATED). */
  readonly defaultInboundPolicy?: DefaultInboundPolicy | undefined;
}

export type ConditionType = 'Accepted' | 'ResolvedRefs' | 'BackendsReady' | 'Routed';

export type ConditionReason =
  // Accepted
  | 'Accepted'
  | 'InvalidWeight'
  | 'InvalidSpec'
  | 'RootServiceNotFound'
  | 'Conflict'
  // ResolvedRefs
  | 'ResolvedRefs'
  | 'BackendNotFound'
  | 'BackendPortMismatch'
  | 'RouteGroupNotFound'
  | 'RouteGroupInvalid'
  | 'MatchNotFound'
  // BackendsReady
  | 'BackendsReady'
  | 'BackendNoEndpoints'
  // Routed
  | 'WeightsApplied'
  | 'AllWeightsZero'
  | 'NoUsableBackend'
  | 'NoMatches';

export interface SplitCondition {
  readonly type: ConditionType;
  readonly status: 'True' | 'False';
  readonly reason: ConditionReason;
  readonly message: string;
}

/** What became of one backend of a split. */
export interface BackendStatus {
  readonly service: string;
  /** Normalised weight as declared. */
  readonly weight: number;
  /** Receives traffic (usable and weight > 0). */
  readonly routed: boolean;
  /** '' when usable, else BackendNotFound, BackendPortMismatch or BackendNoEndpoints. */
  readonly reason: '' | 'BackendNotFound' | 'BackendPortMismatch' | 'BackendNoEndpoints';
}

/**
 * A TrafficSplit's status. Conditions, in this order and each at most once:
 * - Accepted: False when the split is ignored (InvalidWeight, InvalidSpec,
 *   RootServiceNotFound, Conflict: another split without matches on the same
 *   root comes first by name); then it is the only condition.
 * - ResolvedRefs: False on BackendNotFound, BackendPortMismatch (a backend
 *   lacks some or all of the root's ports), RouteGroupNotFound,
 *   RouteGroupInvalid, MatchNotFound (the first of these is the reason; the
 *   message lists all).
 * - BackendsReady: False on BackendNoEndpoints.
 * - Routed: True (WeightsApplied) or False when the split's traffic goes to
 *   the root service's own endpoints: AllWeightsZero, NoUsableBackend,
 *   NoMatches (none of its HTTPRouteGroup matches resolved).
 */
export interface SplitStatus {
  readonly namespace: string;
  readonly name: string;
  readonly conditions: readonly SplitCondition[];
  readonly backends: readonly BackendStatus[];
}

export interface Translation {
  readonly config: ProxyConfig;
  readonly splitStatus: SplitStatus[];
}

/** The part of a config every proxy shares: services, routes, split status. */
export interface ClusterTranslation {
  readonly services: Service[];
  readonly splitStatus: SplitStatus[];
}

const key = (namespace: string, name: string): string => `${namespace}/${name}`;

// translateCluster's result depends on the state and three options only, and
// is the same for every proxy: it is computed once per state object and
// shared (deep-frozen, so no caller can change it under the others). Equal
// inputs still give equal outputs; this only saves the work.
const shared = new WeakMap<ClusterState, Map<string, ClusterTranslation>>();

function sharedCluster(state: ClusterState, opts: TranslateOptions): ClusterTranslation {
  const k = `${opts.trustDomain}\n${opts.clusterDomain ?? ''}\n${opts.proxyInboundPort ?? DEFAULT_PROXY_INBOUND_PORT}`;
  let byOpts = shared.get(state);
  if (byOpts === undefined) {
    byOpts = new Map();
    shared.set(state, byOpts);
  }
  let t = byOpts.get(k);
  if (t === undefined) {
    t = deepFreeze(translateCluster(state, opts));
    byOpts.set(k, t);
  }
  return t;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * One proxy's config. See translateCluster and inboundPolicy. The services
 * and split statuses are shared between the proxies of one state and frozen:
 * copy before changing them.
 */
export function translate(state: ClusterState, proxy: ProxyTarget, opts: TranslateOptions): Translation {
  const { services, splitStatus } = sharedCluster(state, opts);
  return {
    config: {
      version: opts.version,
      services: services as Service[],
      inbound: inboundPolicy(state, proxy, opts),
      trustBundlePem: [...opts.trustBundlePem],
      egress: { allow: opts.egressAllow ?? true },
      defaults: cloneDefaults(opts.defaults ?? DEFAULT_ROUTE_DEFAULTS),
    },
    splitStatus: splitStatus as SplitStatus[],
  };
}

function cloneDefaults(d: RouteDefaults): RouteDefaults {
  return { timeoutMs: d.timeoutMs, retry: { ...d.retry }, connectTimeoutMs: d.connectTimeoutMs };
}

// --- services and endpoints -------------------------------------------------

interface PodIndex {
  byName: Map<string, Pod>;
  byIp: Map<string, Pod>;
}

function indexPods(pods: readonly Pod[]): PodIndex {
  const byName = new Map<string, Pod>();
  const byIp = new Map<string, Pod>();
  for (const p of [...pods].sort(byNamespaceName)) {
    byName.set(key(p.namespace, p.name), p);
    if (p.ip !== '' && !byIp.has(key(p.namespace, p.ip))) byIp.set(key(p.namespace, p.ip), p);
  }
  return { byName, byIp };
}

/** The SPIFFE ID an endpoint must present, '' for plaintext, undefined when it cannot have one. */
function endpointIdentity(pod: Pod | undefined, trustDomain: string): string | undefined {
  if (pod === undefined || !pod.meshed) return '';
  try {
    return formatWorkloadId(trustDomain, pod.namespace, pod.serviceAccount || 'default');
  } catch {
    return undefined;
  }
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  return compareIp(a.address, b.address) || a.port - b.port;
}


/** The most frequent number, the smallest on a tie; undefined for none. */
function mostCommon(values: readonly number[]): number | undefined {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: number | undefined;
  let bestCount = 0;
  for (const [v, c] of counts) {
    if (c > bestCount || (c === bestCount && best !== undefined && v < best)) {
      best = v;
      bestCount = c;
    }
  }
  return best;
}

/** Lookups built once per translation. */
interface Indexes {
  pods: PodIndex;
  /** namespace/service -> its endpoint groups */
  endpoints: Map<string, ServiceEndpoints[]>;
  /** namespace/serviceAccount -> SPIFFE ID ('' when it cannot be formed) */
  identities: Map<string, string>;
}

function indexState(state: ClusterState): Indexes {
  const endpoints = new Map<string, ServiceEndpoints[]>();
  for (const e of state.endpoints) {
    const k = key(e.namespace, e.service);
    const list = endpoints.get(k);
    if (list === undefined) endpoints.set(k, [e]);
    else list.push(e);
  }
  return { pods: indexPods(state.pods), endpoints, identities: new Map() };
}

function translateService(svc: ClusterService, idx: Indexes, opts: TranslateOptions): Service {
  const proxyPort = opts.proxyInboundPort ?? DEFAULT_PROXY_INBOUND_PORT;
  const pods = idx.pods;
  const groups = idx.endpoints.get(key(svc.namespace, svc.name)) ?? [];
  const endpoints = new Map<string, Endpoint>();
  const identityOf = (pod: Pod | undefined): string | undefined => {
    if (pod === undefined || !pod.meshed) return '';
    const k = key(pod.namespace, pod.serviceAccount);
    let id = idx.identities.get(k);
    if (id === undefined) {
      id = endpointIdentity(pod, opts.trustDomain) ?? '';
      idx.identities.set(k, id);
    }
    return id === '' ? undefined : id;
  };

  /** Adds the ready addresses of `g` on `port`; returns how many can be called. */
  const addGroup = (g: ServiceEndpoints, port: number): number => {
    if (!Number.isInteger(port) || port < 1 || port > 65535) return 0;
    let n = 0;
    for (const a of g.addresses) {
      if (!a.ready || a.ip === '') continue;
      const pod =
        (a.podName !== '' ? pods.byName.get(key(svc.namespace, a.podName)) : undefined) ??
        pods.byIp.get(key(svc.namespace, a.ip));
      const identity = identityOf(pod);
      if (identity === undefined) continue;
      n++;
      const k = `${a.ip}:${port}`;
      if (endpoints.has(k)) continue;
      endpoints.set(k, {
        address: a.ip,
        port,
        identity,
        proxyPort,
        pod: pod?.name ?? a.podName,
        deployment: pod?.ownerWorkload ?? '',
        serviceAccount: pod?.serviceAccount ?? '',
        namespace: svc.namespace,
      });
    }
    return n;
  };

  const ports: ServicePort[] = [];
  for (const sp of svc.ports) {
    // Numbers this service port resolved to, once per endpoint.
    const seen: number[] = [];
    for (const g of groups) {
      const gp =
        g.ports.find((p) => p.name === sp.name) ??
        (svc.ports.length === 1 && g.ports.length === 1 ? g.ports[0] : undefined);
      if (gp === undefined) continue;
      const n = addGroup(g, gp.port);
      for (let i = 0; i < n; i++) seen.push(gp.port);
    }
    // A named targetPort means whatever it resolved to on most endpoints
    // (0, "same as port", when it resolved nowhere: there is nothing to call).
    const target = typeof sp.targetPort === 'number' ? resolveTargetPort(sp, undefined) : mostCommon(seen);
    ports.push({ name: sp.name, port: sp.port, targetPort: target ?? 0, ...(svc.opaquePorts?.includes(sp.port) === true ? { opaque: true } : {}) });
  }
  // No ports declared: every endpoint serves every port (mesh.proto).
  if (svc.ports.length === 0) for (const g of groups) for (const gp of g.ports) addGroup(g, gp.port);

  const domain = (opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN).toLowerCase().replace(/^\.+|\.+$/g, '');
  return {
    name: svc.name,
    namespace: svc.namespace,
    clusterIp: svc.clusterIp === 'None' ? '' : svc.clusterIp,
    ports,
    routes: [],
    endpoints: [...endpoints.values()].sort(compareEndpoints),
    aliases: domain === DEFAULT_CLUSTER_DOMAIN || domain === '' ? [] : [`${svc.name}.${svc.namespace}.svc.${domain}`],
  };
}

// --- traffic splits ---------------------------------------------------------

function condition(
  type: ConditionType,
  ok: boolean,
  reason: ConditionReason,
  message: string,
): SplitCondition {
  return { type, status: ok ? 'True' : 'False', reason, message };
}

interface SplitOutcome {
  status: SplitStatus;
  /** Routes for requests the split's matches select (v1alpha3+). */
  matchRoutes: Route[];
  /** The catch-all route when the split has no matches; undefined otherwise. */
  catchAll: Route | undefined;
}

function resolveSplit(
  split: TrafficSplit,
  root: Service,
  services: ReadonlyMap<string, Service>,
  groups: ReadonlyMap<string, HTTPRouteGroup>,
): SplitOutcome {
  const ns = split.namespace;
  const refProblems: Array<{ reason: ConditionReason; text: string }> = [];
  const notReady: string[] = [];
  const rootPorts = root.ports.map((p) => p.port);
  const backends: BackendStatus[] = [];
  const routed: WeightedBackend[] = [];

  for (const b of split.backends) {
    const target = services.get(key(ns, b.service));
    let reason: BackendStatus['reason'] = '';
    if (target === undefined) {
      reason = 'BackendNotFound';
      refProblems.push({ reason, text: `backend ${b.service} not found in namespace ${ns} (no traffic)` });
    } else {
      const exposed = new Set(target.ports.map((p) => p.port));
      const missing = target.ports.length === 0 ? [] : rootPorts.filter((p) => !exposed.has(p));
      if (missing.length > 0 && missing.length === rootPorts.length) {
        reason = 'BackendPortMismatch';
        refProblems.push({
          reason,
          text: `backend ${b.service} exposes none of ${root.name}'s ports (${rootPorts.join(', ')}) and gets no traffic`,
        });
      } else {
        if (missing.length > 0) {
          refProblems.push({
            reason: 'BackendPortMismatch',
            text: `backend ${b.service} does not expose port ${missing.join(', ')} of ${root.name}`,
          });
        }
        if (target.endpoints.length === 0) {
          reason = 'BackendNoEndpoints';
          notReady.push(b.service);
        }
      }
    }
    const isRouted = reason === '' && b.weight > 0;
    backends.push({ service: b.service, weight: b.weight, routed: isRouted, reason });
    if (isRouted) routed.push({ service: `${b.service}.${ns}`, weight: b.weight, port: 0 });
  }

  const matchRoutes: Route[] = [];
  for (const ref of split.matches) {
    const group = groups.get(key(ns, ref.name));
    if (group === undefined) {
      refProblems.push({ reason: 'RouteGroupNotFound', text: `HTTPRouteGroup ${ref.name} not found in namespace ${ns}` });
      continue;
    }
    if (group.problems.length > 0) {
      refProblems.push({
        reason: 'RouteGroupInvalid',
        text: `HTTPRouteGroup ${ref.name} is invalid: ${group.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
      });
      continue;
    }
    const picked: RouteMatch[] = [];
    if (ref.matches.length === 0) picked.push(...group.matches);
    for (const name of ref.matches) {
      const m = group.matches.find((x) => x.name === name);
      if (m === undefined) refProblems.push({ reason: 'MatchNotFound', text: `HTTPRouteGroup ${ref.name} has no match ${name}` });
      else picked.push(m);
    }
    for (const m of picked) {
      matchRoutes.push({
        name: `${split.name}/${group.name}/${m.name}`,
        matches: [toHttpMatch(m)],
        backends: routed.map((b) => ({ ...b })),
        timeoutMs: 0,
      });
    }
  }

  const conditions: SplitCondition[] = [condition('Accepted', true, 'Accepted', `split applied to service ${root.name}`)];
  const refOrder: ConditionReason[] = [
    'BackendNotFound',
    'BackendPortMismatch',
    'RouteGroupNotFound',
    'RouteGroupInvalid',
    'MatchNotFound',
  ];
  if (refProblems.length === 0) {
    conditions.push(condition('ResolvedRefs', true, 'ResolvedRefs', 'all backends and route groups resolved'));
  } else {
    const first = refOrder.find((r) => refProblems.some((p) => p.reason === r)) ?? 'BackendNotFound';
    conditions.push(condition('ResolvedRefs', false, first, refProblems.map((p) => p.text).join('; ')));
  }
  conditions.push(
    notReady.length === 0
      ? condition('BackendsReady', true, 'BackendsReady', 'every backend found has ready endpoints')
      : condition('BackendsReady', false, 'BackendNoEndpoints', `no ready endpoints (no traffic): ${notReady.join(', ')}`),
  );
  const toRoot = `traffic goes to the endpoints of root service ${root.name}`;
  const declared = split.backends.reduce((sum, b) => sum + b.weight, 0);
  if (split.matches.length > 0 && matchRoutes.length === 0) {
    conditions.push(condition('Routed', false, 'NoMatches', `no HTTPRouteGroup match resolved; ${toRoot}`));
  } else if (declared === 0) {
    conditions.push(condition('Routed', false, 'AllWeightsZero', `all weights are zero; ${toRoot}`));
  } else if (routed.length === 0) {
    conditions.push(condition('Routed', false, 'NoUsableBackend', `no backend with a weight can take traffic; ${toRoot}`));
  } else {
    const total = routed.reduce((sum, b) => sum + b.weight, 0);
    const shares = routed.map((b) => `${b.service.slice(0, -(ns.length + 1))} ${formatShare(b.weight, total)}`);
    conditions.push(condition('Routed', true, 'WeightsApplied', `traffic split: ${shares.join(', ')}`));
  }

  return {
    status: { namespace: ns, name: split.name, conditions, backends },
    matchRoutes,
    catchAll:
      split.matches.length === 0
        ? { name: split.name, matches: [], backends: routed.map((b) => ({ ...b })), timeoutMs: 0 }
        : undefined,
  };
}

function formatShare(weight: number, total: number): string {
  const pct = (weight / total) * 100;
  return `${Number.isInteger(pct) ? pct : pct.toFixed(1)}%`;
}

function rejected(split: TrafficSplit, reason: ConditionReason, message: string): SplitStatus {
  return {
    namespace: split.namespace,
    name: split.name,
    conditions: [condition('Accepted', false, reason, message)],
    backends: split.backends.map((b) => ({ service: b.service, weight: b.weight, routed: false, reason: '' })),
  };
}

/** Services with their endpoints and split routes, and every split's status. */
export function translateCluster(state: ClusterState, opts: TranslateOptions): ClusterTranslation {
  const idx = indexState(state);
  const services = [...state.services]
    .sort(byNamespaceName)
    .filter((s, i, all) => i === 0 || byNamespaceName(all[i - 1]!, s) !== 0)
    .map((s) => translateService(s, idx, opts));
  const byKey = new Map(services.map((s) => [key(s.namespace, s.name), s]));
  const groups = new Map(state.httpRouteGroups.map((g) => [key(g.namespace, g.name), g]));

  const splitStatus: SplitStatus[] = [];
  const perRoot = new Map<string, { matchRoutes: Route[]; catchAll: Route | undefined; catchAllSplit: string }>();
  const splits = [...state.trafficSplits].sort(byNamespaceName);
  splits.forEach((split, i) => {
    if (i > 0 && byNamespaceName(splits[i - 1]!, split) === 0) return; // duplicate object
    if (split.problems.length > 0) {
      const reason: ConditionReason = split.problems.some((p) => p.reason === 'InvalidWeight') ? 'InvalidWeight' : 'InvalidSpec';
      splitStatus.push(
        rejected(split, reason, `split ignored (${split.service || 'its root service'} gets its own endpoints): ${split.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`),
      );
      return;
    }
    const rootKey = key(split.namespace, split.service);
    const root = byKey.get(rootKey);
    if (root === undefined) {
      splitStatus.push(rejected(split, 'RootServiceNotFound', `root service ${split.service} not found in namespace ${split.namespace}`));
      return;
    }
    let entry = perRoot.get(rootKey);
    if (entry === undefined) {
      entry = { matchRoutes: [], catchAll: undefined, catchAllSplit: '' };
      perRoot.set(rootKey, entry);
    }
    if (split.matches.length === 0 && entry.catchAll !== undefined) {
      splitStatus.push(
        rejected(split, 'Conflict', `split ${entry.catchAllSplit} already splits all traffic of service ${split.service}; this one is ignored`),
      );
      return;
    }
    const outcome = resolveSplit(split, root, byKey, groups);
    splitStatus.push(outcome.status);
    entry.matchRoutes.push(...outcome.matchRoutes);
    if (outcome.catchAll !== undefined) {
      entry.catchAll = outcome.catchAll;
      entry.catchAllSplit = split.name;
    }
  });

  for (const [rootKey, entry] of perRoot) {
    const root = byKey.get(rootKey)!;
    const routes = [...entry.matchRoutes];
    if (entry.catchAll !== undefined) routes.push(entry.catchAll);
    else if (routes.length > 0) routes.push({ name: 'default', matches: [], backends: [], timeoutMs: 0 });
    root.routes = routes;
  }
  return { services, splitStatus };
}

// --- inbound ----------------------------------------------------------------

function tcpPorts(ports: readonly ContainerPort[]): number[] {
  return ports.filter((p) => p.protocol === 'TCP').map((p) => p.containerPort);
}

function uniquePorts(ports: readonly number[]): number[] {
  return [...new Set(ports.filter((p) => Number.isInteger(p) && p >= 1 && p <= 65535))];
}

/** Target ports of the services of `namespace` that select `labels`, resolved against `ports`. */
function selectingServicePorts(
  state: ClusterState,
  namespace: string,
  labels: Readonly<Record<string, string>>,
  ports: readonly ContainerPort[],
): number[] {
  const out: number[] = [];
  for (const svc of [...state.services].sort(byNamespaceName)) {
    if (svc.namespace !== namespace || !selectorMatches(svc.selector, labels)) continue;
    for (const sp of svc.ports) {
      if (sp.protocol !== 'TCP') continue;
      const n = resolveTargetPort(sp, { ports });
      if (n !== undefined) out.push(n);
    }
  }
  return out;
}

/**
 * The app ports of the proxy's workload, first one first: its pod's container
 * ports; else its Deployment's; else the target ports of the services that
 * select it. Without a pod name: the workloads of its service account.
 */
function appPorts(state: ClusterState, proxy: ProxyTarget): number[] {
  const workloads = [...state.workloads].sort(byNamespaceName);
  const pod =
    proxy.podName === undefined || proxy.podName === ''
      ? undefined
      : state.pods.find((p) => p.namespace === proxy.namespace && p.name === proxy.podName);
  if (pod !== undefined) {
    let ports = uniquePorts(tcpPorts(pod.ports));
    if (ports.length > 0) return ports;
    const owner = workloads.find((w) => w.namespace === pod.namespace && w.name === pod.ownerWorkload);
    if (owner !== undefined) ports = uniquePorts(tcpPorts(owner.ports));
    if (ports.length > 0) return ports;
    return uniquePorts(selectingServicePorts(state, pod.namespace, pod.labels, pod.ports));
  }
  const sa = proxy.serviceAccount || 'default';
  const mine = workloads.filter((w) => w.namespace === proxy.namespace && (w.serviceAccount || 'default') === sa);
  const ports = uniquePorts(mine.flatMap((w) => tcpPorts(w.ports)));
  if (ports.length > 0) return ports;
  return uniquePorts(mine.flatMap((w) => selectingServicePorts(state, w.namespace, w.labels, w.ports)));
}

/**
 * The inbound policy of `proxy`: its SPIFFE ID, its app ports, any mesh
 * identity allowed. Never throws: when the namespace, service account or
 * trust domain cannot form a SPIFFE ID, the identity is '' (such a proxy
 * cannot get a certificate for it either).
 */
export function inboundPolicy(state: ClusterState, proxy: ProxyTarget, opts: TranslateOptions): InboundPolicy {
  let identity = '';
  try {
    identity = formatWorkloadId(opts.trustDomain, proxy.namespace, proxy.serviceAccount || 'default');
  } catch {
    // left empty, see above
  }
  return {
    mode: inboundModeOf(state, proxy, opts.inboundMode ?? DEFAULT_INBOUND_MODE),
    allowedIdentities: [],
    appPorts: appPorts(state, proxy),
    identity,
    ...authzFor(state, proxy, opts),
  };
}

/** A `config.weft.dev/inbound-mode` value, or undefined when absent or not strict|permissive. */
function modeAnnotation(annotations: Readonly<Record<string, string>> | undefined): InboundMode | undefined {
  const v = annotations?.[INBOUND_MODE_ANNOTATION]?.trim().toUpperCase();
  return v === 'STRICT' || v === 'PERMISSIVE' ? v : undefined;
}

/**
 * The inbound mode of `proxy`: its pod's annotation (in the local mesh, its
 * workload's pod template), else its namespace's, else the cluster default.
 * An invalid value is ignored (the injector refuses it on pods at admission).
 */
export function inboundModeOf(state: ClusterState, proxy: ProxyTarget, clusterDefault: InboundMode): InboundMode {
  const podName = proxy.podName ?? '';
  const pod = state.pods.find((p) => p.namespace === proxy.namespace && p.name === podName);
  const fromPod =
    modeAnnotation(pod?.annotations) ??
    modeAnnotation(
      state.workloads.find(
        (w) => w.namespace === proxy.namespace && podName.startsWith(`${w.name}-`) && (w.serviceAccount || 'default') === (proxy.serviceAccount || 'default'),
      )?.annotations,
    );
  return fromPod ?? modeAnnotation(state.namespaces.find((n) => n.name === proxy.namespace)?.annotations) ?? clusterDefault;
}
