// Kubernetes API objects (JSON as the apiserver sends them) -> ClusterState.
// Pure and total: an object that cannot be mapped (no name, an unusable
// address) is left out, never a throw, so one odd object never costs the
// snapshot. Only the Kubernetes source uses this; the shapes it reads:
//
// - Namespace, Service (v1), Pod (v1), Deployment (apps/v1). Of a Pod's
//   status: phase, podIP, the Ready condition and, through workload-done.ts,
//   whether a Job's app containers have all finished (containerStatuses).
// - EndpointSlice, discovery.k8s.io v1beta1 (1.17-1.24) and v1 (1.21+): the
//   fields read (addressType, endpoints[].addresses[0], .conditions.ready,
//   .targetRef, ports[], label kubernetes.io/service-name) are the same in
//   both. The slices of one service that carry the same ports are merged into
//   one group (addresses deduplicated, sorted), so the EndpointSlice
//   controller moving endpoints between slices is not a change.
// - TrafficSplit (split.smi-spec.io v1alpha1..v1alpha4) and HTTPRouteGroup
//   (specs.smi-spec.io): normalised by split-resolve.ts. The apiserver serves
//   every stored object in whatever version is asked for, and SMI's CRDs do
//   so without conversion (`conversion: None`): only `apiVersion` changes, the
//   body stays as it was written. So the body's shape decides, not the label:
//   weights written as quantities ("500m") are read as v1alpha1 quantities
//   whatever the label says, and `spec.matches` is read whenever it is there.
import { parsePortList } from '../proto/port-list.ts';
import { OPAQUE_PORTS_ANNOTATION, PROXY_CONTAINER } from '../proto/mesh.ts';
import { workloadDone } from './workload-done.ts';
import {
  compareStrings,
  sortClusterState,
  type ClusterService,
  type ClusterState,
  type ContainerPort,
  type EndpointAddress,
  type EndpointPort,
  type EnvVar,
  type HTTPRouteGroup,
  type TCPRoute,
  type TrafficTarget,
  type Namespace,
  type Pod,
  type ServiceEndpoints,
  type ServicePortSpec,
  type TrafficSplit,
  type Workload,
  compareIp,
} from './cluster-state.ts';
import { resolveHttpRouteGroup, resolveTrafficSplit, smiVersion, TRAFFIC_SPLIT_GROUP } from './split-resolve.ts';
import { resolveTcpRoute, resolveTrafficTarget } from './access-resolve.ts';

/** The injected sidecar's container name (DESIGN.md). */
export { PROXY_CONTAINER };
/** The injected marker annotation (DESIGN.md). */
export const PROXY_VERSION_ANNOTATION = 'weft.dev/proxy-version';
/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Annotations never copied: large and of no use to the mesh. */
const DROPPED_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function obj(v: unknown): Obj {
  return isObj(v) ? v : {};
}
function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown, fallback = ''): string {
  return typeof v === 'string' ? v : fallback;
}
function portNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535 ? v : undefined;
}
function stringMap(v: unknown, drop?: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(obj(v)).sort(compareStrings)) {
    const val = (v as Obj)[k];
    if (typeof val === 'string' && !(drop?.has(k) ?? false)) out[k] = val;
  }
  return out;
}

interface Meta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

function metaOf(o: unknown): Meta | undefined {
  const m = obj(obj(o).metadata);
  const name = str(m.name);
  if (name === '') return undefined;
  return {
    name,
    namespace: str(m.namespace),
    labels: stringMap(m.labels),
    annotations: stringMap(m.annotations, DROPPED_ANNOTATIONS),
  };
}

export function namespaceFromKube(o: unknown): Namespace | undefined {
  const m = metaOf(o);
  if (m === undefined) return undefined;
  return { name: m.name, labels: m.labels, annotations: m.annotations };
}

export function serviceFromKube(o: unknown): ClusterService | undefined {
  const m = metaOf(o);
  if (m === undefined || m.namespace === '') return undefined;
  const spec = obj(obj(o).spec);
  const ports: ServicePortSpec[] = [];
  for (const p of list(spec.ports)) {
    const po = obj(p);
    const port = portNumber(po.port);
    if (port === undefined) continue;
    // targetPort defaults to the port (the apiserver fills it in; a file may not).
    const tp = po.targetPort;
    const targetPort = typeof tp === 'number' || (typeof tp === 'string' && tp !== '') ? tp : port;
    ports.push({ name: str(po.name), port, targetPort, protocol: str(po.protocol, 'TCP') || 'TCP' });
  }
  return {
    name: m.name,
    namespace: m.namespace,
    clusterIp: str(spec.clusterIP),
    ports,
    selector: stringMap(spec.selector),
    ...opaquePortsOf(m.annotations),
  };
}

