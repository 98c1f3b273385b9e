// Webhook admission latency for `npm run bench`: the real injector in one
// process (webhook-server.ts: HTTPS, namespace annotated, so every review is a
// Pod CREATE that gets the full injection patch), Debian's h2load (C, one
// thread) as the load generator in another, so that the generator's own CPU
// distorts the figure as little as it can on a 2-core machine.
//
//   closed loop (the headline, issue 6's "p50/p99 at 50 concurrent requests"):
//     h2load --h1 -c 50 -D <seconds> --warm-up-time 1: 50 keep-alive
//     connections, each sending its next review as soon as the last is
//     answered, so the webhook runs saturated (p50 ~ 50 / throughput);
//   open loop (what an apiserver sends): h2load --rps at fixed rates (100 and
//     500 reviews/s), 50 connections at rate/50 each, started 1/rate apart
//     (-r 1 --rate-period) so that their requests interleave instead of
//     arriving in bursts of 50; the first second is left out.
//
// Latencies are h2load's per-request log (request written to response
// complete). Each measurement also records the webhook's CPU per review and
// how many cores other processes used meanwhile.
//
// As a script: node bench/webhook-bench.ts [--seconds N] [--rate-seconds N]
//   [--rates 100,500] [--node-flag=--max-semi-space-size=16 ...]
//   [--cpu-prof DIR] (the webhook under node --cpu-prof; DIR gets the profile)
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { admissionReview, testPod } from '../injector/admission-test-fixtures.ts';
import { cpuSeconds, loadWindow, spawnChild, stopAll, stopChild, waitForLine, type Child } from './proc.ts';

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const CONNECTIONS_OPEN_LOOP = 50;
const SKIP_SECONDS = 1;

export interface WebhookRateResult {
  targetRps: number;
  achievedRps: number;
  connections: number;
  seconds: number;
  requests: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  /** Webhook process CPU (user + system) per review, ms. */
  cpuMsPerReview: number;
  /** Cores other processes used meanwhile. */
  otherCores: number;
}

export interface WebhookResult {
  /** Closed loop, the headline: connections, each one review in flight. */
  concurrency: number;
  seconds: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  cpuMsPerReview: number;
  otherCores: number;
  /** Open loop at fixed rates. */
  openLoop: WebhookRateResult[];
  generator: string;
  /** Node flags the webhook process ran with. */
  nodeFlags: string[];
}

