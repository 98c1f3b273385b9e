#!/usr/bin/env node
// `npm run bench`: every figure of issue 6 in one run on this machine, against
// one 1 KiB HTTP upstream (bench/upstream.ts, its own process):
//   direct          client -> upstream
//   weft-1hop       client -> Weft proxy outbound -> upstream (unmeshed, plaintext)
//   weft-mtls       client -> proxy A outbound -> mTLS -> proxy B inbound -> upstream
//   nginx           client -> nginx (1 worker, keep-alive upstream) -> upstream
// Each proxy is its own process (proxy/main.ts with --config/--cert/--key).
// Closed loop: wrk, interleaved rounds, medians. Open loop: h2load at fixed
// rates with a per-request log. Sidecar RSS and CPU from /proc, upstream
// connections from the proxies' tcp_open_total. Then the control plane's split
// propagation to 50 and 500 proxies. Writes bench/out/<timestamp>.json and
// prints a summary with the DESIGN.md budget.
//
// Flags: --quick (short runs, to try the harness), --rounds N, --seconds N
// (wrk), --rate-seconds N (h2load), --no-control-plane, --profile (instead:
// the two-sidecar path with node --cpu-prof on both proxies, summarised).
import http from 'node:http';
import os from 'node:os';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  childPids,
  cpuSeconds,
  freePort,
  hasCommand,
  killAllNow,
  loadWindow,
  quietGate,
  waitForQuiet,
  type LoadWindow,
  memKb,
  rssKb,
  sampleRss,
  sleep,
  spawnChild,
  stopAll,
  stopChild,
  waitForLine,
  type Child,
} from './proc.ts';
import { h2load, wrk, type RateResult, type Target, type WrkResult } from './load.ts';
import { startNginx } from './nginx.ts';
import {
  clientSidecarConfig,
  metricSum,
  plainHopConfig,
  scrape,
  serverSidecarConfig,
  startProxyProcess,
  writePki,
  type ProxyProcess,
} from './mesh.ts';
import { buildDist } from '../deploy/dist-build.ts';
import { runControlPlaneBench, type ControlPlaneResult } from './control-plane-bench.ts';
import { runWebhookBench, type WebhookResult } from './webhook-bench.ts';
import { formatSummary, summarizeProfile, type ProfileSummary } from './profile-summary.ts';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    'rate-seconds': { type: 'string' },
    'no-control-plane': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    only: { type: 'string' },
    'wait-quiet': { type: 'string' },
    'gate-seconds': { type: 'string' },
    'no-renice': { type: 'boolean', default: false },
  },
});

const QUICK = flags.quick;
const ROUNDS = Number(flags.rounds ?? (QUICK ? 1 : 3));
const WRK_SECONDS = Number(flags.seconds ?? (QUICK ? 2 : 5));
const WRK_CONNECTIONS = 50;
const RATES = [500, 1000, 2000];
const RATE_SECONDS = Number(flags['rate-seconds'] ?? (QUICK ? 4 : 10));
const RATE_CONNECTIONS = 16;
/** The open-loop figures leave out this first stretch (connection set-up). */
const SKIP_SECONDS = 1;

/** Seconds to wait at the start for other processes to leave the CPU alone. */
const WAIT_QUIET_S = Number(flags['wait-quiet'] ?? 300);
/** Before each measurement, wait up to this long for a quiet second. */
const GATE_S = Number(flags['gate-seconds'] ?? (QUICK ? 0 : 60));
const ONLY = flags.only === undefined ? undefined : new Set(flags.only.split(','));

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const OUT_DIR = join(BENCH_DIR, 'out');
const log = (s: string): void => void process.stderr.write(`${s}\n`);

// --- prerequisites ------------------------------------------------------------

const TOOLS: Array<[cmd: string, pkg: string]> = [
  ['wrk', 'wrk'],
  ['h2load', 'nghttp2-client'],
  ['nginx', 'nginx-light'],
];
const missing = TOOLS.filter(([cmd]) => !hasCommand(cmd));
if (missing.length > 0) {
  process.stderr.write(
    `bench: missing ${missing.map(([c]) => c).join(', ')}. Install with:\n  apt-get install -y ${missing.map(([, p]) => p).join(' ')}\n`,
  );
  process.exit(2);
}

// --- cleanup, also on Ctrl-C --------------------------------------------------

