// Acceptance 4 and 5 of the proxy issue. Outbound: a peer that does not
// present exactly the expected SPIFFE ID (wrong ID, and every row of the
// bad-SVID table: foreign CA, self-signed, expired, not yet valid, two URI
// SANs, DNS SAN only, CA, other trust domain, key usages) fails with 502
// WEFT_ERR_IDENTITY_MISMATCH and nothing reaches the app. Inbound: strict refuses plaintext; permissive
// accepts it, labelled tls="false"; disallowed identities get 403.
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_HEADER } from '../../proto/errors.ts';
import { createTestPki } from '../../identity/test-pki.ts';
import { badSvids, type Credential } from '../harness/bad-svids.ts';
import type { Proxy } from '../../proxy/proxy.ts';
import { Closer, id, metricValue, pki, scrape, startApp, startProxy, viaProxy, type TestApp } from '../harness/mesh-fixture.ts';

const CLIENT_ID = id('demo', 'client');
const SERVER_ID = id('demo', 'web');

function inboundConfig(app: TestApp, mode: 'strict' | 'permissive', allowed: string[] = []) {
  return {
    version: `in-${mode}`,
    trustBundlePem: pki().trustBundlePem,
    inbound: { mode, appPorts: [app.port], allowedIdentities: allowed },
  };
}

function outboundConfig(app: TestApp, server: Proxy, expected = SERVER_ID) {
  return {
    version: 'out',
    trustBundlePem: pki().trustBundlePem,
    services: [
      {
        name: 'web',
        namespace: 'demo',
        routes: [{ name: 'all', retry: { maxRetries: 0 } }],
        endpoints: [{ address: '127.0.0.1', port: app.port, proxyPort: server.ports.inbound, identity: expected }],
      },
    ],
  };
}

describe('outbound verifies the peer identity', () => {
  const closer = new Closer();
  let app: TestApp;
  let server: Proxy;
  let client: Proxy;

  beforeAll(async () => {
    app = closer.add(await startApp('web'));
    server = closer.add(await startProxy({ spiffeId: SERVER_ID, config: inboundConfig(app, 'strict') }));
    client = closer.add(await startProxy({ spiffeId: CLIENT_ID, config: outboundConfig(app, server) }));
  });
  afterAll(() => closer.closeAll());

  async function expectMismatch(): Promise<void> {
    const before = app.seen.length;
    const r = await viaProxy(client.ports.outbound, 'http://web.demo/');
    expect(r.status).toBe(502);
    expect(r.headers[ERROR_HEADER]).toBe('WEFT_ERR_IDENTITY_MISMATCH');
    expect(app.seen.length).toBe(before);
  }

  /** Gives the server proxy a new leaf and a fresh client (no pooled connection verified earlier). */
  async function serverPresents(cred: Credential): Promise<void> {
    server.setIdentity(cred);
    await client.close();
    client = closer.add(await startProxy({ spiffeId: CLIENT_ID, config: outboundConfig(app, server) }));
  }

  it('accepts the expected identity (control)', async () => {
    expect((await viaProxy(client.ports.outbound, 'http://web.demo/')).status).toBe(200);
  });

  it('refuses a peer with another SPIFFE ID', async () => {
    const impostor = pki().issueLeaf({ spiffeId: id('demo', 'impostor') });
    await serverPresents({ certChainPem: impostor.chainPem.join(''), keyPem: impostor.keyPem });
    await expectMismatch();
  });

  it('refuses a peer with a foreign certificate for a WebSocket upgrade too (the node:https agent path)', async () => {
    const foreign = createTestPki().issueLeaf({ spiffeId: SERVER_ID });
    await serverPresents({ certChainPem: foreign.chainPem.join(''), keyPem: foreign.keyPem });
    const before = app.seen.length;
    const head = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(client.ports.outbound, '127.0.0.1', () => {
        socket.write(
          'GET http://web.demo/ws HTTP/1.1\r\nHost: web.demo\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
      });
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (data += d));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(head).toMatch(/^HTTP\/1\.1 502 /);
    expect(head.toLowerCase()).toContain(`${ERROR_HEADER}: weft_err_identity_mismatch`);
    expect(app.seen.length).toBe(before);
  });

  // The same table of bad SVIDs as the inbound side (inbound-mtls-auth.test.ts), for a server.
  for (const bad of badSvids(pki(), SERVER_ID, 'server')) {
    it(`refuses ${bad.name} (${bad.code})`, async () => {
      await serverPresents(bad.make());
      await expectMismatch();
      // The specific reason is counted, as on the inbound side.
      expect(metricValue(await scrape(client.ports.admin), 'outbound_tcp_errors_total', { error: bad.code })).toBeGreaterThanOrEqual(1);
    });
  }
});