/** One EndpointSlice as a group of endpoints; undefined when it belongs to no service or holds no IPs. */
export function endpointsFromSlice(o: unknown): ServiceEndpoints | undefined {
  const m = metaOf(o);
  if (m === undefined || m.namespace === '') return undefined;
  const service = m.labels[SERVICE_NAME_LABEL] ?? '';
  if (service === '') return undefined;
  const s = obj(o);
  if (s.addressType === 'FQDN') return undefined;
  const ports: EndpointPort[] = [];
  for (const p of list(s.ports)) {
    const po = obj(p);
    const port = portNumber(po.port);
    if (port === undefined) continue;
    ports.push({ name: str(po.name), port, protocol: str(po.protocol, 'TCP') || 'TCP' });
  }
  ports.sort((a, b) => compareStrings(a.name, b.name) || a.port - b.port);
  const addresses: EndpointAddress[] = [];
  for (const e of list(s.endpoints)) {
    const eo = obj(e);
    // Several addresses of one endpoint are the same endpoint (kube-proxy uses the first).
    const ip = str(list(eo.addresses)[0]);
    if (ip === '') continue;
    const conditions = obj(eo.conditions);
    // An unknown readiness (nil) means ready (EndpointSlice API).
    const ready = conditions.ready !== false && conditions.terminating !== true;
    const ref = obj(eo.targetRef);
    addresses.push({ ip, ready, podName: ref.kind === 'Pod' ? str(ref.name) : '' });
  }
  return { service, namespace: m.namespace, addresses, ports };
}

/**
 * Merges the groups of one service that carry the same ports (slices are an
 * implementation detail of the apiserver): addresses deduplicated by IP (ready
 * if any copy is), ordered by IP; groups in canonical order.
 */
export function mergeEndpointGroups(groups: readonly ServiceEndpoints[]): ServiceEndpoints[] {
  const merged = new Map<string, { group: ServiceEndpoints; byIp: Map<string, EndpointAddress> }>();
  for (const g of groups) {
    const k = JSON.stringify([g.namespace, g.service, g.ports]);
    let entry = merged.get(k);
    if (entry === undefined) {
      entry = { group: g, byIp: new Map() };
      merged.set(k, entry);
    }
    for (const a of g.addresses) {
      const prev = entry.byIp.get(a.ip);
      if (prev === undefined || (!prev.ready && a.ready) || (prev.ready === a.ready && prev.podName === '' && a.podName !== '')) {
        entry.byIp.set(a.ip, a);
      }
    }
  }
  const out: ServiceEndpoints[] = [];
  for (const { group, byIp } of merged.values()) {
    const addresses = [...byIp.values()].sort((a, b) => compareIp(a.ip, b.ip));
    out.push({ service: group.service, namespace: group.namespace, addresses, ports: group.ports });
  }
  return out;
}


function containerPorts(containers: readonly unknown[]): ContainerPort[] {
  const out: ContainerPort[] = [];
  for (const c of containers) {
    for (const p of list(obj(c).ports)) {
      const po = obj(p);
      const containerPort = portNumber(po.containerPort);
      if (containerPort === undefined) continue;
      out.push({ name: str(po.name), containerPort, protocol: str(po.protocol, 'TCP') || 'TCP' });
    }
  }
  return out;
}

function isProxyContainer(c: unknown): boolean {
  return obj(c).name === PROXY_CONTAINER;
}

/** The workload that owns a pod: a ReplicaSet's Deployment, or the controller itself. */
export function ownerWorkloadOf(o: unknown): string {
  const m = obj(obj(o).metadata);
  const owner = list(m.ownerReferences)
    .map(obj)
    .find((r) => r.controller === true);
  if (owner === undefined) return '';
  const name = str(owner.name);
  if (owner.kind !== 'ReplicaSet') return name;
  // A Deployment names its ReplicaSets <deployment>-<pod-template-hash> and
  // labels their pods with the hash; a bare ReplicaSet has no such label.
  const hash = str(obj(m.labels)['pod-template-hash']);
  return hash !== '' && name.endsWith(`-${hash}`) ? name.slice(0, -(hash.length + 1)) : name;
}