const tmp = mkdtempSync(join(os.tmpdir(), 'weft-bench-'));
let cleaning: Promise<void> | undefined;
let interrupted = false;
function cleanup(): Promise<void> {
  cleaning ??= stopAll(3_000).finally(() => rmSync(tmp, { recursive: true, force: true }));
  return cleaning;
}
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    log(`\nbench: ${sig}, stopping every process it started`);
    void cleanup().finally(() => process.exit(code));
  });
}
process.on('exit', () => {
  killAllNow();
  rmSync(tmp, { recursive: true, force: true });
});

// --- scenarios ----------------------------------------------------------------

type ScenarioKey = 'direct' | 'weft-1hop' | 'weft-mtls' | 'nginx' | 'nginx-mtls';

interface Sidecar {
  name: string;
  pid: number;
  /** Weft proxies only: admin port, and the direction whose requests and upstream connections count. */
  admin?: number;
  direction?: 'inbound' | 'outbound';
}

interface Scenario {
  key: ScenarioKey;
  label: string;
  target: Target;
  sidecars: Sidecar[];
}

interface Counters {
  cpu: Map<number, number>;
  requests: Map<number, number>;
  upstreamOpens: Map<number, number>;
}

async function counters(s: Scenario): Promise<Counters> {
  const c: Counters = { cpu: new Map(), requests: new Map(), upstreamOpens: new Map() };
  for (const sc of s.sidecars) {
    c.cpu.set(sc.pid, cpuSeconds(sc.pid));
    if (sc.admin !== undefined && sc.direction !== undefined) {
      const text = await scrape(sc.admin);
      c.requests.set(sc.pid, metricSum(text, 'request_total', { direction: sc.direction }));
      c.upstreamOpens.set(sc.pid, metricSum(text, 'tcp_open_total', { direction: sc.direction, peer: 'dst' }));
    }
  }
  return c;
}

interface SidecarUse {
  name: string;
  requests: number;
  cpuSeconds: number;
  /** CPU seconds per 1000 requests = vCPU per 1000 rps. */
  cpuSecondsPer1000: number;
  /** New upstream connections per 1000 requests (Weft: tcp_open_total, peer="dst"). */
  upstreamConnsPer1000?: number;
  upstreamConns?: number;
  rssMaxMb?: number;
  rssMeanMb?: number;
  /** The private part (RssAnon) at its maximum. */
  rssAnonMaxMb?: number;
}

function usage(s: Scenario, before: Counters, after: Counters, clientRequests: number): SidecarUse[] {
  return s.sidecars.map((sc) => {
    const cpu = (after.cpu.get(sc.pid) ?? 0) - (before.cpu.get(sc.pid) ?? 0);
    const counted = after.requests.has(sc.pid) ? (after.requests.get(sc.pid) ?? 0) - (before.requests.get(sc.pid) ?? 0) : clientRequests;
    const u: SidecarUse = { name: sc.name, requests: counted, cpuSeconds: cpu, cpuSecondsPer1000: counted > 0 ? cpu / (counted / 1000) : NaN };
    if (after.upstreamOpens.has(sc.pid)) {
      const opens = (after.upstreamOpens.get(sc.pid) ?? 0) - (before.upstreamOpens.get(sc.pid) ?? 0);
      u.upstreamConns = opens;
      u.upstreamConnsPer1000 = counted > 0 ? opens / (counted / 1000) : NaN;
    }
    return u;
  });
}

function getOnce(t: Target): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: t.port, path: '/', headers: t.host === '' ? {} : { host: t.host }, agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (d: Buffer) => (bytes += d.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      })
      .on('error', reject);
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? (s[(s.length - 1) / 2] ?? NaN) : ((s[s.length / 2 - 1] ?? 0) + (s[s.length / 2] ?? 0)) / 2;
};

function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  let kernel = os.release();
  try {
    kernel = execFileSync('uname', ['-srm'], { encoding: 'utf8' }).trim();
  } catch {
    // os.release() will do
  }
  const ver = (cmd: string, args: string[], re: RegExp): string => {
    // wrk -v exits 1; nginx -v writes to stderr: read both streams, whatever the exit code.
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return re.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[1] ?? '?';
  };
  let commit = '?';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'proxy', 'proto', 'identity', 'control-plane'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (dirty !== '') commit += ' + uncommitted changes in ' + [...new Set(dirty.split('\n').map((l) => l.slice(3).split('/')[0]))].join(', ');
  } catch {
    // not a git checkout
  }
  return {
    commit,
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? '?',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    kernel,
    wrk: ver('wrk', ['-v'], /wrk (\S+)/),
    h2load: ver('h2load', ['--version'], /nghttp2\/(\S+)/),
    nginx: ver('nginx', ['-v'], /nginx\/(\S+)/),
  };
}

