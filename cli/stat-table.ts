// `weft stat` and the live table of `weft up`: per backend deployment, from
// the proxies' outbound metrics between two scrapes: requests per second,
// share of traffic, success rate, p50/p99 latency, share over mTLS. Pure.
import type { Sample } from './prometheus-text.ts';

export interface StatRow {
  name: string;
  rps: number;
  /** Share of all responses in the interval, 0..1. */
  share: number;
  successRate: number | undefined;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  tlsShare: number | undefined;
}

interface Acc {
  total: number;
  success: number;
  tls: number;
  buckets: Map<number, number>;
}

function key(s: Sample, groupBy: string): string | undefined {
  if (s.labels.direction !== 'outbound') return undefined;
  return s.labels[groupBy] || s.labels.dst_service || '(none)';
}

function accumulate(samples: readonly Sample[], groupBy: string, sign: 1 | -1, into: Map<string, Acc>): void {
  for (const s of samples) {
    const k = key(s, groupBy);
    if (k === undefined) continue;
    let a = into.get(k);
    if (a === undefined) {
      a = { total: 0, success: 0, tls: 0, buckets: new Map() };
      into.set(k, a);
    }
    if (s.name === 'response_total') {
      a.total += sign * s.value;
      if (s.labels.classification === 'success') a.success += sign * s.value;
      if (s.labels.tls === 'true') a.tls += sign * s.value;
    } else if (s.name === 'response_latency_ms_bucket') {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      a.buckets.set(le, (a.buckets.get(le) ?? 0) + sign * s.value);
    }
  }
}

/** Quantile from cumulative histogram buckets, interpolating within a bucket as Prometheus does. */
export function histogramQuantile(q: number, buckets: ReadonlyMap<number, number>): number | undefined {
  const sorted = [...buckets.entries()].sort((x, y) => x[0] - y[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      const inBucket = count - prevCount;
      return inBucket <= 0 ? le : prevLe + ((le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

export function statRows(prev: readonly Sample[], cur: readonly Sample[], dtSec: number, groupBy = 'dst_deployment'): StatRow[] {
  const acc = new Map<string, Acc>();
  accumulate(cur, groupBy, 1, acc);
  accumulate(prev, groupBy, -1, acc);
  let all = 0;
  for (const a of acc.values()) all += Math.max(0, a.total);
  const rows: StatRow[] = [];
  for (const [name, a] of acc) {
    if (a.total <= 0) continue;
    rows.push({
      name,
      rps: dtSec > 0 ? a.total / dtSec : 0,
      share: all > 0 ? a.total / all : 0,
      successRate: a.success / a.total,
      p50Ms: histogramQuantile(0.5, a.buckets),
      p99Ms: histogramQuantile(0.99, a.buckets),
      tlsShare: a.tls / a.total,
    });
  }
  return rows.sort((x, y) => x.name.localeCompare(y.name));
}

const pct = (v: number | undefined): string => (v === undefined ? '-' : `${(v * 100).toFixed(1)}%`);
const ms = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(1)}ms`);

export function formatStatTable(rows: readonly StatRow[], title = 'BACKEND'): string {
  const header = [title, 'RPS', 'SHARE', 'SUCCESS', 'P50', 'P99', 'MTLS'];
  const lines = rows.map((r) => [r.name, r.rps.toFixed(1), pct(r.share), pct(r.successRate), ms(r.p50Ms), ms(r.p99Ms), pct(r.tlsShare)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [fmt(header), ...lines.map(fmt)].join('\n');
}
