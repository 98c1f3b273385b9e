// Which API versions to watch, from the apiserver's discovery (GET /apis):
// - EndpointSlices: discovery.k8s.io/v1 where served (1.21+), else v1beta1
//   (1.17-1.24; the only one on 1.20).
// - TrafficSplit, HTTPRouteGroup, TCPRoute and TrafficTarget: the group's preferred version when it is
//   an SMI version Weft knows (the apiserver serves every stored object in
//   it), else the highest known version served; none when the CRD is not
//   installed (the source then has no splits and looks again later).
import { SMI_VERSIONS, ROUTE_GROUP_GROUP, TRAFFIC_SPLIT_GROUP } from './split-resolve.ts';
import { kubeApiError, type KubeClient } from './kube-client.ts';
import { ACCESS_GROUP } from './access-resolve.ts';

export const ENDPOINT_SLICE_GROUP = 'discovery.k8s.io';

/** group/version per watched kind; undefined: not served. */
export interface WatchedVersions {
  readonly endpointSlices: string | undefined;
  readonly trafficSplits: string | undefined;
  readonly httpRouteGroups: string | undefined;
  readonly trafficTargets: string | undefined;
  /** TCPRoute shares HTTPRouteGroup's group (specs.smi-spec.io), so its version. */
  readonly tcpRoutes: string | undefined;
}

interface ApiGroup {
  name?: string;
  versions?: Array<{ groupVersion?: string; version?: string }>;
  preferredVersion?: { groupVersion?: string; version?: string };
}

function versionsOf(groups: readonly ApiGroup[], name: string): { served: string[]; preferred: string | undefined } {
  const g = groups.find((x) => x.name === name);
  if (g === undefined) return { served: [], preferred: undefined };
  return {
    served: (g.versions ?? []).map((v) => v.version ?? '').filter((v) => v !== ''),
    preferred: g.preferredVersion?.version,
  };
}

function smiChoice(groups: readonly ApiGroup[], name: string): string | undefined {
  const { served, preferred } = versionsOf(groups, name);
  const known = SMI_VERSIONS as readonly string[];
  if (preferred !== undefined && known.includes(preferred) && served.includes(preferred)) return `${name}/${preferred}`;
  const best = [...known].reverse().find((v) => served.includes(v));
  return best === undefined ? undefined : `${name}/${best}`;
}

/** Pure: the versions to watch given an APIGroupList body. */
export function chooseVersions(apiGroupList: unknown): WatchedVersions {
  const groups = ((apiGroupList as { groups?: unknown } | undefined)?.groups ?? []) as ApiGroup[];
  const list = Array.isArray(groups) ? groups : [];
  const slices = versionsOf(list, ENDPOINT_SLICE_GROUP).served;
  return {
    endpointSlices: slices.includes('v1')
      ? `${ENDPOINT_SLICE_GROUP}/v1`
      : slices.includes('v1beta1')
        ? `${ENDPOINT_SLICE_GROUP}/v1beta1`
        : undefined,
    trafficSplits: smiChoice(list, TRAFFIC_SPLIT_GROUP),
    httpRouteGroups: smiChoice(list, ROUTE_GROUP_GROUP),
    trafficTargets: smiChoice(list, ACCESS_GROUP),
    tcpRoutes: smiChoice(list, ROUTE_GROUP_GROUP),
  };
}

/** Asks the apiserver. Rejects WEFT_ERR_KUBE_API. */
export async function discoverVersions(client: KubeClient): Promise<WatchedVersions> {
  const res = await client.request('GET', '/apis', undefined, { timeoutMs: 10_000 });
  if (res.status !== 200) throw kubeApiError('discovery (GET /apis)', res);
  return chooseVersions(res.body);
}
