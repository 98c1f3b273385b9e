// Plain HTTP/2 clients through two proxies over mTLS (the HTTP/2 issue,
// acceptance 5, and the inbound scope: the app gets HTTP/2, the protocol the
// caller spoke; trailers, 1xx and RST_STREAM codes come back faithfully):
// curl --http2-prior-knowledge, node:http2, and h2load with zero errors.
import http2 from 'node:http2';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../../proxy/proxy.ts';
import { Closer, id, meshedEndpoint, metricValue, scrape, startClientProxy, startServerProxy } from '../harness/mesh-fixture.ts';
import { startH2App, type H2App } from '../harness/h2-app.ts';

const run = promisify(execFile);
const CLIENT_ID = id('demo', 'client');
const SERVER_ID = id('demo', 'web');

interface Reply {
  headers: http2.IncomingHttpHeaders;
  informational: http2.IncomingHttpHeaders[];
  body: string;
  trailers: http2.IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

/** One request; `body` 'open' sends a body that never ends. */
function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | 'open'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    const informational: http2.IncomingHttpHeaders[] = [];
    let response: http2.IncomingHttpHeaders | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    let data = '';
    req.on('headers', (h) => informational.push(h));
    req.on('response', (h) => (response = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('error', () => {});
    req.on('close', () => {
      if (response === undefined && req.rstCode === http2.constants.NGHTTP2_NO_ERROR) reject(new Error('no response'));
      else resolve({ headers: response ?? {}, informational, body: data, trailers, rstCode: req.rstCode });
    });
    if (body === 'open') req.write('start');
    else if (body !== undefined) req.end(body);
  });
}

describe('HTTP/2 clients through two proxies over mTLS', () => {
  const closer = new Closer();
  let app: H2App;
  let a: Proxy;
  let b: Proxy;
  let session: http2.ClientHttp2Session;

  beforeAll(async () => {
    app = closer.add(await startH2App('web'));
    b = closer.add(await startServerProxy({ spiffeId: SERVER_ID, appPort: app.port, allowed: [CLIENT_ID] }));
    a = closer.add(
      await startClientProxy({
        spiffeId: CLIENT_ID,
        services: [
          {
            name: 'web',
            namespace: 'demo',
            ports: [{ port: 80, targetPort: app.port }],
            routes: [{ name: 'api', matches: [{ path: { prefix: '/api' } }], backends: [{ service: 'web', weight: 1 }] }],
            endpoints: [meshedEndpoint({ proxy: b, appPort: app.port, identity: SERVER_ID, pod: 'web-1' })],
          },
        ],
      }),
    );
    session = http2.connect(`http://127.0.0.1:${a.ports.outbound}`);
    closer.add({ close: () => void session.close() });
  });
  afterAll(() => closer.closeAll());

  it('node:http2: a POST reaches the app as HTTP/2 with its body; the response, its trailers and a 103 come back', async () => {
    const before = app.versions.length;
    const r = await request(
      session,
      { ':method': 'POST', ':path': '/api/upload?x=1', ':authority': 'web.demo:80', 'x-early-hints': '1' },
      Buffer.alloc(200_000, 7),
    );
    expect(r.headers[':status']).toBe(200);
    expect(r.headers['x-app']).toBe('web');
    const seen = JSON.parse(r.body) as { method: string; path: string; authority: string; length: number; clientId: string };
    expect(seen).toEqual({ app: 'web', method: 'POST', path: '/api/upload?x=1', authority: 'web.demo:80', length: 200_000, clientId: CLIENT_ID });
    expect(r.trailers?.['x-body-length']).toBe('200000');
    expect(r.informational.map((h) => h[':status'])).toEqual([103]);
    expect(r.informational[0]?.link).toBe('</style.css>; rel=preload');
    expect(app.versions.length - before).toBe(1);
  });

  it('node:http2: an upstream RST_STREAM reaches the caller with its code', async () => {
    // The request stays open (a POST whose body never ends), so the app's reset is a reset.
    const r = await request(session, { ':method': 'POST', ':path': '/api/reset', ':authority': 'web.demo:80', 'x-reset': String(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM) }, 'open');
    expect(r.headers[':status']).toBe(200);
    expect(r.body).toBe('partial');
    expect(r.rstCode).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  });

  it("node:http2: the proxy's own errors are HTTP statuses with weft-error for a non-gRPC caller", async () => {
    const r = await request(session, { ':path': '/other', ':authority': 'web.demo:80' });
    expect(r.headers[':status']).toBe(404);
    expect(r.headers['weft-error']).toBe('WEFT_ERR_NO_ROUTE');
    expect(r.body).toContain('WEFT_ERR_NO_ROUTE');
  });

  it('a slow reader: flow control holds the app back end to end (nothing buffers without bound), then every byte arrives', async () => {
    const total = 256 * 1024 * 1024;
    const req = session.request({ ':path': '/api/big', ':authority': 'web.demo:80', 'x-stream-bytes': String(total) });
    req.pause();
    await new Promise((r) => req.once('response', r));
    await new Promise((r) => setTimeout(r, 1_500));
    // Two proxies' windows and buffers, not the 256 MiB the app has to send.
    const heldBack = app.written.bytes;
    expect(heldBack).toBeLessThan(16 * 1024 * 1024);
    let got = 0;
    req.on('data', (c: Buffer) => (got += c.length));
    req.resume();
    await new Promise((r) => req.once('close', r));
    expect(got).toBe(total);
  });

  it("the caller's reset reaches the app as a reset (CANCEL), mid-response", async () => {
    const req = session.request({ ':path': '/api/cancel', ':authority': 'web.demo:80', 'x-stream-bytes': String(64 * 1024 * 1024) });
    req.on('error', () => {});
    await new Promise((r) => req.once('data', r));
    req.close(http2.constants.NGHTTP2_CANCEL);
    const t0 = Date.now();
    while (app.written.rstCode === undefined && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 20));
    expect(app.written.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it('curl --http2-prior-knowledge works through the mesh', async () => {
    const { stdout } = await run('curl', ['-sS', '--http2-prior-knowledge', '-H', 'Host: web.demo:80', '-w', '\\n%{http_version} %{http_code}', `http://127.0.0.1:${a.ports.outbound}/api/curl`]);
    const [body, status] = stdout.split('\n');
    expect(status).toBe('2 200');
    expect(JSON.parse(body ?? '{}')).toMatchObject({ app: 'web', path: '/api/curl', method: 'GET', clientId: CLIENT_ID });
  });

  it('h2load runs through two sidecars with zero errors', async () => {
    const { stdout } = await run('h2load', ['-n', '3000', '-c', '4', '-m', '10', '-H', ':authority: web.demo:80', `http://127.0.0.1:${a.ports.outbound}/api/load`], { timeout: 60_000 });
    const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
    expect(m, stdout).not.toBeNull();
    expect(m?.slice(1).map(Number)).toEqual([3000, 3000, 3000, 3000, 0, 0]);
    expect(stdout).toMatch(/status codes: 3000 2xx/);
    const mb = await scrape(b.ports.admin);
    expect(metricValue(mb, 'response_total', { direction: 'inbound', client_id: CLIENT_ID, status_code: '200' })).toBeGreaterThanOrEqual(3000);
  });
});