export interface WebhookBenchOptions {
  /** Open-loop rates, reviews/s (default 100 and 500). */
  rates?: number[];
  /** Seconds per open-loop rate, the first left out (default 5). */
  rateSeconds?: number;
  /** Extra node flags for the webhook process (GC settings, --cpu-prof). */
  nodeFlags?: string[];
  log?: (s: string) => void;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

interface H2loadRun {
  /** Rows of the per-request log: start (µs since epoch), status, duration (µs). */
  rows: Array<[number, number, number]>;
  /** Failed, errored, timed out and non-2xx, as h2load counts them. */
  errors: number;
  /** Response body bytes over completed requests. */
  dataBytes: number;
  done: number;
}

async function runH2load(args: string[]): Promise<H2loadRun> {
  const c = spawnChild('h2load', 'h2load', args);
  const code = await c.exited;
  const out = c.lines.join('\n');
  if (code !== 0) throw new Error(`h2load ${args.join(' ')} exited ${code}:\n${out}\n${c.stderr()}`);
  const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const data = /\((\d+)\) data/.exec(out);
  if (m === null) throw new Error(`h2load: no summary in its output:\n${out}`);
  const logFile = args[args.indexOf('--log-file') + 1] ?? '';
  const rows = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t').map(Number) as [number, number, number]);
  return {
    rows,
    errors: Number(m[5]) + Number(m[6]) + Number(m[7]) + (codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : 0),
    dataBytes: data ? Number(data[1]) : NaN,
    done: Number(m[3]),
  };
}

function latencies(rows: ReadonlyArray<[number, number, number]>): number[] {
  return rows
    .filter((r) => r[1] >= 200 && r[1] < 300)
    .map((r) => r[2] / 1000)
    .sort((a, b) => a - b);
}

/** One review through Node's client with the CA: the answer must be an injection patch; returns its size. */
function checkOnce(port: number, ca: string, body: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/mutate', ca, servername: 'weft-injector.weft-system.svc', headers: { 'content-type': 'application/json' }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const r = (JSON.parse(text) as { response?: { patch?: string } }).response;
          if (res.statusCode !== 200 || typeof r?.patch !== 'string') reject(new Error(`webhook: expected a patch, got ${res.statusCode}: ${text.slice(0, 300)}`));
          else resolvePromise(Buffer.byteLength(text));
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function runWebhookBench(concurrency: number, seconds: number, o: WebhookBenchOptions = {}): Promise<WebhookResult> {
  const rates = o.rates ?? [100, 500];
  const rateSeconds = o.rateSeconds ?? 5;
  const nodeFlags = o.nodeFlags ?? [];
  const log = o.log ?? ((): void => undefined);
  const tmp = mkdtempSync(join(os.tmpdir(), 'weft-webhook-bench-'));
  const server: Child = spawnChild('webhook', process.execPath, [...nodeFlags, join(BENCH_DIR, 'webhook-server.ts')]);
  try {
    const { port, ca } = JSON.parse(await waitForLine(server, (l) => l.startsWith('{"port"'))) as { port: number; ca: string };
    const body = JSON.stringify(admissionReview(testPod()));
    const bodyFile = join(tmp, 'review.json');
    writeFileSync(bodyFile, body);
    const answerBytes = await checkOnce(port, ca, body);
    const common = ['--h1', '-t', '1', '-d', bodyFile, '-H', 'content-type: application/json'];
    const url = `https://127.0.0.1:${port}/mutate`;
    const sameAnswers = (r: H2loadRun, what: string): void => {
      // Every answer is the same review's: a size that differs means some were not the patch.
      // (h2load's byte count includes the warm-up's answers, its request count does not.)
      if (r.dataBytes % answerBytes !== 0 || r.dataBytes < r.done * answerBytes) {
        throw new Error(`webhook ${what}: ${r.dataBytes} body bytes for ${r.done} answers of ${answerBytes} bytes`);
      }
    };

    // Closed loop: h2load leaves the warm-up second out of its log.
    let cpu0 = cpuSeconds(server.pid);
    let end = loadWindow();
    const closed = await runH2load([...common, '-c', String(concurrency), '-D', String(seconds), '--warm-up-time', '1', '--log-file', join(tmp, 'closed.log'), url]);
    let cpu = cpuSeconds(server.pid) - cpu0;
    let other = end().otherCores;
    sameAnswers(closed, 'closed loop');
    const lat = latencies(closed.rows);
    const result: WebhookResult = {
      concurrency,
      seconds,
      requests: closed.rows.length,
      rps: closed.rows.length / seconds,
      p50Ms: percentile(lat, 50),
      p90Ms: percentile(lat, 90),
      p99Ms: percentile(lat, 99),
      maxMs: lat.at(-1) ?? NaN,
      errors: closed.errors,
      // The CPU window includes the warm-up second: divide by every review answered.
      cpuMsPerReview: (1000 * cpu) / (closed.dataBytes / answerBytes),
      otherCores: other,
      openLoop: [],
      generator: `h2load --h1 -c ${concurrency} -t 1 -D ${seconds} --warm-up-time 1 (closed loop); open loop: -c ${CONNECTIONS_OPEN_LOOP} --rps <rate/${CONNECTIONS_OPEN_LOOP}> -r 1 --rate-period <1/rate>, first ${SKIP_SECONDS} s left out`,
      nodeFlags,
    };
    log(`webhook closed loop, ${concurrency} connections: ${result.rps.toFixed(0)} reviews/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, max ${result.maxMs.toFixed(2)} ms, ${result.cpuMsPerReview.toFixed(3)} CPU ms/review, other cores ${other.toFixed(2)}`);

    for (const rate of rates) {
      const perConn = rate / CONNECTIONS_OPEN_LOOP;
      const n = Math.round(rate * rateSeconds);
      const logFile = join(tmp, `open-${rate}.log`);
      cpu0 = cpuSeconds(server.pid);
      end = loadWindow();
      // -r starts one connection per period of 1/rate, so each connection's
      // --rps timer runs at its own phase and the reviews interleave.
      const r = await runH2load([...common, '-c', String(CONNECTIONS_OPEN_LOOP), '--rps', String(perConn), '-n', String(n), '-r', '1', '--rate-period', `${Math.max(1, Math.round(1000 / rate))}ms`, '--log-file', logFile, url]);
      cpu = cpuSeconds(server.pid) - cpu0;
      other = end().otherCores;
      sameAnswers(r, `at ${rate}/s`);
      const t0 = Math.min(...r.rows.map((x) => x[0]));
      const t1 = Math.max(...r.rows.map((x) => x[0]));
      const kept = r.rows.filter((x) => x[0] >= t0 + SKIP_SECONDS * 1e6);
      const l = latencies(kept);
      const windowS = (t1 - t0) / 1e6 - SKIP_SECONDS;
      const f: WebhookRateResult = {
        targetRps: rate,
        achievedRps: windowS > 0 ? kept.length / windowS : NaN,
        connections: CONNECTIONS_OPEN_LOOP,
        seconds: rateSeconds,
        requests: kept.length,
        p50Ms: percentile(l, 50),
        p90Ms: percentile(l, 90),
        p99Ms: percentile(l, 99),
        maxMs: l.at(-1) ?? NaN,
        errors: r.errors,
        cpuMsPerReview: (1000 * cpu) / r.done,
        otherCores: other,
      };
      result.openLoop.push(f);
      log(`webhook open loop ${rate}/s: p50 ${f.p50Ms.toFixed(2)} ms, p99 ${f.p99Ms.toFixed(2)} ms, max ${f.maxMs.toFixed(2)} ms (${f.achievedRps.toFixed(0)}/s), ${f.cpuMsPerReview.toFixed(3)} CPU ms/review, other cores ${other.toFixed(2)}`);
    }
    return result;
  } finally {
    // SIGTERM: the webhook closes and exits 0 (and writes its profile under --cpu-prof).
    await stopChild(server, 10_000);
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      'rate-seconds': { type: 'string', default: '5' },
      rates: { type: 'string', default: '100,500' },
      'node-flag': { type: 'string', multiple: true, default: [] },
      'cpu-prof': { type: 'string' },
    },
  });
  const nodeFlags = [...(values['node-flag'] ?? [])];
  if (values['cpu-prof'] !== undefined) nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${resolve(values['cpu-prof'])}`);
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  try {
    os.setPriority(-10); // as run.ts: above other benchmarks' priority, when permitted
  } catch {
    // measure at the normal priority
  }
  process.on('SIGINT', () => void stopAll(2_000).finally(() => process.exit(130)));
  const r = await runWebhookBench(50, Number(values.seconds), {
    rates: values.rates === '' ? [] : values.rates.split(',').map(Number),
    rateSeconds: Number(values['rate-seconds']),
    nodeFlags,
    log,
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