// --- the run ------------------------------------------------------------------

interface ThroughputFigure {
  rounds: number[];
  medianRps: number;
  ratioToDirect: number;
  ratioToNginx: number;
  p99MsAtMax: number;
  errors: number;
  sidecars: SidecarUse[];
  /** Cores used by other processes during each round. */
  otherCores: number[];
}

interface RateFigure extends RateResult {
  deltaOverDirectMs: { p50: number; p99: number; max: number };
  /** This scenario's added p50 / p99 over nginx's added p50 / p99. */
  deltaRatioToNginx: { p50: number; p99: number };
  sidecars: SidecarUse[];
  otherCores: number;
}

interface Results {
  date: string;
  command: string;
  machine: Record<string, string | number>;
  /** Before the run: cores other processes were using. */
  quietCheck?: LoadWindow;
  /** The most any measurement saw other processes use, cores. */
  maxOtherCores: number;
  /** Seconds spent waiting for quiet before measurements. */
  gateWaitS: number;
  /** nice value the bench and its children ran at. */
  nice: number;
  settings: Record<string, unknown>;
  throughput: Record<string, ThroughputFigure>;
  latency: Record<string, Record<string, RateFigure>>;
  rssIdleMb: Record<string, Record<string, number>>;
  /** The private part (RssAnon) of the idle RSS. */
  rssAnonIdleMb: Record<string, Record<string, number>>;
  controlPlane?: ControlPlaneResult | { notMeasured: string };
  webhook: WebhookResult | { notMeasured: string };
  budget: Array<{ item: string; limit: string; measured: string; met: boolean | null }>;
  profile?: ProfileSummary[];
}

async function startUpstream(): Promise<{ child: Child; port: number }> {
  const child = spawnChild('upstream', process.execPath, [join(BENCH_DIR, 'upstream.ts')]);
  const line = await waitForLine(child, (l) => l.startsWith('{"port"'));
  return { child, port: (JSON.parse(line) as { port: number }).port };
}

async function startMtlsPair(upstreamPort: number, nodeFlags: string[] = []): Promise<{ a: ProxyProcess; b: ProxyProcess }> {
  const pki = writePki(tmp);
  const b = await startProxyProcess({
    name: 'weft-server-sidecar',
    dir: tmp,
    namespace: 'demo',
    config: serverSidecarConfig(upstreamPort, pki.trustBundlePem),
    identity: pki.server,
    nodeFlags,
  });
  const a = await startProxyProcess({
    name: 'weft-client-sidecar',
    dir: tmp,
    namespace: 'demo',
    config: clientSidecarConfig(upstreamPort, b.ports.inbound, pki.trustBundlePem),
    identity: pki.client,
    nodeFlags,
  });
  return { a, b };
}

function mtlsScenario(a: ProxyProcess, b: ProxyProcess): Scenario {
  return {
    key: 'weft-mtls',
    label: 'Weft, 2 sidecars, mTLS',
    target: { port: a.ports.outbound, host: 'web.demo' },
    sidecars: [
      { name: 'client sidecar (A)', pid: a.child.pid, admin: a.ports.admin, direction: 'outbound' },
      { name: 'server sidecar (B)', pid: b.child.pid, admin: b.ports.admin, direction: 'inbound' },
    ],
  };
}

