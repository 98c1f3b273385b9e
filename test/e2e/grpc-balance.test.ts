// gRPC calls balanced, split, routed and retried per call, not per
// connection (the HTTP/2 issue, acceptance 2, 3 and 4): one client channel
// (one HTTP/2 connection to its proxy) reaches every replica; a weighted
// split and a header or method route apply to each call; a replica
// answering UNAVAILABLE is retried around; a passed deadline is
// DEADLINE_EXCEEDED from the proxy, as a gRPC status.
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../../proxy/proxy.ts';
import { Closer, id, meshedEndpoint, metricValue, scrape, startClientProxy, startServerProxy } from '../harness/mesh-fixture.ts';
import { echoClient, grpc, say, startEchoServer, type EchoClient, type EchoServer, type Msg } from '../harness/grpc-echo.ts';

const CLIENT_ID = id('demo', 'client');
const SERVER_ID = id('demo', 'echo');

interface Replica {
  host: string;
  server: EchoServer;
  proxy: Proxy;
}

/** Runs `total` unary calls, `concurrency` at a time, on one client; returns the replies' server names (or the error codes). */
async function calls(client: EchoClient, total: number, concurrency: number, md?: () => grpc.Metadata): Promise<string[]> {
  const out: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      next++;
      const { res, err } = await say(client, 'x', { deadline: Date.now() + 10_000 }, md?.());
      out.push(err !== undefined ? `error:${err.code}` : (res?.text.split(':')[0] ?? 'none'));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

function share(names: string[], pred: (n: string) => boolean): number {
  return (100 * names.filter(pred).length) / names.length;
}

describe('gRPC per-call balancing, splits, routes, retries and deadlines', () => {
  const closer = new Closer();
  const replicas = new Map<string, Replica>();
  let a: Proxy;
  let client: EchoClient;
  let splitClient: EchoClient;

  // Replicas of a Service share its target port: each on its own loopback address, as pods on their own IPs.
  let appPort = 0;
  async function replica(name: string): Promise<Replica> {
    const host = `127.0.0.${10 + replicas.size}`;
    const server = closer.add(await startEchoServer(name, host, appPort));
    appPort = server.port;
    const proxy = closer.add(await startServerProxy({ spiffeId: SERVER_ID, appPort: server.port, host, version: name }));
    const r = { server, proxy, host };
    replicas.set(name, r);
    return r;
  }
  const endpoint = (r: Replica): object => meshedEndpoint({ proxy: r.proxy, appPort: r.server.port, identity: SERVER_ID, pod: r.server.name, host: r.host });

  beforeAll(async () => {
    for (const name of ['echo-1', 'echo-2', 'echo-3', 'canary-1', 'counter-1', 'flaky-1', 'flaky-2', 'flaky-3', 'slow-1']) await replica(name);
    const r = (n: string): Replica => replicas.get(n) as Replica;
    const svc = (name: string, eps: Replica[], routes: unknown[] = []) => ({
      name,
      namespace: 'demo',
      ports: [{ port: 80, targetPort: appPort }],
      routes,
      endpoints: eps.map(endpoint),
    });
    a = closer.add(
      await startClientProxy({
        spiffeId: CLIENT_ID,
        defaults: { timeoutMs: 10_000, connectTimeoutMs: 1_000, retry: { maxRetries: 2, budgetRatio: 0.5, minRetriesPerSecond: 100 } },
        services: [
          svc('echo', [r('echo-1'), r('echo-2'), r('echo-3')]),
          svc('echo-canary', [r('canary-1')]),
          svc('echo-counter', [r('counter-1')]),
          svc('echo-split', [], [
            { name: 'canary-header', matches: [{ headers: [{ name: 'x-canary', exact: '1' }] }], backends: [{ service: 'echo-canary', weight: 1 }] },
            { name: 'count-method', matches: [{ path: { exact: '/echo.Echo/Count' } }], backends: [{ service: 'echo-counter', weight: 1 }] },
            { name: 'split', matches: [], backends: [{ service: 'echo', weight: 80 }, { service: 'echo-canary', weight: 20 }] },
          ]),
          svc('flaky', [r('flaky-1'), r('flaky-2'), r('flaky-3')]),
          svc('slow', [r('slow-1')]),
        ],
      }),
    );
    client = closer.add(echoClient(`127.0.0.1:${a.ports.outbound}`, 'echo.demo.svc.cluster.local:80'));
    splitClient = closer.add(echoClient(`127.0.0.1:${a.ports.outbound}`, 'echo-split.demo:80'));
  });
  afterAll(() => closer.closeAll());

  it('one client connection, three replicas: 3000 unary calls land 33% +-5 points on each', async () => {
    // Connections up and code warm first: the measure is of steady balancing.
    await calls(client, 300, 16);
    const names = await calls(client, 3000, 16);
    if (process.env.WEFT_DEBUG_BALANCE) console.log(['echo-1', 'echo-2', 'echo-3'].map((n) => share(names, (x) => x === n).toFixed(1)).join(' '));
    expect(names.filter((n) => n.startsWith('error'))).toEqual([]);
    for (const n of ["echo-1", "echo-2", "echo-3"]) {
      const pct = share(names, (x) => x === n);
      expect(pct, `${n} got ${pct.toFixed(1)}%`).toBeGreaterThanOrEqual(33.3 - 5);
      expect(pct, `${n} got ${pct.toFixed(1)}%`).toBeLessThanOrEqual(33.3 + 5);
    }
    // All of it on one connection from the client to its proxy.
    const m = await scrape(a.ports.admin);
    expect(metricValue(m, 'tcp_open_total', { direction: 'outbound', peer: 'src', protocol: 'h2' })).toBe(1);
  });

  it('a TrafficSplit 80/20 splits 3000 calls 80/20 +-3 points', async () => {
    const names = await calls(splitClient, 3000, 16);
    expect(names.filter((n) => n.startsWith('error'))).toEqual([]);
    const canary = share(names, (x) => x === 'canary-1');
    expect(canary, `canary got ${canary.toFixed(1)}%`).toBeGreaterThanOrEqual(17);
    expect(canary, `canary got ${canary.toFixed(1)}%`).toBeLessThanOrEqual(23);
    expect(share(names, (x) => x.startsWith('echo-')) + canary).toBe(100);
  });

  it('a header route and a method route send calls elsewhere', async () => {
    const md = (): grpc.Metadata => {
      const m = new grpc.Metadata();
      m.set('x-canary', '1');
      return m;
    };
    const names = await calls(splitClient, 50, 5, md);
    expect(new Set(names)).toEqual(new Set(['canary-1']));
    const stream = splitClient.Count({ n: 3 });
    const got: Msg[] = [];
    stream.on('data', (m: Msg) => got.push(m));
    await new Promise((resolve) => stream.on('status', resolve));
    expect(got.map((m) => m.text)).toEqual(['counter-1', 'counter-1', 'counter-1']);
  });

  it('a replica answering UNAVAILABLE: retryable calls succeed on another', async () => {
    const flaky = replicas.get('flaky-2') as Replica;
    flaky.server.failWith = grpc.status.UNAVAILABLE;
    const flakyClient = closer.add(echoClient(`127.0.0.1:${a.ports.outbound}`, 'flaky.demo:80'));
    const names = await calls(flakyClient, 300, 4);
    expect(names.filter((n) => n.startsWith('error'))).toEqual([]);
    expect(names.filter((n) => n === 'flaky-2')).toEqual([]);
    // It was tried (and failed), so the calls that went there were retried.
    expect(flaky.server.calls.get('Say') ?? 0).toBeGreaterThan(0);
    const m = await scrape(a.ports.admin);
    expect(metricValue(m, 'response_total', { direction: 'outbound', dst_service: 'flaky', grpc_status: '0', classification: 'success' })).toBe(300);
  });

  it('a NOT_FOUND (not configured as retryable) is not retried', async () => {
    const flaky = replicas.get('flaky-1') as Replica;
    const before = [1, 2, 3].map((i) => replicas.get(`flaky-${i}`)?.server.calls.get('Say') ?? 0);
    for (const i of [1, 2, 3]) (replicas.get(`flaky-${i}`) as Replica).server.failWith = grpc.status.NOT_FOUND;
    const flakyClient = closer.add(echoClient(`127.0.0.1:${a.ports.outbound}`, 'flaky.demo:80'));
    const { err } = await say(flakyClient, 'x');
    for (const i of [1, 2, 3]) (replicas.get(`flaky-${i}`) as Replica).server.failWith = undefined;
    expect(err?.code).toBe(grpc.status.NOT_FOUND);
    const after = [1, 2, 3].map((i) => replicas.get(`flaky-${i}`)?.server.calls.get('Say') ?? 0);
    expect(after.reduce((x, y) => x + y) - before.reduce((x, y) => x + y)).toBe(1);
    expect(flaky).toBeDefined();
  });

  it('a call whose deadline passes gets DEADLINE_EXCEEDED from the proxy, as a gRPC status', async () => {
    (replicas.get('slow-1') as Replica).server.delayMs = 3_000;
    // A raw HTTP/2 client: no deadline timer of its own, so the answer can only be the proxy's.
    const session = http2.connect(`http://127.0.0.1:${a.ports.outbound}`);
    try {
      const t0 = performance.now();
      const req = session.request({
        ':method': 'POST',
        ':path': '/echo.Echo/Say',
        ':authority': 'slow.demo:80',
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': '300m',
      });
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => req.on('response', resolve));
      const elapsed = performance.now() - t0;
      expect(headers[':status']).toBe(200);
      expect(headers['grpc-status']).toBe('4');
      expect(headers['weft-error']).toBe('WEFT_ERR_TIMEOUT');
      expect(headers['content-type']).toBe('application/grpc');
      expect(elapsed).toBeLessThan(2_000);
      // And a grpc-js client sees DEADLINE_EXCEEDED.
      const slowClient = closer.add(echoClient(`127.0.0.1:${a.ports.outbound}`, 'slow.demo:80'));
      const { err } = await say(slowClient, 'x', { deadline: Date.now() + 300 });
      expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    } finally {
      session.close();
    }
    const m = await scrape(a.ports.admin);
    expect(metricValue(m, 'response_total', { direction: 'outbound', dst_service: 'slow', grpc_status: '4', error: 'WEFT_ERR_TIMEOUT', classification: 'failure' })).toBeGreaterThanOrEqual(1);
  });
});
