// Access control enforced by the server's proxy (the authorization issue,
// acceptance 2 and 4 at the proxy level; the local mesh test runs the same
// through TrafficTarget manifests): a compiled TrafficTarget lets `client`
// GET /api/* on the HTTP app and call only echo.Echo/Say on the gRPC app, and
// open opaque TCP connections to one port; everything else, and every other
// identity, is refused (403 WEFT_ERR_FORBIDDEN, gRPC PERMISSION_DENIED, a
// closed connection), counted with the client identity and the port.
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../../proxy/proxy.ts';
import { Closer, id, meshedEndpoint, metricValue, pki, scrape, startApp, startClientProxy, startProxy, viaProxy, type TestApp } from '../harness/mesh-fixture.ts';
import { echoClient, grpc, say, startEchoServer, type EchoServer } from '../harness/grpc-echo.ts';
import { codeOfResponse } from '../harness/error-code.ts';
import { opaquePing } from '../harness/opaque-peer.ts';

const CLIENT_ID = id('demo', 'client');
const OTHER_ID = id('demo', 'other');
const SERVER_ID = id('demo', 'web');

describe('TrafficTarget rules enforced by the server proxy', () => {
  const closer = new Closer();
  let web: TestApp;
  let echo: EchoServer;
  let tcpPort: number;
  let server: Proxy;
  let client: Proxy;
  let other: Proxy;

  beforeAll(async () => {
    web = closer.add(await startApp('web'));
    echo = closer.add(await startEchoServer('echo-1'));
    const tcp = net.createServer((s) => s.pipe(s));
    tcp.listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    tcpPort = (tcp.address() as net.AddressInfo).port;
    closer.add({ close: () => void tcp.close() });
    server = closer.add(
      await startProxy({
        spiffeId: SERVER_ID,
        namespace: 'demo',
        config: {
          version: 'web',
          trustBundlePem: pki().trustBundlePem,
          inbound: {
            mode: 'strict',
            appPorts: [web.port, echo.port, tcpPort],
            defaultPolicy: 'all-authenticated',
            targeted: true,
            authzRules: [
              { name: 'demo/api-readers', sources: [CLIENT_ID], port: web.port, http: [{ path: { regex: '(?:/api/).*' }, methods: ['GET'] }] },
              { name: 'demo/echo-say', sources: [CLIENT_ID], port: echo.port, http: [{ path: { exact: '/echo.Echo/Say' } }] },
              { name: 'demo/db', sources: [CLIENT_ID], tcp: true, tcpPorts: [tcpPort] },
            ],
          },
        },
      }),
    );
    const services = [
      { name: 'web', namespace: 'demo', ports: [{ port: 80, targetPort: web.port }], endpoints: [meshedEndpoint({ proxy: server, appPort: web.port, identity: SERVER_ID, pod: 'web-1' })] },
      { name: 'echo', namespace: 'demo', ports: [{ port: 80, targetPort: echo.port }], endpoints: [meshedEndpoint({ proxy: server, appPort: echo.port, identity: SERVER_ID, pod: 'web-1' })] },
    ];
    client = closer.add(await startClientProxy({ spiffeId: CLIENT_ID, services }));
    other = closer.add(await startClientProxy({ spiffeId: OTHER_ID, services }));
  });
  afterAll(() => closer.closeAll());

  it("HTTP/1.1: client's GET /api/x passes; its POST /api/x and GET /admin, and another identity's GET /api/x, get 403 WEFT_ERR_FORBIDDEN, each counted", async () => {
    const before = await scrape(server.ports.admin);
    const ok = await viaProxy(client.ports.outbound, 'http://web.demo/api/x');
    expect(ok.status).toBe(200);
    const refused = [
      await viaProxy(client.ports.outbound, 'http://web.demo/api/x', { method: 'POST', body: 'x' }),
      await viaProxy(client.ports.outbound, 'http://web.demo/admin'),
      await viaProxy(other.ports.outbound, 'http://web.demo/api/x'),
    ];
    for (const r of refused) {
      expect(r.status).toBe(403);
      expect(codeOfResponse(r)).toBe('WEFT_ERR_FORBIDDEN');
    }
    expect(web.seen.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /api/x']);
    const after = await scrape(server.ports.admin);
    const delta = (name: string, labels: Record<string, string>): number => metricValue(after, name, labels) - metricValue(before, name, labels);
    const port = String(web.port);
    expect(delta('inbound_http_authz_allow_total', { target_port: port, authz: 'demo/api-readers', client_id: CLIENT_ID })).toBe(1);
    expect(delta('inbound_http_authz_deny_total', { target_port: port, client_id: CLIENT_ID })).toBe(2);
    expect(delta('inbound_http_authz_deny_total', { target_port: port, client_id: OTHER_ID })).toBe(1);
    expect(delta('response_total', { direction: 'inbound', status_code: '403', error: 'WEFT_ERR_FORBIDDEN', client_id: CLIENT_ID })).toBe(2);
  });

  it('gRPC: an allowed method passes, a denied one gets PERMISSION_DENIED, counted as a failure by the caller', async () => {
    const c = closer.add(echoClient(`127.0.0.1:${client.ports.outbound}`, 'echo.demo:80'));
    const { res, err } = await say(c, 'hi');
    expect(err).toBeUndefined();
    expect(res?.text).toBe('echo-1:hi');
    const stream = c.Count({ n: 3 });
    stream.on('data', () => {});
    stream.on('error', () => {});
    const status = await new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status.metadata.get('weft-error')).toEqual(['WEFT_ERR_FORBIDDEN']);
    expect(echo.calls.get('Count')).toBeUndefined();
    const m = await scrape(client.ports.admin);
    expect(metricValue(m, 'response_total', { direction: 'outbound', dst_service: 'echo', grpc_status: '7', classification: 'failure' })).toBe(1);
    const ms = await scrape(server.ports.admin);
    expect(metricValue(ms, 'inbound_http_authz_deny_total', { target_port: String(echo.port), client_id: CLIENT_ID })).toBe(1);
  });

  it('opaque TCP: the TCPRoute port admits client, not another identity (the connection is closed), each counted', async () => {
    const open = (spiffeId: string, port: number): Promise<string> => opaquePing(server.ports.inbound, spiffeId, port);
    expect(await open(CLIENT_ID, tcpPort)).toBe('open');
    expect(await open(OTHER_ID, tcpPort)).toBe('closed');
    // The HTTP app's port has no TCP rule: refused even for client.
    expect(await open(CLIENT_ID, web.port)).toBe('closed');
    const m = await scrape(server.ports.admin);
    expect(metricValue(m, 'inbound_tcp_authz_allow_total', { target_port: String(tcpPort), authz: 'demo/db', client_id: CLIENT_ID })).toBe(1);
    expect(metricValue(m, 'inbound_tcp_authz_deny_total', { target_port: String(tcpPort), client_id: OTHER_ID })).toBe(1);
    expect(metricValue(m, 'inbound_tcp_authz_deny_total', { target_port: String(web.port), client_id: CLIENT_ID })).toBe(1);
  });
});
