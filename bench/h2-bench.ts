// HTTP/2 and gRPC through two Weft sidecars (mTLS, ALPN h2 between them, the
// proxies built as dist/ and run as an injected container runs them), beside
// a direct call and two nginx with mTLS between them (grpc_pass, HTTP/2 end to
// end), all in the same run, interleaved:
//   - h2load, h2c with prior knowledge, closed loop: 4 connections x 16
//     streams, 1 KiB responses;
//   - gRPC unary load: one @grpc/grpc-js channel, 32 calls outstanding
//     (bench/grpc-load.ts): calls/s, p50 / p99;
//   - open loop at 1000 requests/s (h2load --rps, 16 connections): the added
//     latency, and each sidecar's CPU per 1000 requests/s and memory.
// Also HTTP/1.1 through the same pair (wrk), the figure behind the choice of
// protocol between proxies. Prints Markdown tables for bench/RESULTS.md and
// writes the raw figures to bench/out/h2-<timestamp>.json.
// Usage: npm run bench:h2 [-- --seconds 5 --rounds 3]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildDist } from '../deploy/dist-build.ts';
import { startNginx } from './nginx.ts';
import { clientSidecarConfig, serverSidecarConfig, startProxyProcess, writePki } from './mesh.ts';
import { childPids, cpuSeconds, freePort, killAllNow, memKb, sleep, spawnChild, stopAll, waitForLine, type Child } from './proc.ts';
import { wrk } from './load.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const log = (s: string): void => void process.stderr.write(`[h2-bench] ${s}\n`);

async function run(name: string, cmd: string, args: string[]): Promise<string> {
  const c = spawnChild(name, cmd, args);
  const code = await c.exited;
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${c.lines.join('\n')}\n${c.stderr()}`);
  return c.lines.join('\n');
}

interface H2loadFigures {
  rps: number;
  succeeded: number;
  failed: number;
  p50: number;
  p99: number;
}

/** h2load's "min max mean sd +/- sd" row for request times, and its totals. */
function parseH2load(out: string): H2loadFigures {
  const totals = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  return {
    rps: Number(rps?.[1] ?? NaN),
    succeeded: Number(totals?.[4] ?? 0),
    failed: Number(totals?.[5] ?? 0) + Number(totals?.[6] ?? 0) + Number(totals?.[7] ?? 0) + Number(codes?.[4] ?? 0) + Number(codes?.[3] ?? 0),
    p50: NaN,
    p99: NaN,
  };
}

/** Open loop with a per-request log: latencies after the first second. */
async function h2loadRate(port: number, authority: string, rate: number, logFile: string): Promise<H2loadFigures> {
  const conns = 16;
  const out = await run('h2load', 'h2load', ['-c', String(conns), '-t', '1', '--rps', String(rate / conns), '-D', String(SECONDS + 1), '-H', `:authority: ${authority}`, '--log-file', logFile, `http://127.0.0.1:${port}/`]);
  const f = parseH2load(out);
  const { readFileSync } = await import('node:fs');
  const rows = readFileSync(logFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => l.split('\t').map(Number) as [number, number, number]);
  const t0 = Math.min(...rows.map((r) => r[0]));
  const ok = rows.filter((r) => r[0] >= t0 + 1e6 && r[1] >= 200 && r[1] < 300).map((r) => r[2] / 1000).sort((a, b) => a - b);
  const pct = (p: number): number => ok[Math.min(ok.length - 1, Math.max(0, Math.ceil((p / 100) * ok.length) - 1))] ?? NaN;
  return { ...f, rps: ok.length / SECONDS, p50: pct(50), p99: pct(99) };
}

interface Scenario {
  key: string;
  label: string;
  h2Port: number;
  grpcPort: number;
  h1Port: number | undefined;
  authority: { h2: string; grpc: string; h1: string };
  pids: Array<{ name: string; pid: number }>;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

async function main(): Promise<void> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const tmp = mkdtempSync(join(tmpdir(), 'weft-h2-bench-'));
  log('building dist/ (the proxies run the compiled files, as in the image)');
  await buildDist();
  const up = spawnChild('h2-upstream', process.execPath, [join(BENCH_DIR, 'h2-upstream.ts')]);
  const ports = JSON.parse(await waitForLine(up, (l) => l.startsWith('{'))) as { h2: number; grpc: number };
  const h1up = spawnChild('upstream', process.execPath, [join(BENCH_DIR, 'upstream.ts')]);
  const h1Port = (JSON.parse(await waitForLine(h1up, (l) => l.startsWith('{'))) as { port: number }).port;

