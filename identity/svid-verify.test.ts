import { X509Certificate, createPrivateKey } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import { findWeftError } from '../proto/errors.ts';
import { buildLeafCert, type CertSigner } from './cert-builder.ts';
import { generateRsaKeyPair } from './key-pair.ts';
import {
  certificateSpiffeId,
  parseTrustBundle,
  peerChainFromTlsSocket,
  verifySvid,
  type TrustBundle,
} from './svid-verify.ts';
import { createTestPki, type TestPki } from './test-pki.ts';
import { codeOf } from '../test/harness/error-code.ts';

const HOUR = 3_600_000;
const WEB = 'spiffe://cluster.local/ns/demo/sa/web';
const API = 'spiffe://cluster.local/ns/demo/sa/api';

const pemToDer = (pem: string): Buffer => new X509Certificate(pem).raw;

let pki: TestPki;
let other: TestPki;
let bundle: TrustBundle;
const now = new Date();

beforeAll(() => {
  pki = createTestPki({ now });
  other = createTestPki({ now }); // same trust domain and names, different keys
  bundle = parseTrustBundle(pki.trustBundlePem);
});

describe('verifySvid: accepts', () => {
  it('a good leaf, and yields its ID and notAfter', () => {
    const leaf = pki.issueLeaf({ spiffeId: WEB });
    const res = verifySvid({ chainPem: leaf.chainPem, trustBundlePem: pki.trustBundlePem, now });
    expect(res.spiffeId).toBe(WEB);
    expect(res.identity).toMatchObject({ trustDomain: 'cluster.local', namespace: 'demo', serviceAccount: 'web' });
    expect(res.notAfter.getTime()).toBe(new X509Certificate(leaf.certPem).validToDate.getTime());
  });

  it('the same chain as DER, as one PEM string, and with a pre-parsed bundle', () => {
    const leaf = pki.issueLeaf({ spiffeId: WEB });
    expect(verifySvid({ chainDer: leaf.chainPem.map(pemToDer), trustBundle: bundle, now }).spiffeId).toBe(WEB);
    expect(verifySvid({ chainPem: leaf.chainPem.join('\n'), trustBundle: bundle, now }).spiffeId).toBe(WEB);
    expect(verifySvid({ chainPem: leaf.chainPem, trustBundle: bundle, now, expectedId: WEB }).spiffeId).toBe(WEB);
  });

  it('intermediates out of order, and a trailing copy of the anchor', () => {
    const leaf = pki.issueLeaf({ spiffeId: WEB });
    const [leafPem, issuerPem] = leaf.chainPem as [string, string];
    const chainPem = [leafPem, pki.anchorPem, issuerPem];
    expect(verifySvid({ chainPem, trustBundle: bundle, now }).spiffeId).toBe(WEB);
  });

  it('a bundle with several anchors, in one PEM string or several', () => {
    const leaf = other.issueLeaf({ spiffeId: WEB });
    const both = [pki.anchorPem, other.anchorPem];
    expect(verifySvid({ chainPem: leaf.chainPem, trustBundlePem: both, now }).spiffeId).toBe(WEB);
    expect(verifySvid({ chainPem: leaf.chainPem, trustBundlePem: [both.join('')], now }).spiffeId).toBe(WEB);
  });

  it('at the exact edges of the validity window', () => {
    const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - HOUR);
    const notAfter = new Date(notBefore.getTime() + 2 * HOUR);
    const leaf = pki.issueLeaf({ spiffeId: WEB, notBefore, notAfter });
    expect(verifySvid({ chainPem: leaf.chainPem, trustBundle: bundle, now: notBefore }).spiffeId).toBe(WEB);
    expect(verifySvid({ chainPem: leaf.chainPem, trustBundle: bundle, now: notAfter }).spiffeId).toBe(WEB);
    expect(codeOf(() => verifySvid({ chainPem: leaf.chainPem, trustBundle: bundle, now: new Date(notAfter.getTime() + 1000) }))).toBe(
      'WEFT_ERR_SVID_EXPIRED',
    );
    expect(codeOf(() => verifySvid({ chainPem: leaf.chainPem, trustBundle: bundle, now: new Date(notBefore.getTime() - 1000) }))).toBe(
      'WEFT_ERR_SVID_NOT_YET_VALID',
    );
  });
});

