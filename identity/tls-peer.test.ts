// tls-peer.ts on real TLS handshakes: a tls.Server with requestCert and
// rejectUnauthorized: false, so that verifyTlsClient gives the verdict.
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainErrorCode, checkServerSvid, verifyTlsClient } from './tls-peer.ts';
import { createTestPki, type LeafOptions, type TestPki } from './test-pki.ts';
import { codeOf } from '../test/harness/error-code.ts';

const WEB = 'spiffe://cluster.local/ns/demo/sa/web';
const HOUR = 3_600_000;
let pki: TestPki;
let other: TestPki;
let server: tls.Server;
let port: number;
const verdicts: Array<string | undefined> = [];

beforeAll(async () => {
  pki = createTestPki();
  other = createTestPki();
  const serving = pki.issueLeaf({ spiffeId: 'spiffe://cluster.local/ns/demo/sa/server' });
  server = tls.createServer({ ...serving.tls, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, (s) => {
    verdicts.push(codeOf(() => verifyTlsClient(s, { trustDomain: 'cluster.local', now: new Date() })));
    s.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function verdictFor(cred: { key: string; cert: string } | undefined): Promise<string | undefined> {
  const n = verdicts.length;
  const s = tls.connect({
    host: '127.0.0.1',
    port,
    ca: pki.trustBundlePem,
    checkServerIdentity: () => undefined,
    ...(cred !== undefined ? { key: cred.key, cert: cred.cert } : {}),
  });
  await new Promise<void>((resolve) => {
    s.on('error', () => s.destroy());
    s.on('close', () => resolve());
  });
  // The server may see the handshake end after the client has closed.
  for (let i = 0; i < 250 && verdicts.length === n; i++) await new Promise((r) => setTimeout(r, 20));
  expect(verdicts.length).toBe(n + 1);
  return verdicts[n] ?? undefined;
}

describe('verifyTlsClient', () => {
  it('accepts a mesh leaf', async () => {
    expect(await verdictFor(pki.issueLeaf({ spiffeId: WEB }).tls)).toBeUndefined();
  });
  it('refuses no certificate, a foreign chain, an expired chain, a server-only leaf', async () => {
    expect(await verdictFor(undefined)).toBe('WEFT_ERR_SVID_MISSING');
    expect(await verdictFor(other.issueLeaf({ spiffeId: WEB }).tls)).toBe('WEFT_ERR_SVID_UNTRUSTED');
    const now = Date.now();
    const expired = pki.issueLeaf({ spiffeId: WEB, notBefore: new Date(now - 2 * HOUR), notAfter: new Date(now - HOUR) });
    expect(await verdictFor(expired.tls)).toBe('WEFT_ERR_SVID_EXPIRED');
    expect(await verdictFor(pki.issueLeaf({ spiffeId: WEB, extKeyUsage: { serverAuth: true } }).tls)).toBe('WEFT_ERR_SVID_KEY_USAGE');
  });
});

describe('checkServerSvid', () => {
  it('returns the leaf check error, or undefined', () => {
    const raw = (opts: LeafOptions): tls.PeerCertificate =>
      ({ raw: new X509Certificate(pki.issueLeaf(opts).certPem).raw }) as tls.PeerCertificate;
    const ok = checkServerSvid(raw({ spiffeId: WEB }), { trustDomain: 'cluster.local', now: new Date(), expectedId: WEB });
    expect(ok).toBeUndefined();
    const bad = checkServerSvid(raw({ spiffeId: WEB, extKeyUsage: { clientAuth: true } }), { trustDomain: 'cluster.local', now: new Date() });
    expect(codeOf(() => { throw bad; })).toBe('WEFT_ERR_SVID_KEY_USAGE');
    const none = checkServerSvid({} as tls.PeerCertificate, { trustDomain: 'cluster.local', now: new Date() });
    expect(codeOf(() => { throw none; })).toBe('WEFT_ERR_SVID_MISSING');
  });
});

describe('chainErrorCode', () => {
  it('maps OpenSSL verification errors to identity codes', () => {
    expect(chainErrorCode('CERT_HAS_EXPIRED')).toBe('WEFT_ERR_SVID_EXPIRED');
    expect(chainErrorCode('CERT_NOT_YET_VALID')).toBe('WEFT_ERR_SVID_NOT_YET_VALID');
    expect(chainErrorCode('INVALID_PURPOSE')).toBe('WEFT_ERR_SVID_KEY_USAGE');
    expect(chainErrorCode('UNABLE_TO_GET_ISSUER_CERT_LOCALLY')).toBe('WEFT_ERR_SVID_UNTRUSTED');
    expect(chainErrorCode('DEPTH_ZERO_SELF_SIGNED_CERT')).toBe('WEFT_ERR_SVID_UNTRUSTED');
  });
});
