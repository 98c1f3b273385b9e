// The inbound side authenticates its clients (issue: "Inbound mTLS
// authenticates nobody"). A raw TLS client sends a request to a server
// proxy's inbound port with each certificate of the bad-SVID table, every one
// claiming the identity the proxy would let in: each is refused, counted in
// inbound_tcp_errors_total with its identity code, and the app sees nothing;
// a valid mesh leaf passes. In strict and permissive mode alike. Then trust
// bundle rotation: a client whose anchor was removed is refused on new
// connections, resumed TLS sessions included.
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../../identity/test-pki.ts';
import type { Proxy } from '../../proxy/proxy.ts';
import { badSvids, type Credential } from '../harness/bad-svids.ts';
import { Closer, id, metricValue, pki, scrape, startApp, startProxy, type TestApp } from '../harness/mesh-fixture.ts';

const CLIENT_ID = id('demo', 'client');
const SERVER_ID = id('demo', 'web');

interface RawOutcome {
  /** HTTP status of the response, undefined when the connection ended without one. */
  status: number | undefined;
  /** What the app saw as the client identity (echoed by the test app). */
  clientId: string | undefined;
  session: Buffer | undefined;
  reused: boolean;
}

/** One HTTP/1.1 request over TLS to `port`, presenting `cred` (or no certificate). */
function rawTlsRequest(port: number, cred: Credential | undefined, trustBundlePem: string[], session?: Buffer): Promise<RawOutcome> {
  return new Promise((resolve) => {
    let session_: Buffer | undefined;
    let data = '';
    let reused = false;
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca: trustBundlePem,
      ...(cred !== undefined ? { cert: cred.certChainPem, key: cred.keyPem } : {}),
      // This test is about the server's check of the client; the client accepts the server.
      checkServerIdentity: () => undefined,
      ...(session !== undefined ? { session } : {}),
    });
    socket.setEncoding('utf8');
    socket.on('session', (s: Buffer) => (session_ = s));
    socket.on('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.write('GET / HTTP/1.1\r\nHost: web.demo\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (d: string) => (data += d));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(data)?.[1];
      const clientId = /^x-client-id: (.*)$/im.exec(data)?.[1]?.trim();
      resolve({ status: status === undefined ? undefined : Number(status), clientId, session: session_, reused });
    });
  });
}

async function startEchoApp(): Promise<TestApp> {
  return startApp('web', (req, res) => {
    req.resume();
    const body = 'web\n';
    res.writeHead(200, { 'content-length': body.length, 'x-client-id': String(req.headers['weft-client-id'] ?? '') });
    res.end(body);
  });
}

for (const mode of ['strict', 'permissive'] as const) {
  describe(`inbound mTLS in ${mode} mode refuses every client certificate that is not a valid mesh SVID`, () => {
    const closer = new Closer();
    let app: TestApp;
    let server: Proxy;
    const bundle = (): string[] => pki().trustBundlePem;

    beforeAll(async () => {
      app = closer.add(await startEchoApp());
      server = closer.add(
        await startProxy({
          spiffeId: SERVER_ID,
          config: { version: mode, trustBundlePem: bundle(), inbound: { mode, appPorts: [app.port], allowedIdentities: [CLIENT_ID] } },
        }),
      );
    });
    afterAll(() => closer.closeAll());

    it('lets a valid mesh leaf in, with its identity (control)', async () => {
      const leaf = pki().issueLeaf({ spiffeId: CLIENT_ID });
      const r = await rawTlsRequest(server.ports.inbound, { certChainPem: leaf.chainPem.join(''), keyPem: leaf.keyPem }, bundle());
      expect(r.status).toBe(200);
      expect(r.clientId).toBe(CLIENT_ID);
    });

    it('refuses a TLS client without a certificate (WEFT_ERR_SVID_MISSING)', async () => {
      const seen = app.seen.length;
      const before = metricValue(await scrape(server.ports.admin), 'inbound_tcp_errors_total', { error: 'WEFT_ERR_SVID_MISSING' });
      const r = await rawTlsRequest(server.ports.inbound, undefined, bundle());
      expect(r.status).toBeUndefined();
      expect(app.seen.length).toBe(seen);
      const after = metricValue(await scrape(server.ports.admin), 'inbound_tcp_errors_total', { error: 'WEFT_ERR_SVID_MISSING' });
      expect(after - before).toBe(1);
    });

    for (const bad of badSvids(pki(), CLIENT_ID, 'client')) {
      it(`refuses ${bad.name} (${bad.code}); the app sees nothing`, async () => {
        const seen = app.seen.length;
        const before = metricValue(await scrape(server.ports.admin), 'inbound_tcp_errors_total', { error: bad.code });
        const r = await rawTlsRequest(server.ports.inbound, bad.make(), bundle());
        expect(r.status).toBeUndefined();
        expect(app.seen.length).toBe(seen);
        const after = metricValue(await scrape(server.ports.admin), 'inbound_tcp_errors_total', { error: bad.code });
        expect(after - before).toBe(1);
      });
    }
  });
}

