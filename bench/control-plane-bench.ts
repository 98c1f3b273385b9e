// Split propagation: the real control plane in one process (cp-server.ts),
// N raw Config.Stream clients in another (cp-load.ts). With 50, then 500
// proxies connected, the TrafficSplit's weights change a few times; each
// change is timed from the source's change until every connected proxy has
// acked the new version. Also the control plane's RSS per connected proxy.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { spawnChild, stopChild, type Child } from './proc.ts';
import type { ServerRequest } from './cp-server.ts';
import type { LoadRequest } from './cp-load.ts';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));

export interface PropagationFigure {
  proxies: number;
  /** Every change: ms until all `proxies` acked. */
  allAckedMs: number[];
  medianMs: number;
  maxMs: number;
  /** ms the control plane spent inside the change (render + write to every stream), median. */
  renderAndWriteMs: number;
  /** With 500 connected: ms until the 50th ack, median (undefined for the 50 run). */
  first50Ms?: number;
}

export interface ControlPlaneResult {
  propagation: PropagationFigure[];
  rssIdleMb: number;
  rssByProxiesMb: Record<string, number>;
  /** (RSS with the most proxies - RSS with none) / proxies, KiB. */
  kbPerProxy: number;
}

function message<T>(child: Child, pred: (m: Record<string, unknown>) => boolean, timeoutMs = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.proc.off('message', on);
      reject(new Error(`${child.name}: no answer in ${timeoutMs} ms\n${child.stderr()}`));
    }, timeoutMs);
    const on = (m: unknown): void => {
      if (typeof m === 'object' && m !== null && pred(m as Record<string, unknown>)) {
        clearTimeout(timer);
        child.proc.off('message', on);
        resolve(m as T);
      }
    };
    child.proc.on('message', on);
    void child.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${child.name} exited (${code}):\n${child.stderr()}`));
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? (s[(s.length - 1) / 2] ?? NaN) : ((s[s.length / 2 - 1] ?? 0) + (s[s.length / 2] ?? 0)) / 2;
};

export async function runControlPlaneBench(dir: string, steps: number[] = [50, 500], changes = 5, log: (s: string) => void = () => {}): Promise<ControlPlaneResult> {
  const max = Math.max(...steps);
  const ipc = { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] as ['ignore', 'pipe', 'pipe', 'ipc'] };
  const server = spawnChild('control-plane', process.execPath, [here('./cp-server.ts'), join(dir, 'cp'), String(max)], ipc);
  const load = spawnChild('cp-load', process.execPath, [here('./cp-load.ts')], ipc);
  try {
    const ready = await message<{ address: string; trustBundlePem: string[]; serverId: string; tokens: string[] }>(server, (m) => m.ready === true);
    await message(load, (m) => m.ready === true);
    const ask = <T>(req: ServerRequest, pred: (m: Record<string, unknown>) => boolean): Promise<T> => {
      const p = message<T>(server, pred);
      server.proc.send?.(req);
      return p;
    };
    const idle = await ask<{ rssKb: number }>({ cmd: 'rss' }, (m) => 'rssKb' in m);
    const result: ControlPlaneResult = { propagation: [], rssIdleMb: idle.rssKb / 1024, rssByProxiesMb: {}, kbPerProxy: 0 };
    let have = 0;
    let lastRss = idle.rssKb;
    let flip = 0;
    for (const n of steps) {
      const req: LoadRequest = { cmd: 'connect', address: ready.address, trustBundlePem: ready.trustBundlePem, serverId: ready.serverId, tokens: ready.tokens.slice(have, n), from: have };
      const connected = message<{ ok: boolean; error?: string }>(load, (m) => 'ok' in m);
      load.proc.send?.(req);
      const c = await connected;
      if (!c.ok) throw new Error(`load clients failed: ${c.error}`);
      have = n;
      const conn = await ask<{ ok: boolean; connected: number; rssKb: number }>({ cmd: 'connected', n }, (m) => 'connected' in m && 'ok' in m);
      if (!conn.ok) throw new Error(`only ${conn.connected} of ${n} proxies subscribed`);
      // Let the connection burst settle (GC, timers) before timing changes.
      await new Promise((r) => setTimeout(r, 1000));
      const rss = await ask<{ rssKb: number }>({ cmd: 'rss' }, (m) => 'rssKb' in m && !('ok' in m));
      lastRss = rss.rssKb;
      result.rssByProxiesMb[String(n)] = rss.rssKb / 1024;
      const all: number[] = [];
      const pushed: number[] = [];
      const first50: number[] = [];
      for (let k = 0; k < changes; k++) {
        flip++;
        const w: [number, number] = [100 - (flip % 9) * 10 - 5, (flip % 9) * 10 + 5];
        const r = await ask<{ ok: boolean; allMs: number; pushedMs: number; ackedMs: Record<string, number> }>(
          { cmd: 'change', weights: w, wait: n > 50 ? [50, n] : [n] },
          (m) => 'allMs' in m,
        );
        if (!r.ok) throw new Error(`a split change did not reach all ${n} proxies within 30 s`);
        all.push(r.allMs);
        pushed.push(r.pushedMs);
        if (n > 50 && r.ackedMs['50'] !== undefined) first50.push(r.ackedMs['50']);
        await new Promise((res) => setTimeout(res, 300));
      }
      const fig: PropagationFigure = { proxies: n, allAckedMs: all, medianMs: median(all), maxMs: Math.max(...all), renderAndWriteMs: median(pushed) };
      if (first50.length > 0) fig.first50Ms = median(first50);
      result.propagation.push(fig);
      log(`  control plane: ${n} proxies acked a split change in ${fig.medianMs.toFixed(1)} ms (median of ${changes})`);
    }
    result.kbPerProxy = (lastRss - idle.rssKb) / max;
    return result;
  } finally {
    await Promise.all([stopChild(load), stopChild(server)]);
  }
}
