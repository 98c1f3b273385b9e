// No request lost, acceptance 4: the route timeout starts once the request
// is complete, as Envoy's does. A 64 MiB upload sent at a limited rate for
// longer than the route timeout succeeds through both proxies; a server that
// never answers a complete request still gets 504 WEFT_ERR_TIMEOUT at the
// timeout; a body that stalls gets 408 WEFT_ERR_REQUEST_TIMEOUT after the
// request-body idle timeout, and the app sees the request cut short.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../../proxy/proxy.ts';
import { Closer, id, pki, startApp, startProxy, type TestApp } from '../harness/mesh-fixture.ts';

const CLIENT_ID = id('demo', 'client');
const SERVER_ID = id('demo', 'web');
const ROUTE_TIMEOUT_MS = 500;
const BODY_IDLE_MS = 800;
const MIB = 1024 * 1024;

interface Result {
  status: number;
  error: string | undefined;
  body: string;
}

/** POSTs `total` bytes through the proxy in `chunk`-byte pieces, one every `everyMs` (after `stallAfter` bytes, stops sending). */
function upload(proxyPort: number, path: string, total: number, chunk: number, everyMs: number, stallAfter = Infinity): Promise<Result> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: proxyPort, method: 'POST', path: `http://web.demo${path}`, headers: { host: 'web.demo', 'content-length': total }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, error: res.headers['weft-error'] as string | undefined, body }));
      },
    );
    req.on('error', reject);
    let sent = 0;
    const piece = Buffer.alloc(chunk, 0x61);
    const timer = setInterval(() => {
      if (sent >= stallAfter) return;
      const n = Math.min(chunk, total - sent);
      req.write(n === chunk ? piece : piece.subarray(0, n));
      sent += n;
      if (sent >= total) {
        clearInterval(timer);
        req.end();
      }
    }, everyMs);
    req.on('close', () => clearInterval(timer));
  });
}

describe('route timeout vs. uploads', () => {
  const closer = new Closer();
  let app: TestApp;
  let a: Proxy;
  const received: Record<string, { bytes: number; aborted: boolean }> = {};

  beforeAll(async () => {
    app = closer.add(
      await startApp('web', (req, res) => {
        const path = req.url ?? '';
        const seen = { bytes: 0, aborted: false };
        received[path] = seen;
        req.on('data', (d: Buffer) => (seen.bytes += d.length));
        req.on('aborted', () => (seen.aborted = true));
        req.on('end', () => {
          if (path === '/never') return; // a complete request, never answered
          res.end(`got ${seen.bytes}`);
        });
      }),
    );
    const b = closer.add(
      await startProxy({
        spiffeId: SERVER_ID,
        namespace: 'demo',
        limits: { requestBodyIdleMs: BODY_IDLE_MS },
        config: { version: 'b1', trustBundlePem: pki().trustBundlePem, inbound: { mode: 'strict', appPorts: [app.port], allowedIdentities: [CLIENT_ID] } },
      }),
    );
    a = closer.add(
      await startProxy({
        spiffeId: CLIENT_ID,
        namespace: 'demo',
        limits: { requestBodyIdleMs: BODY_IDLE_MS },
        config: {
          version: 'a1',
          trustBundlePem: pki().trustBundlePem,
          defaults: { timeoutMs: ROUTE_TIMEOUT_MS },
          services: [
            {
              name: 'web',
              namespace: 'demo',
              ports: [{ port: 80, targetPort: app.port }],
              endpoints: [{ address: '127.0.0.1', port: app.port, proxyPort: b.ports.inbound, identity: SERVER_ID, pod: 'web-0', deployment: 'web', serviceAccount: 'web' }],
            },
          ],
        },
      }),
    );
  });
  afterAll(() => closer.closeAll());

  it(`a 64 MiB upload taking several times the ${ROUTE_TIMEOUT_MS} ms route timeout succeeds`, async () => {
    const t0 = performance.now();
    // 1 MiB every 40 ms: about 2.6 s.
    const r = await upload(a.ports.outbound, '/upload', 64 * MIB, MIB, 40);
    const took = performance.now() - t0;
    expect(r).toEqual({ status: 200, error: undefined, body: `got ${64 * MIB}` });
    expect(took).toBeGreaterThan(3 * ROUTE_TIMEOUT_MS);
    expect(received['/upload']).toEqual({ bytes: 64 * MIB, aborted: false });
  });

  it('a complete request the server never answers still gets 504 at the route timeout', async () => {
    const t0 = performance.now();
    const r = await upload(a.ports.outbound, '/never', 4 * MIB, MIB, 100);
    const afterComplete = performance.now() - t0;
    expect(r.status).toBe(504);
    expect(r.error).toBe('WEFT_ERR_TIMEOUT');
    // Counted from the complete request (about 300 ms of upload), not from its head.
    expect(afterComplete).toBeGreaterThanOrEqual(300 + ROUTE_TIMEOUT_MS - 50);
    expect(received['/never']?.bytes).toBe(4 * MIB);
  });

  it(`a body that stalls for the ${BODY_IDLE_MS} ms request-body idle timeout gets 408; the app sees it cut short`, async () => {
    const r = await upload(a.ports.outbound, '/stall', 4 * MIB, MIB, 20, MIB);
    expect(r.status).toBe(408);
    expect(r.error).toBe('WEFT_ERR_REQUEST_TIMEOUT');
    await expect.poll(() => received['/stall']?.aborted).toBe(true);
    expect(received['/stall']?.bytes).toBeLessThan(4 * MIB);
  });
});
