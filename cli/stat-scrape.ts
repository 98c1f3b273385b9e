// Reads the proxies' /metrics for `weft stat` and the live table of `weft up`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PORTS } from '../proto/mesh.ts';
import type { Pod } from '../control-plane/cluster-state.ts';
import { parsePrometheusText, type Sample } from './prometheus-text.ts';

/** The pods of a running local mesh, from its state folder. */
export function runningPods(stateDir: string): Pod[] {
  const parsed = JSON.parse(readFileSync(join(stateDir, 'pods.json'), 'utf8')) as { pods: Pod[] };
  return parsed.pods;
}

/** All samples of all reachable proxies (an unreachable one contributes nothing). */
export async function scrapeProxies(pods: readonly Pod[]): Promise<Sample[]> {
  const all = await Promise.all(
    pods
      .filter((p) => p.meshed && p.ip !== '')
      .map(async (p) => {
        try {
          const res = await fetch(`http://${p.ip}:${PORTS.proxyAdmin}/metrics`, { signal: AbortSignal.timeout(1_000) });
          return parsePrometheusText(await res.text());
        } catch {
          return [];
        }
      }),
  );
  return all.flat();
}