describe('verifySvid: rejects', () => {
  it('a different ID than expected: WEFT_ERR_IDENTITY_MISMATCH', () => {
    const leaf = pki.issueLeaf({ spiffeId: WEB });
    expect(codeOf(() => verifySvid({ chainPem: leaf.chainPem, trustBundle: bundle, now, expectedId: API }))).toBe(
      'WEFT_ERR_IDENTITY_MISMATCH',
    );
  });

  it('an expired leaf: WEFT_ERR_SVID_EXPIRED', () => {
    const leaf = pki.issueLeaf({ spiffeId: WEB, notAfter: new Date(now.getTime() - HOUR) });
    expect(codeOf(() => verifySvid({ chainPem: leaf.chainPem, trustBundle: bundle, now }))).toBe('WEFT_ERR_SVID_EXPIRED');
  });

  it('a leaf not yet valid: WEFT_ERR_SVID_NOT_YET_VALID', () => {
    const leaf = pki.issueLeaf({ spiffeId: WEB, notBefore: new Date(now.getTime() + HOUR) });
    expect(codeOf(() => verifySvid({ chainPem: leaf.chainPem, trustBundle: bundle, now }))).toBe(
      'WEFT_ERR_SVID_NOT_YET_VALID',
    );
  });

  it('an expired intermediate or anchor: WEFT_ERR_SVID_EXPIRED', () => {
    const past = { notBefore: new Date(now.getTime() - 10 * HOUR), notAfter: new Date(now.getTime() - 5 * HOUR) };
    const staleIssuer = createTestPki({ now, issuerValidity: past });
    const leaf1 = staleIssuer.issueLeaf({ spiffeId: WEB });
    expect(codeOf(() => verifySvid({ chainPem: leaf1.chainPem, trustBundlePem: staleIssuer.trustBundlePem, now }))).toBe(
      'WEFT_ERR_SVID_EXPIRED',
    );
    const staleAnchor = createTestPki({ now, anchorValidity: past });
    const leaf2 = staleAnchor.issueLeaf({ spiffeId: WEB });
    expect(codeOf(() => verifySvid({ chainPem: leaf2.chainPem, trustBundlePem: staleAnchor.trustBundlePem, now }))).toBe(
      'WEFT_ERR_SVID_EXPIRED',
    );
  });

  it("a leaf of another PKI's anchor (same names, other keys): WEFT_ERR_SVID_UNTRUSTED", () => {
    const leaf = other.issueLeaf({ spiffeId: WEB });
    expect(codeOf(() => verifySvid({ chainPem: leaf.chainPem, trustBundle: bundle, now }))).toBe('WEFT_ERR_SVID_UNTRUSTED');
    // Presenting our own intermediate does not help: its key did not sign the leaf.
    expect(codeOf(() => verifySvid({ chainPem: [leaf.certPem, pki.issuerPem], trustBundle: bundle, now }))).toBe(
      'WEFT_ERR_SVID_UNTRUSTED',
    );
  });

  it('a leaf without its intermediate: WEFT_ERR_SVID_UNTRUSTED, unless the bundle knows the intermediate', () => {
    const leaf = pki.issueLeaf({ spiffeId: WEB });
    expect(codeOf(() => verifySvid({ chainPem: [leaf.certPem], trustBundle: bundle, now }))).toBe('WEFT_ERR_SVID_UNTRUSTED');
    const withPool = parseTrustBundle(pki.trustBundlePem, { intermediatesPem: pki.issuerPem });
    expect(verifySvid({ chainPem: [leaf.certPem], trustBundle: withPool, now }).spiffeId).toBe(WEB);
  });

  it('known intermediates do not make a foreign chain trusted', () => {
    const stranger = other.issueLeaf({ spiffeId: WEB });
    const pool = parseTrustBundle(pki.trustBundlePem, { intermediatesPem: [pki.issuerPem, other.issuerPem] });
    expect(codeOf(() => verifySvid({ chainPem: [stranger.certPem], trustBundle: pool, now }))).toBe('WEFT_ERR_SVID_UNTRUSTED');
    expect(codeOf(() => verifySvid({ chainPem: stranger.chainPem, trustBundle: pool, now }))).toBe('WEFT_ERR_SVID_UNTRUSTED');
  });

  it('a leaf signed by a non-CA certificate: WEFT_ERR_SVID_UNTRUSTED', () => {
    const middle = pki.issueLeaf({ spiffeId: API });
    const middleSigner: CertSigner = {
      certPem: middle.certPem,
      key: createPrivateKey(middle.keyPem),
      subjectAttributes: forge.pki.certificateFromPem(middle.certPem).subject.attributes,
      keyIdentifier: undefined,
    };
    const forged = buildLeafCert({
      publicKeyPem: generateRsaKeyPair().publicKeyPem,
      signer: middleSigner,
      uris: [WEB],
      notBefore: new Date(now.getTime() - HOUR),
      notAfter: new Date(now.getTime() + HOUR),
    });
    const chainPem = [forged, middle.certPem, pki.issuerPem];
    expect(codeOf(() => verifySvid({ chainPem, trustBundle: bundle, now }))).toBe('WEFT_ERR_SVID_UNTRUSTED');
  });

  it("an ID outside the bundle's trust domain, when the bundle names one: WEFT_ERR_SVID_UNTRUSTED", () => {
    const leaf = pki.issueLeaf({ spiffeId: 'spiffe://elsewhere.org/ns/demo/sa/web' });
    expect(verifySvid({ chainPem: leaf.chainPem, trustBundle: bundle, now }).spiffeId).toContain('elsewhere.org');
    const bound = parseTrustBundle(pki.trustBundlePem, { trustDomain: 'cluster.local' });
    expect(codeOf(() => verifySvid({ chainPem: leaf.chainPem, trustBundle: bound, now }))).toBe('WEFT_ERR_SVID_UNTRUSTED');
  });

  it.each([
    ['two URI SANs', { uris: [WEB, API] }],
    ['zero URI SANs, a DNS SAN', { uris: [], dnsNames: ['web.demo.svc'] }],
    ['no SAN at all', { uris: [] }],
    ['a URI SAN that is not a SPIFFE ID', { uris: ['https://web.demo.svc/'] }],
    ['an invalid SPIFFE ID', { uris: ['spiffe://cluster.local/ns/demo/../sa/web'] }],
  ])('%s: WEFT_ERR_SVID_SAN', (_name, opts) => {
    const leaf = pki.issueLeaf(opts);
    expect(codeOf(() => verifySvid({ chainPem: leaf.chainPem, trustBundle: bundle, now }))).toBe('WEFT_ERR_SVID_SAN');
  });

  it('a CA certificate as the leaf: WEFT_ERR_SVID_IS_CA', () => {
    const leaf = pki.issueLeaf({ spiffeId: WEB, isCa: true });
    expect(codeOf(() => verifySvid({ chainPem: leaf.chainPem, trustBundle: bundle, now }))).toBe('WEFT_ERR_SVID_IS_CA');
    // The intermediate itself, presented as a leaf.
    expect(codeOf(() => verifySvid({ chainPem: [pki.issuerPem], trustBundle: bundle, now }))).toBe('WEFT_ERR_SVID_IS_CA');
  });

  it.each([
    ['text without PEM', { chainPem: 'hello' }],
    ['a PEM block of garbage', { chainPem: '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n' }],
    ['an empty list', { chainPem: [] as string[] }],
    ['garbage DER', { chainDer: [Buffer.from('not a certificate')] }],
    ['no DER', { chainDer: [] as Buffer[] }],
  ])('%s: WEFT_ERR_SVID_MALFORMED', (_name, chain) => {
    expect(codeOf(() => verifySvid({ ...chain, trustBundle: bundle, now } as Parameters<typeof verifySvid>[0]))).toBe(
      'WEFT_ERR_SVID_MALFORMED',
    );
  });

  it('a garbage leaf behind a good intermediate: WEFT_ERR_SVID_MALFORMED', () => {
    const garbage = '-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n';
    expect(codeOf(() => verifySvid({ chainPem: [garbage, pki.issuerPem], trustBundle: bundle, now }))).toBe(
      'WEFT_ERR_SVID_MALFORMED',
    );
  });

  it('a bad trust bundle: WEFT_ERR_SVID_MALFORMED', () => {
    const leaf = pki.issueLeaf({ spiffeId: WEB });
    expect(codeOf(() => verifySvid({ chainPem: leaf.chainPem, trustBundlePem: ['junk'], now }))).toBe('WEFT_ERR_SVID_MALFORMED');
    expect(codeOf(() => verifySvid({ chainPem: leaf.chainPem, trustBundlePem: [], now }))).toBe('WEFT_ERR_SVID_MALFORMED');
    // Anchors and known intermediates must be CAs.
    expect(codeOf(() => parseTrustBundle([leaf.certPem]))).toBe('WEFT_ERR_SVID_MALFORMED');
    expect(codeOf(() => parseTrustBundle(pki.trustBundlePem, { intermediatesPem: [leaf.certPem] }))).toBe(
      'WEFT_ERR_SVID_MALFORMED',
    );
  });

  it('keeps the underlying error as the cause', () => {
    let err: unknown;
    try {
      verifySvid({ chainDer: [Buffer.from('xx')], trustBundle: bundle, now });
    } catch (e) {
      err = e;
    }
    expect(findWeftError(err)?.cause).toBeInstanceOf(Error);
  });
});