export function podFromKube(o: unknown): Pod | undefined {
  const m = metaOf(o);
  if (m === undefined || m.namespace === '') return undefined;
  const p = obj(o);
  const spec = obj(p.spec);
  const status = obj(p.status);
  const containers = list(spec.containers);
  const initContainers = list(spec.initContainers);
  const phase = str(status.phase);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const deleting = typeof obj(p.metadata).deletionTimestamp === 'string';
  const readyCondition = list(status.conditions)
    .map(obj)
    .find((c) => c.type === 'Ready');
  // Of the pod's status only this verdict is kept: a container's restarts or
  // timestamps are no change to the mesh.
  const done = workloadDone(o);
  return {
    name: m.name,
    namespace: m.namespace,
    // A finished pod's IP may already belong to another pod.
    ip: terminal ? '' : str(status.podIP),
    labels: m.labels,
    annotations: m.annotations,
    serviceAccount: str(spec.serviceAccountName) || str(spec.serviceAccount) || 'default',
    ownerWorkload: ownerWorkloadOf(o),
    meshed:
      PROXY_VERSION_ANNOTATION in m.annotations || containers.some(isProxyContainer) || initContainers.some(isProxyContainer),
    ready: !terminal && !deleting && readyCondition?.status === 'True',
    // The app's ports: the proxy's own are not the workload's.
    ports: containerPorts(containers.filter((c) => !isProxyContainer(c))),
    ...(done !== undefined ? { workloadDone: done } : {}),
  };
}

export function workloadFromDeployment(o: unknown): Workload | undefined {
  const m = metaOf(o);
  if (m === undefined || m.namespace === '') return undefined;
  const spec = obj(obj(o).spec);
  const template = obj(spec.template);
  const tmeta = obj(template.metadata);
  const tspec = obj(template.spec);
  const app = obj(list(tspec.containers).find((c) => !isProxyContainer(c)));
  const env: EnvVar[] = [];
  for (const e of list(app.env)) {
    const eo = obj(e);
    if (typeof eo.name === 'string' && typeof eo.value === 'string') env.push({ name: eo.name, value: eo.value });
  }
  const replicas = spec.replicas;
  return {
    name: m.name,
    namespace: m.namespace,
    replicas: typeof replicas === 'number' && Number.isInteger(replicas) && replicas >= 0 ? replicas : 1,
    selector: stringMap(obj(spec.selector).matchLabels),
    labels: stringMap(tmeta.labels),
    annotations: stringMap(tmeta.annotations, DROPPED_ANNOTATIONS),
    serviceAccount: str(tspec.serviceAccountName) || str(tspec.serviceAccount) || 'default',
    containerName: str(app.name),
    image: str(app.image),
    command: list(app.command).filter((x): x is string => typeof x === 'string'),
    args: list(app.args).filter((x): x is string => typeof x === 'string'),
    env,
    ports: containerPorts(app.name === undefined ? [] : [app]),
  };
}

/** Whether a split's weights are written as v1alpha1 quantities ("500m", 0.5). */
function quantityWeights(spec: Obj): boolean {
  return list(spec.backends).some((b) => {
    const w = obj(b).weight;
    return typeof w === 'string' || (typeof w === 'number' && !Number.isInteger(w));
  });
}

/**
 * A TrafficSplit as served (any version label, any authored shape; see the
 * top of this file). `apiVersion` keeps the label it was served with.
 */
export function trafficSplitFromKube(o: unknown): TrafficSplit | undefined {
  const m = metaOf(o);
  if (m === undefined || m.namespace === '') return undefined;
  const raw = obj(o);
  const label = smiVersion(raw.apiVersion, TRAFFIC_SPLIT_GROUP);
  if (label === undefined) return resolveTrafficSplit(o, m.namespace);
  const spec = obj(raw.spec);
  const as = (v: string): TrafficSplit => resolveTrafficSplit({ ...raw, apiVersion: `${TRAFFIC_SPLIT_GROUP}/${v}` }, m.namespace);
  const hasMatches = spec.matches !== undefined && spec.matches !== null;
  const weightsVersion = quantityWeights(spec) || label === 'v1alpha1' ? 'v1alpha1' : label;
  const matchesVersion = hasMatches ? 'v1alpha4' : label;
  const forWeights = as(weightsVersion);
  const forMatches = matchesVersion === weightsVersion ? forWeights : as(matchesVersion);
  const isMatchField = (f: string): boolean => f === 'spec.matches' || f.startsWith('spec.matches[');
  return {
    ...forWeights,
    apiVersion: str(raw.apiVersion),
    matches: forMatches.matches,
    problems: [
      ...forWeights.problems.filter((p) => !isMatchField(p.field)),
      ...forMatches.problems.filter((p) => isMatchField(p.field)),
    ],
  };
}

export function httpRouteGroupFromKube(o: unknown): HTTPRouteGroup | undefined {
  const m = metaOf(o);
  if (m === undefined || m.namespace === '') return undefined;
  return resolveHttpRouteGroup(o, m.namespace);
}

