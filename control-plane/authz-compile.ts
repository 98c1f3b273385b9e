// Access control for one proxy (pure): the SMI TrafficTargets whose
// destination is its ServiceAccount, compiled to AuthzRules (mesh.proto), and
// its default policy. Semantics (enforced by the proxy,
// proxy/routing/authz-policy.ts):
// - a workload no TrafficTarget names gets its default policy:
//   `config.weft.dev/default-inbound-policy` on its pod (in the local mesh,
//   its pod template), else on its namespace, else the cluster's
//   (`--default-inbound-policy`, default all-unauthenticated);
// - once a TrafficTarget names it (even a broken one), only what targets
//   allow is allowed, as SMI says;
// - a target's sources become exact SPIFFE IDs (a source in another
//   namespace is that namespace's ServiceAccount);
// - an HTTPRouteGroup rule allows the group's named matches (all of them when
//   it names none); a group that is missing or invalid, or a named match it
//   does not have, allows nothing (TrafficTarget status says why);
// - a TCPRoute rule allows every connection and request on its ports (all
//   ports when it lists none); a missing or invalid TCPRoute allows nothing.
import { formatWorkloadId } from '../identity/spiffe-id.ts';
import type { AuthzRule, DefaultInboundPolicy, HttpMatch, InboundPolicy } from '../proto/mesh.ts';
import { DEFAULT_INBOUND_POLICY_ANNOTATION } from '../proto/mesh.ts';
import type { ClusterState, TrafficTarget } from './cluster-state.ts';
import { toHttpMatch } from './smi-match.ts';

/** What authzFor needs of the translator's proxy and options (no import of the translator: no cycle). */
export interface AuthzProxy {
  readonly namespace: string;
  readonly podName?: string | undefined;
  readonly serviceAccount: string;
}

export interface AuthzOptions {
  readonly trustDomain: string;
  readonly defaultInboundPolicy?: DefaultInboundPolicy | undefined;
}

const POLICIES: readonly DefaultInboundPolicy[] = ['ALL_UNAUTHENTICATED', 'ALL_AUTHENTICATED', 'CLUSTER_AUTHENTICATED', 'DENY'];

/** A `config.weft.dev/default-inbound-policy` value (all-authenticated, ...), or undefined when absent or invalid. */
export function policyAnnotation(annotations: Readonly<Record<string, string>> | undefined): DefaultInboundPolicy | undefined {
  const v = annotations?.[DEFAULT_INBOUND_POLICY_ANNOTATION]?.trim().toUpperCase().replaceAll('-', '_');
  return v !== undefined && (POLICIES as readonly string[]).includes(v) ? (v as DefaultInboundPolicy) : undefined;
}

/** The default policy of `proxy`: its pod's annotation (or its workload's pod template), else its namespace's, else the cluster's. */
export function defaultPolicyOf(state: ClusterState, proxy: AuthzProxy, clusterDefault: DefaultInboundPolicy): DefaultInboundPolicy {
  const podName = proxy.podName ?? '';
  const sa = proxy.serviceAccount || 'default';
  const pod = state.pods.find((p) => p.namespace === proxy.namespace && p.name === podName);
  const workload = state.workloads.find((w) => w.namespace === proxy.namespace && podName.startsWith(`${w.name}-`) && (w.serviceAccount || 'default') === sa);
  return (
    policyAnnotation(pod?.annotations) ??
    policyAnnotation(workload?.annotations) ??
    policyAnnotation(state.namespaces.find((n) => n.name === proxy.namespace)?.annotations) ??
    clusterDefault
  );
}

function sourceIds(target: TrafficTarget, trustDomain: string): string[] {
  const ids: string[] = [];
  for (const s of target.sources) {
    try {
      ids.push(formatWorkloadId(trustDomain, s.namespace, s.serviceAccount));
    } catch {
      // A name that cannot be an ID matches no certificate either: left out.
    }
  }
  return ids;
}

/** The AuthzRule of one TrafficTarget: its HTTP matches and TCP ports resolved in its namespace. */
export function compileTarget(state: ClusterState, target: TrafficTarget, trustDomain: string): AuthzRule {
  const name = `${target.namespace}/${target.name}`;
  const rule: AuthzRule = { name, sources: [], port: target.destination.port, http: [], tcp: false, tcpPorts: [] };
  if (target.problems.length > 0) return rule;
  rule.sources = sourceIds(target, trustDomain);
  const http: HttpMatch[] = [];
  const tcpPorts = new Set<number>();
  let tcpAnyPort = false;
  for (const r of target.rules) {
    if (r.kind === 'HTTPRouteGroup') {
      const group = state.httpRouteGroups.find((g) => g.namespace === target.namespace && g.name === r.name);
      if (group === undefined || group.problems.length > 0) continue;
      if (r.matches.some((m) => !group.matches.some((gm) => gm.name === m))) continue;
      for (const m of group.matches) if (r.matches.length === 0 || r.matches.includes(m.name)) http.push(toHttpMatch(m));
      continue;
    }
    const route = state.tcpRoutes.find((t) => t.namespace === target.namespace && t.name === r.name);
    if (route === undefined || route.problems.length > 0) continue;
    if (route.ports.length === 0) tcpAnyPort = true;
    for (const p of route.ports) tcpPorts.add(p);
  }
  rule.http = http;
  if (tcpAnyPort || tcpPorts.size > 0) {
    rule.tcp = true;
    rule.tcpPorts = tcpAnyPort ? [] : [...tcpPorts].sort((a, b) => a - b);
  }
  return rule;
}