describe('inbound policy', () => {
  const closer = new Closer();
  afterAll(() => closer.closeAll());

  function plain(port: number): Promise<{ status: number; code: string | undefined }> {
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent: false }, (r) => {
          r.resume();
          resolve({ status: r.statusCode ?? 0, code: r.headers[ERROR_HEADER] as string | undefined });
        })
        .on('error', reject);
    });
  }

  it('strict mode refuses a plaintext client; nothing reaches the app', async () => {
    const app = closer.add(await startApp('web'));
    const server = closer.add(await startProxy({ spiffeId: SERVER_ID, config: inboundConfig(app, 'strict') }));
    const r = await plain(server.ports.inbound);
    expect(r.status).toBe(403);
    expect(r.code).toBe('WEFT_ERR_TLS_REQUIRED');
    expect(app.seen).toHaveLength(0);
  });

  it('permissive mode accepts a plaintext client and labels it tls="false"', async () => {
    const app = closer.add(await startApp('web'));
    const server = closer.add(await startProxy({ spiffeId: SERVER_ID, config: inboundConfig(app, 'permissive') }));
    const r = await plain(server.ports.inbound);
    expect(r.status).toBe(200);
    expect(app.seen).toHaveLength(1);
    expect(app.seen[0]?.headers['weft-client-id']).toBeUndefined();
    const m = await scrape(server.ports.admin);
    expect(metricValue(m, 'request_total', { direction: 'inbound', tls: 'false' })).toBe(1);
    expect(metricValue(m, 'response_total', { direction: 'inbound', tls: 'false', status_code: '200' })).toBe(1);
    expect(metricValue(m, 'tcp_open_total', { direction: 'inbound', peer: 'src', tls: 'false' })).toBe(1);
  });

  it('an mTLS client whose identity is not allowed gets 403 WEFT_ERR_DENIED', async () => {
    const app = closer.add(await startApp('web'));
    const server = closer.add(
      await startProxy({ spiffeId: SERVER_ID, config: inboundConfig(app, 'strict', ['spiffe://cluster.local/ns/other/*']) }),
    );
    const client = closer.add(await startProxy({ spiffeId: CLIENT_ID, config: outboundConfig(app, server) }));
    const r = await viaProxy(client.ports.outbound, 'http://web.demo/');
    expect(r.status).toBe(403);
    expect(r.headers[ERROR_HEADER]).toBe('WEFT_ERR_DENIED');
    expect(app.seen).toHaveLength(0);
  });

  it('an allowed identity pattern (namespace prefix) lets the client in', async () => {
    const app = closer.add(await startApp('web'));
    const server = closer.add(
      await startProxy({ spiffeId: SERVER_ID, config: inboundConfig(app, 'strict', ['spiffe://cluster.local/ns/demo/*']) }),
    );
    const client = closer.add(await startProxy({ spiffeId: CLIENT_ID, config: outboundConfig(app, server) }));
    expect((await viaProxy(client.ports.outbound, 'http://web.demo/')).status).toBe(200);
  });
});
