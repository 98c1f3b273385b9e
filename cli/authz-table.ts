// `weft authz`: per workload of a running local mesh, who may call it (its
// TrafficTargets, or its default policy) and the calls its proxies refused,
// by client identity (since each proxy started). Pure: from each pod's
// config (admin /config) and metrics.
import type { InboundPolicy, HttpMatch } from '../proto/mesh.ts';
import type { Pod } from '../control-plane/cluster-state.ts';
import type { Sample } from './prometheus-text.ts';

export interface AuthzRow {
  workload: string;
  policy: string;
  allowed: string[];
  denied: string;
}

/** spiffe://td/ns/N/sa/S -> N/S; anything else as is. */
export function shortId(id: string): string {
  const m = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id);
  return m === null ? id : `${m[1]}/${m[2]}`;
}

function describeMatch(m: HttpMatch): string {
  const methods = m.methods.length === 0 ? '*' : m.methods.join(',');
  const p = m.path;
  // The translator's SMI pathRegex "(?:x).*" reads back as x*.
  const path = p === undefined ? '/*' : 'exact' in p ? p.exact : 'prefix' in p ? `${p.prefix}*` : (/^\(\?:(.*)\)\.\*$/.exec(p.regex)?.[1] ?? p.regex) + '*';
  const headers = m.headers.length === 0 ? '' : ` [${m.headers.map((h) => h.name).join(', ')}]`;
  return `${methods} ${path}${headers}`;
}

const DEFAULTS: Readonly<Record<string, string>> = {
  ALL_UNAUTHENTICATED: 'everyone',
  ALL_AUTHENTICATED: 'any mesh identity',
  CLUSTER_AUTHENTICATED: 'any identity of this cluster',
  DENY: 'no one',
};

/** One row per workload (its pods' policies are the same; the first one's is shown); denials summed over its pods. */
export function authzRows(pods: readonly Pod[], inbound: ReadonlyMap<string, InboundPolicy>, samples: ReadonlyMap<string, readonly Sample[]>): AuthzRow[] {
  const byWorkload = new Map<string, Pod[]>();
  for (const p of pods) {
    if (!p.meshed) continue;
    const key = `${p.namespace}/${p.ownerWorkload || p.name}`;
    byWorkload.set(key, [...(byWorkload.get(key) ?? []), p]);
  }
  const rows: AuthzRow[] = [];
  for (const [workload, list] of [...byWorkload].sort(([a], [b]) => a.localeCompare(b))) {
    const policy = list.map((p) => inbound.get(p.ip)).find((x) => x !== undefined);
    const denied = new Map<string, number>();
    for (const p of list) {
      for (const s of samples.get(p.ip) ?? []) {
        if (s.name !== 'inbound_http_authz_deny_total' && s.name !== 'inbound_tcp_authz_deny_total') continue;
        const who = s.labels.client_id ? shortId(s.labels.client_id) : 'unauthenticated';
        denied.set(who, (denied.get(who) ?? 0) + s.value);
      }
    }
    const deniedText = [...denied].filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b)).map(([who, n]) => `${who} ${n}`).join(', ') || '-';
    if (policy === undefined) {
      rows.push({ workload, policy: '(no answer)', allowed: [], denied: deniedText });
      continue;
    }
    const def = policy.defaultPolicy ?? 'ALL_UNAUTHENTICATED';
    if (policy.targeted !== true) {
      rows.push({ workload, policy: `default: ${def.toLowerCase().replaceAll('_', '-')}`, allowed: [DEFAULTS[def] ?? def], denied: deniedText });
      continue;
    }
    const allowed: string[] = [];
    for (const r of policy.authzRules ?? []) {
      const what = [...r.http.map(describeMatch), ...(r.tcp ? [`tcp ${r.tcpPorts.length === 0 ? '*' : r.tcpPorts.join(',')}`] : [])];
      const port = r.port === 0 ? '' : ` :${r.port}`;
      const sources = r.sources.length === 0 ? 'no one' : r.sources.map(shortId).join(', ');
      allowed.push(`${sources}: ${what.length === 0 ? 'nothing (unresolved rule)' : what.join('; ')}${port} (${r.name})`);
    }
    rows.push({ workload, policy: 'TrafficTargets', allowed: allowed.length === 0 ? ['no one'] : allowed, denied: deniedText });
  }
  return rows;
}

export function formatAuthzTable(rows: readonly AuthzRow[]): string {
  const header = ['WORKLOAD', 'POLICY', 'ALLOWED', 'DENIED (since start)'];
  const lines: string[][] = [header];
  for (const r of rows) {
    r.allowed.forEach((a, i) => lines.push(i === 0 ? [r.workload, r.policy, a, r.denied] : ['', '', a, '']));
    if (r.allowed.length === 0) lines.push([r.workload, r.policy, '', r.denied]);
  }
  const widths = header.map((_, c) => Math.max(...lines.map((l) => (l[c] ?? '').length)));
  return lines.map((l) => l.map((cell, c) => (c === l.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('  ').trimEnd()).join('\n');
}
