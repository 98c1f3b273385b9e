// Identity.Certify over a real gRPC server with TLS (a server certificate the
// CA issued for the control plane's own SPIFFE ID) and a real gRPC client that
// verifies the server against the trust bundle, as a proxy does. Proves the
// acceptance items: every bad request is refused with the right status and
// Weft code and issues nothing; a good one yields a leaf that the real
// `openssl verify` accepts, whose only URI SAN is the workload's SPIFFE ID.
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WeftError } from '../proto/errors.ts';
import type { CertifyRequest, CertifyResponse } from '../proto/mesh.ts';
import { generateRsaKeyPair } from '../identity/key-pair.ts';
import { parseSubjectAltName } from '../identity/subject-alt-name.ts';
import { createCaAuthority, type CaAuthority } from './ca-authority.ts';
import { loadOrCreateCa } from './ca-store.ts';
import { CSR_MAX_PEM_BYTES } from './csr-check.ts';
import { createEcCsr, createTestCsr, tamperCsr } from './csr-test-fixtures.ts';
import { grpcStatusOf } from './grpc-status.ts';
import { IDENTITY_SERVER_OPTIONS, MAX_RECEIVE_MESSAGE_BYTES, addIdentityService } from './identity-grpc.ts';
import { createBootstrapTokenValidator } from './token-validator.ts';

const execFileAsync = promisify(execFile);

/** The trailer that carries the Weft code of a refused call. */
const WEFT_ERROR_METADATA_KEY = 'weft-error';

const TD = 'cluster.local';
const CONTROL_PLANE_ID = 'spiffe://cluster.local/ns/weft-system/sa/weft-control-plane';
const WEB = 'spiffe://cluster.local/ns/demo/sa/web';
const API = 'spiffe://cluster.local/ns/demo/sa/api';

type IdentityClient = grpc.Client & {
  Certify(req: CertifyRequest, callback: (err: grpc.ServiceError | null, res?: CertifyResponse) => void): void;
};

// The client side loads mesh.proto on its own, as a proxy would.
const definition = loadSync(fileURLToPath(new URL('../proto/mesh.proto', import.meta.url)), {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
const IdentityClientCtor = (
  grpc.loadPackageDefinition(definition) as unknown as {
    weft: { mesh: { v1: { Identity: grpc.ServiceClientConstructor } } };
  }
).weft.mesh.v1.Identity;

function clientFor(port: number, anchorPem: string, expectedServerId: string): IdentityClient {
  const credentials = grpc.credentials.createSsl(Buffer.from(anchorPem), null, null, {
    // The server's identity is its SPIFFE ID, not a host name.
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      const uris = parseSubjectAltName(cert.subjectaltname).filter((n) => n.type === 'URI');
      return uris.length === 1 && uris[0]?.value === expectedServerId
        ? undefined
        : new Error(`control plane is ${cert.subjectaltname}, expected URI:${expectedServerId}`);
    },
  });
  return new IdentityClientCtor(`127.0.0.1:${port}`, credentials, {
    'grpc.ssl_target_name_override': 'weft-control-plane',
  }) as unknown as IdentityClient;
}

type Outcome = { ok: true; res: CertifyResponse } | { ok: false; status: grpc.status; weftCode: string | undefined; details: string };

function callCertify(client: IdentityClient, req: CertifyRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    client.Certify(req, (err, res) => {
      if (err) {
        const code = err.metadata?.get(WEFT_ERROR_METADATA_KEY)[0];
        resolve({ ok: false, status: err.code, weftCode: typeof code === 'string' ? code : undefined, details: err.details });
      } else {
        resolve({ ok: true, res: res as CertifyResponse });
      }
    });
  });
}

