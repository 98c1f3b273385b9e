// Reads the proxies' /metrics (and, for `weft authz`, their /config) for
// `weft stat`, `weft authz` and the live table of `weft up`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PORTS } from '../proto/mesh.ts';
import type { Pod } from '../control-plane/cluster-state.ts';
import type { InboundPolicy } from '../proto/mesh.ts';
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

/** Each reachable proxy's samples and inbound policy, by pod address. */
export async function scrapeAuthz(pods: readonly Pod[]): Promise<{ inbound: Map<string, InboundPolicy>; samples: Map<string, Sample[]> }> {
  const inbound = new Map<string, InboundPolicy>();
  const samples = new Map<string, Sample[]>();
  await Promise.all(
    pods
      .filter((p) => p.meshed && p.ip !== '')
      .map(async (p) => {
        try {
          const base = `http://${p.ip}:${PORTS.proxyAdmin}`;
          const [config, metrics] = await Promise.all([
            fetch(`${base}/config`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.json() as Promise<{ config?: { inbound?: InboundPolicy } }>),
            fetch(`${base}/metrics`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.text()),
          ]);
          if (config.config?.inbound !== undefined) inbound.set(p.ip, config.config.inbound);
          samples.set(p.ip, parsePrometheusText(metrics));
        } catch {
          // an unreachable proxy contributes nothing
        }
      }),
  );
  return { inbound, samples };
}
