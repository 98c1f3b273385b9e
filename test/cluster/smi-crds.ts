// SMI CRDs for the cluster tests: TrafficSplit (split.smi-spec.io),
// HTTPRouteGroup and TCPRoute (specs.smi-spec.io), v1alpha1..v1alpha4 served,
// v1alpha4 stored, TrafficTarget (access.smi-spec.io, v1alpha1..v1alpha3), `conversion: None` (as SMI ships them), a status subresource on
// TrafficSplit. Every version's schema keeps spec and status as written
// (x-kubernetes-preserve-unknown-fields), so that a body written in one
// version reads back unchanged in another: what conversion None requires.
// deploy/'s CRDs are written separately; these only make the tests
// independent of them.
import type { Cluster } from './harness.ts';

const VERSIONS = ['v1alpha1', 'v1alpha2', 'v1alpha3', 'v1alpha4'] as const;

function crd(group: string, kind: string, plural: string, statusSubresource: boolean, storage = 'v1alpha4', versions: readonly string[] = VERSIONS): object {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      conversion: { strategy: 'None' },
      versions: versions.map((name) => ({
        name,
        served: true,
        storage: name === storage,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              // HTTPRouteGroup v1alpha1/v1alpha2 keep `matches` at the top level.
              matches: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
        ...(statusSubresource ? { subresources: { status: {} } } : {}),
      })),
    },
  };
}

export const TRAFFIC_SPLIT_CRD = crd('split.smi-spec.io', 'TrafficSplit', 'trafficsplits', true);
export const HTTP_ROUTE_GROUP_CRD = crd('specs.smi-spec.io', 'HTTPRouteGroup', 'httproutegroups', false);
export const TCP_ROUTE_CRD = crd('specs.smi-spec.io', 'TCPRoute', 'tcproutes', false);
export const TRAFFIC_TARGET_CRD = crd('access.smi-spec.io', 'TrafficTarget', 'traffictargets', true, 'v1alpha3', ['v1alpha1', 'v1alpha2', 'v1alpha3']);

/** Creates the SMI CRDs and waits until they are Established and served. */
export async function installSmiCrds(cluster: Cluster): Promise<void> {
  await cluster.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [TRAFFIC_SPLIT_CRD, HTTP_ROUTE_GROUP_CRD, TCP_ROUTE_CRD, TRAFFIC_TARGET_CRD] }),
  });
  await cluster.kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/trafficsplits.split.smi-spec.io',
    'crd/httproutegroups.specs.smi-spec.io',
    'crd/tcproutes.specs.smi-spec.io',
    'crd/traffictargets.access.smi-spec.io',
  ]);
  // Discovery lags a moment behind Established.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await cluster.api<{ groups?: Array<{ name?: string }> }>('GET', '/apis');
    const names = new Set((res.body.groups ?? []).map((g) => g.name));
    if (names.has('split.smi-spec.io') && names.has('specs.smi-spec.io') && names.has('access.smi-spec.io')) return;
    if (Date.now() > deadline) throw new Error('SMI CRDs not in discovery after 30 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}
