// Control-plane side of the split-propagation bench, in its own process
// (forked with IPC by control-plane-bench.ts): the real control plane
// (control-plane.ts start(): CA, token-file validator, Config.Stream over TLS)
// fed by a mutable in-memory ClusterSource whose TrafficSplit weights the
// parent changes. It times each change from the source's onChange call until
// the connected proxies have acked a new version (polled every millisecond).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { start } from '../control-plane/control-plane.ts';
import { newBootstrapToken, writeTokenFile, createTokenFileValidator } from '../control-plane/bootstrap-token-file.ts';
import type { ClusterSource } from '../control-plane/cluster-source.ts';
import type { ClusterState, Pod } from '../control-plane/cluster-state.ts';
import { createLogger } from '../proto/log.ts';
import { rssKb } from './proc.ts';

export type ServerRequest =
  | { cmd: 'connected'; n: number }
  | { cmd: 'change'; weights: [number, number]; wait: number[] }
  | { cmd: 'rss' };

const NS = 'demo';
const dir = process.argv[2] ?? '.';
const maxProxies = Number(process.argv[3] ?? 500);

function pod(name: string, ip: string, labels: Record<string, string>, owner: string, serviceAccount: string): Pod {
  return {
    name,
    namespace: NS,
    ip,
    labels,
    annotations: {},
    serviceAccount,
    ownerWorkload: owner,
    meshed: true,
    ready: true,
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
  };
}

/** web (root) split over web-v1 and web-v2, and `clients` meshed client pods. */
function clusterState(weights: [number, number], clients: number): ClusterState {
  const svc = (name: string, selector: Record<string, string>) => ({
    name,
    namespace: NS,
    clusterIp: '',
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
    selector,
  });
  const eps = (service: string, addrs: Array<[string, string]>) => ({
    service,
    namespace: NS,
    addresses: addrs.map(([ip, podName]) => ({ ip, podName, ready: true })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  });
  const pods: Pod[] = [
    pod('web-v1-a', '127.0.1.1', { app: 'web', version: 'v1' }, 'web-v1', 'web'),
    pod('web-v1-b', '127.0.1.2', { app: 'web', version: 'v1' }, 'web-v1', 'web'),
    pod('web-v2-a', '127.0.2.1', { app: 'web', version: 'v2' }, 'web-v2', 'web'),
  ];
  for (let i = 0; i < clients; i++) {
    pods.push(pod(`client-${i}`, `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, { app: 'client' }, 'client', 'client'));
  }
  return {
    namespaces: [{ name: NS, labels: {}, annotations: { 'weft.dev/inject': 'enabled' } }],
    services: [svc('web', { app: 'web' }), svc('web-v1', { app: 'web', version: 'v1' }), svc('web-v2', { app: 'web', version: 'v2' })],
    endpoints: [
      eps('web', [['127.0.1.1', 'web-v1-a'], ['127.0.1.2', 'web-v1-b'], ['127.0.2.1', 'web-v2-a']]),
      eps('web-v1', [['127.0.1.1', 'web-v1-a'], ['127.0.1.2', 'web-v1-b']]),
      eps('web-v2', [['127.0.2.1', 'web-v2-a']]),
    ],
    pods,
    workloads: [],
    trafficSplits: [
      {
        name: 'web',
        namespace: NS,
        apiVersion: 'split.smi-spec.io/v1alpha4',
        service: 'web',
        backends: [
          { service: 'web-v1', weight: weights[0] },
          { service: 'web-v2', weight: weights[1] },
        ],
        matches: [],
        problems: [],
      },
    ],
    httpRouteGroups: [],
    trafficTargets: [],
    tcpRoutes: [],
  };
}

/** A ClusterSource whose state the bench sets. */
function mutableSource(initial: ClusterState): ClusterSource & { set(s: ClusterState): void } {
  let state = initial;
  let emit: ((s: ClusterState) => void) | undefined;
  return {
    start(onChange) {
      emit = onChange;
      onChange(state);
      return Promise.resolve();
    },
    close() {
      emit = undefined;
      return Promise.resolve();
    },
    current: () => state,
    set(s) {
      state = s;
      emit?.(s);
    },
  };
}

mkdirSync(join(dir, 'ca'), { recursive: true });
const tokenFile = join(dir, 'tokens.json');
const tokens = Array.from({ length: maxProxies }, () => newBootstrapToken());
writeTokenFile(tokenFile, tokens.map((token) => ({ token, namespace: NS, serviceAccount: 'client' })));

const source = mutableSource(clusterState([90, 10], maxProxies));
const cp = await start({
  grpc: { host: '127.0.0.1', port: 0 },
  admin: { host: '127.0.0.1', port: 0 },
  source,
  ca: { dir: join(dir, 'ca') },
  validator: createTokenFileValidator(tokenFile),
  logger: createLogger('off', 'control-plane'),
});

const send = (m: object): void => {
  process.send?.(m);
};

function waitUntil(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const timer = setInterval(() => {
      if (pred()) {
        clearInterval(timer);
        resolve(true);
      } else if (performance.now() - t0 > timeoutMs) {
        clearInterval(timer);
        resolve(false);
      }
    }, 1);
  });
}

process.on('message', (raw) => {
  const m = raw as ServerRequest;
  if (m.cmd === 'rss') {
    send({ rssKb: rssKb(process.pid), connected: cp.streams.connected });
  } else if (m.cmd === 'connected') {
    void waitUntil(() => cp.streams.connected >= m.n && cp.streams.acked().every((a) => a.version !== ''), 60_000).then((ok) =>
      send({ ok, connected: cp.streams.connected, rssKb: rssKb(process.pid) }),
    );
  } else if (m.cmd === 'change') {
    const before = new Map(cp.streams.acked().map((a) => [a.pod, a.version]));
    const n = cp.streams.connected;
    const marks = new Map<number, number>();
    const t0 = performance.now();
    source.set(clusterState(m.weights, maxProxies));
    const pushedMs = performance.now() - t0;
    void waitUntil(() => {
      const now = performance.now() - t0;
      const changed = cp.streams.acked().filter((a) => a.version !== '' && a.version !== before.get(a.pod)).length;
      for (const w of m.wait) if (changed >= w && !marks.has(w)) marks.set(w, now);
      return changed >= n;
    }, 30_000).then((ok) => {
      send({ ok, connected: n, pushedMs, ackedMs: Object.fromEntries(marks), allMs: marks.get(n) ?? (ok ? performance.now() - t0 : NaN) });
    });
  }
});
process.on('SIGTERM', () => void cp.close().then(() => process.exit(0)));
send({ ready: true, address: `127.0.0.1:${cp.ports.grpc}`, trustBundlePem: cp.trustBundlePem, serverId: cp.identity, tokens });