describe('certificateSpiffeId', () => {
  it('reads the one URI SAN from PEM, DER or an X509Certificate', () => {
    const leaf = pki.issueLeaf({ spiffeId: WEB });
    expect(certificateSpiffeId(leaf.certPem)).toBe(WEB);
    expect(certificateSpiffeId(pemToDer(leaf.certPem))).toBe(WEB);
    expect(certificateSpiffeId(new X509Certificate(leaf.certPem))).toBe(WEB);
  });

  it('throws WEFT_ERR_SVID_SAN / WEFT_ERR_SVID_MALFORMED', () => {
    expect(codeOf(() => certificateSpiffeId(pki.issueLeaf({ uris: [WEB, API] }).certPem))).toBe('WEFT_ERR_SVID_SAN');
    expect(codeOf(() => certificateSpiffeId(pki.issueLeaf({ uris: [] }).certPem))).toBe('WEFT_ERR_SVID_SAN');
    expect(codeOf(() => certificateSpiffeId('junk'))).toBe('WEFT_ERR_SVID_MALFORMED');
  });
});

describe('over a real TLS connection', () => {
  /** One mTLS handshake on loopback; returns each side's view of the peer chain. */
  async function handshake(
    serverOpts: tls.TlsOptions,
    clientOpts: tls.ConnectionOptions,
  ): Promise<{ clientChainSeenByServer: Buffer[]; serverChainSeenByClient: Buffer[] }> {
    const server = tls.createServer(serverOpts);
    const seen = new Promise<Buffer[]>((resolve, reject) => {
      server.once('secureConnection', (socket: tls.TLSSocket) => {
        try {
          resolve(peerChainFromTlsSocket(socket));
        } catch (err) {
          reject(err);
        }
        socket.end();
      });
      server.once('tlsClientError', reject);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const client = tls.connect({ host: '127.0.0.1', port, ...clientOpts });
    try {
      await once(client, 'secureConnect');
      const serverChainSeenByClient = peerChainFromTlsSocket(client);
      const clientChainSeenByServer = await seen;
      return { clientChainSeenByServer, serverChainSeenByClient };
    } finally {
      client.destroy();
      server.close();
    }
  }

  // SVIDs carry no hostname: the SPIFFE ID is checked instead of the name.
  const noHostnameCheck = { checkServerIdentity: () => undefined };

  it('the server verifies the client SVID from the socket, and the client the server SVID', async () => {
    const serverLeaf = pki.issueLeaf({ spiffeId: API });
    const clientLeaf = pki.issueLeaf({ spiffeId: WEB });
    const { clientChainSeenByServer, serverChainSeenByClient } = await handshake(
      { ...serverLeaf.tls, requestCert: true, rejectUnauthorized: true },
      { ...clientLeaf.tls, ...noHostnameCheck },
    );
    expect(clientChainSeenByServer[0]).toEqual(pemToDer(clientLeaf.certPem));
    const t = new Date();
    // Server side, Node 24.21 may hand over the leaf alone (see peerChainFromTlsSocket):
    // the bundle knows the mesh's intermediate to complete the chain.
    const serverBundle = parseTrustBundle(pki.trustBundlePem, { intermediatesPem: [pki.issuerPem] });
    expect(
      verifySvid({ chainDer: clientChainSeenByServer, trustBundle: serverBundle, now: t, expectedId: WEB }).spiffeId,
    ).toBe(WEB);
    // Client side the full chain arrives.
    expect(serverChainSeenByClient.length).toBeGreaterThanOrEqual(2);
    expect(verifySvid({ chainDer: serverChainSeenByClient, trustBundle: bundle, now: t, expectedId: API }).spiffeId).toBe(API);
    expect(codeOf(() => verifySvid({ chainDer: serverChainSeenByClient, trustBundle: bundle, now: t, expectedId: WEB }))).toBe(
      'WEFT_ERR_IDENTITY_MISMATCH',
    );
  });

  it("a client of another PKI, let through by TLS, is WEFT_ERR_SVID_UNTRUSTED", async () => {
    const serverLeaf = pki.issueLeaf({ spiffeId: API });
    const stranger = other.issueLeaf({ spiffeId: WEB });
    const { clientChainSeenByServer } = await handshake(
      { ...serverLeaf.tls, requestCert: true, rejectUnauthorized: false },
      { ...stranger.tls, ca: pki.trustBundlePem, ...noHostnameCheck },
    );
    expect(clientChainSeenByServer[0]).toEqual(pemToDer(stranger.certPem));
    expect(codeOf(() => verifySvid({ chainDer: clientChainSeenByServer, trustBundle: bundle, now: new Date() }))).toBe(
      'WEFT_ERR_SVID_UNTRUSTED',
    );
  });

  it('a client without a certificate yields an empty chain, which is WEFT_ERR_SVID_MALFORMED', async () => {
    const serverLeaf = pki.issueLeaf({ spiffeId: API });
    const { clientChainSeenByServer } = await handshake(
      { ...serverLeaf.tls, requestCert: true, rejectUnauthorized: false },
      { ca: pki.trustBundlePem, ...noHostnameCheck },
    );
    expect(clientChainSeenByServer).toEqual([]);
    expect(codeOf(() => verifySvid({ chainDer: clientChainSeenByServer, trustBundle: bundle, now: new Date() }))).toBe(
      'WEFT_ERR_SVID_MALFORMED',
    );
  });
});
