// Webhook admission latency for `npm run bench`: the real injector in one
// process (webhook-server.ts), a closed-loop load of `concurrency` keep-alive
// HTTPS connections in another (webhook-load.ts), Pod CREATE reviews that get
// the full injection patch. Latencies leave out the first second.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnChild, stopChild, waitForLine } from './proc.ts';

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));

export interface WebhookResult {
  concurrency: number;
  seconds: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
}

export async function runWebhookBench(concurrency: number, seconds: number): Promise<WebhookResult> {
  const server = spawnChild('webhook', process.execPath, [join(BENCH_DIR, 'webhook-server.ts')]);
  try {
    const { port, ca } = JSON.parse(await waitForLine(server, (l) => l.startsWith('{"port"'))) as { port: number; ca: string };
    const load = spawn(process.execPath, [join(BENCH_DIR, 'webhook-load.ts'), String(port), String(concurrency), String(seconds)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    load.stdin.end(ca);
    let out = '';
    load.stdout.setEncoding('utf8');
    load.stdout.on('data', (c: string) => (out += c));
    const code = await new Promise<number | null>((resolve) => load.once('exit', resolve));
    if (code !== 0) throw new Error(`webhook load exited ${code}`);
    const r = JSON.parse(out.trim()) as { requests: number; rps: number; p50: number; p99: number; max: number; errors: number };
    return { concurrency, seconds, requests: r.requests, rps: r.rps, p50Ms: r.p50, p99Ms: r.p99, maxMs: r.max, errors: r.errors };
  } finally {
    await stopChild(server);
  }
}
