// The load generators, Debian's: wrk (closed loop, maximum throughput) and
// h2load (open loop at a fixed rate, per-request log). Each runs as a child
// process against 127.0.0.1 only; the Host header names the service for the
// proxies.
import { readFileSync } from 'node:fs';
import { spawnChild } from './proc.ts';

export interface Target {
  /** Port on 127.0.0.1 the client connects to. */
  port: number;
  /** Host header ('' keeps 127.0.0.1:port). */
  host: string;
}

export interface WrkResult {
  rps: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  if (unit === 'us') return n / 1000;
  if (unit === 's') return n * 1000;
  if (unit === 'm') return n * 60_000;
  return n;
}

async function runTool(name: string, cmd: string, args: string[]): Promise<string> {
  const c = spawnChild(name, cmd, args);
  const code = await c.exited;
  const out = c.lines.join('\n');
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}\n${c.stderr()}`);
  return out;
}

/** Closed loop: `wrk -t1 -c<conns> -d<seconds>s --latency`. */
export async function wrk(t: Target, o: { connections: number; seconds: number; threads?: number }): Promise<WrkResult> {
  const args = [`-t${o.threads ?? 1}`, `-c${o.connections}`, `-d${o.seconds}s`, '--latency'];
  if (t.host !== '') args.push('-H', `Host: ${t.host}`);
  args.push(`http://127.0.0.1:${t.port}/`);
  const out = await runTool('wrk', 'wrk', args);
  const num = (re: RegExp): number => {
    const m = re.exec(out);
    return m ? Number(m[1]) : 0;
  };
  const lat = (pct: string): number => {
    const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1] ?? '0', m[2] ?? 'ms') : NaN;
  };
  const maxM = /^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)/m.exec(out);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: num(/^Requests\/sec:\s+([\d.]+)/m),
    requests: num(/^\s+(\d+) requests in/m),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors: se ? se.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    latencyMs: { p50: lat('50'), p90: lat('90'), p99: lat('99'), max: maxM ? toMs(maxM[1] ?? '0', maxM[2] ?? 'ms') : NaN },
  };
}

export interface RateResult {
  targetRps: number;
  /** Requests completed in the measured window / its length. */
  achievedRps: number;
  requests: number;
  /** Requests h2load counts as failed, errored or timed out, plus non-2xx. */
  failed: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

/**
 * Open loop: `h2load --h1 -c <conns> --rps <rate/conns> -D <seconds>`, each
 * request logged. Latency figures leave out the first `skipSeconds` (the
 * connections' set-up), and count only 2xx.
 */
export async function h2load(
  t: Target,
  o: { rate: number; connections: number; seconds: number; logFile: string; skipSeconds?: number },
): Promise<RateResult & { h2loadRequests: number }> {
  const host = t.host === '' ? `127.0.0.1:${t.port}` : t.host;
  const args = [
    '--h1',
    '-c', String(o.connections),
    '-t', '1',
    '--rps', String(o.rate / o.connections),
    '-D', String(o.seconds),
    '--log-file', o.logFile,
    '--connect-to', `127.0.0.1:${t.port}`,
    `http://${host}/`,
  ];
  const out = await runTool('h2load', 'h2load', args);
  const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const rows = readFileSync(o.logFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t').map(Number) as [number, number, number]);
  const t0 = Math.min(...rows.map((r) => r[0]));
  const from = t0 + (o.skipSeconds ?? 1) * 1e6;
  const kept = rows.filter((r) => r[0] >= from);
  const ok = kept.filter((r) => r[1] >= 200 && r[1] < 300).map((r) => r[2] / 1000).sort((a, b) => a - b);
  const windowS = o.seconds - (o.skipSeconds ?? 1);
  return {
    targetRps: o.rate,
    achievedRps: kept.length / windowS,
    requests: kept.length,
    h2loadRequests: m ? Number(m[3]) : rows.length,
    failed: (m ? Number(m[5]) + Number(m[6]) + Number(m[7]) : 0) + (codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : 0),
    latencyMs: {
      p50: percentile(ok, 50),
      p90: percentile(ok, 90),
      p99: percentile(ok, 99),
      p999: percentile(ok, 99.9),
      max: ok.at(-1) ?? NaN,
      mean: ok.reduce((a, b) => a + b, 0) / (ok.length || 1),
    },
  };
}