export function trafficTargetFromKube(o: unknown): TrafficTarget | undefined {
  const m = metaOf(o);
  if (m === undefined || m.namespace === '') return undefined;
  return resolveTrafficTarget(o, m.namespace);
}

export function tcpRouteFromKube(o: unknown): TCPRoute | undefined {
  const m = metaOf(o);
  if (m === undefined || m.namespace === '') return undefined;
  return resolveTcpRoute(o, m.namespace);
}

/** The raw objects of a cluster, one list per kind (any order). */
export interface KubeObjects {
  readonly namespaces: readonly unknown[];
  readonly services: readonly unknown[];
  readonly endpointSlices: readonly unknown[];
  readonly pods: readonly unknown[];
  readonly deployments: readonly unknown[];
  readonly trafficSplits: readonly unknown[];
  readonly httpRouteGroups: readonly unknown[];
  readonly trafficTargets: readonly unknown[];
  readonly tcpRoutes: readonly unknown[];
}

/**
 * Maps objects with `map`, leaving out those it cannot map. `memo` caches per
 * object identity (the informers replace an object on every update), so an
 * unchanged object is mapped once.
 */
function mapAll<T>(objects: readonly unknown[], map: (o: unknown) => T | undefined, memo?: WeakMap<object, T | null>): T[] {
  const out: T[] = [];
  for (const o of objects) {
    let v: T | undefined;
    if (memo !== undefined && typeof o === 'object' && o !== null) {
      const hit = memo.get(o);
      if (hit !== undefined) {
        if (hit !== null) out.push(hit);
        continue;
      }
      v = map(o);
      memo.set(o, v ?? null);
    } else {
      v = map(o);
    }
    if (v !== undefined) out.push(v);
  }
  return out;
}

/** Per-kind memo tables for clusterStateFromKube (keep one per source). */
export interface KubeMapMemo {
  namespaces: WeakMap<object, Namespace | null>;
  services: WeakMap<object, ClusterService | null>;
  endpointSlices: WeakMap<object, ServiceEndpoints | null>;
  pods: WeakMap<object, Pod | null>;
  deployments: WeakMap<object, Workload | null>;
  trafficSplits: WeakMap<object, TrafficSplit | null>;
  httpRouteGroups: WeakMap<object, HTTPRouteGroup | null>;
  trafficTargets: WeakMap<object, TrafficTarget | null>;
  tcpRoutes: WeakMap<object, TCPRoute | null>;
}

export function createKubeMapMemo(): KubeMapMemo {
  return {
    namespaces: new WeakMap(),
    services: new WeakMap(),
    endpointSlices: new WeakMap(),
    pods: new WeakMap(),
    deployments: new WeakMap(),
    trafficSplits: new WeakMap(),
    httpRouteGroups: new WeakMap(),
    trafficTargets: new WeakMap(),
    tcpRoutes: new WeakMap(),
  };
}

/** The ClusterState of a set of raw objects, in canonical order. Pure (the memo only saves work). */
export function clusterStateFromKube(objects: KubeObjects, memo?: KubeMapMemo): ClusterState {
  return sortClusterState({
    namespaces: mapAll(objects.namespaces, namespaceFromKube, memo?.namespaces),
    services: mapAll(objects.services, serviceFromKube, memo?.services),
    endpoints: mergeEndpointGroups(mapAll(objects.endpointSlices, endpointsFromSlice, memo?.endpointSlices)),
    pods: mapAll(objects.pods, podFromKube, memo?.pods),
    workloads: mapAll(objects.deployments, workloadFromDeployment, memo?.deployments),
    trafficSplits: mapAll(objects.trafficSplits, trafficSplitFromKube, memo?.trafficSplits),
    httpRouteGroups: mapAll(objects.httpRouteGroups, httpRouteGroupFromKube, memo?.httpRouteGroups),
    trafficTargets: mapAll(objects.trafficTargets, trafficTargetFromKube, memo?.trafficTargets),
    tcpRoutes: mapAll(objects.tcpRoutes, tcpRouteFromKube, memo?.tcpRoutes),
  });
}

/** config.weft.dev/opaque-ports of a Service; an invalid value is left out (the file source refuses it). */
function opaquePortsOf(annotations: Readonly<Record<string, string>>): { opaquePorts?: number[] } {
  const v = annotations[OPAQUE_PORTS_ANNOTATION];
  if (v === undefined) return {};
  try {
    return { opaquePorts: parsePortList(v) };
  } catch {
    return {};
  }
}
