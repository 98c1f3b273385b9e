// Helpers for the mesh-on-a-real-apiserver tests (journey.test.ts and the
// other real-node tests): polling and Debian's Prometheus.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';

/** Polls `check` until it returns something other than undefined; the last error or value goes into the timeout message. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
      last = '';
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== '' ? ` (last error: ${last})` : ''}`);
    await sleep(everyMs);
  }
}

// --- child processes killed if the test process exits

const liveChildren = new Set<ChildProcess>();
let hookInstalled = false;
function killLeftoversOnExit(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.once('exit', () => {
    for (const c of liveChildren) c.kill('SIGKILL');
  });
}

// --- Prometheus (Debian's binary)

export interface PrometheusServer {
  url: string;
  /** An instant query; the result vector. */
  query(q: string, time?: number): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  targets(): Promise<{ activeTargets: { labels: Record<string, string>; health: string; lastError: string; scrapeUrl: string }[] }>;
  logTail(): string;
  stop(): Promise<void>;
}

/** Starts `prometheus` on 127.0.0.1 with `config` (an object, written as YAML) and a data dir under `dir`. */
export async function startPrometheus(dir: string, config: unknown, port: number): Promise<PrometheusServer> {
  await mkdir(dir, { recursive: true });
  const configPath = join(dir, 'prometheus.yml');
  await writeFile(configPath, stringify(config));
  killLeftoversOnExit();
  const child = spawn('prometheus', [
    `--config.file=${configPath}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  liveChildren.add(child);
  let log = '';
  child.stderr.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-20_000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => {
    liveChildren.delete(child);
    r();
  }));
  const url = `http://127.0.0.1:${port}`;
  await waitFor('Prometheus ready', async () => {
    if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log.slice(-2000)}`);
    return (await fetch(`${url}/-/ready`)).status === 200 ? true : undefined;
  }, 30_000);
  return {
    url,
    async query(q, time) {
      const u = new URL(`${url}/api/v1/query`);
      u.searchParams.set('query', q);
      if (time !== undefined) u.searchParams.set('time', String(time));
      const body = (await (await fetch(u)).json()) as { status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success') throw new Error(`query ${q}: ${body.error ?? body.status}`);
      return body.data?.result ?? [];
    },
    async targets() {
      const body = (await (await fetch(`${url}/api/v1/targets`)).json()) as { data: Awaited<ReturnType<PrometheusServer['targets']>> };
      return body.data;
    },
    logTail: () => log.slice(-3000),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
