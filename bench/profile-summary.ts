// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and
// per source file/package, heaviest first. Also a CLI:
//   node bench/profile-summary.ts FILE.cpuprofile [top]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  /** Share of the non-idle samples, %. */
  pct: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  idleMs: number;
  busyMs: number;
  functions: SelfTime[];
  /** Self time grouped by file (or package, for node_modules; '(gc)', '(program)' as is). */
  groups: SelfTime[];
  /** Self time in coarse buckets (see categoryOf). */
  categories: SelfTime[];
}

const WRITES = new Set(['writev', 'writeLatin1String', 'writeUtf8String', 'writeBuffer', 'writeAsciiString', 'writeUcs2String']);

/** A coarse bucket for one frame: where a proxy's CPU goes. */
export function categoryOf(name: string, where: string): string {
  if (where === '' && WRITES.has(name)) return 'socket writes (native: syscall, TLS encryption; inflated by preemption)';
  if (name === '(garbage collector)') return 'garbage collector';
  if (name === '(program)') return '(program): V8/native outside JS';
  if (/^node:(_http_client|_http_agent|https)/.test(where)) return 'Node http client + agent';
  if (/^node:(_http_server|_http_common|_http_incoming|_http_outgoing)/.test(where)) return 'Node http server/parser/messages';
  if (/^node:internal\/(tls|crypto)|^node:tls/.test(where)) return 'Node TLS (JS side)';
  if (/^node:(net|events|stream|internal\/streams|internal\/stream_base_commons|internal\/process|internal\/timers|timers)/.test(where)) {
    return 'Node streams, events, net, ticks, timers';
  }
  if (where.startsWith('prom-client')) return 'prom-client (metrics)';
  if (/^(proxy|identity|proto)\//.test(where)) return 'Weft proxy code (self)';
  if (where.startsWith('node:') || where.startsWith('wasm:')) return 'other Node internals (module loading, wasm type stripping)';
  if (where === '') return 'other native';
  return 'other';
}

function shortWhere(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  const repo = url.indexOf('/work/main/');
  if (repo !== -1) return url.slice(repo + '/work/main/'.length);
  const m = /\/(proxy|proto|identity|bench|control-plane)\/[^/]+$/.exec(url);
  if (m) return m[0].slice(1);
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const grp = new Map<string, number>();
  const cat = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (n === undefined) continue;
    total += us;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    const where = shortWhere(n.callFrame.url);
    const key = `${name}\u0000${where}:${n.callFrame.lineNumber + 1}`;
    const e = fn.get(key) ?? { name, where: where === '' ? '' : `${where}:${n.callFrame.lineNumber + 1}`, us: 0 };
    e.us += us;
    fn.set(key, e);
    const g = where === '' ? (name.startsWith('(') ? name : '(native)') : where.startsWith('node:') ? where : where;
    grp.set(g, (grp.get(g) ?? 0) + us);
    const c = categoryOf(name, where);
    cat.set(c, (cat.get(c) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number): number => (busy > 0 ? (100 * us) / busy : 0);
  return {
    file,
    totalMs: total / 1000,
    idleMs: idle / 1000,
    busyMs: busy / 1000,
    functions: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, ms: e.us / 1000, pct: pct(e.us) })),
    groups: [...grp.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([g, us]) => ({ name: g, where: '', ms: us / 1000, pct: pct(us) })),
    categories: [...cat.entries()].sort((a, b) => b[1] - a[1]).map(([c, us]) => ({ name: c, where: '', ms: us / 1000, pct: pct(us) })),
  };
}

export function formatSummary(s: ProfileSummary, top = 15): string {
  const lines = [`${s.file}: busy ${s.busyMs.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms sampled`, '  self time by function:'];
  for (const f of s.functions.slice(0, top)) lines.push(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`);
  lines.push('  self time by category:');
  for (const c of s.categories) lines.push(`    ${c.pct.toFixed(1).padStart(5)}%  ${c.name}`);
  lines.push('  self time by file/package:');
  for (const g of s.groups.slice(0, top)) lines.push(`    ${g.pct.toFixed(1).padStart(5)}%  ${g.name}`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: node bench/profile-summary.ts FILE.cpuprofile [top]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatSummary(summarizeProfile(file, 40), Number(process.argv[3] ?? 25))}\n`);
}
