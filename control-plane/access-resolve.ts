// Normalises SMI access control objects of every version into the shapes of
// cluster-state.ts (pure):
// - access.smi-spec.io TrafficTarget v1alpha1 (`spec.specs`), v1alpha2 and
//   v1alpha3 (`spec.rules`): a destination ServiceAccount (its namespace the
//   target's own; an optional port), source ServiceAccounts (any namespace,
//   default the target's), rules naming HTTPRouteGroups (optionally some of
//   their matches) or TCPRoutes in the target's namespace.
// - specs.smi-spec.io TCPRoute v1alpha1..v1alpha4: `spec.matches.ports`
//   (v1alpha4; absent: every port).
// What is wrong is a problem with the field it concerns: the object is kept
// (its status can say why) but allows nothing.
import type { IdentityRef, SplitProblem, TCPRoute, TrafficTarget, TrafficTargetRule } from './cluster-state.ts';
import { describe, isObj, meta, ROUTE_GROUP_GROUP, smiVersion } from './split-resolve.ts';

export const ACCESS_GROUP = 'access.smi-spec.io';
/** TrafficTarget versions (access.smi-spec.io has no v1alpha4). */
const ACCESS_VERSIONS = ['v1alpha1', 'v1alpha2', 'v1alpha3'];

/** "access.smi-spec.io/v1alpha3" -> "v1alpha3", else undefined. */
export function accessVersion(apiVersion: unknown): string | undefined {
  const v = smiVersion(apiVersion, ACCESS_GROUP);
  return v !== undefined && ACCESS_VERSIONS.includes(v) ? v : undefined;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

type Problem = (field: string, message: string) => void;

function identityRef(v: unknown, field: string, defaultNamespace: string, problem: Problem): IdentityRef | undefined {
  if (!isObj(v)) {
    problem(field, `must be an object (got ${describe(v)})`);
    return undefined;
  }
  if (v.kind !== 'ServiceAccount') {
    problem(`${field}.kind`, `must be ServiceAccount (got ${describe(v.kind)})`);
    return undefined;
  }
  if (typeof v.name !== 'string' || !DNS_SUBDOMAIN.test(v.name) || v.name.length > 253) {
    problem(`${field}.name`, `must be a ServiceAccount name (got ${describe(v.name)})`);
    return undefined;
  }
  let namespace = defaultNamespace;
  if (v.namespace !== undefined && v.namespace !== null && v.namespace !== '') {
    if (typeof v.namespace !== 'string' || !DNS_LABEL.test(v.namespace) || v.namespace.length > 63) {
      problem(`${field}.namespace`, `must be a namespace name (got ${describe(v.namespace)})`);
      return undefined;
    }
    namespace = v.namespace;
  }
  return { serviceAccount: v.name, namespace };
}

function portOf(v: unknown, field: string, problem: Problem): number | undefined {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
    problem(field, `must be a port number 1-65535 (got ${describe(v)})`);
    return undefined;
  }
  return n;
}

