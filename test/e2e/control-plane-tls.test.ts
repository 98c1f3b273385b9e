// The control plane's TLS port (8086), both ends of it.
//
// Server side: the control plane authenticates callers by token, never by
// TLS client certificate (a proxy has none before its first Certify). A
// caller that presents a self-signed certificate claiming a mesh identity
// gains nothing: without a valid token Certify and Config.Stream are refused
// (UNAUTHENTICATED, WEFT_ERR_TOKEN_INVALID) and nothing is issued; with a
// token of another workload the certificate it gets is the token's identity.
//
// Client side: a proxy's channel (proxy/clients/control-plane-channel.ts) refuses a
// control plane that presents any row of the bad-SVID table with the control
// plane's own SPIFFE ID: the call never reaches the server.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type ControlPlane } from '../../control-plane/control-plane.ts';
import { createFileSource } from '../../control-plane/file-source.ts';
import { createBootstrapTokenValidator } from '../../control-plane/token-validator.ts';
import { createKeyAndCsr } from '../../identity/csr-create.ts';
import { certificateSpiffeId } from '../../identity/svid-verify.ts';
import { GRPC_ERROR_CODE_KEY, meshGrpc } from '../../proto/mesh-grpc.ts';
import type { CertifyRequest, CertifyResponse, ConfigUpdate } from '../../proto/mesh.ts';
import { channelCredentials } from '../../proxy/clients/control-plane-channel.ts';
import { badSvids, selfSignedSvid, type Credential } from '../harness/bad-svids.ts';
import { id, pki, quiet } from '../harness/mesh-fixture.ts';

const CP_ID = id('weft-system', 'weft-control-plane');
const CLIENT = id('demo', 'client');
const ADMIN = id('demo', 'admin');

type Outcome = { ok: true; res: CertifyResponse } | { ok: false; status: grpc.status; code: string | undefined };

function certify(client: grpc.Client, req: CertifyRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    (client as unknown as { Certify: grpc.requestCallback<CertifyResponse> & ((...a: unknown[]) => void) }).Certify(
      req,
      { deadline: Date.now() + 5_000 },
      (err: grpc.ServiceError | null, res?: CertifyResponse) => {
        if (err) {
          const code = err.metadata?.get(GRPC_ERROR_CODE_KEY)[0];
          resolve({ ok: false, status: err.code, code: typeof code === 'string' ? code : undefined });
        } else resolve({ ok: true, res: res as CertifyResponse });
      },
    );
  });
}

/** Channel credentials that verify the server as a proxy does, and present `cred` as a client certificate. */
function presenting(trustBundlePem: readonly string[], cred: Credential): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(trustBundlePem.join('')), Buffer.from(cred.keyPem), Buffer.from(cred.certChainPem), {
    checkServerIdentity: () => undefined,
  });
}

