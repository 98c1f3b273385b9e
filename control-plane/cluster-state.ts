// The control plane's view of a cluster, whatever the source (Kubernetes
// informers or a folder of YAML). Plain data: no Kubernetes client types, no
// methods, so that the translator stays a pure function of it and two equal
// states compare equal as JSON.
//
// Names follow Kubernetes; every object is namespaced except Namespace.

/** A port a container listens on (pod.spec.containers[].ports[]). */
export interface ContainerPort {
  /** '' when unnamed. */
  readonly name: string;
  readonly containerPort: number;
  /** TCP | UDP | SCTP. */
  readonly protocol: string;
}

export interface Namespace {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface ServicePortSpec {
  /** '' when unnamed (allowed only for a single-port service). */
  readonly name: string;
  readonly port: number;
  /** A number, or the name of a container port. */
  readonly targetPort: number | string;
  /** TCP | UDP | SCTP. */
  readonly protocol: string;
}

export interface ClusterService {
  readonly name: string;
  readonly namespace: string;
  /** '' or 'None' (headless) when the service has no virtual IP. */
  readonly clusterIp: string;
  readonly ports: readonly ServicePortSpec[];
  /** Pods selected for its endpoints. Empty: endpoints are managed by hand. */
  readonly selector: Readonly<Record<string, string>>;
  /** Service ports whose connections are opaque TCP (annotation config.weft.dev/opaque-ports); absent: none. */
  readonly opaquePorts?: readonly number[];
}

export interface EndpointAddress {
  readonly ip: string;
  /** Only ready addresses receive traffic. */
  readonly ready: boolean;
  /** The pod behind the address (targetRef); '' when there is none. */
  readonly podName: string;
}

export interface EndpointPort {
  /** The service port's name ('' for an unnamed port). */
  readonly name: string;
  /** The resolved target port on the pod. */
  readonly port: number;
  readonly protocol: string;
}

/**
 * One group of endpoints of a service: every address serves every port of
 * the group (an EndpointSlice, or one subset of an Endpoints object). A
 * service may have several groups, e.g. when a named target port resolves to
 * different numbers on different pods.
 */
export interface ServiceEndpoints {
  /** The service's name. */
  readonly service: string;
  readonly namespace: string;
  readonly addresses: readonly EndpointAddress[];
  readonly ports: readonly EndpointPort[];
}

export interface Pod {
  readonly name: string;
  readonly namespace: string;
  /** '' until the pod has an address (loopback 127.0.x.y in the local mesh). */
  readonly ip: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
  /** The Deployment (or other workload) that owns the pod; '' for a bare pod. */
  readonly ownerWorkload: string;
  /** Whether the pod runs a Weft proxy (its endpoints are called over mTLS). */
  readonly meshed: boolean;
  readonly ready: boolean;
  /** Ports of all its containers, in declaration order. */
  readonly ports: readonly ContainerPort[];
  /**
   * Set once the app containers of a pod with a classic weft-proxy sidecar
   * have finished for good (a Job's pod: workload-done.ts): how the pod will
   * end. Its proxy is then told to shut down. Absent for every other pod.
   */
  readonly workloadDone?: WorkloadOutcome;
}

/** The phase a finished pod reaches once its proxy has exited. */
export type WorkloadOutcome = 'Succeeded' | 'Failed';

export interface EnvVar {
  readonly name: string;
  readonly value: string;
}

/**
 * A Deployment-like workload: what `weft up` runs as processes (one per
 * replica) and what the translator falls back to for a proxy's app ports.
 * The container fields are those of the first container (the app).
 */
export interface Workload {
  readonly name: string;
  readonly namespace: string;
  readonly replicas: number;
  /** spec.selector.matchLabels */
  readonly selector: Readonly<Record<string, string>>;
  /** Pod template labels and annotations. */
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
  readonly containerName: string;
  /** '' when not set (the local mesh runs `command`, not images). */
  readonly image: string;
  readonly command: readonly string[];
  readonly args: readonly string[];
  /** Literal values only (valueFrom entries are not represented). */
  readonly env: readonly EnvVar[];
  readonly ports: readonly ContainerPort[];
}

/** A reference from a TrafficSplit (v1alpha3+) to an HTTPRouteGroup. */
export interface SplitMatchRef {
  readonly kind: 'HTTPRouteGroup';
  readonly name: string;
  /** Names of matches within the group; empty: all of its matches. */
  readonly matches: readonly string[];
}

export interface SplitBackend {
  readonly service: string;
  /** Relative weight: a non-negative integer after normalisation. */
  readonly weight: number;
}

/** Why a TrafficSplit object could not be normalised. */
export type SplitProblemReason = 'InvalidWeight' | 'InvalidSpec';

export interface SplitProblem {
  readonly reason: SplitProblemReason;
  /** The offending field, e.g. "spec.backends[1].weight". */
  readonly field: string;
  /** What is wrong with the field (without the field's name). */
  readonly message: string;
}

/**
 * A TrafficSplit normalised across SMI v1alpha1..v1alpha4 (split-resolve.ts).
 * A split with problems is kept (so that its status can say why) but routes
 * nothing: its root service's traffic goes to the root's own endpoints.
 */
export interface TrafficSplit {
  readonly name: string;
  readonly namespace: string;
  /** e.g. split.smi-spec.io/v1alpha4 */
  readonly apiVersion: string;
  /** The root service. */
  readonly service: string;
  readonly backends: readonly SplitBackend[];
  /** v1alpha3+ only; empty: the split applies to every request. */
  readonly matches: readonly SplitMatchRef[];
  readonly problems: readonly SplitProblem[];
}

export interface RouteHeaderMatch {
  /** Lower-case header name. */
  readonly name: string;
  /** Regular expression the whole value must match. */
  readonly regex: string;
}

export interface RouteMatch {
  readonly name: string;
  /** SMI path regex, anchored at the start of the path only; '' for any path. */
  readonly pathRegex: string;
  /** Upper-case; empty: any method ("*"). */
  readonly methods: readonly string[];
  readonly headers: readonly RouteHeaderMatch[];
}

export interface HTTPRouteGroup {
  readonly name: string;
  readonly namespace: string;
  readonly apiVersion: string;
  readonly matches: readonly RouteMatch[];
  /** Non-empty: the group is unusable (bad regex, method or header name). */
  readonly problems: readonly SplitProblem[];
}

/** A ServiceAccount named by a TrafficTarget (destination or source). */
export interface IdentityRef {
  readonly serviceAccount: string;
  readonly namespace: string;
}

/** What a TrafficTarget allows: the matches of an HTTPRouteGroup (all when `matches` is empty), or a TCPRoute's ports. */
export type TrafficTargetRule =
  | { readonly kind: 'HTTPRouteGroup'; readonly name: string; readonly matches: readonly string[] }
  | { readonly kind: 'TCPRoute'; readonly name: string };

/**
 * An SMI TrafficTarget (access.smi-spec.io v1alpha1..v1alpha3,
 * access-resolve.ts): who (sources) may call the destination ServiceAccount's
 * pods, and with what (rules). One with problems allows nothing, but still
 * names its destination: once named, a workload takes only what targets allow.
 */
export interface TrafficTarget {
  readonly name: string;
  readonly namespace: string;
  readonly apiVersion: string;
  /** `port` 0: every port. */
  readonly destination: IdentityRef & { readonly port: number };
  readonly sources: readonly IdentityRef[];
  readonly rules: readonly TrafficTargetRule[];
  readonly problems: readonly SplitProblem[];
}

/** An SMI TCPRoute (specs.smi-spec.io): the ports it names; empty: every port. */
export interface TCPRoute {
  readonly name: string;
  readonly namespace: string;
  readonly apiVersion: string;
  readonly ports: readonly number[];
  readonly problems: readonly SplitProblem[];
}

export interface ClusterState {
  readonly namespaces: readonly Namespace[];
  readonly services: readonly ClusterService[];
  readonly endpoints: readonly ServiceEndpoints[];
  readonly pods: readonly Pod[];
  readonly workloads: readonly Workload[];
  readonly trafficSplits: readonly TrafficSplit[];
  readonly httpRouteGroups: readonly HTTPRouteGroup[];
  readonly trafficTargets: readonly TrafficTarget[];
  readonly tcpRoutes: readonly TCPRoute[];
}

export function emptyClusterState(): ClusterState {
  return { namespaces: [], services: [], endpoints: [], pods: [], workloads: [], trafficSplits: [], httpRouteGroups: [], trafficTargets: [], tcpRoutes: [] };
}

/**
 * Whether `labels` satisfy an equality selector. An empty selector selects
 * nothing (as a Service without a selector has no managed endpoints).
 */
export function selectorMatches(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  const keys = Object.keys(selector);
  if (keys.length === 0) return false;
  return keys.every((k) => labels[k] === selector[k]);
}

/** Orders by namespace, then name (code-unit order, locale-independent). */
export function byNamespaceName(
  a: { readonly namespace: string; readonly name: string },
  b: { readonly namespace: string; readonly name: string },
): number {
  return compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name);
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The same state with every list in a canonical order, so that two states
 * holding the same objects serialise identically (the sources compare them
 * before emitting).
 */
/** Numeric order for dotted IPv4 addresses, string order otherwise. */
export function compareIp(a: string, b: string): number {
  const pa = a.split('.');
  const pb = b.split('.');
  if (pa.length === 4 && pb.length === 4) {
    for (let i = 0; i < 4; i++) {
      const d = Number(pa[i]) - Number(pb[i]);
      if (d !== 0 && !Number.isNaN(d)) return d;
    }
  }
  return compareStrings(a, b);
}

export function sortClusterState(s: ClusterState): ClusterState {
  return {
    namespaces: [...s.namespaces].sort((a, b) => compareStrings(a.name, b.name)),
    services: [...s.services].sort(byNamespaceName),
    endpoints: [...s.endpoints].sort(
      (a, b) =>
        compareStrings(a.namespace, b.namespace) ||
        compareStrings(a.service, b.service) ||
        compareStrings(JSON.stringify(a.ports), JSON.stringify(b.ports)) ||
        compareStrings(JSON.stringify(a.addresses), JSON.stringify(b.addresses)),
    ),
    pods: [...s.pods].sort(byNamespaceName),
    workloads: [...s.workloads].sort(byNamespaceName),
    trafficSplits: [...s.trafficSplits].sort(byNamespaceName),
    httpRouteGroups: [...s.httpRouteGroups].sort(byNamespaceName),
    trafficTargets: [...s.trafficTargets].sort(byNamespaceName),
    tcpRoutes: [...s.tcpRoutes].sort(byNamespaceName),
  };
}
