// Acceptance 3 and 6 of the proxy issue: weighted splits, path/method/header
// routes, timeouts (504), no endpoints (503), no route (404), and retries:
// GET is retried on a refused connection and on a 503, POST never.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_HEADER } from '../../proto/errors.ts';
import type { Proxy } from '../../proxy/proxy.ts';
import { Closer, closedPort, startApp, startProxy, viaProxy, type TestApp } from '../harness/mesh-fixture.ts';

/** A plaintext (unmeshed) endpoint on a test app. */
const ep = (app: { port: number }) => ({ address: '127.0.0.1', port: app.port });


describe('weighted split', () => {
  const closer = new Closer();
  let v1: TestApp;
  let v2: TestApp;
  let v3: TestApp;
  let proxy: Proxy;

  beforeAll(async () => {
    v1 = closer.add(await startApp('v1'));
    v2 = closer.add(await startApp('v2'));
    v3 = closer.add(await startApp('v3'));
    proxy = closer.add(
      await startProxy({
        namespace: 'demo',
        config: {
          version: 's1',
          services: [
            {
              name: 'web',
              namespace: 'demo',
              routes: [
                {
                  name: 'split',
                  backends: [
                    { service: 'web-v1', weight: 90 },
                    { service: 'web-v2', weight: 10 },
                    { service: 'web-v3', weight: 0 },
                  ],
                },
              ],
            },
            { name: 'web-v1', namespace: 'demo', endpoints: [ep(v1)] },
            { name: 'web-v2', namespace: 'demo', endpoints: [ep(v2)] },
            { name: 'web-v3', namespace: 'demo', endpoints: [ep(v3)] },
          ],
        },
      }),
    );
  });
  afterAll(() => closer.closeAll());

  it('sends 2000 requests 90/10 within 3 points, none to the weight-0 backend', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const counts = new Map<string, number>();
    const batch = 50;
    for (let i = 0; i < 2000; i += batch) {
      const results = await Promise.all(
        Array.from({ length: batch }, () => viaProxy(proxy.ports.outbound, 'http://web.demo/', { agent })),
      );
      for (const r of results) {
        expect(r.status).toBe(200);
        counts.set(r.body.trim(), (counts.get(r.body.trim()) ?? 0) + 1);
      }
    }
    agent.destroy();
    const share1 = (counts.get('v1') ?? 0) / 2000;
    expect(share1).toBeGreaterThanOrEqual(0.87);
    expect(share1).toBeLessThanOrEqual(0.93);
    expect((counts.get('v1') ?? 0) + (counts.get('v2') ?? 0)).toBe(2000);
    expect(counts.get('v3') ?? 0).toBe(0);
    expect(v3.seen).toHaveLength(0);
  });
});

