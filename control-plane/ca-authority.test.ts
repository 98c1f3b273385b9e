import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateRsaKeyPair } from '../identity/key-pair.ts';
import { verifySvid } from '../identity/svid-verify.ts';
import { DEFAULT_LEAF_LIFETIME_MS, LEAF_BACKDATE_MS, createCaAuthority, type IssuedEvent } from './ca-authority.ts';
import { createCaMaterial } from './ca-material.ts';
import { codeOf } from '../test/harness/error-code.ts';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const TD = 'cluster.local';
const ID = 'spiffe://cluster.local/ns/demo/sa/web';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

const material = createCaMaterial({ trustDomain: TD, now: NOW, issuerLifetimeMs: 30 * DAY });
const leafKey = generateRsaKeyPair();

describe('createCaAuthority / issueLeaf', () => {
  it('issues an SVID: one URI SAN, CA:FALSE, server+client auth, backdated a minute, 24 h', () => {
    const ca = createCaAuthority(material, { trustDomain: TD, now: NOW });
    const now = NOW + 12_345; // not on a second boundary
    const issued = ca.issueLeaf({ spiffeId: ID, publicKeyPem: leafKey.publicKeyPem, now });
    const leaf = new X509Certificate(issued.leafPem);
    expect(leaf.subjectAltName).toBe(`URI:${ID}`);
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage).toEqual(expect.arrayContaining([SERVER_AUTH, CLIENT_AUTH]));
    expect(leaf.publicKey.export({ type: 'spki', format: 'pem' })).toBe(leafKey.publicKeyPem);
    expect(leaf.validFromDate.getTime()).toBe(Math.floor((now - LEAF_BACKDATE_MS) / 1000) * 1000);
    expect(leaf.validToDate.getTime()).toBe(Math.floor((now + DEFAULT_LEAF_LIFETIME_MS) / 1000) * 1000);
    expect(issued.validUntilUnixMs).toBe(leaf.validToDate.getTime());
    expect(issued.intermediatesPem).toEqual([material.issuerPem]);
    const verified = verifySvid({
      chainPem: [issued.leafPem, ...issued.intermediatesPem],
      trustBundlePem: ca.trustBundlePem,
      now: new Date(now - 30_000), // a peer whose clock is 30 s behind
      expectedId: ID,
    });
    expect(verified.spiffeId).toBe(ID);
  });

  it('honours lifetimeMs, but never beyond the issuer', () => {
    const ca = createCaAuthority(material, { trustDomain: TD, now: NOW });
    const oneHour = ca.issueLeaf({ spiffeId: ID, publicKeyPem: leafKey.publicKeyPem, now: NOW, lifetimeMs: HOUR });
    expect(oneHour.validUntilUnixMs).toBe(NOW + HOUR);
    const late = NOW + 30 * DAY - 2 * HOUR;
    const clipped = ca.issueLeaf({ spiffeId: ID, publicKeyPem: leafKey.publicKeyPem, now: late });
    expect(clipped.validUntilUnixMs).toBe(ca.issuerNotAfterUnixMs);
    expect(new X509Certificate(clipped.leafPem).validToDate.getTime()).toBe(ca.issuerNotAfterUnixMs);
    expect(() => ca.issueLeaf({ spiffeId: ID, publicKeyPem: leafKey.publicKeyPem, now: NOW, lifetimeMs: 0 })).toThrow(
      RangeError,
    );
  });

  it('never starts a leaf before its issuer', () => {
    const ca = createCaAuthority(material, { trustDomain: TD, now: NOW });
    const issuerStart = new X509Certificate(material.issuerPem).validFromDate.getTime();
    const issued = ca.issueLeaf({ spiffeId: ID, publicKeyPem: leafKey.publicKeyPem, now: issuerStart + 1000 });
    expect(new X509Certificate(issued.leafPem).validFromDate.getTime()).toBe(issuerStart);
  });

  it('counts what it issues and reports each certificate', () => {
    const events: IssuedEvent[] = [];
    const ca = createCaAuthority(material, { trustDomain: TD, now: NOW, onIssued: (e) => events.push(e) });
    expect(ca.issuedCount()).toBe(0);
    ca.issueLeaf({ spiffeId: ID, publicKeyPem: leafKey.publicKeyPem, now: NOW });
    const second = ca.issueLeaf({ spiffeId: ID, publicKeyPem: leafKey.publicKeyPem, now: NOW });
    expect(ca.issuedCount()).toBe(2);
    expect(events).toEqual([
      { spiffeId: ID, validUntilUnixMs: NOW + DAY, issuedCount: 1 },
      { spiffeId: ID, validUntilUnixMs: second.validUntilUnixMs, issuedCount: 2 },
    ]);
  });

  it('refuses IDs outside its trust domain or invalid, and issues nothing', () => {
    const ca = createCaAuthority(material, { trustDomain: TD, now: NOW });
    const issue = (spiffeId: string) => () => ca.issueLeaf({ spiffeId, publicKeyPem: leafKey.publicKeyPem, now: NOW });
    expect(codeOf(issue('spiffe://example.org/ns/demo/sa/web'))).toBe('WEFT_ERR_CERTIFY_DENIED');
    expect(codeOf(issue('https://cluster.local/ns/demo/sa/web'))).toBe('WEFT_ERR_CERTIFY_DENIED');
    expect(codeOf(issue(''))).toBe('WEFT_ERR_CERTIFY_DENIED');
    expect(ca.issuedCount()).toBe(0);
  });

  it('refuses to issue when its issuer is not valid at now', () => {
    const ca = createCaAuthority(material, { trustDomain: TD, now: NOW });
    const at = (now: number) => () => ca.issueLeaf({ spiffeId: ID, publicKeyPem: leafKey.publicKeyPem, now });
    expect(codeOf(at(NOW + 31 * DAY))).toBe('WEFT_ERR_CA_EXPIRED');
    expect(codeOf(at(NOW - DAY))).toBe('WEFT_ERR_CA_EXPIRED');
    expect(ca.issuedCount()).toBe(0);
  });

  it('refuses material that does not check out', () => {
    const other = createCaMaterial({ trustDomain: TD, now: NOW });
    expect(codeOf(() => createCaAuthority({ ...material, issuerKeyPem: other.issuerKeyPem }, { trustDomain: TD, now: NOW }))).toBe(
      'WEFT_ERR_CA_INVALID',
    );
    expect(codeOf(() => createCaAuthority(material, { trustDomain: TD, now: NOW + 31 * DAY }))).toBe('WEFT_ERR_CA_EXPIRED');
  });
});