describe('Identity.Certify over gRPC with TLS', () => {
  let workDir: string;
  let ca: CaAuthority;
  let server: grpc.Server;
  let port: number;
  let client: IdentityClient;
  let webToken: string;
  const serverErrors: unknown[] = [];

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'weft-identity-grpc-'));
    const now = Date.now();
    const loaded = await loadOrCreateCa({ dir: join(workDir, 'ca'), trustDomain: TD, now });
    ca = createCaAuthority(loaded.material, { trustDomain: TD, now });

    const serverKey = generateRsaKeyPair();
    const serverCert = ca.issueLeaf({ spiffeId: CONTROL_PLANE_ID, publicKeyPem: serverKey.publicKeyPem, now });

    const validator = createBootstrapTokenValidator();
    webToken = validator.issue('demo', 'web');

    server = new grpc.Server(IDENTITY_SERVER_OPTIONS);
    addIdentityService(server, { validator, ca, trustDomain: TD, onError: (err) => serverErrors.push(err) });
    const credentials = grpc.ServerCredentials.createSsl(
      null,
      [
        {
          private_key: Buffer.from(serverKey.keyPem),
          cert_chain: Buffer.from([serverCert.leafPem, ...serverCert.intermediatesPem].join('')),
        },
      ],
      false,
    );
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p)));
    });
    client = clientFor(port, ca.anchorPem, CONTROL_PLANE_ID);
  });

  afterAll(async () => {
    client?.close();
    if (server) await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('issues a leaf that openssl verifies against the anchor, with the SPIFFE ID as its only URI SAN and CA:FALSE', async () => {
    const before = ca.issuedCount();
    const out = await callCertify(client, { identity: WEB, token: webToken, csrPem: createTestCsr({ uris: [WEB] }) });
    if (!out.ok) throw new Error(`Certify failed: ${out.details}`);
    expect(ca.issuedCount()).toBe(before + 1);
    const { leafPem, intermediatesPem, validUntilUnixMs } = out.res;
    expect(intermediatesPem).toHaveLength(1);

    const leaf = new X509Certificate(leafPem);
    expect(parseSubjectAltName(leaf.subjectAltName)).toEqual([{ type: 'URI', value: WEB }]);
    expect(leaf.ca).toBe(false);
    expect(leaf.validToDate.getTime()).toBe(validUntilUnixMs);
    expect(validUntilUnixMs - Date.now()).toBeGreaterThan(23 * 3_600_000);
    expect(validUntilUnixMs - Date.now()).toBeLessThanOrEqual(24 * 3_600_000);

    const dir = await mkdtemp(join(workDir, 'openssl-'));
    const files = { anchor: join(dir, 'anchor.pem'), issuer: join(dir, 'issuer.pem'), leaf: join(dir, 'leaf.pem') };
    await writeFile(files.anchor, ca.anchorPem);
    await writeFile(files.issuer, intermediatesPem.join(''));
    await writeFile(files.leaf, leafPem);
    const verify = await execFileAsync('openssl', ['verify', '-CAfile', files.anchor, '-untrusted', files.issuer, files.leaf]);
    expect(verify.stdout.trim()).toBe(`${files.leaf}: OK`);
    const strict = await execFileAsync('openssl', [
      'verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', files.anchor, '-untrusted', files.issuer, files.leaf,
    ]);
    expect(strict.stdout.trim()).toBe(`${files.leaf}: OK`);
    // Without the issuer the chain does not reach the anchor.
    await expect(execFileAsync('openssl', ['verify', '-CAfile', files.anchor, files.leaf])).rejects.toThrow();

    const text = (await execFileAsync('openssl', ['x509', '-in', files.leaf, '-noout', '-ext', 'basicConstraints'])).stdout;
    expect(text).toMatch(/CA:FALSE/);
  });

  it('accepts a CSR without any SAN: the SPIFFE ID comes from the token', async () => {
    const before = ca.issuedCount();
    const out = await callCertify(client, { identity: '', token: webToken, csrPem: createTestCsr() });
    if (!out.ok) throw new Error(`Certify failed: ${out.details}`);
    expect(new X509Certificate(out.res.leafPem).subjectAltName).toBe(`URI:${WEB}`);
    expect(ca.issuedCount()).toBe(before + 1);
  });

  it('refuses every bad request with its status and Weft code, and issues nothing', async () => {
    const signed = createTestCsr({ uris: [WEB], commonName: 'tamper-me' });
    const oversized = createTestCsr({ uris: [WEB], commonName: 'x'.repeat(CSR_MAX_PEM_BYTES) });
    expect(Buffer.byteLength(oversized)).toBeGreaterThan(CSR_MAX_PEM_BYTES);
    expect(Buffer.byteLength(oversized)).toBeLessThan(MAX_RECEIVE_MESSAGE_BYTES);
    const { UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT } = grpc.status;
    const cases: [string, CertifyRequest, grpc.status, string][] = [
      ["another workload's identity", { identity: API, token: webToken, csrPem: signed }, PERMISSION_DENIED, 'WEFT_ERR_CERTIFY_DENIED'],
      ["CSR SAN of another workload", { identity: WEB, token: webToken, csrPem: createTestCsr({ uris: [API] }) }, PERMISSION_DENIED, 'WEFT_ERR_CERTIFY_DENIED'],
      ['tampered CSR (bad signature)', { identity: WEB, token: webToken, csrPem: tamperCsr(signed, 'tamper-me', 'tamper-mx') }, INVALID_ARGUMENT, 'WEFT_ERR_CSR_SIGNATURE'],
      ['URI + DNS SANs', { identity: WEB, token: webToken, csrPem: createTestCsr({ uris: [WEB], dnsNames: ['web.demo.svc'] }) }, INVALID_ARGUMENT, 'WEFT_ERR_CSR_SAN'],
      ['two URI SANs', { identity: WEB, token: webToken, csrPem: createTestCsr({ uris: [WEB, API] }) }, INVALID_ARGUMENT, 'WEFT_ERR_CSR_SAN'],
      ['CA request', { identity: WEB, token: webToken, csrPem: createTestCsr({ uris: [WEB], isCa: true }) }, INVALID_ARGUMENT, 'WEFT_ERR_CSR_CA'],
      ['oversized CSR', { identity: WEB, token: webToken, csrPem: oversized }, INVALID_ARGUMENT, 'WEFT_ERR_CSR_TOO_LARGE'],
      ['EC key', { identity: WEB, token: webToken, csrPem: createEcCsr() }, INVALID_ARGUMENT, 'WEFT_ERR_CSR_KEY_UNSUPPORTED'],
      ['not a CSR', { identity: WEB, token: webToken, csrPem: 'hello' }, INVALID_ARGUMENT, 'WEFT_ERR_CSR_INVALID'],
      ['bad token', { identity: WEB, token: 'A'.repeat(43), csrPem: signed }, UNAUTHENTICATED, 'WEFT_ERR_TOKEN_INVALID'],
      ['no token', { identity: WEB, token: '', csrPem: signed }, UNAUTHENTICATED, 'WEFT_ERR_TOKEN_INVALID'],
    ];
    const before = ca.issuedCount();
    const errorsBefore = serverErrors.length;
    const got: unknown[] = [];
    for (const [name, req] of cases) {
      const out = await callCertify(client, req);
      got.push(out.ok ? [name, 'issued!'] : [name, out.status, out.weftCode]);
      if (!out.ok) expect(out.details.startsWith(`${out.weftCode}: `)).toBe(true);
    }
    expect(got).toEqual(cases.map(([name, , status, code]) => [name, status, code]));
    expect(ca.issuedCount()).toBe(before);
    expect(serverErrors.length - errorsBefore).toBe(cases.length);
  });

  it('refuses a message over 64 KiB before the handler runs', async () => {
    const before = ca.issuedCount();
    const errorsBefore = serverErrors.length;
    const out = await callCertify(client, { identity: WEB, token: webToken, csrPem: 'x'.repeat(MAX_RECEIVE_MESSAGE_BYTES) });
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.status).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(ca.issuedCount()).toBe(before);
    expect(serverErrors.length).toBe(errorsBefore);
  });

  it('the client refuses a server that is not the expected identity', async () => {
    const wrong = clientFor(port, ca.anchorPem, 'spiffe://cluster.local/ns/weft-system/sa/someone-else');
    try {
      const out = await callCertify(wrong, { identity: WEB, token: webToken, csrPem: createTestCsr() });
      expect(out.ok).toBe(false);
      if (!out.ok) expect(out.status).toBe(grpc.status.UNAVAILABLE);
    } finally {
      wrong.close();
    }
  });
});

