// HTTP/2 and gRPC end to end (the HTTP/2 issue, acceptance 1): a
// @grpc/grpc-js client -> client proxy -> mTLS (ALPN h2) -> server proxy ->
// @grpc/grpc-js server, for the four kinds of call, with metadata and
// deadlines arriving and both proxies counting every call with its
// grpc_status and classification.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../../proxy/proxy.ts';
import { Closer, id, meshedEndpoint, metricValue, scrape, startClientProxy, startServerProxy } from '../harness/mesh-fixture.ts';
import { echoClient, grpc, say, startEchoServer, type EchoClient, type EchoServer, type Msg } from '../harness/grpc-echo.ts';

const CLIENT_ID = id('demo', 'client');
const SERVER_ID = id('demo', 'echo');
const AUTHORITY = 'echo.demo.svc.cluster.local:80';

describe('gRPC through two proxies over mTLS', () => {
  const closer = new Closer();
  let server: EchoServer;
  let a: Proxy;
  let b: Proxy;
  let client: EchoClient;

  beforeAll(async () => {
    server = closer.add(await startEchoServer('echo-1'));
    b = closer.add(await startServerProxy({ spiffeId: SERVER_ID, appPort: server.port, allowed: [CLIENT_ID] }));
    a = closer.add(
      await startClientProxy({
        spiffeId: CLIENT_ID,
        services: [
          {
            name: 'echo',
            namespace: 'demo',
            ports: [{ port: 80, targetPort: server.port }],
            endpoints: [meshedEndpoint({ proxy: b, appPort: server.port, identity: SERVER_ID, pod: 'echo-1' })],
          },
        ],
      }),
    );
    client = echoClient(`127.0.0.1:${a.ports.outbound}`, AUTHORITY);
    closer.add(client);
  });
  afterAll(() => closer.closeAll());

  it('unary: the reply, metadata both ways and the deadline arrive', async () => {
    const md = new grpc.Metadata();
    md.set('x-request-tag', 'abc');
    const deadline = Date.now() + 5_000;
    const { res, err } = await say(client, 'hi', { deadline }, md);
    expect(err).toBeUndefined();
    expect(res?.text).toBe('echo-1:hi');
    expect(server.last?.metadata.get('x-request-tag')).toEqual(['abc']);
    // The server got the caller's client identity from its proxy...
    expect(server.last?.metadata.get('weft-client-id')).toEqual([CLIENT_ID]);
    // ...and the caller's deadline, lowered by each proxy to what was left
    // (grpc-js computes grpc-timeout when it creates the call, before its
    // first connection is up: the slack is the client's, not the proxies').
    const got = server.last?.deadline;
    expect(got instanceof Date ? got.getTime() : Number(got)).toBeLessThanOrEqual(deadline + 50);
    expect(got instanceof Date ? got.getTime() : Number(got)).toBeGreaterThan(Date.now());
  });

  it('server streaming: 10,000 messages in order', async () => {
    const stream = client.Count({ n: 10_000 });
    const got: number[] = [];
    stream.on('data', (m: Msg) => got.push(m.n));
    const status = await new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    expect(status.code).toBe(grpc.status.OK);
    expect(got.length).toBe(10_000);
    expect(got.every((n, i) => n === i)).toBe(true);
  });

  it('client streaming: every message counted', async () => {
    const result = await new Promise<{ err: grpc.ServiceError | null; res?: Msg }>((resolve) => {
      const call = client.Sum(new grpc.Metadata(), {}, (err, res) => resolve({ err, res }));
      for (let i = 1; i <= 1000; i++) call.write({ n: i });
      call.end();
    });
    expect(result.err).toBeNull();
    expect(result.res?.n).toBe(500_500);
    expect(result.res?.text).toBe('echo-1:1000');
  });

  it('bidirectional streaming: each message answered before the next is sent', async () => {
    const chat = client.Chat();
    const replies: string[] = [];
    for (let i = 0; i < 50; i++) {
      chat.write({ text: `m${i}`, n: i });
      const reply = await new Promise<Msg>((resolve) => chat.once('data', resolve));
      replies.push(reply.text);
    }
    chat.end();
    const status = await new Promise<grpc.StatusObject>((resolve) => chat.on('status', resolve));
    expect(status.code).toBe(grpc.status.OK);
    expect(replies).toEqual(Array.from({ length: 50 }, (_, i) => `echo-1:m${i}`));
  });

  it('a grpc-js client with http_proxy set (the local mesh) tunnels with CONNECT and each call is proxied', async () => {
    const saved = process.env.http_proxy;
    process.env.http_proxy = `http://127.0.0.1:${a.ports.outbound}`;
    let viaConnect: EchoClient;
    try {
      // The target is the service name, as an app in the local mesh dials it; no DNS: the proxy resolves it.
      viaConnect = echoClient('echo.demo.svc.cluster.local:80');
    } finally {
      if (saved === undefined) delete process.env.http_proxy;
      else process.env.http_proxy = saved;
    }
    try {
      const before = server.calls.get('Say') ?? 0;
      const { res, err } = await say(viaConnect, 'tunnel');
      expect(err).toBeUndefined();
      expect(res?.text).toBe('echo-1:tunnel');
      expect((server.calls.get('Say') ?? 0) - before).toBe(1);
    } finally {
      viaConnect.close();
    }
  });

  it('a failing call keeps its status, and both proxies count each call with grpc_status and classification', async () => {
    server.failWith = grpc.status.NOT_FOUND;
    const { err } = await say(client, 'missing');
    server.failWith = undefined;
    expect(err?.code).toBe(grpc.status.NOT_FOUND);
    expect(err?.details).toBe('echo-1 fails');

    const ma = await scrape(a.ports.admin);
    const out = { direction: 'outbound', tls: 'true', server_id: SERVER_ID, dst_service: 'echo', authority: AUTHORITY };
    expect(metricValue(ma, 'response_total', { ...out, status_code: '200', grpc_status: '0', classification: 'success' })).toBe(5);
    expect(metricValue(ma, 'response_total', { ...out, status_code: '200', grpc_status: '5', classification: 'failure' })).toBe(1);
    expect(metricValue(ma, 'request_total', out)).toBe(6);
    expect(metricValue(ma, 'tcp_open_total', { direction: 'outbound', peer: 'dst', tls: 'true', protocol: 'h2' })).toBe(1);

    const mb = await scrape(b.ports.admin);
    const inb = { direction: 'inbound', tls: 'true', client_id: CLIENT_ID };
    expect(metricValue(mb, 'response_total', { ...inb, status_code: '200', grpc_status: '0', classification: 'success' })).toBe(5);
    expect(metricValue(mb, 'response_total', { ...inb, status_code: '200', grpc_status: '5', classification: 'failure' })).toBe(1);
    expect(metricValue(mb, 'tcp_open_total', { direction: 'inbound', peer: 'src', tls: 'true', protocol: 'h2', client_id: CLIENT_ID })).toBe(1);
  });
});
