import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSvidLeaf, type SvidLeafCheck } from './svid-leaf.ts';
import { createTestPki, type LeafOptions, type TestPki } from './test-pki.ts';
import { codeOf } from '../test/harness/error-code.ts';

const HOUR = 3_600_000;
const WEB = 'spiffe://cluster.local/ns/demo/sa/web';
const now = new Date();
let pki: TestPki;

beforeAll(() => {
  pki = createTestPki({ now });
});

const leaf = (opts: LeafOptions): X509Certificate => new X509Certificate(pki.issueLeaf(opts).certPem);
const check = (opts: LeafOptions, c: Partial<SvidLeafCheck> = {}): string | undefined =>
  codeOf(() => checkSvidLeaf(leaf(opts), { now, trustDomain: 'cluster.local', ...c }));

describe('checkSvidLeaf', () => {
  it('accepts an SVID and yields its ID, for both TLS roles and the expected ID', () => {
    const cert = leaf({ spiffeId: WEB });
    for (const role of ['client', 'server'] as const) {
      expect(checkSvidLeaf(cert, { now, trustDomain: 'cluster.local', expectedId: WEB, role }).spiffeId).toBe(WEB);
    }
  });

  it.each([
    ['expired', { spiffeId: WEB, notBefore: new Date(now.getTime() - 2 * HOUR), notAfter: new Date(now.getTime() - HOUR) }, 'WEFT_ERR_SVID_EXPIRED'],
    ['not yet valid', { spiffeId: WEB, notBefore: new Date(now.getTime() + HOUR), notAfter: new Date(now.getTime() + 2 * HOUR) }, 'WEFT_ERR_SVID_NOT_YET_VALID'],
    ['a CA', { spiffeId: WEB, isCa: true }, 'WEFT_ERR_SVID_IS_CA'],
    ['without key usage', { spiffeId: WEB, keyUsage: null }, 'WEFT_ERR_SVID_KEY_USAGE'],
    ['without digitalSignature', { spiffeId: WEB, keyUsage: { keyEncipherment: true } }, 'WEFT_ERR_SVID_KEY_USAGE'],
    ['with keyCertSign', { spiffeId: WEB, keyUsage: { digitalSignature: true, keyCertSign: true } }, 'WEFT_ERR_SVID_KEY_USAGE'],
    ['with cRLSign', { spiffeId: WEB, keyUsage: { digitalSignature: true, cRLSign: true } }, 'WEFT_ERR_SVID_KEY_USAGE'],
    ['with two URI SANs', { uris: [WEB, `${WEB}2`] }, 'WEFT_ERR_SVID_SAN'],
    ['with a DNS SAN only', { uris: [], dnsNames: ['web.demo'] }, 'WEFT_ERR_SVID_SAN'],
    ['with a URI that is no SPIFFE ID', { uris: ['https://web.demo/'] }, 'WEFT_ERR_SVID_SAN'],
    ['of another trust domain', { spiffeId: 'spiffe://other.example/ns/demo/sa/web' }, 'WEFT_ERR_SVID_UNTRUSTED'],
  ] as const)('refuses a leaf %s', (_name, opts, code) => {
    expect(check(opts as LeafOptions)).toBe(code);
  });

  it('refuses every ID when the trust domain is empty (our own certificate had none)', () => {
    expect(check({ spiffeId: WEB }, { trustDomain: '' })).toBe('WEFT_ERR_SVID_UNTRUSTED');
  });

  it('refuses another ID than the expected one', () => {
    expect(check({ spiffeId: WEB }, { expectedId: 'spiffe://cluster.local/ns/demo/sa/api' })).toBe('WEFT_ERR_IDENTITY_MISMATCH');
  });

  it('checks the extended key usage against the role, and accepts a leaf without one', () => {
    expect(check({ spiffeId: WEB, extKeyUsage: { serverAuth: true } }, { role: 'client' })).toBe('WEFT_ERR_SVID_KEY_USAGE');
    expect(check({ spiffeId: WEB, extKeyUsage: { clientAuth: true } }, { role: 'server' })).toBe('WEFT_ERR_SVID_KEY_USAGE');
    expect(check({ spiffeId: WEB, extKeyUsage: { serverAuth: true } }, { role: 'server' })).toBeUndefined();
    expect(check({ spiffeId: WEB, extKeyUsage: null }, { role: 'client' })).toBeUndefined();
  });
});
