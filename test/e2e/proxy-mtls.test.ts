// Acceptance 2 and 7 of the proxy issue: client -> outbound proxy A -> mTLS
// -> inbound proxy B -> app, with both proxies' metrics, and connection reuse.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../../proxy/proxy.ts';
import { Closer, id, metricValue, pki, scrape, startApp, startProxy, viaProxy, type TestApp } from '../harness/mesh-fixture.ts';

const CLIENT_ID = id('demo', 'client');
const SERVER_ID = id('demo', 'web');

describe('two proxies over mTLS', () => {
  const closer = new Closer();
  let app: TestApp;
  let a: Proxy;
  let b: Proxy;

  beforeAll(async () => {
    app = closer.add(await startApp('web'));
    b = closer.add(
      await startProxy({
        spiffeId: SERVER_ID,
        namespace: 'demo',
        config: {
          version: 'b1',
          trustBundlePem: pki().trustBundlePem,
          inbound: { mode: 'strict', appPorts: [app.port], allowedIdentities: [CLIENT_ID] },
        },
      }),
    );
    a = closer.add(
      await startProxy({
        spiffeId: CLIENT_ID,
        namespace: 'demo',
        config: {
          version: 'a1',
          trustBundlePem: pki().trustBundlePem,
          services: [
            {
              name: 'web',
              namespace: 'demo',
              ports: [{ port: 80, targetPort: app.port }],
              endpoints: [
                {
                  address: '127.0.0.1',
                  port: app.port,
                  proxyPort: b.ports.inbound,
                  identity: SERVER_ID,
                  pod: 'web-abc',
                  deployment: 'web',
                  serviceAccount: 'web',
                },
              ],
            },
          ],
        },
      }),
    );
  });
  afterAll(() => closer.closeAll());

  it('delivers the request to the app with the client identity, and both proxies count it', async () => {
    const res = await viaProxy(a.ports.outbound, 'http://web.demo.svc.cluster.local/hello?x=1', {
      headers: { 'weft-dst-port': '1', 'x-test': 'yes' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toBe('web\n');
    const got = app.seen.at(-1);
    expect(got?.url).toBe('/hello?x=1');
    expect(got?.headers['x-test']).toBe('yes');
    expect(got?.headers['weft-client-id']).toBe(CLIENT_ID);
    expect(got?.headers['weft-dst-port']).toBeUndefined();
    expect(got?.headers['x-forwarded-for']).toBe('127.0.0.1, 127.0.0.1');

    const ma = await scrape(a.ports.admin);
    const out = { direction: 'outbound', tls: 'true', server_id: SERVER_ID, dst_service: 'web', dst_namespace: 'demo', dst_pod: 'web-abc', dst_deployment: 'web', dst_serviceaccount: 'web' };
    expect(metricValue(ma, 'request_total', out)).toBe(1);
    expect(metricValue(ma, 'response_total', { ...out, status_code: '200', classification: 'success' })).toBe(1);
    expect(metricValue(ma, 'response_latency_ms_count', { ...out, status_code: '200' })).toBe(1);
    expect(ma).toContain('authority="web.demo.svc.cluster.local:80"');

    const mb = await scrape(b.ports.admin);
    const inb = { direction: 'inbound', tls: 'true', client_id: CLIENT_ID };
    expect(metricValue(mb, 'request_total', inb)).toBe(1);
    expect(metricValue(mb, 'response_total', { ...inb, status_code: '200', classification: 'success' })).toBe(1);
    expect(metricValue(mb, 'response_latency_ms_count', { ...inb, status_code: '200' })).toBe(1);
  });

  it('resolves the short name, name.namespace and transparent (origin-form) requests', async () => {
    expect((await viaProxy(a.ports.outbound, 'http://web/')).status).toBe(200);
    expect((await viaProxy(a.ports.outbound, 'http://web.demo:80/')).status).toBe(200);
    const res = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: a.ports.outbound, path: '/t', headers: { host: 'web.demo.svc' }, agent: false }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(res).toBe(200);
    expect(app.seen.at(-1)?.url).toBe('/t');
  });

  it('serves 1000 sequential requests on a handful of upstream TLS connections', async () => {
    const before = metricValue(await scrape(b.ports.admin), 'tcp_open_total', { direction: 'inbound', peer: 'src', tls: 'true' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 1000; i++) {
      const r = await viaProxy(a.ports.outbound, 'http://web.demo/seq', { agent });
      expect(r.status).toBe(200);
    }
    agent.destroy();
    const after = metricValue(await scrape(b.ports.admin), 'tcp_open_total', { direction: 'inbound', peer: 'src', tls: 'true' });
    expect(after - before).toBeLessThanOrEqual(3);
  });
});
