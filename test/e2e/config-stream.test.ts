// The config stream over real gRPC + TLS, with a real proxy as the client:
//   acceptance 4 of the control-plane issue: a config the proxy cannot apply
//   is nacked and the previous version keeps serving;
//   bad gRPC input: a stream that does not start with Subscribe, or carries a
//   bad token, is refused with a clear status and the Weft code.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshGrpc, GRPC_ERROR_CODE_KEY } from '../../proto/mesh-grpc.ts';
import type { ConfigUpdate, ProxyConfig, ProxyMessage } from '../../proto/mesh.ts';
import { ConfigStreams, configVersion } from '../../control-plane/config-stream.ts';
import { ControlPlaneMetrics } from '../../control-plane/control-plane-metrics.ts';
import { createBootstrapTokenValidator } from '../../control-plane/token-validator.ts';
import { createCaMaterial } from '../../control-plane/ca-material.ts';
import { createCaAuthority } from '../../control-plane/ca-authority.ts';
import { addIdentityService } from '../../control-plane/identity-grpc.ts';
import { generateRsaKeyPair } from '../../identity/key-pair.ts';
import type { Proxy } from '../../proxy/proxy.ts';
import { Closer, id, quiet, startApp, startProxy, viaProxy, type TestApp } from '../harness/mesh-fixture.ts';
import { waitFor } from '../harness/traffic-probe.ts';

const CP_ID = id('weft-system', 'weft-control-plane');

describe('config stream', () => {
  const closer = new Closer();
  const metrics = new ControlPlaneMetrics();
  const validator = createBootstrapTokenValidator();
  const token = validator.issue('demo', 'client');
  let render: () => ProxyConfig;
  let streams: ConfigStreams;
  let server: grpc.Server;
  let address: string;
  let trustBundlePem: string[];
  let app: TestApp;
  let proxy: Proxy;

  const config = (version: string, pathRegex?: string): ProxyConfig => ({
    version,
    services: [
      {
        name: 'web',
        namespace: 'demo',
        clusterIp: '',
        ports: [],
        aliases: [],
        routes:
          pathRegex === undefined
            ? []
            : [{ name: 'r', matches: [{ path: { regex: pathRegex }, methods: [], headers: [] }], backends: [], timeoutMs: 0 }],
        endpoints: [
          { address: '127.0.0.1', port: app.port, identity: '', proxyPort: 0, pod: 'web-1', deployment: 'web', serviceAccount: 'web', namespace: 'demo' },
        ],
      },
    ],
    inbound: { mode: 'STRICT', allowedIdentities: [], appPorts: [], identity: id('demo', 'client') },
    trustBundlePem,
    egress: { allow: true },
    defaults: { timeoutMs: 5_000, retry: { maxRetries: 1, budgetRatio: 0.2, minRetriesPerSecond: 10 }, connectTimeoutMs: 1_000 },
  });

  beforeAll(async () => {
    app = closer.add(await startApp('web'));
    const material = createCaMaterial({ trustDomain: 'cluster.local', now: Date.now() });
    const ca = createCaAuthority(material, { trustDomain: 'cluster.local', now: Date.now() });
    trustBundlePem = [...ca.trustBundlePem];
    render = () => config('ignored', '/ok/.*');
    streams = new ConfigStreams({ validator, render: () => render(), metrics, log: quiet });
    server = new grpc.Server();
    addIdentityService(server, { validator, ca, trustDomain: 'cluster.local' });
    server.addService(meshGrpc().Config.service, { Stream: streams.handle as grpc.UntypedHandleCall });
    const key = generateRsaKeyPair();
    const serving = ca.issueLeaf({ spiffeId: CP_ID, publicKeyPem: key.publicKeyPem, now: Date.now() });
    const creds = grpc.ServerCredentials.createSsl(null, [
      { private_key: Buffer.from(key.keyPem), cert_chain: Buffer.from(serving.leafPem + serving.intermediatesPem.join('')) },
    ]);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
    proxy = closer.add(
      await startProxy({
        namespace: 'demo',
        logger: quiet,
        controlPlane: {
          address,
          trustBundlePem,
          serverId: CP_ID,
          spiffeId: id('demo', 'client'),
          token: () => token,
          pod: 'client-1',
          serviceAccount: 'client',
        },
      }),
    );
    await waitFor(() => proxy.ready(), 15_000);
  }, 30_000);

  afterAll(async () => {
    streams.close();
    server.forceShutdown();
    await closer.closeAll();
  });

  it('delivers a snapshot first, which the proxy acks and serves', async () => {
    const v1 = configVersion(render());
    expect(proxy.current()?.version).toBe(v1);
    await waitFor(() => streams.acked().some((a) => a.version === v1 && a.pod === 'client-1'), 5_000);
    expect(streams.acked()[0]).toMatchObject({ namespace: 'demo', serviceAccount: 'client' });
    expect((await viaProxy(proxy.ports.outbound, 'http://web.demo/ok/1')).status).toBe(200);
  });

  it('nacks a config it cannot apply and keeps serving the previous version', async () => {
    const v1 = proxy.current()?.version;
    const bad = config('ignored', '(unclosed');
    render = () => bad;
    streams.refresh();
    await waitFor(async () => {
      const m = await metrics.configAcks.get();
      return m.values.some((v) => v.labels.result === 'nack' && v.value >= 1);
    }, 5_000);
    expect(proxy.current()?.version).toBe(v1);
    expect(streams.acked().find((a) => a.pod === 'client-1')?.version).toBe(v1);
    expect((await viaProxy(proxy.ports.outbound, 'http://web.demo/ok/2')).status).toBe(200);

    // The stream goes on: the next good config is applied.
    const good = config('ignored');
    render = () => good;
    streams.refresh();
    await waitFor(() => proxy.current()?.version === configVersion(good), 5_000);
    expect((await viaProxy(proxy.ports.outbound, 'http://web.demo/anything')).status).toBe(200);
  });

  function openStream(): grpc.ClientDuplexStream<ProxyMessage, ConfigUpdate> {
    const client = new (meshGrpc().Config)(
      address,
      grpc.credentials.createSsl(Buffer.from(trustBundlePem.join('')), null, null, { checkServerIdentity: () => undefined }),
    );
    closer.add({ close: () => client.close() });
    return client.Stream!() as grpc.ClientDuplexStream<ProxyMessage, ConfigUpdate>;
  }

  function statusOf(stream: grpc.ClientDuplexStream<ProxyMessage, ConfigUpdate>): Promise<grpc.ServiceError> {
    return new Promise((resolve) => {
      stream.on('data', () => undefined);
      stream.on('error', (err: grpc.ServiceError) => resolve(err));
    });
  }

  it('refuses a stream whose first message is not a Subscribe', async () => {
    const stream = openStream();
    const status = statusOf(stream);
    stream.write({ ack: { version: 'x', ok: true, error: '' } });
    const err = await status;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.metadata.get(GRPC_ERROR_CODE_KEY)).toEqual(['WEFT_ERR_STREAM_PROTOCOL']);
  });

  it('refuses a Subscribe with a bad token', async () => {
    const stream = openStream();
    const status = statusOf(stream);
    stream.write({ subscribe: { namespace: 'demo', pod: 'x', serviceAccount: 'client', version: '', token: 'not-a-token' } });
    const err = await status;
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err.metadata.get(GRPC_ERROR_CODE_KEY)).toEqual(['WEFT_ERR_TOKEN_INVALID']);
  });
});