describe('routes, timeouts, missing endpoints', () => {
  const closer = new Closer();
  let proxy: Proxy;
  let hang: TestApp;

  beforeAll(async () => {
    const v1 = closer.add(await startApp('api-v1'));
    const v2 = closer.add(await startApp('api-v2'));
    const admin = closer.add(await startApp('admin'));
    const canary = closer.add(await startApp('canary'));
    hang = closer.add(await startApp('hang', () => undefined)); // never answers
    proxy = closer.add(
      await startProxy({
        namespace: 'demo',
        config: {
          version: 'r1',
          services: [
            {
              name: 'api',
              namespace: 'demo',
              routes: [
                { name: 'v2', matches: [{ path: { prefix: '/v2' } }], backends: [{ service: 'api-v2', weight: 1 }] },
                { name: 'delete', matches: [{ methods: ['DELETE'] }], backends: [{ service: 'admin', weight: 1 }] },
                {
                  name: 'canary',
                  matches: [{ headers: [{ name: 'X-Canary', exact: 'always' }] }],
                  backends: [{ service: 'canary', weight: 1 }],
                },
                { name: 'exact', matches: [{ path: { exact: '/only' } }], backends: [{ service: 'api-v1', weight: 1 }] },
                { name: 'regex', matches: [{ path: { regex: '/items/[0-9]+' } }], backends: [{ service: 'api-v1', weight: 1 }] },
              ],
            },
            { name: 'api-v1', namespace: 'demo', endpoints: [ep(v1)] },
            { name: 'api-v2', namespace: 'demo', endpoints: [ep(v2)] },
            { name: 'admin', namespace: 'demo', endpoints: [ep(admin)] },
            { name: 'canary', namespace: 'demo', endpoints: [ep(canary)] },
            {
              name: 'slow',
              namespace: 'demo',
              routes: [{ name: 'all', timeoutMs: 300, retry: { maxRetries: 0 } }],
              endpoints: [ep(hang)],
            },
            { name: 'empty', namespace: 'demo', endpoints: [] },
          ],
        },
      }),
    );
  });
  afterAll(() => closer.closeAll());

  it('routes by path prefix, method, header, exact path and regex', async () => {
    const o = proxy.ports.outbound;
    expect((await viaProxy(o, 'http://api.demo/v2/users')).headers['x-app']).toBe('api-v2');
    expect((await viaProxy(o, 'http://api.demo/users', { method: 'DELETE' })).headers['x-app']).toBe('admin');
    expect((await viaProxy(o, 'http://api.demo/users', { headers: { 'x-canary': 'always' } })).headers['x-app']).toBe('canary');
    expect((await viaProxy(o, 'http://api.demo/only?q=1')).headers['x-app']).toBe('api-v1');
    expect((await viaProxy(o, 'http://api.demo/items/42')).headers['x-app']).toBe('api-v1');
  });

  it('answers 404 WEFT_ERR_NO_ROUTE when no route matches', async () => {
    for (const path of ['/v2x', '/only/more', '/items/abc', '/']) {
      const r = await viaProxy(proxy.ports.outbound, `http://api.demo${path}`);
      expect(r.status).toBe(404);
      expect(r.headers[ERROR_HEADER]).toBe('WEFT_ERR_NO_ROUTE');
    }
  });

  it('answers 504 WEFT_ERR_TIMEOUT when the response does not come in time', async () => {
    const r = await viaProxy(proxy.ports.outbound, 'http://slow.demo/');
    expect(r.status).toBe(504);
    expect(r.headers[ERROR_HEADER]).toBe('WEFT_ERR_TIMEOUT');
    expect(hang.seen).toHaveLength(1);
  });

  it('answers 503 WEFT_ERR_NO_ENDPOINTS for a service without endpoints', async () => {
    const r = await viaProxy(proxy.ports.outbound, 'http://empty.demo/');
    expect(r.status).toBe(503);
    expect(r.headers[ERROR_HEADER]).toBe('WEFT_ERR_NO_ENDPOINTS');
  });
});

describe('retries', () => {
  const closer = new Closer();
  afterAll(() => closer.closeAll());

  // random = 0 makes the balancer's first pick the first endpoint: the dead one.
  async function deadThenLive(app: TestApp): Promise<Proxy> {
    const dead = await closedPort();
    return closer.add(
      await startProxy({
        random: () => 0,
        config: {
          version: 'x',
          services: [{ name: 'svc', namespace: 'default', endpoints: [{ address: '127.0.0.1', port: dead }, ep(app)] }],
        },
      }),
    );
  }

  it('retries a GET whose connection is refused, on another endpoint', async () => {
    const app = closer.add(await startApp('live'));
    const proxy = await deadThenLive(app);
    const r = await viaProxy(proxy.ports.outbound, 'http://svc/');
    expect(r.status).toBe(200);
    expect(r.headers['x-app']).toBe('live');
  });

  it('retries a POST whose connection was refused (nothing reached the app), its body sent again', async () => {
    const bodies: string[] = [];
    const app = closer.add(
      await startApp('live', (req, res) => {
        let b = '';
        req.on('data', (d: Buffer) => (b += d.toString()));
        req.on('end', () => {
          bodies.push(b);
          res.end('ok');
        });
      }),
    );
    const proxy = await deadThenLive(app);
    const r = await viaProxy(proxy.ports.outbound, 'http://svc/', { method: 'POST', body: 'the body' });
    expect(r.status).toBe(200);
    expect(bodies).toEqual(['the body']);
  });

  it('retries a GET answered 503, and never a POST', async () => {
    let calls = 0;
    const app = closer.add(
      await startApp('flaky', (req, res) => {
        req.resume();
        calls++;
        res.writeHead(calls % 2 === 1 ? 503 : 200, { 'content-length': 0 });
        res.end();
      }),
    );
    const proxy = closer.add(
      await startProxy({ config: { version: 'x', services: [{ name: 'flaky', namespace: 'default', endpoints: [ep(app)] }] } }),
    );
    const get = await viaProxy(proxy.ports.outbound, 'http://flaky/');
    expect(get.status).toBe(200);
    expect(app.seen.map((r) => r.method)).toEqual(['GET', 'GET']);
    const post = await viaProxy(proxy.ports.outbound, 'http://flaky/', { method: 'POST', body: 'x' });
    expect(post.status).toBe(503);
    expect(app.seen.map((r) => r.method)).toEqual(['GET', 'GET', 'POST']);
  });
});