/** The access-control part of `proxy`'s inbound policy. */
export function authzFor(state: ClusterState, proxy: AuthzProxy, opts: AuthzOptions): Required<Pick<InboundPolicy, 'defaultPolicy' | 'targeted' | 'authzRules'>> {
  const sa = proxy.serviceAccount || 'default';
  const targets = state.trafficTargets.filter((t) => t.namespace === proxy.namespace && t.destination.serviceAccount === sa);
  return {
    defaultPolicy: defaultPolicyOf(state, proxy, opts.defaultInboundPolicy ?? 'ALL_UNAUTHENTICATED'),
    targeted: targets.length > 0,
    authzRules: targets.map((t) => compileTarget(state, t, opts.trustDomain)),
  };
}

/** A TrafficTarget status condition (written by the status writer, as TrafficSplit's). */
export interface TargetCondition {
  readonly type: 'Accepted' | 'ResolvedRefs' | 'ServiceAccountsFound';
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
}

export interface TargetStatus {
  readonly namespace: string;
  readonly name: string;
  readonly conditions: readonly TargetCondition[];
}

/**
 * The status of every TrafficTarget (pure):
 * - Accepted: False/InvalidSpec when the object has problems (then it allows
 *   nothing, but still names its destination);
 * - ResolvedRefs: False when a rule names a missing or invalid HTTPRouteGroup
 *   (RouteGroupNotFound, RouteGroupInvalid), a match the group lacks
 *   (MatchNotFound), or a missing or invalid TCPRoute (TCPRouteNotFound,
 *   TCPRouteInvalid): that rule allows nothing;
 * - ServiceAccountsFound: False/ServiceAccountNotFound when no pod or
 *   Deployment runs as the destination or a source ServiceAccount (a typo is
 *   the usual cause; ServiceAccount objects themselves are not watched).
 */
export function targetStatuses(state: ClusterState): TargetStatus[] {
  const runsAs = new Set<string>();
  for (const p of state.pods) runsAs.add(`${p.namespace}/${p.serviceAccount || 'default'}`);
  for (const w of state.workloads) runsAs.add(`${w.namespace}/${w.serviceAccount || 'default'}`);
  return state.trafficTargets.map((t): TargetStatus => {
    const conditions: TargetCondition[] = [];
    if (t.problems.length > 0) {
      const text = t.problems.map((p) => `${p.field}: ${p.message}`).join('; ');
      conditions.push({ type: 'Accepted', status: 'False', reason: 'InvalidSpec', message: `${text}: it allows no one, and its destination admits only what other targets allow` });
      return { namespace: t.namespace, name: t.name, conditions };
    }
    conditions.push({ type: 'Accepted', status: 'True', reason: 'Accepted', message: `destination ServiceAccount ${t.destination.serviceAccount}` });
    const problems: Array<{ reason: string; text: string }> = [];
    for (const r of t.rules) {
      if (r.kind === 'HTTPRouteGroup') {
        const group = state.httpRouteGroups.find((g) => g.namespace === t.namespace && g.name === r.name);
        if (group === undefined) problems.push({ reason: 'RouteGroupNotFound', text: `HTTPRouteGroup ${r.name} not found in namespace ${t.namespace}` });
        else if (group.problems.length > 0) problems.push({ reason: 'RouteGroupInvalid', text: `HTTPRouteGroup ${r.name} is invalid: ${group.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}` });
        else {
          const lacking = r.matches.filter((m) => !group.matches.some((gm) => gm.name === m));
          if (lacking.length > 0) problems.push({ reason: 'MatchNotFound', text: `HTTPRouteGroup ${r.name} has no match ${lacking.join(', ')}` });
        }
        continue;
      }
      const route = state.tcpRoutes.find((x) => x.namespace === t.namespace && x.name === r.name);
      if (route === undefined) problems.push({ reason: 'TCPRouteNotFound', text: `TCPRoute ${r.name} not found in namespace ${t.namespace}` });
      else if (route.problems.length > 0) problems.push({ reason: 'TCPRouteInvalid', text: `TCPRoute ${r.name} is invalid: ${route.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}` });
    }
    const first = problems[0];
    conditions.push(
      first === undefined
        ? { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'every rule resolved' }
        : { type: 'ResolvedRefs', status: 'False', reason: first.reason, message: `${problems.map((p) => p.text).join('; ')} (that rule allows nothing)` },
    );
    const unknown = [{ namespace: t.namespace, serviceAccount: t.destination.serviceAccount }, ...t.sources]
      .map((s) => `${s.namespace}/${s.serviceAccount}`)
      .filter((k, i, all) => !runsAs.has(k) && all.indexOf(k) === i);
    conditions.push(
      unknown.length === 0
        ? { type: 'ServiceAccountsFound', status: 'True', reason: 'ServiceAccountsFound', message: 'pods run as the destination and every source' }
        : { type: 'ServiceAccountsFound', status: 'False', reason: 'ServiceAccountNotFound', message: `no pod or Deployment runs as ServiceAccount ${unknown.join(', ')}` },
    );
    return { namespace: t.namespace, name: t.name, conditions };
  });
}