  const pki = writePki(tmp);
  const bundle = join(tmp, 'trust-bundle.pem');
  writeFileSync(bundle, pki.trustBundlePem.join(''));
  // Weft pairs: one per upstream (h2, gRPC, HTTP/1.1), each a client sidecar A and a server sidecar B.
  const pair = async (name: string, upstreamPort: number): Promise<{ a: Awaited<ReturnType<typeof startProxyProcess>>; b: Awaited<ReturnType<typeof startProxyProcess>> }> => {
    const b = await startProxyProcess({ name: `${name}-b`, dir: tmp, namespace: 'demo', config: serverSidecarConfig(upstreamPort, pki.trustBundlePem), identity: pki.server });
    const a = await startProxyProcess({ name: `${name}-a`, dir: tmp, namespace: 'demo', config: clientSidecarConfig(upstreamPort, b.ports.inbound, pki.trustBundlePem), identity: pki.client });
    return { a, b };
  };
  const wH2 = await pair('weft-h2', ports.h2);
  const wGrpc = await pair('weft-grpc', ports.grpc);
  const wH1 = await pair('weft-h1', h1Port);
  const nginxPair = async (name: string, upstreamPort: number, h2: boolean): Promise<{ port: number; a: Child; b: Child }> => {
    const bPort = await freePort();
    const aPort = await freePort();
    const kind = h2 ? 'h2' : 'http1';
    const b = await startNginx(join(tmp, `${name}-b`), bPort, upstreamPort, { serverTls: { ...pki.server, trustBundle: bundle } }, kind);
    const a = await startNginx(join(tmp, `${name}-a`), aPort, bPort, { upstreamTls: { ...pki.client, trustBundle: bundle } }, kind);
    return { port: aPort, a, b };
  };
  const nH2 = await nginxPair('nginx-h2', ports.h2, true);
  const nGrpc = await nginxPair('nginx-grpc', ports.grpc, true);
  const nH1 = await nginxPair('nginx-h1', h1Port, false);
  const worker = (c: Child): number => childPids(c.pid)[0] ?? c.pid;

  const scenarios: Scenario[] = [
    { key: 'direct', label: 'direct', h2Port: ports.h2, grpcPort: ports.grpc, h1Port, authority: { h2: `127.0.0.1:${ports.h2}`, grpc: '', h1: '' }, pids: [] },
    {
      key: 'weft',
      label: 'Weft, 2 sidecars, mTLS',
      h2Port: wH2.a.ports.outbound,
      grpcPort: wGrpc.a.ports.outbound,
      h1Port: wH1.a.ports.outbound,
      authority: { h2: 'web.demo:80', grpc: 'web.demo:80', h1: 'web.demo' },
      pids: [
        { name: 'client sidecar (A)', pid: wH2.a.child.pid },
        { name: 'server sidecar (B)', pid: wH2.b.child.pid },
      ],
    },
    {
      key: 'nginx',
      label: 'nginx pair, mTLS (grpc_pass)',
      h2Port: nH2.port,
      grpcPort: nGrpc.port,
      h1Port: nH1.port,
      authority: { h2: `127.0.0.1:${nH2.port}`, grpc: '', h1: '' },
      pids: [
        { name: 'client nginx (A)', pid: worker(nH2.a) },
        { name: 'server nginx (B)', pid: worker(nH2.b) },
      ],
    },
  ];

