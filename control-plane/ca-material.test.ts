import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTestPki } from '../identity/test-pki.ts';
import {
  DEFAULT_ANCHOR_LIFETIME_MS,
  DEFAULT_ISSUER_LIFETIME_MS,
  checkCaMaterial,
  createCaMaterial,
  renewIssuer,
} from './ca-material.ts';
import { codeOf } from '../test/harness/error-code.ts';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const DAY = 86_400_000;

describe('createCaMaterial', () => {
  const material = createCaMaterial({ trustDomain: 'cluster.local', now: NOW });

  it('makes a self-signed anchor and an issuer it signed, both CAs, valid at now', () => {
    const anchor = new X509Certificate(material.anchorPem);
    const issuer = new X509Certificate(material.issuerPem);
    expect(anchor.ca).toBe(true);
    expect(issuer.ca).toBe(true);
    expect(anchor.checkIssued(anchor)).toBe(true);
    expect(issuer.checkIssued(anchor) && issuer.verify(anchor.publicKey)).toBe(true);
    expect(anchor.subject).toContain('O=cluster.local');
    expect(anchor.validToDate.getTime()).toBe(NOW + DEFAULT_ANCHOR_LIFETIME_MS);
    expect(issuer.validToDate.getTime()).toBe(NOW + DEFAULT_ISSUER_LIFETIME_MS);
    expect(anchor.validFromDate.getTime()).toBeLessThan(NOW);
    const checked = checkCaMaterial(material, NOW);
    expect(checked.issuerNotAfterUnixMs).toBe(NOW + DEFAULT_ISSUER_LIFETIME_MS);
  });

  it('refuses an invalid trust domain', () => {
    expect(codeOf(() => createCaMaterial({ trustDomain: 'Bad Domain', now: NOW }))).toBe('WEFT_ERR_SPIFFE_ID_INVALID');
    expect(codeOf(() => createCaMaterial({ trustDomain: 'a/b', now: NOW }))).toBe('WEFT_ERR_SPIFFE_ID_INVALID');
  });

  it('renewIssuer keeps the anchor, makes a new issuer key, and never outlives the anchor', () => {
    const short = createCaMaterial({ trustDomain: 'cluster.local', now: NOW, anchorLifetimeMs: 100 * DAY });
    const renewed = renewIssuer(short, { trustDomain: 'cluster.local', now: NOW + 50 * DAY });
    expect(renewed.anchorPem).toBe(short.anchorPem);
    expect(renewed.issuerKeyPem).not.toBe(short.issuerKeyPem);
    const anchor = new X509Certificate(renewed.anchorPem);
    expect(new X509Certificate(renewed.issuerPem).validToDate.getTime()).toBe(anchor.validToDate.getTime());
    expect(checkCaMaterial(renewed, NOW + 50 * DAY).material).toBe(renewed);
  });

  it('renewIssuer needs the anchor key and a live anchor', () => {
    const { anchorKeyPem: _dropped, ...noKey } = material;
    expect(codeOf(() => renewIssuer(noKey, { trustDomain: 'cluster.local', now: NOW }))).toBe('WEFT_ERR_CA_INVALID');
    expect(
      codeOf(() => renewIssuer(material, { trustDomain: 'cluster.local', now: NOW + DEFAULT_ANCHOR_LIFETIME_MS + DAY })),
    ).toBe('WEFT_ERR_CA_EXPIRED');
  });
});

describe('checkCaMaterial', () => {
  const a = createCaMaterial({ trustDomain: 'cluster.local', now: NOW });
  const b = createCaMaterial({ trustDomain: 'cluster.local', now: NOW });

  it('accepts material without the anchor key (an externally managed anchor)', () => {
    const { anchorKeyPem: _dropped, ...noKey } = a;
    expect(codeOf(() => checkCaMaterial(noKey, NOW))).toBeUndefined();
  });

  it('accepts a PKI built elsewhere (identity/test-pki.ts)', () => {
    const pki = createTestPki({ now: new Date(NOW) });
    const material = { anchorPem: pki.anchorPem, issuerPem: pki.issuerPem, issuerKeyPem: pki.issuerKeyPem };
    expect(codeOf(() => checkCaMaterial(material, NOW))).toBeUndefined();
  });

  it('refuses mismatched, foreign, unparseable or non-CA material', () => {
    expect(codeOf(() => checkCaMaterial({ ...a, issuerKeyPem: b.issuerKeyPem }, NOW))).toBe('WEFT_ERR_CA_INVALID');
    expect(codeOf(() => checkCaMaterial({ ...a, anchorKeyPem: b.anchorKeyPem }, NOW))).toBe('WEFT_ERR_CA_INVALID');
    expect(codeOf(() => checkCaMaterial({ ...a, issuerPem: b.issuerPem, issuerKeyPem: b.issuerKeyPem }, NOW))).toBe(
      'WEFT_ERR_CA_INVALID',
    );
    expect(codeOf(() => checkCaMaterial({ ...a, anchorPem: 'nope' }, NOW))).toBe('WEFT_ERR_CA_INVALID');
    expect(codeOf(() => checkCaMaterial({ ...a, issuerKeyPem: 'nope' }, NOW))).toBe('WEFT_ERR_CA_INVALID');
    // The issuer as its own anchor: it is not self-signed.
    expect(codeOf(() => checkCaMaterial({ ...a, anchorPem: a.issuerPem, anchorKeyPem: undefined }, NOW))).toBe(
      'WEFT_ERR_CA_INVALID',
    );
    // A leaf in the issuer's place.
    const pki = createTestPki({ now: new Date(NOW) });
    const leaf = pki.issueLeaf();
    const leafAsIssuer = { anchorPem: pki.anchorPem, issuerPem: pki.issuerPem, issuerKeyPem: pki.issuerKeyPem };
    expect(codeOf(() => checkCaMaterial({ ...leafAsIssuer, issuerPem: leaf.certPem, issuerKeyPem: leaf.keyPem }, NOW))).toBe(
      'WEFT_ERR_CA_INVALID',
    );
  });

  it('refuses an EC issuer key (the certificate builder signs with RSA)', () => {
    const { privateKey } = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    expect(() => checkCaMaterial({ ...a, issuerKeyPem: privateKey }, NOW)).toThrow(/must be RSA/);
  });

  it('refuses material outside its validity window', () => {
    expect(codeOf(() => checkCaMaterial(a, NOW - 2 * 3_600_000))).toBe('WEFT_ERR_CA_EXPIRED');
    expect(codeOf(() => checkCaMaterial(a, NOW + DEFAULT_ISSUER_LIFETIME_MS))).toBe('WEFT_ERR_CA_EXPIRED');
  });
});
