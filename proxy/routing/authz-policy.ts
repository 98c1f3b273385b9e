// Inbound authorization (SMI TrafficTarget, compiled per proxy by the control
// plane): who may make which call to this workload. Pure; compiled once per
// config snapshot, evaluated per request (HTTP/1.1, HTTP/2) and per
// connection (opaque TCP).
//
// - No TrafficTarget names this workload (`targeted` false): the default
//   policy decides. all-unauthenticated: everyone (plaintext only where the
//   inbound mode admits it, checked elsewhere); all-authenticated and
//   cluster-authenticated: a verified mTLS identity (every identity a proxy
//   accepts is of this cluster's trust domain, so the two agree today);
//   deny: no one.
// - Some TrafficTarget names it: only its rules allow, as SMI says. A rule
//   allows a verified client whose SPIFFE ID is one of its sources, on its
//   destination port (0: any): for an HTTP request, one of its
//   HTTPRouteGroup matches (path, methods, headers) or a TCPRoute rule on
//   that port; for an opaque connection, a TCPRoute rule on that port only.
// Plaintext never matches a rule (it has no identity).
import type { AuthzRule, DefaultInboundPolicy, InboundPolicy } from '../../proto/mesh.ts';
import { compileRoutes, matchRoute, type CompiledRoute, type RequestHeaders } from './route-match.ts';

export interface AuthzRequest {
  /** The verified client SPIFFE ID; '' for plaintext. */
  readonly clientId: string;
  /** The app port the call is for. */
  readonly port: number;
  /** An HTTP request (absent: an opaque TCP connection). */
  readonly http?: { readonly method: string; readonly path: string; readonly headers: RequestHeaders } | undefined;
}

/** `by`: the TrafficTarget ("namespace/name") or the default policy ("default:all-authenticated") that decided. */
export interface AuthzVerdict {
  readonly allowed: boolean;
  readonly by: string;
}

export interface CompiledAuthz {
  readonly targeted: boolean;
  readonly defaultPolicy: DefaultInboundPolicy;
  authorize(r: AuthzRequest): AuthzVerdict;
}

interface CompiledRule {
  readonly rule: AuthzRule;
  /** The HTTP matches as one route (none when the rule has no HTTP matches). */
  readonly http: readonly CompiledRoute[];
}

const kebab = (p: DefaultInboundPolicy): string => p.toLowerCase().replaceAll('_', '-');

/** Compiles the policy part of an inbound policy. Throws WEFT_ERR_CONFIG_INVALID for a bad match. */
export function compileAuthz(policy: InboundPolicy): CompiledAuthz {
  const defaultPolicy = policy.defaultPolicy ?? 'ALL_UNAUTHENTICATED';
  const targeted = policy.targeted ?? false;
  // Indexed by source: a call looks only at the rules naming its client, in
  // rule order, so 100 TrafficTargets cost what the few naming it cost.
  const bySource = new Map<string, CompiledRule[]>();
  (policy.authzRules ?? []).forEach((rule, i) => {
    const c: CompiledRule = {
      rule,
      http: rule.http.length === 0 ? [] : compileRoutes([{ name: rule.name, matches: rule.http, backends: [], timeoutMs: 0 }], `inbound.authzRules[${i}]`),
    };
    for (const source of new Set(rule.sources)) {
      const list = bySource.get(source);
      if (list === undefined) bySource.set(source, [c]);
      else list.push(c);
    }
  });
  const byDefault: AuthzVerdict = { allowed: defaultPolicy === 'ALL_UNAUTHENTICATED', by: `default:${kebab(defaultPolicy)}` };
  const authenticated: AuthzVerdict = { allowed: true, by: byDefault.by };
  const unauthenticated: AuthzVerdict = { allowed: false, by: byDefault.by };
  const noRule: AuthzVerdict = { allowed: false, by: 'no TrafficTarget allows it' };
  const verdicts = new Map<string, AuthzVerdict>();
  const allowedBy = (name: string): AuthzVerdict => {
    let v = verdicts.get(name);
    if (v === undefined) {
      v = { allowed: true, by: name };
      verdicts.set(name, v);
    }
    return v;
  };
  return {
    targeted,
    defaultPolicy,
    authorize(r) {
      if (!targeted) {
        switch (defaultPolicy) {
          case 'ALL_UNAUTHENTICATED':
          case 'DENY':
            return byDefault;
          case 'ALL_AUTHENTICATED':
          case 'CLUSTER_AUTHENTICATED':
            return r.clientId !== '' ? authenticated : unauthenticated;
        }
      }
      if (r.clientId === '') return noRule;
      const rules = bySource.get(r.clientId);
      if (rules === undefined) return noRule;
      for (const c of rules) {
        const rule = c.rule;
        if (rule.port !== 0 && rule.port !== r.port) continue;
        if (rule.tcp && (rule.tcpPorts.length === 0 || rule.tcpPorts.includes(r.port))) return allowedBy(rule.name);
        const http = r.http;
        if (http !== undefined && c.http.length > 0 && matchRoute(c.http, http) !== undefined) return allowedBy(rule.name);
      }
      return noRule;
    },
  };
}