  const results: Record<string, { h2: H2loadFigures[]; grpc: Array<{ rps: number; p50: number; p99: number; errors: number }>; h1: number[] }> = {};
  for (const s of scenarios) results[s.key] = { h2: [], grpc: [], h1: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of scenarios) {
      log(`round ${round + 1}/${ROUNDS}: ${s.label}`);
      const h2 = parseH2load(await run('h2load', 'h2load', ['-c', '4', '-m', '16', '-t', '1', '-D', String(SECONDS), '-H', `:authority: ${s.authority.h2}`, `http://127.0.0.1:${s.h2Port}/`]));
      results[s.key]?.h2.push(h2);
      await sleep(500);
      const g = JSON.parse((await run('grpc-load', process.execPath, [join(BENCH_DIR, 'grpc-load.ts'), String(s.grpcPort), s.authority.grpc, '32', String(SECONDS + 1)])).trim()) as { rps: number; p50: number; p99: number; errors: number };
      results[s.key]?.grpc.push(g);
      await sleep(500);
      if (s.h1Port !== undefined) {
        const w = await wrk({ port: s.h1Port, host: s.authority.h1 }, { connections: 64, seconds: SECONDS });
        results[s.key]?.h1.push(w.rps);
      }
      await sleep(500);
    }
  }

  // Open loop at 1000 requests/s, HTTP/2: added latency, CPU and memory of each sidecar.
  const open: Record<string, { fig: H2loadFigures; perSidecar: Array<{ name: string; cpuPer1000: number; rssMb: number; anonMb: number }> }> = {};
  for (const s of scenarios) {
    log(`open loop 1000 rps: ${s.label}`);
    const cpu0 = s.pids.map((p) => cpuSeconds(p.pid));
    const fig = await h2loadRate(s.h2Port, s.authority.h2, 1000, join(tmp, `${s.key}-rate.log`));
    const cpu1 = s.pids.map((p) => cpuSeconds(p.pid));
    open[s.key] = {
      fig,
      perSidecar: s.pids.map((p, i) => {
        const m = memKb(p.pid);
        return { name: p.name, cpuPer1000: ((cpu1[i] ?? 0) - (cpu0[i] ?? 0)) / (SECONDS + 1) / (fig.rps / 1000), rssMb: m.rss / 1024, anonMb: m.anon / 1024 };
      }),
    };
  }

  mkdirSync(join(BENCH_DIR, 'out'), { recursive: true });
  writeFileSync(join(BENCH_DIR, 'out', `h2-${stamp}.json`), JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, results, open }, null, 2));
  const direct = results.direct;
  const f = (n: number, d = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');
  const out: string[] = [];
  out.push('| scenario | h2load rps | × direct | failed | gRPC calls/s | × direct | gRPC p50 ms | gRPC p99 ms | gRPC errors | HTTP/1.1 (wrk) rps |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of scenarios) {
    const r = results[s.key];
    if (r === undefined || direct === undefined) continue;
    const h2rps = median(r.h2.map((x) => x.rps));
    const grps = median(r.grpc.map((x) => x.rps));
    out.push(
      `| ${s.label} | ${f(h2rps)} | ${f(h2rps / median(direct.h2.map((x) => x.rps)), 2)} | ${r.h2.reduce((a, x) => a + x.failed, 0)} | ${f(grps)} | ${f(grps / median(direct.grpc.map((x) => x.rps)), 2)} | ${f(median(r.grpc.map((x) => x.p50)), 2)} | ${f(median(r.grpc.map((x) => x.p99)), 2)} | ${r.grpc.reduce((a, x) => a + x.errors, 0)} | ${f(median(r.h1))} |`,
    );
  }
  out.push('');
  out.push('| scenario at 1000 rps (HTTP/2) | p50 ms | p99 ms | failed | sidecar | vCPU per 1000 rps | RSS MB | private MB |');
  out.push('|---|---:|---:|---:|---|---:|---:|---:|');
  for (const s of scenarios) {
    const o = open[s.key];
    if (o === undefined) continue;
    const rows = o.perSidecar.length > 0 ? o.perSidecar : [{ name: '-', cpuPer1000: NaN, rssMb: NaN, anonMb: NaN }];
    for (const p of rows) out.push(`| ${s.label} | ${f(o.fig.p50, 2)} | ${f(o.fig.p99, 2)} | ${o.fig.failed} | ${p.name} | ${f(p.cpuPer1000, 3)} | ${f(p.rssMb, 1)} | ${f(p.anonMb, 1)} |`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}

main().catch(async (err: unknown) => {
  process.stderr.write(`h2-bench: ${err instanceof Error ? err.message : String(err)}\n`);
  killAllNow();
  await stopAll(0);
  process.exit(1);
});