async function main(): Promise<void> {
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  mkdirSync(OUT_DIR, { recursive: true });
  // A shared machine: run above other processes' priority (children inherit it),
  // so that a background build disturbs the figures less. Root only; else as is.
  if (!flags['no-renice']) {
    try {
      os.setPriority(-10);
    } catch {
      // not permitted: measure at the normal priority
    }
  }
  const info = machine();
  log(`bench: ${info.cores} cores, node ${info.node}, ${info.kernel}; temp ${tmp}`);
  log('bench: building dist/ (npm run build): the proxies run the compiled files, as in the image');
  await buildDist().catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`npm run build failed:\n${err.stdout ?? ''}${err.stderr ?? String(err)}`);
  });
  if (flags.profile) return profile(stamp);

  const upstream = await startUpstream();
  const nginxPort = await freePort();
  const nginx = await startNginx(join(tmp, 'nginx'), nginxPort, upstream.port);
  const nginxWorker = childPids(nginx.pid)[0];
  if (nginxWorker === undefined) throw new Error('nginx has no worker process');
  // The reference for the two-sidecar path: two nginx, mTLS between them.
  const nginxPkiDir = join(tmp, 'nginx-pki');
  mkdirSync(nginxPkiDir);
  const pki = writePki(nginxPkiDir);
  const bundle = join(nginxPkiDir, 'trust-bundle.pem');
  writeFileSync(bundle, pki.trustBundlePem.join(''));
  const nginxBPort = await freePort();
  const nginxB = await startNginx(join(tmp, 'nginx-b'), nginxBPort, upstream.port, { serverTls: { ...pki.server, trustBundle: bundle } });
  const nginxAPort = await freePort();
  const nginxA = await startNginx(join(tmp, 'nginx-a'), nginxAPort, nginxBPort, { upstreamTls: { ...pki.client, trustBundle: bundle } });
  const [nginxAWorker] = childPids(nginxA.pid);
  const [nginxBWorker] = childPids(nginxB.pid);
  if (nginxAWorker === undefined || nginxBWorker === undefined) throw new Error('an nginx of the mTLS pair has no worker process');
  const hop = await startProxyProcess({ name: 'weft-hop', dir: tmp, namespace: 'bench', config: plainHopConfig(upstream.port) });
  const { a, b } = await startMtlsPair(upstream.port);

  const allScenarios: Scenario[] = [
    { key: 'direct', label: 'direct', target: { port: upstream.port, host: '' }, sidecars: [] },
    {
      key: 'weft-1hop',
      label: 'Weft, 1 hop, plaintext',
      target: { port: hop.ports.outbound, host: 'upstream.bench' },
      sidecars: [{ name: 'proxy', pid: hop.child.pid, admin: hop.ports.admin, direction: 'outbound' }],
    },
    mtlsScenario(a, b),
    { key: 'nginx', label: 'nginx (1 worker)', target: { port: nginxPort, host: '' }, sidecars: [{ name: 'nginx worker', pid: nginxWorker }] },
    {
      key: 'nginx-mtls',
      label: 'nginx pair, mTLS',
      target: { port: nginxAPort, host: '' },
      sidecars: [
        { name: 'client nginx (A)', pid: nginxAWorker },
        { name: 'server nginx (B)', pid: nginxBWorker },
      ],
    },
  ];

  const scenarios = allScenarios.filter((s) => ONLY === undefined || ONLY.has(s.key));
  for (const s of scenarios) {
    const r = await getOnce(s.target);
    if (r.status !== 200 || r.bytes !== 1024) throw new Error(`${s.key}: expected 200 with 1024 bytes, got ${r.status} with ${r.bytes}`);
  }

  const results: Results = {
    date: started.toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: info,
    settings: {
      upstream: 'bench/upstream.ts: Node http server, 1 KiB body, keep-alive 65 s, own process',
      wrk: `wrk -t1 -c${WRK_CONNECTIONS} -d${WRK_SECONDS}s --latency, ${ROUNDS} interleaved rounds, median`,
      h2load: `h2load --h1 -c ${RATE_CONNECTIONS} -t 1 --rps <rate/${RATE_CONNECTIONS}> -D ${RATE_SECONDS} --log-file; first ${SKIP_SECONDS} s left out`,
      rates: RATES,
      nginx: 'nginx-light, worker_processes 1, upstream keepalive 64, access_log off',
    },
    throughput: {},
    latency: {},
    rssIdleMb: {},
    rssAnonIdleMb: {},
    webhook: { notMeasured: 'not run' },
    budget: [],
    maxOtherCores: 0,
    gateWaitS: 0,
    nice: os.getPriority(),
  };
  results.quietCheck = await waitForQuiet(0.25, WAIT_QUIET_S, log);
  log(`bench: other processes use ${results.quietCheck.otherCores.toFixed(2)} cores`);

  // Idle RSS: after start-up and one request, before any load.
  await sleep(2_000);
  for (const s of scenarios) {
    if (s.sidecars.length === 0) continue;
    results.rssIdleMb[s.key] = Object.fromEntries(s.sidecars.map((sc) => [sc.name, rssKb(sc.pid) / 1024]));
    results.rssAnonIdleMb[s.key] = Object.fromEntries(s.sidecars.map((sc) => [sc.name, memKb(sc.pid).anon / 1024]));
  }

  log(`warm-up: wrk ${QUICK ? 1 : 3} s per scenario`);
  for (const s of scenarios) await wrk(s.target, { connections: WRK_CONNECTIONS, seconds: QUICK ? 1 : 3 });

  // Closed loop, interleaved rounds.
  const rounds = new Map<ScenarioKey, Array<{ w: WrkResult; use: SidecarUse[]; other: number }>>();
  for (let r = 1; r <= ROUNDS; r++) {
    for (const s of scenarios) {
      results.gateWaitS += await quietGate(0.25, GATE_S);
      const before = await counters(s);
      const end = loadWindow();
      const w = await wrk(s.target, { connections: WRK_CONNECTIONS, seconds: WRK_SECONDS });
      const other = end().otherCores;
      results.maxOtherCores = Math.max(results.maxOtherCores, other);
      const after = await counters(s);
      const list = rounds.get(s.key) ?? [];
      list.push({ w, use: usage(s, before, after, w.requests), other });
      rounds.set(s.key, list);
      log(`throughput round ${r}/${ROUNDS} ${s.key.padEnd(10)} ${w.rps.toFixed(0).padStart(7)} rps  p99 ${w.latencyMs.p99.toFixed(2)} ms${w.non2xx + w.socketErrors > 0 ? `  errors ${w.non2xx + w.socketErrors}` : ''}`);
    }
  }
  const medRps = (k: ScenarioKey): number => median((rounds.get(k) ?? []).map((x) => x.w.rps));
  for (const s of scenarios) {
    const list = rounds.get(s.key) ?? [];
    const rps = medRps(s.key);
    // Sidecar use of the median round.
    const mid = [...list].sort((x, y) => x.w.rps - y.w.rps)[Math.floor(list.length / 2)];
    results.throughput[s.key] = {
      rounds: list.map((x) => x.w.rps),
      medianRps: rps,
      ratioToDirect: rps / medRps('direct'),
      ratioToNginx: rps / medRps('nginx'),
      p99MsAtMax: median(list.map((x) => x.w.latencyMs.p99)),
      errors: list.reduce((n, x) => n + x.w.non2xx + x.w.socketErrors, 0),
      sidecars: mid?.use ?? [],
      otherCores: list.map((x) => x.other),
    };
  }

  // Open loop at fixed rates.
  for (const rate of RATES) {
    const byScenario: Record<string, RateFigure> = {};
    for (const s of scenarios) {
      results.gateWaitS += await quietGate(0.25, GATE_S);
      const before = await counters(s);
      const stopRss = sampleRss(s.sidecars.map((sc) => sc.pid));
      const end = loadWindow();
      const r = await h2load(s.target, {
        rate,
        connections: RATE_CONNECTIONS,
        seconds: RATE_SECONDS,
        logFile: join(tmp, `h2load-${s.key}-${rate}.log`),
        skipSeconds: SKIP_SECONDS,
      });
      const other = end().otherCores;
      results.maxOtherCores = Math.max(results.maxOtherCores, other);
      const rss = stopRss();
      const after = await counters(s);
      const use = usage(s, before, after, r.h2loadRequests).map((u, i) => {
        const m = rss.get(s.sidecars[i]?.pid ?? -1);
        return m ? { ...u, rssMaxMb: m.maxMb, rssMeanMb: m.meanMb, rssAnonMaxMb: m.anonMaxMb } : u;
      });
      const { h2loadRequests: _n, ...rest } = r;
      byScenario[s.key] = { ...rest, deltaOverDirectMs: { p50: 0, p99: 0, max: 0 }, deltaRatioToNginx: { p50: NaN, p99: NaN }, sidecars: use, otherCores: other };
      log(
        `rate ${String(rate).padStart(4)} rps ${s.key.padEnd(10)} p50 ${r.latencyMs.p50.toFixed(3)} ms  p99 ${r.latencyMs.p99.toFixed(3)} ms  max ${r.latencyMs.max.toFixed(2)} ms  (${r.achievedRps.toFixed(0)} rps${r.failed > 0 ? `, ${r.failed} failed` : ''})`,
      );
    }
    const d = byScenario.direct;
    const n = byScenario.nginx;
    for (const f of Object.values(byScenario)) {
      if (d === undefined) break;
      f.deltaOverDirectMs = { p50: f.latencyMs.p50 - d.latencyMs.p50, p99: f.latencyMs.p99 - d.latencyMs.p99, max: f.latencyMs.max - d.latencyMs.max };
      if (n !== undefined) {
        const np50 = n.latencyMs.p50 - d.latencyMs.p50;
        const np99 = n.latencyMs.p99 - d.latencyMs.p99;
        // A ratio to an added latency that is nil (or negative: noise) says nothing.
        const ratio = (x: number, ref: number): number => (ref > 0.05 ? x / ref : NaN);
        f.deltaRatioToNginx = { p50: ratio(f.deltaOverDirectMs.p50, np50), p99: ratio(f.deltaOverDirectMs.p99, np99) };
      }
    }
    results.latency[String(rate)] = byScenario;
  }

  await Promise.all([stopChild(hop.child), stopChild(a.child), stopChild(b.child), stopChild(nginx), stopChild(nginxA), stopChild(nginxB), stopChild(upstream.child)]);

  if (flags['no-control-plane']) {
    results.controlPlane = { notMeasured: 'skipped (--no-control-plane)' };
  } else {
    log('control plane: split propagation to 50 and 500 Config.Stream clients');
    results.controlPlane = await runControlPlaneBench(tmp, [50, 500], QUICK ? 3 : 5, log);
  }

  log('webhook: admission latency at 50 concurrent requests (closed loop), then at fixed rates (open loop)');
  results.gateWaitS += await quietGate(0.25, GATE_S);
  const wh = await runWebhookBench(50, QUICK ? 3 : 10, { rates: [100, 500], rateSeconds: RATE_SECONDS, log });
  results.webhook = wh;
  results.maxOtherCores = Math.max(results.maxOtherCores, wh.otherCores, ...wh.openLoop.map((o) => o.otherCores));

  results.budget = budget(results);
  const file = join(OUT_DIR, `${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${summary(results)}\nwritten: ${file}\n`);
}

