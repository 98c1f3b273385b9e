import { X509Certificate, createPrivateKey } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateRsaKeyPair } from './key-pair.ts';
import { createTestPki, type TestPki } from './test-pki.ts';

const HOUR = 3_600_000;
const now = new Date('2030-06-01T12:00:00.000Z');
let pki: TestPki;

beforeAll(() => {
  pki = createTestPki({ trustDomain: 'example.org', now });
});

describe('createTestPki', () => {
  it('has an anchor, an issuer signed by it, and a one-element trust bundle', () => {
    const anchor = new X509Certificate(pki.anchorPem);
    const issuer = new X509Certificate(pki.issuerPem);
    expect(pki.trustBundlePem).toEqual([pki.anchorPem]);
    expect(anchor.ca && issuer.ca).toBe(true);
    expect(issuer.checkIssued(anchor) && issuer.verify(anchor.publicKey)).toBe(true);
    expect(anchor.checkPrivateKey(createPrivateKey(pki.anchorKeyPem))).toBe(true);
    expect(issuer.checkPrivateKey(createPrivateKey(pki.issuerKeyPem))).toBe(true);
    expect(anchor.validFromDate.getTime()).toBeLessThan(now.getTime());
  });

  it('issues a default workload SVID around `now`, with its chain and TLS options', () => {
    const leaf = pki.issueLeaf();
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.subjectAltName).toBe('URI:spiffe://example.org/ns/default/sa/default');
    expect(cert.validFromDate.getTime()).toBeLessThanOrEqual(now.getTime());
    expect(cert.validToDate.getTime()).toBeGreaterThanOrEqual(now.getTime() + 23 * HOUR);
    expect(leaf.chainPem).toEqual([leaf.certPem, pki.issuerPem]);
    expect(leaf.tls).toEqual({ key: leaf.keyPem, cert: leaf.certPem + pki.issuerPem, ca: [pki.anchorPem] });
    expect(cert.checkPrivateKey(createPrivateKey(leaf.keyPem))).toBe(true);
  });

  it('names the workload by namespace and service account, or takes an exact ID or URI list', () => {
    const san = (leaf: { certPem: string }): string | undefined => new X509Certificate(leaf.certPem).subjectAltName;
    expect(san(pki.issueLeaf({ namespace: 'demo', serviceAccount: 'web' }))).toBe('URI:spiffe://example.org/ns/demo/sa/web');
    expect(san(pki.issueLeaf({ spiffeId: 'spiffe://x/y' }))).toBe('URI:spiffe://x/y');
    expect(san(pki.issueLeaf({ uris: ['spiffe://x/a', 'spiffe://x/b'] }))).toBe('URI:spiffe://x/a, URI:spiffe://x/b');
    expect(san(pki.issueLeaf({ uris: [] }))).toBeUndefined();
    expect(() => pki.issueLeaf({ spiffeId: 'spiffe://x/y', uris: [] })).toThrow(TypeError);
  });

  it('shares one leaf key by default, reuses a given key, or certifies a bare public key', () => {
    expect(pki.issueLeaf().keyPem).toBe(pki.issueLeaf().keyPem);
    const own = generateRsaKeyPair();
    expect(pki.issueLeaf({ keyPem: own.keyPem }).keyPem).toBe(own.keyPem);
    const bare = pki.issueLeaf({ publicKeyPem: own.publicKeyPem });
    expect('keyPem' in bare).toBe(false);
    expect(new X509Certificate(bare.certPem).publicKey.export({ type: 'spki', format: 'pem' })).toBe(own.publicKeyPem);
  });

  it('fits a default window around a given notBefore or notAfter', () => {
    const expired = new X509Certificate(pki.issueLeaf({ notAfter: new Date(now.getTime() - 2 * HOUR) }).certPem);
    expect(expired.validFromDate.getTime()).toBeLessThan(expired.validToDate.getTime());
    const future = new X509Certificate(pki.issueLeaf({ notBefore: new Date(now.getTime() + 48 * HOUR) }).certPem);
    expect(future.validToDate.getTime()).toBeGreaterThan(future.validFromDate.getTime());
  });
});