describe('inbound mTLS after a trust bundle rotation', () => {
  const closer = new Closer();
  let app: TestApp;
  let server: Proxy;
  let next: TestPki;

  beforeAll(async () => {
    next = createTestPki();
    app = closer.add(await startEchoApp());
    server = closer.add(
      await startProxy({
        spiffeId: SERVER_ID,
        config: {
          version: 'both',
          trustBundlePem: [...pki().trustBundlePem, ...next.trustBundlePem],
          inbound: { mode: 'strict', appPorts: [app.port], allowedIdentities: [] },
        },
      }),
    );
  });
  afterAll(() => closer.closeAll());

  it('refuses a client whose anchor left the bundle, on fresh and resumed sessions alike', async () => {
    const leaf = pki().issueLeaf({ spiffeId: CLIENT_ID });
    const cred = { certChainPem: leaf.chainPem.join(''), keyPem: leaf.keyPem };
    const first = await rawTlsRequest(server.ports.inbound, cred, pki().trustBundlePem);
    expect(first.status).toBe(200);
    expect(first.session).toBeDefined();
    // Resumption works while the anchor is in the bundle, so the check below exercises it.
    const resumed = await rawTlsRequest(server.ports.inbound, cred, pki().trustBundlePem, first.session);
    expect(resumed.status).toBe(200);
    expect(resumed.reused).toBe(true);

    const applied = server.applyConfig({
      version: 'next-only',
      trustBundlePem: next.trustBundlePem,
      inbound: { mode: 'strict', appPorts: [app.port], allowedIdentities: [] },
    });
    expect(applied.ok).toBe(true);
    const seen = app.seen.length;
    const before = metricValue(await scrape(server.ports.admin), 'inbound_tcp_errors_total', { error: 'WEFT_ERR_SVID_UNTRUSTED' });
    expect((await rawTlsRequest(server.ports.inbound, cred, pki().trustBundlePem, resumed.session ?? first.session)).status).toBeUndefined();
    expect((await rawTlsRequest(server.ports.inbound, cred, pki().trustBundlePem)).status).toBeUndefined();
    expect(app.seen.length).toBe(seen);
    const after = metricValue(await scrape(server.ports.admin), 'inbound_tcp_errors_total', { error: 'WEFT_ERR_SVID_UNTRUSTED' });
    expect(after - before).toBe(2);

    // A client of the new anchor gets in.
    const fresh = next.issueLeaf({ spiffeId: CLIENT_ID });
    const ok = await rawTlsRequest(server.ports.inbound, { certChainPem: fresh.chainPem.join(''), keyPem: fresh.keyPem }, pki().trustBundlePem);
    expect(ok.status).toBe(200);
    expect(ok.clientId).toBe(CLIENT_ID);
  });
});