describe('grpcStatusOf for the identity codes (the table lives in grpc-status.ts)', () => {
  it('maps codes, carries the Weft code in the trailer, and withholds internal details', () => {
    const cases: [unknown, grpc.status, string][] = [
      [new WeftError('WEFT_ERR_TOKEN_INVALID', 'x'), grpc.status.UNAUTHENTICATED, 'WEFT_ERR_TOKEN_INVALID'],
      [new WeftError('WEFT_ERR_CERTIFY_DENIED', 'x'), grpc.status.PERMISSION_DENIED, 'WEFT_ERR_CERTIFY_DENIED'],
      [new WeftError('WEFT_ERR_CSR_TOO_LARGE', 'x'), grpc.status.INVALID_ARGUMENT, 'WEFT_ERR_CSR_TOO_LARGE'],
      [new WeftError('WEFT_ERR_CSR_KEY_WEAK', 'x'), grpc.status.INVALID_ARGUMENT, 'WEFT_ERR_CSR_KEY_WEAK'],
      [new WeftError('WEFT_ERR_CA_EXPIRED', 'secret'), grpc.status.INTERNAL, 'WEFT_ERR_CA_EXPIRED'],
      [new Error('wrapped', { cause: new WeftError('WEFT_ERR_CSR_SAN', 'x') }), grpc.status.INVALID_ARGUMENT, 'WEFT_ERR_CSR_SAN'],
    ];
    for (const [err, status, code] of cases) {
      const s = grpcStatusOf(err);
      expect([s.code, s.weftCode, s.metadata.get(WEFT_ERROR_METADATA_KEY)]).toEqual([status, code, [code]]);
      expect(s.details).not.toContain('secret');
    }
    const internal = grpcStatusOf(new Error('secret'));
    expect(internal.code).toBe(grpc.status.INTERNAL);
    expect(internal.details).not.toContain('secret');
  });
});