// --- budget and summary ---------------------------------------------------------

function budget(r: Results): Results['budget'] {
  const out: Results['budget'] = [];
  const m1000 = r.latency['1000']?.['weft-mtls'];
  const n1000 = r.latency['1000']?.['nginx-mtls'];
  const pair = (k: 'p50' | 'p99'): string => (n1000 ? ` (nginx pair: ${n1000.deltaOverDirectMs[k].toFixed(3)} ms)` : '');
  if (m1000) {
    out.push({ item: 'two sidecars, mTLS, 1000 rps: added p50', limit: '<= 0.5 ms', measured: `${m1000.deltaOverDirectMs.p50.toFixed(3)} ms${pair('p50')}`, met: m1000.deltaOverDirectMs.p50 <= 0.5 });
    out.push({ item: 'two sidecars, mTLS, 1000 rps: added p99', limit: '<= 1.5 ms', measured: `${m1000.deltaOverDirectMs.p99.toFixed(3)} ms${pair('p99')}`, met: m1000.deltaOverDirectMs.p99 <= 1.5 });
  }
  const hop = r.throughput['weft-1hop'];
  if (hop) out.push({ item: 'one plaintext hop: throughput kept', limit: '>= 30% of direct', measured: `${(100 * hop.ratioToDirect).toFixed(1)}%`, met: hop.ratioToDirect >= 0.3 });
  const sidecars = [...(r.latency['1000']?.['weft-1hop']?.sidecars ?? []), ...(m1000?.sidecars ?? [])];
  if (sidecars.length > 0) {
    const rss = Math.max(...sidecars.map((s) => s.rssMaxMb ?? 0));
    const anon = Math.max(...sidecars.map((s) => s.rssAnonMaxMb ?? 0));
    const cpu = Math.max(...sidecars.map((s) => s.cpuSecondsPer1000));
    out.push({ item: 'sidecar RSS at 1000 rps (worst sidecar, max)', limit: '< 60 MB', measured: `${rss.toFixed(1)} MB (private ${anon.toFixed(1)} MB)`, met: rss < 60 });
    out.push({ item: 'sidecar CPU per 1000 rps (worst sidecar)', limit: '<= 0.25 vCPU', measured: `${cpu.toFixed(3)} vCPU`, met: cpu <= 0.25 });
  }
  const cp = r.controlPlane;
  if (cp && 'propagation' in cp) {
    const p500 = cp.propagation.find((p) => p.proxies === 500);
    if (p500) out.push({ item: 'split change acked by 500 proxies (median)', limit: '< 1 s', measured: `${p500.medianMs.toFixed(0)} ms (max ${p500.maxMs.toFixed(0)} ms)`, met: p500.medianMs < 1000 && p500.maxMs < 1000 });
  } else {
    out.push({ item: 'split change acked by 500 proxies', limit: '< 1 s', measured: 'not measured', met: null });
  }
  const wh = r.webhook;
  if ('p99Ms' in wh) {
    out.push({ item: 'webhook p99 at 50 concurrent', limit: '< 10 ms', measured: `${wh.p99Ms.toFixed(2)} ms (p50 ${wh.p50Ms.toFixed(2)} ms, ${wh.rps.toFixed(0)} reviews/s)`, met: wh.p99Ms < 10 });
  } else {
    out.push({ item: 'webhook p99 at 50 concurrent', limit: '< 10 ms', measured: wh.notMeasured, met: null });
  }
  return out;
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(w[i] ?? 0) : c.padStart(w[i] ?? 0))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

