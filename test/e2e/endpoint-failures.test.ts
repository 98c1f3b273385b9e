// No request lost, acceptance 2 and 3: endpoint failure handling between
// meshed proxies (client proxy A -> mTLS -> server proxies, each with its app).
//  2. One of three endpoints refuses connections (its proxy is gone), the two
//     others are slowed to 1.5 s; a fixed load of POSTs on a route that never
//     retries loses nothing: a request that got no connection is re-dispatched
//     to another endpoint (nothing of it left the proxy). The dead endpoint is
//     ejected after 5 consecutive failures (counted and logged), probed as
//     each backoff runs out, and taken back once it recovers.
//  3. An app killed behind a live proxy: its proxy answers 503
//     WEFT_ERR_APP_UNAVAILABLE, so the client proxy knows nothing reached the
//     app and retries GETs and POSTs alike on another endpoint.
import { afterAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../../proxy/proxy.ts';
import type { ProxyConfig } from '../../proto/mesh.ts';
import { Closer, closedPort, id, metricValue, pki, scrape, startApp, startProxy, viaProxy, type TestApp } from '../harness/mesh-fixture.ts';

const CLIENT_ID = id('demo', 'client');
const SERVER_ID = id('demo', 'web');


/** A server pod: an app and its proxy (strict, the client's identity allowed), the proxy's inbound on `proxyPort` (0: any). */
async function serverPod(closer: Closer, name: string, app: TestApp, proxyPort = 0): Promise<Proxy> {
  return closer.add(
    await startProxy({
      spiffeId: SERVER_ID,
      namespace: 'demo',
      inbound: { host: '127.0.0.1', port: proxyPort },
      config: { version: name, trustBundlePem: pki().trustBundlePem, inbound: { mode: 'strict', appPorts: [app.port], allowedIdentities: [CLIENT_ID] } },
    }),
  );
}

const endpoint = (pod: string, appPort: number, proxyPort: number) => ({
  address: '127.0.0.1',
  port: appPort,
  proxyPort,
  identity: SERVER_ID,
  pod,
  deployment: 'web',
  serviceAccount: 'web',
});

function clientConfig(endpoints: ReturnType<typeof endpoint>[], maxRetries: number): ProxyConfig {
  return {
    version: 'a1',
    trustBundlePem: pki().trustBundlePem,
    defaults: { timeoutMs: 10_000, retry: { maxRetries, budgetRatio: 0.2, minRetriesPerSecond: 10 } },
    services: [{ name: 'web', namespace: 'demo', endpoints }],
  } as unknown as ProxyConfig;
}

/** An app that answers every request after `delayMs` with its name and the body length it read. */
async function slowApp(name: string, delayMs: number): Promise<TestApp> {
  return startApp(name, (req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => setTimeout(() => res.end(`${name} ${n}`), delayMs));
  });
}

describe('endpoint failure handling', () => {
  const closer = new Closer();
  afterAll(() => closer.closeAll());

  it('a dead endpoint among slow ones: a fixed load of never-retried POSTs loses nothing; it is ejected, probed and taken back', async () => {
    const slow1 = closer.add(await slowApp('slow1', 1500));
    const slow2 = closer.add(await slowApp('slow2', 1500));
    const b1 = await serverPod(closer, 'b1', slow1);
    const b2 = await serverPod(closer, 'b2', slow2);
    const deadProxyPort = await closedPort();
    const revived = closer.add(await slowApp('revived', 0));
    const a = closer.add(
      await startProxy({
        spiffeId: CLIENT_ID,
        namespace: 'demo',
        // Shorter backoffs than the defaults (250 ms doubling), so that the whole cycle fits in a few seconds.
        balancer: { backoffBaseMs: 100 },
        config: clientConfig(
          [endpoint('web-1', slow1.port, b1.ports.inbound), endpoint('web-2', slow2.port, b2.ports.inbound), endpoint('web-3', revived.port, deadProxyPort)],
          0,
        ),
      }),
    );
    const deadKey = `127.0.0.1:${revived.port}`;
    const ejections = async (): Promise<number> => metricValue(await scrape(a.ports.admin), 'outbound_endpoint_ejections_total', { endpoint: deadKey });

    // One POST every 20 ms, each with a body, for the whole test.
    const results: Array<Promise<string>> = [];
    let sending = true;
    const load = (async () => {
      for (let i = 0; sending; i++) {
        const body = `post-${i}`;
        results.push(
          viaProxy(a.ports.outbound, 'http://web.demo/order', { method: 'POST', body }).then(
            (r) => (r.status === 200 && r.body.endsWith(` ${body.length}`) ? 'ok' : `${r.status} ${r.headers['weft-error'] ?? ''} ${r.body}`),
            (err: Error) => `error ${err.message}`,
          ),
        );
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    // Ejected after 5 consecutive failures (about 100 + 200 + 400 + 800 ms of backoffs).
    await expect.poll(ejections, { timeout: 5_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    expect(revived.seen).toHaveLength(0);
    // It recovers: its proxy comes back on the same port. The next probe finds it and it is taken back.
    await serverPod(closer, 'b3', revived, deadProxyPort);
    await expect.poll(() => revived.seen.length, { timeout: 6_000, interval: 100 }).toBeGreaterThan(5);
    sending = false;
    await load;
    const outcomes = await Promise.all(results);
    expect(outcomes.length).toBeGreaterThan(100);
    expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
    // Its refusals were counted and re-dispatched, not lost.
    expect(metricValue(await scrape(a.ports.admin), 'outbound_tcp_errors_total', { error: 'WEFT_ERR_UPSTREAM_CONNECT' })).toBeGreaterThanOrEqual(5);
  }, 30_000);

  it('an app killed behind a live proxy: 503 WEFT_ERR_APP_UNAVAILABLE from its proxy, and GETs and POSTs are retried elsewhere', async () => {
    const apps = [closer.add(await slowApp('w1', 0)), closer.add(await slowApp('w2', 0)), closer.add(await slowApp('w3', 0))];
    const pods = [await serverPod(closer, 'p1', apps[0]!), await serverPod(closer, 'p2', apps[1]!), await serverPod(closer, 'p3', apps[2]!)];
    const a = closer.add(
      await startProxy({
        spiffeId: CLIENT_ID,
        namespace: 'demo',
        config: clientConfig(
          apps.map((app, i) => endpoint(`web-${i}`, app.port, pods[i]!.ports.inbound)),
          2,
        ),
      }),
    );
    // Warm every endpoint, then the first app dies; its proxy lives on.
    for (let i = 0; i < 30; i++) expect((await viaProxy(a.ports.outbound, 'http://web.demo/warm')).status).toBe(200);
    await apps[0]!.close();
    const seenBefore = apps[0]!.seen.length;

    const outcomes = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        viaProxy(a.ports.outbound, `http://web.demo/r${i}`, i % 2 === 0 ? {} : { method: 'POST', body: `body-${i}` }).then((r) => `${r.status} ${r.body.split(' ')[0]}`),
      ),
    );
    expect(outcomes.filter((o) => !/^200 w[23]$/.test(o))).toEqual([]);
    expect(apps[0]!.seen.length).toBe(seenBefore);
    // The dead app's proxy said why, and was asked at least once.
    const m = await scrape(pods[0]!.ports.admin);
    expect(metricValue(m, 'response_total', { direction: 'inbound', status_code: '503', error: 'WEFT_ERR_APP_UNAVAILABLE' })).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
