// The mesh's namespace, ServiceAccounts and least-privilege RBAC. No
// wildcards; every rule says why it exists. Secrets are reachable only in
// weft-system; Secrets and ConfigMaps only by name, except for `create`
// (which the authorizer cannot restrict by name).
import {
  CONTROL_PLANE,
  IDENTITY_SECRET,
  INJECTOR,
  MESH_NAMESPACE,
  PART_OF_LABELS,
  TRUST_BUNDLE_CONFIGMAP,
  WEBHOOK_OPT_OUT_LABEL,
} from './names.ts';
import type { KubeObject } from './objects.ts';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

const READ = ['get', 'list', 'watch'];

/** What the control plane needs cluster-wide. */
export const CONTROL_PLANE_CLUSTER_RULES: readonly PolicyRule[] = [
  // The cluster source's informers: services, their endpoints (EndpointSlices,
  // discovery.k8s.io v1beta1 or v1), pods (endpoint -> ServiceAccount -> SPIFFE
  // ID) and namespaces.
  { apiGroups: [''], resources: ['services', 'pods', 'namespaces'], verbs: READ },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
  // Deployments (workloads; a pod's Deployment comes from its ReplicaSet
  // owner's name and pod-template-hash, so ReplicaSets are not read).
  { apiGroups: ['apps'], resources: ['deployments'], verbs: READ },
  { apiGroups: ['split.smi-spec.io'], resources: ['trafficsplits'], verbs: READ },
  { apiGroups: ['split.smi-spec.io'], resources: ['trafficsplits/status'], verbs: ['update', 'patch'] },
  { apiGroups: ['access.smi-spec.io'], resources: ['traffictargets/status'], verbs: ['update', 'patch'] },
  { apiGroups: ['specs.smi-spec.io'], resources: ['httproutegroups', 'tcproutes'], verbs: READ },
  { apiGroups: ['access.smi-spec.io'], resources: ['traffictargets'], verbs: READ },
  // Events on TrafficSplits (core and events.k8s.io: clients use either).
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  // Identity.Certify authenticates proxies' ServiceAccount tokens.
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  // The trust bundle, copied into each meshed namespace: an injected pod
  // mounts ConfigMap weft-trust-bundle from its own namespace (a ConfigMap
  // volume cannot reach across namespaces). By name, except `create`.
  {
    apiGroups: [''],
    resources: ['configmaps'],
    resourceNames: [TRUST_BUNDLE_CONFIGMAP],
    verbs: ['get', 'list', 'watch', 'update', 'patch'],
  },
  { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
];

/** What the control plane needs in weft-system only: its CA Secret. */
export const CONTROL_PLANE_NAMESPACE_RULES: readonly PolicyRule[] = [
  { apiGroups: [''], resources: ['secrets'], resourceNames: [IDENTITY_SECRET], verbs: ['get', 'list', 'watch', 'update', 'patch'] },
  // Creating it when missing (`create` cannot be limited by name).
  { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
];

/** The injector reads namespaces' inject annotations and labels. */
export const INJECTOR_CLUSTER_RULES: readonly PolicyRule[] = [
  { apiGroups: [''], resources: ['namespaces'], verbs: READ },
];

function meta(name: string, namespace?: string): KubeObject['metadata'] {
  return { name, ...(namespace === undefined ? {} : { namespace }), labels: { ...PART_OF_LABELS } };
}

export function meshNamespace(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: MESH_NAMESPACE,
      // Never injected (the injector refuses it too) and never sent to the
      // webhook, so the injector's own pods start when the injector is down.
      labels: { ...PART_OF_LABELS, [WEBHOOK_OPT_OUT_LABEL]: 'disabled' },
      annotations: { 'weft.dev/inject': 'disabled' },
    },
  };
}

export function serviceAccount(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(name, MESH_NAMESPACE) };
}

function clusterRole(name: string, rules: readonly PolicyRule[]): KubeObject {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta(name), rules: rules.map((r) => ({ ...r })) };
}

function binding(kind: 'ClusterRoleBinding' | 'RoleBinding', name: string, namespace?: string): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: meta(name, namespace),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: kind === 'ClusterRoleBinding' ? 'ClusterRole' : 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace: MESH_NAMESPACE }],
  };
}

export function rbac(): KubeObject[] {
  return [
    serviceAccount(CONTROL_PLANE),
    serviceAccount(INJECTOR),
    clusterRole(CONTROL_PLANE, CONTROL_PLANE_CLUSTER_RULES),
    binding('ClusterRoleBinding', CONTROL_PLANE),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(CONTROL_PLANE, MESH_NAMESPACE),
      rules: CONTROL_PLANE_NAMESPACE_RULES.map((r) => ({ ...r })),
    },
    binding('RoleBinding', CONTROL_PLANE, MESH_NAMESPACE),
    clusterRole(INJECTOR, INJECTOR_CLUSTER_RULES),
    binding('ClusterRoleBinding', INJECTOR),
  ];
}
