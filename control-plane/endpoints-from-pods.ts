// What the Kubernetes endpoints controller does, for sources that have pods
// but no EndpointSlices (the file source of the local mesh). Pure.
//
// For every Service with a selector: the pods of its namespace whose labels
// match, that have an IP, grouped by how the service's target ports resolve
// on them (a named targetPort is looked up among the pod's container ports
// with the same protocol, so two pods may serve the same service port on
// different numbers: they land in different groups, as in EndpointSlices).
// A port that does not resolve on a pod is left out of that pod's group.
// Not-ready pods are listed with ready: false.
import {
  compareStrings,
  selectorMatches,
  type ClusterService,
  type EndpointAddress,
  type EndpointPort,
  type Pod,
  type ServiceEndpoints,
  type ServicePortSpec,
} from './cluster-state.ts';

/** The number a service port's targetPort means on `pod`, or undefined. */
export function resolveTargetPort(sp: ServicePortSpec, pod: Pick<Pod, 'ports'> | undefined): number | undefined {
  if (typeof sp.targetPort === 'number') return sp.targetPort === 0 ? sp.port : sp.targetPort;
  if (sp.targetPort === '') return sp.port;
  if (pod === undefined) return undefined;
  const hit = pod.ports.find((p) => p.name === sp.targetPort && p.protocol === sp.protocol);
  return hit?.containerPort;
}

export function endpointsFromPods(
  services: readonly ClusterService[],
  pods: readonly Pod[],
): ServiceEndpoints[] {
  const out: ServiceEndpoints[] = [];
  const byNamespace = new Map<string, Pod[]>();
  for (const pod of pods) {
    const list = byNamespace.get(pod.namespace);
    if (list === undefined) byNamespace.set(pod.namespace, [pod]);
    else list.push(pod);
  }
  const sorted = [...services].sort(
    (a, b) => compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name),
  );
  for (const svc of sorted) {
    if (Object.keys(svc.selector).length === 0) continue;
    const groups = new Map<string, { ports: EndpointPort[]; addresses: EndpointAddress[] }>();
    const selected = (byNamespace.get(svc.namespace) ?? [])
      .filter((p) => p.ip !== '' && selectorMatches(svc.selector, p.labels))
      .sort((a, b) => compareStrings(a.name, b.name));
    for (const pod of selected) {
      const ports: EndpointPort[] = [];
      for (const sp of svc.ports) {
        const port = resolveTargetPort(sp, pod);
        if (port !== undefined) ports.push({ name: sp.name, port, protocol: sp.protocol });
      }
      const key = JSON.stringify(ports);
      let group = groups.get(key);
      if (group === undefined) {
        group = { ports, addresses: [] };
        groups.set(key, group);
      }
      group.addresses.push({ ip: pod.ip, ready: pod.ready, podName: pod.name });
    }
    const keys = [...groups.keys()].sort(compareStrings);
    for (const key of keys) {
      const g = groups.get(key)!;
      out.push({ service: svc.name, namespace: svc.namespace, addresses: g.addresses, ports: g.ports });
    }
  }
  return out;
}
