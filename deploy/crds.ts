// The SMI CustomResourceDefinitions Weft reads: TrafficSplit
// (split.smi-spec.io), HTTPRouteGroup and TCPRoute (specs.smi-spec.io),
// versions v1alpha1..v1alpha4, and TrafficTarget (access.smi-spec.io,
// v1alpha1..v1alpha3), as apiextensions.k8s.io/v1 (structural schemas).
//
// Why one schema for every version: the CRDs use `conversion: None` (there is
// no conversion webhook), so an object written as v1alpha1 is stored and
// served in every version with only `apiVersion` relabelled. Were v1alpha4's
// weight an integer, a v1alpha1 object ("500m") read and written back through
// v1alpha4 (say a status update by the control plane, or `kubectl edit`)
// would be refused. So every version accepts the union of the SMI versions'
// shapes, and Weft reads the body by its shape (control-plane/kube-objects.ts):
//   - backends[].weight: a non-negative integer or a non-negative quantity
//     string ("500m", "1", "1k") in every version;
//   - spec.matches (v1alpha3+) is allowed in every version, and each reference
//     may carry Weft's optional `matches: [names]`;
//   - HTTPRouteGroup matches at the top level (v1alpha1, v1alpha2) or under
//     spec (v1alpha3, v1alpha4); headers as a list of one-entry maps
//     (v1alpha1..v1alpha3) or one map (v1alpha4).
// What it still refuses: a missing spec.service or spec.backends, a backend
// without service or weight, a negative or fractional weight, a match
// reference of another kind than HTTPRouteGroup, a route match without name.
// The storage version is v1alpha4, the newest (it is only a label here).
// TrafficSplit has a status subresource: the control plane writes conditions
// there, and `kubectl apply` of a spec never clobbers them.
import { ACCESS_STORAGE_VERSION, ACCESS_VERSIONS, CRD_NAMES, PART_OF_LABELS, SMI_STORAGE_VERSION, SMI_VERSIONS } from './names.ts';
import type { KubeObject } from './objects.ts';

type Schema = Record<string, unknown>;

/** Kubernetes' resource.Quantity syntax, sign excluded: weights may not be negative. */
export const NON_NEGATIVE_QUANTITY =
  '^\\+?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';
/** An HTTP method (RFC 9110 token) or SMI's `*`. */
export const HTTP_METHOD = "^(\\*|[!#$%&'*+.^_`|~0-9A-Za-z-]+)$";

const name = (description: string): Schema => ({ type: 'string', minLength: 1, description });

export function trafficSplitSchema(): Schema {
  return {
    type: 'object',
    description: 'SMI TrafficSplit: splits traffic to a root service between backend services by weight.',
    properties: {
      spec: {
        type: 'object',
        required: ['service', 'backends'],
        properties: {
          service: name('The root (apex) service that clients address.'),
          backends: {
            type: 'array',
            description: 'The backend services and their relative weights.',
            items: {
              type: 'object',
              required: ['service', 'weight'],
              properties: {
                service: name('Name of a Service in the same namespace.'),
                weight: {
                  description:
                    'Relative weight: a whole number, or (v1alpha1) a quantity such as "500m"; accepted in every version.',
                  'x-kubernetes-int-or-string': true,
                  minimum: 0,
                  pattern: NON_NEGATIVE_QUANTITY,
                },
              },
            },
          },
          matches: {
            type: 'array',
            description: 'v1alpha3+: HTTPRouteGroups whose matches route to the backends; other traffic goes to the root.',
            items: {
              type: 'object',
              required: ['kind', 'name'],
              properties: {
                kind: { type: 'string', enum: ['HTTPRouteGroup'] },
                name: name('Name of an HTTPRouteGroup in the same namespace.'),
                apiGroup: { type: 'string' },
                matches: {
                  type: 'array',
                  description: 'Weft: only these named matches of the group (default: all).',
                  items: { type: 'string', minLength: 1 },
                },
              },
            },
          },
        },
      },
      status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    },
  };
}

function routeMatchList(): Schema {
  return {
    type: 'array',
    items: {
      type: 'object',
      required: ['name'],
      properties: {
        name: name('Name of the match, referenced from TrafficSplits.'),
        pathRegex: { type: 'string', description: 'Regular expression the whole request path must match.' },
        methods: { type: 'array', items: { type: 'string', pattern: HTTP_METHOD } },
        headers: {
          description: 'Header name -> regular expression: one map (v1alpha4) or a list of one-entry maps (earlier).',
          'x-kubernetes-preserve-unknown-fields': true,
        },
      },
    },
  };
}

export function httpRouteGroupSchema(): Schema {
  return {
    type: 'object',
    description: 'SMI HTTPRouteGroup: named HTTP request matches.',
    anyOf: [{ required: ['spec'] }, { required: ['matches'] }],
    properties: {
      spec: {
        type: 'object',
        required: ['matches'],
        properties: { matches: routeMatchList() },
      },
      matches: { ...routeMatchList(), description: 'v1alpha1, v1alpha2: the matches at the top level.' },
    },
  };
}