describe('control plane 8086: a client certificate grants nothing, the token decides', () => {
  let dir: string;
  let cp: ControlPlane;
  const validator = createBootstrapTokenValidator();
  let impostor: Credential;
  let client: grpc.Client;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-cp-tls-'));
    cp = await start({
      grpc: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      source: createFileSource({ path: dir, pollMs: 0 }),
      ca: { dir: join(dir, '.ca') },
      validator,
      logger: quiet,
    });
    impostor = selfSignedSvid(ADMIN);
    client = new (meshGrpc().Identity)(`127.0.0.1:${cp.ports.grpc}`, presenting(cp.trustBundlePem, impostor));
  });
  afterAll(async () => {
    client?.close();
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses Certify from a self-signed "admin" without a valid token, issuing nothing', async () => {
    const issued = (await cp.metrics.registry.getSingleMetric('weft_certificates_issued_total')?.get())?.values[0]?.value ?? 0;
    const { csrPem } = await createKeyAndCsr(ADMIN);
    for (const token of ['', 'not-a-token']) {
      const r = await certify(client, { identity: ADMIN, token, csrPem });
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.status).toBe(grpc.status.UNAUTHENTICATED);
        expect(r.code).toBe('WEFT_ERR_TOKEN_INVALID');
      }
    }
    const after = (await cp.metrics.registry.getSingleMetric('weft_certificates_issued_total')?.get())?.values[0]?.value ?? 0;
    expect(after).toBe(issued);
  });

  it("issues the token's identity, whatever the client certificate claims", async () => {
    const { csrPem } = await createKeyAndCsr(CLIENT);
    const denied = await certify(client, { identity: ADMIN, token: validator.issue('demo', 'client'), csrPem });
    expect(denied.ok).toBe(false);
    const r = await certify(client, { identity: CLIENT, token: validator.issue('demo', 'client'), csrPem });
    expect(r.ok).toBe(true);
    if (r.ok) expect(certificateSpiffeId(new X509Certificate(r.res.leafPem))).toBe(CLIENT);
  });

  it('refuses a config stream from a self-signed "admin" without a valid token', async () => {
    const config = new (meshGrpc().Config)(`127.0.0.1:${cp.ports.grpc}`, presenting(cp.trustBundlePem, impostor));
    try {
      const call = (config as unknown as { Stream(): grpc.ClientDuplexStream<unknown, ConfigUpdate> }).Stream();
      const ended = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
      call.on('data', () => {});
      call.write({ subscribe: { namespace: 'demo', pod: 'admin-1', serviceAccount: 'admin', version: '', token: 'forged' } });
      const err = await ended;
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(err.metadata.get(GRPC_ERROR_CODE_KEY)[0]).toBe('WEFT_ERR_TOKEN_INVALID');
    } finally {
      config.close();
    }
  });
});

describe("a proxy's channel refuses a control plane that is not one", () => {
  const servers: grpc.Server[] = [];
  afterAll(() => {
    for (const s of servers) s.forceShutdown();
  });

  /** A gRPC server presenting `cred` whose Certify answers FAILED_PRECONDITION: reaching it means TLS was accepted. */
  async function fakeControlPlane(cred: Credential): Promise<number> {
    const server = new grpc.Server();
    servers.push(server);
    server.addService(meshGrpc().Identity.service, {
      Certify: (_call: unknown, cb: grpc.sendUnaryData<CertifyResponse>) => cb({ code: grpc.status.FAILED_PRECONDITION, details: 'reached' }),
    });
    const creds = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(cred.keyPem), cert_chain: Buffer.from(cred.certChainPem) }]);
    return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, port) => (err ? reject(err) : resolve(port))));
  }

  async function callThroughProxyChannel(port: number): Promise<grpc.status | 'ok'> {
    const c = new (meshGrpc().Identity)(`127.0.0.1:${port}`, channelCredentials({ address: '', trustBundlePem: pki().trustBundlePem, serverId: CP_ID }));
    try {
      const r = await certify(c, { identity: CLIENT, token: 't', csrPem: '' });
      return r.ok ? 'ok' : r.status;
    } finally {
      c.close();
    }
  }

  it('reaches a control plane presenting a valid SVID with its ID (control)', async () => {
    const leaf = pki().issueLeaf({ spiffeId: CP_ID });
    const port = await fakeControlPlane({ certChainPem: leaf.chainPem.join(''), keyPem: leaf.keyPem });
    expect(await callThroughProxyChannel(port)).toBe(grpc.status.FAILED_PRECONDITION);
  });

  it('refuses a control plane presenting another mesh identity', async () => {
    const leaf = pki().issueLeaf({ spiffeId: id('demo', 'web') });
    const port = await fakeControlPlane({ certChainPem: leaf.chainPem.join(''), keyPem: leaf.keyPem });
    expect(await callThroughProxyChannel(port)).toBe(grpc.status.UNAVAILABLE);
  });

  for (const bad of badSvids(pki(), CP_ID, 'server')) {
    it(`refuses ${bad.name}`, async () => {
      const port = await fakeControlPlane(bad.make());
      expect(await callThroughProxyChannel(port)).toBe(grpc.status.UNAVAILABLE);
    });
  }
});