const f = (n: number | undefined, d = 2): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));

function summary(r: Results): string {
  const out: string[] = [''];
  out.push(`Machine: ${r.machine.cores} cores (${r.machine.cpuModel}), node ${r.machine.node}, ${r.machine.kernel}; bench at nice ${r.nice}; code ${r.machine.commit}`);
  out.push(`Other processes: ${f(r.quietCheck?.otherCores)} cores before the run, at most ${f(r.maxOtherCores)} cores during a measurement${r.maxOtherCores > 0.25 ? ' (NOISY: figures are not trustworthy)' : ''}`);
  out.push('', `Closed loop (wrk -t1 -c${WRK_CONNECTIONS}, ${ROUNDS} x ${WRK_SECONDS} s, median)`);
  out.push(
    table(
      ['scenario', 'rps', 'x direct', 'x nginx', 'p99 ms', 'errors', 'rounds', 'other cores'],
      Object.entries(r.throughput).map(([k, t]) => [
        k,
        t.medianRps.toFixed(0),
        f(t.ratioToDirect),
        f(t.ratioToNginx),
        f(t.p99MsAtMax),
        String(t.errors),
        t.rounds.map((x) => x.toFixed(0)).join(' '),
        t.otherCores.map((x) => f(x)).join(' '),
      ]),
    ),
  );
  for (const [rate, byS] of Object.entries(r.latency)) {
    out.push('', `Open loop at ${rate} rps (h2load, ${RATE_SECONDS} s, first ${SKIP_SECONDS} s left out), ms`);
    out.push(
      table(
        ['scenario', 'p50', 'p99', 'max', '+p50', '+p99', '+max', '+p50/nginx', '+p99/nginx', 'other cores'],
        Object.entries(byS).map(([k, x]) => [
          k,
          f(x.latencyMs.p50, 3),
          f(x.latencyMs.p99, 3),
          f(x.latencyMs.max, 2),
          f(x.deltaOverDirectMs.p50, 3),
          f(x.deltaOverDirectMs.p99, 3),
          f(x.deltaOverDirectMs.max, 2),
          k === 'direct' || k === 'nginx' ? '' : f(x.deltaRatioToNginx.p50),
          k === 'direct' || k === 'nginx' ? '' : f(x.deltaRatioToNginx.p99),
          f(x.otherCores),
        ]),
      ),
    );
  }
  const at1000 = r.latency['1000'] ?? {};
  out.push('', 'Sidecars at 1000 rps (RSS idle = before any load)');
  const rows: string[][] = [];
  for (const [k, x] of Object.entries(at1000)) {
    for (const s of x.sidecars) {
      rows.push([
        `${k}: ${s.name}`,
        f(r.rssIdleMb[k]?.[s.name], 1),
        f(r.rssAnonIdleMb[k]?.[s.name], 1),
        f(s.rssMaxMb, 1),
        f(s.rssAnonMaxMb, 1),
        f(s.cpuSecondsPer1000, 3),
        s.upstreamConnsPer1000 === undefined ? '-' : f(s.upstreamConnsPer1000, 3),
      ]);
    }
  }
  out.push(table(['process', 'RSS idle MB', 'private idle', 'RSS max MB', 'private max', 'vCPU/1000rps', 'new upstream conns/1000 req'], rows));
  const sat = Object.entries(r.throughput).flatMap(([k, t]) => t.sidecars.map((s) => [`${k}: ${s.name}`, f(s.cpuSecondsPer1000, 3), s.upstreamConnsPer1000 === undefined ? '-' : f(s.upstreamConnsPer1000, 3)]));
  out.push('', 'Sidecars at maximum throughput (median round)');
  out.push(table(['process', 'CPU s/1000 req', 'new upstream conns/1000 req'], sat));
  const cp = r.controlPlane;
  if (cp && 'propagation' in cp) {
    out.push('', 'Control plane: split change until every connected proxy acked');
    out.push(
      table(
        ['proxies', 'median ms', 'max ms', 'render+write ms', 'first 50 acked ms'],
        cp.propagation.map((p) => [String(p.proxies), f(p.medianMs, 1), f(p.maxMs, 1), f(p.renderAndWriteMs, 1), f(p.first50Ms, 1)]),
      ),
    );
    out.push(`control plane RSS: idle ${f(cp.rssIdleMb, 1)} MB, ${Object.entries(cp.rssByProxiesMb).map(([n, mb]) => `${n} proxies ${f(mb, 1)} MB`).join(', ')}; ${f(cp.kbPerProxy, 0)} KiB per connected proxy`);
  }
  const wh = r.webhook;
  if ('p99Ms' in wh) {
    out.push('', `Webhook admission latency (h2load, ${wh.concurrency} keep-alive HTTPS connections, Pod CREATE with full injection), ms`);
    const row = (what: string, rps: number, x: { p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; errors: number; cpuMsPerReview: number; otherCores: number }): string[] => [
      what,
      rps.toFixed(0),
      f(x.p50Ms),
      f(x.p90Ms),
      f(x.p99Ms),
      f(x.maxMs),
      String(x.errors),
      f(x.cpuMsPerReview, 3),
      f(x.otherCores),
    ];
    out.push(
      table(
        ['load', 'reviews/s', 'p50', 'p90', 'p99', 'max', 'errors', 'CPU ms/review', 'other cores'],
        [row(`closed loop, ${wh.concurrency} concurrent, ${wh.seconds} s`, wh.rps, wh), ...wh.openLoop.map((o) => row(`open loop at ${o.targetRps}/s, ${o.seconds} s`, o.achievedRps, o))],
      ),
    );
  } else {
    out.push('', `Webhook: ${wh.notMeasured}`);
  }
  out.push('', 'Budget (DESIGN.md)');
  out.push(table(['item', 'limit', 'measured', 'met'], r.budget.map((b) => [b.item, b.limit, b.measured, b.met === null ? 'n/a' : b.met ? 'met' : 'NOT met'])));
  return out.join('\n');
}