/** Normalises a TrafficTarget. `defaultNamespace` applies when metadata.namespace is unset. */
export function resolveTrafficTarget(raw: unknown, defaultNamespace = 'default'): TrafficTarget {
  const problems: SplitProblem[] = [];
  const problem: Problem = (field, message) => problems.push({ reason: 'InvalidSpec', field, message });
  const o = isObj(raw) ? raw : {};
  const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : '';
  const version = accessVersion(apiVersion);
  const { name, namespace } = meta(o, defaultNamespace);
  if (version === undefined) problem('apiVersion', `must be ${ACCESS_GROUP}/v1alpha1..v1alpha3 (got ${describe(o.apiVersion)})`);
  const spec = isObj(o.spec) ? o.spec : undefined;
  if (spec === undefined) problem('spec', `must be an object (got ${describe(o.spec)})`);
  const s = spec ?? {};

  const dest = identityRef(s.destination, 'spec.destination', namespace, problem);
  if (dest !== undefined && dest.namespace !== namespace) {
    problem('spec.destination.namespace', `must be the TrafficTarget's own namespace ${namespace} (got ${dest.namespace})`);
  }
  const port = isObj(s.destination) ? portOf(s.destination.port, 'spec.destination.port', problem) : 0;

  const sources: IdentityRef[] = [];
  if (!Array.isArray(s.sources) || s.sources.length === 0) {
    problem('spec.sources', `must be a non-empty list (got ${describe(s.sources)})`);
  } else {
    s.sources.forEach((src: unknown, i) => {
      const ref = identityRef(src, `spec.sources[${i}]`, namespace, problem);
      if (ref !== undefined) sources.push(ref);
    });
  }

  // v1alpha1 calls the rules `specs`.
  const rulesField = version === 'v1alpha1' && s.rules === undefined ? 'specs' : 'rules';
  const list = s[rulesField];
  const rules: TrafficTargetRule[] = [];
  if (!Array.isArray(list) || list.length === 0) {
    problem(`spec.${rulesField}`, `must be a non-empty list (got ${describe(list)})`);
  } else {
    list.forEach((r: unknown, i) => {
      const field = `spec.${rulesField}[${i}]`;
      if (!isObj(r)) return problem(field, `must be an object (got ${describe(r)})`);
      if (typeof r.name !== 'string' || !DNS_SUBDOMAIN.test(r.name)) return problem(`${field}.name`, `must be an object name (got ${describe(r.name)})`);
      if (r.kind === 'TCPRoute') {
        rules.push({ kind: 'TCPRoute', name: r.name });
        return;
      }
      if (r.kind !== 'HTTPRouteGroup') return problem(`${field}.kind`, `must be HTTPRouteGroup or TCPRoute (got ${describe(r.kind)})`);
      const matches: string[] = [];
      if (r.matches !== undefined && r.matches !== null) {
        if (!Array.isArray(r.matches)) return problem(`${field}.matches`, `must be a list of match names (got ${describe(r.matches)})`);
        for (const [j, m] of r.matches.entries()) {
          if (typeof m !== 'string' || m === '') return problem(`${field}.matches[${j}]`, `must be a match name (got ${describe(m)})`);
          matches.push(m);
        }
      }
      rules.push({ kind: 'HTTPRouteGroup', name: r.name, matches });
    });
  }
  return {
    name,
    namespace,
    apiVersion,
    destination: { serviceAccount: dest?.serviceAccount ?? '', namespace, port: port ?? 0 },
    sources,
    rules,
    problems,
  };
}

/** Normalises a TCPRoute. */
export function resolveTcpRoute(raw: unknown, defaultNamespace = 'default'): TCPRoute {
  const problems: SplitProblem[] = [];
  const problem: Problem = (field, message) => problems.push({ reason: 'InvalidSpec', field, message });
  const o = isObj(raw) ? raw : {};
  const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : '';
  const { name, namespace } = meta(o, defaultNamespace);
  if (smiVersion(apiVersion, ROUTE_GROUP_GROUP) === undefined) problem('apiVersion', `must be ${ROUTE_GROUP_GROUP}/v1alpha1..v1alpha4 (got ${describe(o.apiVersion)})`);
  const ports: number[] = [];
  const spec = isObj(o.spec) ? o.spec : {};
  const matches = spec.matches;
  if (matches !== undefined && matches !== null) {
    if (!isObj(matches)) problem('spec.matches', `must be an object (got ${describe(matches)})`);
    else if (matches.ports !== undefined && matches.ports !== null) {
      if (!Array.isArray(matches.ports)) problem('spec.matches.ports', `must be a list (got ${describe(matches.ports)})`);
      else
        matches.ports.forEach((p: unknown, i) => {
          const n = portOf(p, `spec.matches.ports[${i}]`, problem);
          if (n !== undefined && n !== 0 && !ports.includes(n)) ports.push(n);
        });
    }
  }
  return { name, namespace, apiVersion, ports, problems };
}
