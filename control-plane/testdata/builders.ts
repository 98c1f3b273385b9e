// Small builders of ClusterState objects for tests: every field has a dull
// default, tests set what they are about.
import {
  emptyClusterState,
  type ClusterService,
  type ClusterState,
  type HTTPRouteGroup,
  type Pod,
  type RouteMatch,
  type ServiceEndpoints,
  type ServicePortSpec,
  type SplitBackend,
  type SplitMatchRef,
  type TrafficSplit,
  type Workload,
} from '../cluster-state.ts';

export const NS = 'demo';

export function port(p: Partial<ServicePortSpec> = {}): ServicePortSpec {
  return { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', ...p };
}

export function service(name: string, selector: Record<string, string>, p: Partial<ClusterService> = {}): ClusterService {
  return { name, namespace: NS, clusterIp: '', ports: [port()], selector, ...p };
}

export function pod(name: string, ip: string, labels: Record<string, string>, p: Partial<Pod> = {}): Pod {
  return {
    name,
    namespace: NS,
    ip,
    labels,
    annotations: {},
    serviceAccount: 'web',
    ownerWorkload: name.replace(/-[a-z0-9]+$/, ''),
    meshed: true,
    ready: true,
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
    ...p,
  };
}

export function workload(name: string, labels: Record<string, string>, p: Partial<Workload> = {}): Workload {
  return {
    name,
    namespace: NS,
    replicas: 1,
    selector: labels,
    labels,
    annotations: {},
    serviceAccount: name,
    containerName: name,
    image: '',
    command: [],
    args: [],
    env: [],
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
    ...p,
  };
}

export function endpoints(
  svc: string,
  addresses: Array<{ ip: string; podName?: string; ready?: boolean }>,
  ports: Array<{ name?: string; port: number }> = [{ name: 'http', port: 8080 }],
): ServiceEndpoints {
  return {
    service: svc,
    namespace: NS,
    addresses: addresses.map((a) => ({ ip: a.ip, podName: a.podName ?? '', ready: a.ready ?? true })),
    ports: ports.map((p) => ({ name: p.name ?? 'http', port: p.port, protocol: 'TCP' })),
  };
}

export function split(
  name: string,
  root: string,
  backends: SplitBackend[],
  p: Partial<TrafficSplit> & { matches?: SplitMatchRef[] } = {},
): TrafficSplit {
  return {
    name,
    namespace: NS,
    apiVersion: 'split.smi-spec.io/v1alpha4',
    service: root,
    backends,
    matches: [],
    problems: [],
    ...p,
  };
}

export function routeGroup(name: string, matches: Array<Partial<RouteMatch> & { name: string }>): HTTPRouteGroup {
  return {
    name,
    namespace: NS,
    apiVersion: 'specs.smi-spec.io/v1alpha4',
    matches: matches.map((m) => ({ pathRegex: '', methods: [], headers: [], ...m })),
    problems: [],
  };
}

export function state(p: Partial<ClusterState> = {}): ClusterState {
  return { ...emptyClusterState(), ...p };
}

/**
 * The canary of the demo as hand-built state: web (root, app=web) over web-v1
 * (2 pods) and web-v2 (1 pod), client pod, split 90/10.
 */
export function canaryState(weights: [number, number] = [90, 10]): ClusterState {
  const pods = [
    pod('web-v1-a', '127.0.1.1', { app: 'web', version: 'v1' }, { ownerWorkload: 'web-v1' }),
    pod('web-v1-b', '127.0.1.2', { app: 'web', version: 'v1' }, { ownerWorkload: 'web-v1' }),
    pod('web-v2-a', '127.0.2.1', { app: 'web', version: 'v2' }, { ownerWorkload: 'web-v2' }),
    pod('client-a', '127.0.3.1', { app: 'client' }, { ownerWorkload: 'client', serviceAccount: 'client', ports: [] }),
  ];
  return state({
    services: [
      service('web', { app: 'web' }),
      service('web-v1', { app: 'web', version: 'v1' }),
      service('web-v2', { app: 'web', version: 'v2' }),
    ],
    endpoints: [
      endpoints('web', [
        { ip: '127.0.1.1', podName: 'web-v1-a' },
        { ip: '127.0.1.2', podName: 'web-v1-b' },
        { ip: '127.0.2.1', podName: 'web-v2-a' },
      ]),
      endpoints('web-v1', [
        { ip: '127.0.1.1', podName: 'web-v1-a' },
        { ip: '127.0.1.2', podName: 'web-v1-b' },
      ]),
      endpoints('web-v2', [{ ip: '127.0.2.1', podName: 'web-v2-a' }]),
    ],
    pods,
    workloads: [
      workload('web-v1', { app: 'web', version: 'v1' }, { serviceAccount: 'web' }),
      workload('web-v2', { app: 'web', version: 'v2' }, { serviceAccount: 'web' }),
      workload('client', { app: 'client' }, { ports: [] }),
    ],
    trafficSplits: [
      split('web', 'web', [
        { service: 'web-v1', weight: weights[0] },
        { service: 'web-v2', weight: weights[1] },
      ]),
    ],
  });
}