const serviceAccountRef = (description: string, namespaced: boolean): Schema => ({
  type: 'object',
  description,
  required: ['kind', 'name'],
  properties: {
    kind: { type: 'string', enum: ['ServiceAccount'] },
    name: name('ServiceAccount name.'),
    ...(namespaced ? { namespace: { type: 'string', description: "Its namespace (default: the TrafficTarget's)." } } : {}),
    port: { type: 'integer', minimum: 1, maximum: 65535, description: 'destination only: the port it is limited to.' },
  },
});

export function trafficTargetSchema(): Schema {
  const rules = {
    type: 'array',
    minItems: 1,
    description: 'What the sources may do: HTTPRouteGroup matches or TCPRoutes, in the same namespace.',
    items: {
      type: 'object',
      required: ['kind', 'name'],
      properties: {
        kind: { type: 'string', enum: ['HTTPRouteGroup', 'TCPRoute'] },
        name: name('Name of an HTTPRouteGroup or TCPRoute in the same namespace.'),
        matches: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'HTTPRouteGroup match names (none: all of them).' },
      },
    },
  };
  return {
    type: 'object',
    description: 'SMI TrafficTarget: which ServiceAccounts may call the destination ServiceAccount, and with what.',
    properties: {
      spec: {
        type: 'object',
        required: ['destination', 'sources'],
        properties: {
          destination: serviceAccountRef('The ServiceAccount whose pods are called (in this namespace).', true),
          sources: { type: 'array', minItems: 1, items: serviceAccountRef('A ServiceAccount allowed to call.', true) },
          rules,
          specs: { ...rules, description: 'v1alpha1: the rules.' },
        },
      },
      status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    },
  };
}

export function tcpRouteSchema(): Schema {
  return {
    type: 'object',
    description: 'SMI TCPRoute: TCP traffic, on the listed ports (none: every port).',
    properties: {
      spec: {
        type: 'object',
        properties: {
          matches: {
            type: 'object',
            properties: { ports: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 } } },
          },
        },
      },
    },
  };
}

function crd(opts: {
  name: string;
  group: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  schema: () => Schema;
  status: boolean;
  columns: Schema[];
  versions?: readonly string[];
  storage?: string;
}): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: opts.name, labels: { ...PART_OF_LABELS } },
    spec: {
      group: opts.group,
      scope: 'Namespaced',
      names: {
        kind: opts.kind,
        listKind: `${opts.kind}List`,
        plural: opts.plural,
        singular: opts.singular,
        shortNames: opts.shortNames,
      },
      conversion: { strategy: 'None' },
      versions: (opts.versions ?? SMI_VERSIONS).map((v) => ({
        name: v,
        served: true,
        storage: v === (opts.storage ?? SMI_STORAGE_VERSION),
        schema: { openAPIV3Schema: opts.schema() },
        ...(opts.status ? { subresources: { status: {} } } : {}),
        additionalPrinterColumns: [
          ...opts.columns,
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
      })),
    },
  };
}

export function trafficSplitCrd(): KubeObject {
  return crd({
    name: CRD_NAMES.trafficSplit,
    group: 'split.smi-spec.io',
    kind: 'TrafficSplit',
    plural: 'trafficsplits',
    singular: 'trafficsplit',
    shortNames: ['ts'],
    schema: trafficSplitSchema,
    status: true,
    columns: [{ name: 'Service', type: 'string', description: 'The root service.', jsonPath: '.spec.service' }],
  });
}

export function httpRouteGroupCrd(): KubeObject {
  return crd({
    name: CRD_NAMES.httpRouteGroup,
    group: 'specs.smi-spec.io',
    kind: 'HTTPRouteGroup',
    plural: 'httproutegroups',
    singular: 'httproutegroup',
    shortNames: ['htr'],
    schema: httpRouteGroupSchema,
    status: false,
    columns: [],
  });
}

export function tcpRouteCrd(): KubeObject {
  return crd({
    name: CRD_NAMES.tcpRoute,
    group: 'specs.smi-spec.io',
    kind: 'TCPRoute',
    plural: 'tcproutes',
    singular: 'tcproute',
    shortNames: ['tcpr'],
    schema: tcpRouteSchema,
    status: false,
    columns: [],
  });
}

export function trafficTargetCrd(): KubeObject {
  return crd({
    name: CRD_NAMES.trafficTarget,
    group: 'access.smi-spec.io',
    kind: 'TrafficTarget',
    plural: 'traffictargets',
    singular: 'traffictarget',
    shortNames: ['tt'],
    schema: trafficTargetSchema,
    status: true,
    columns: [{ name: 'Destination', type: 'string', description: 'The destination ServiceAccount.', jsonPath: '.spec.destination.name' }],
    versions: ACCESS_VERSIONS,
    storage: ACCESS_STORAGE_VERSION,
  });
}

export function crds(): KubeObject[] {
  return [trafficSplitCrd(), httpRouteGroupCrd(), tcpRouteCrd(), trafficTargetCrd()];
}