// --- profile mode ---------------------------------------------------------------

async function profile(stamp: string): Promise<void> {
  const profDir = join(OUT_DIR, `profile-${stamp}`);
  mkdirSync(profDir, { recursive: true });
  const upstream = await startUpstream();
  const nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  const { a, b } = await startMtlsPair(upstream.port, nodeFlags);
  const s = mtlsScenario(a, b);
  const r0 = await getOnce(s.target);
  if (r0.status !== 200) throw new Error(`weft-mtls: got ${r0.status}`);
  log('profile: weft-mtls, warm-up 3 s, then wrk 10 s at maximum and h2load 10 s at 1000 rps');
  await wrk(s.target, { connections: WRK_CONNECTIONS, seconds: 3 });
  const w = await wrk(s.target, { connections: WRK_CONNECTIONS, seconds: 10 });
  const h = await h2load(s.target, { rate: 1000, connections: RATE_CONNECTIONS, seconds: 10, logFile: join(tmp, 'h2load-prof.log') });
  log(`profile run: ${w.rps.toFixed(0)} rps at maximum; at 1000 rps p50 ${h.latencyMs.p50.toFixed(3)} ms p99 ${h.latencyMs.p99.toFixed(3)} ms (profiling on)`);
  // SIGTERM: the proxy closes and exits, and V8 writes the profile.
  for (const [who, c] of [['client sidecar (A)', a.child], ['server sidecar (B)', b.child]] as const) {
    const t0 = Date.now();
    await stopChild(c, 45_000);
    const how = c.proc.signalCode === null ? `exit ${c.proc.exitCode}` : `killed by ${c.proc.signalCode} (no profile written)`;
    log(`profile: ${who} stopped in ${Date.now() - t0} ms, ${how}`);
  }
  await stopChild(upstream.child);
  const files = readdirSync(profDir).filter((x) => x.endsWith('.cpuprofile'));
  const summaries: ProfileSummary[] = [];
  for (const file of files) {
    const pid = Number(/^CPU\.\d+\.\d+\.(\d+)\./.exec(file)?.[1] ?? 0);
    const who = pid === a.child.pid ? 'client sidecar (A)' : pid === b.child.pid ? 'server sidecar (B)' : `pid ${pid}`;
    const sum = summarizeProfile(join(profDir, file), 40);
    sum.file = `${who}: ${file}`;
    summaries.push(sum);
    process.stdout.write(`\n${formatSummary(sum, 20)}\n`);
  }
  const out = join(OUT_DIR, `profile-${stamp}.json`);
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), wrkRps: w.rps, at1000: h.latencyMs, profiles: summaries }, null, 2)}\n`);
  process.stdout.write(`\nprofiles: ${profDir}\nwritten: ${out}\n`);
}

try {
  await main();
  await cleanup();
} catch (err) {
  // After Ctrl-C the load generators die with us: that is not a failure to report.
  if (!interrupted) {
    log(`bench failed: ${(err as Error).stack ?? String(err)}`);
    await cleanup();
    process.exit(1);
  }
}
