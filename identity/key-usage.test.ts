import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { keyUsageOf } from './key-usage.ts';
import { createTestPki, type TestPki } from './test-pki.ts';
import { codeOf } from '../test/harness/error-code.ts';

const WEB = 'spiffe://cluster.local/ns/demo/sa/web';
let pki: TestPki;
const der = (pem: string): Buffer => new X509Certificate(pem).raw;

beforeAll(() => {
  pki = createTestPki();
});

describe('keyUsageOf', () => {
  it("reads an SVID leaf's bits (digitalSignature + keyEncipherment)", () => {
    const ku = keyUsageOf(der(pki.issueLeaf({ spiffeId: WEB }).certPem));
    expect(ku).toMatchObject({ digitalSignature: true, keyEncipherment: true, keyCertSign: false, cRLSign: false, decipherOnly: false });
  });

  it("reads a CA's bits (keyCertSign + cRLSign)", () => {
    expect(keyUsageOf(der(pki.anchorPem))).toMatchObject({ digitalSignature: false, keyCertSign: true, cRLSign: true });
  });

  it('reads a bit of the second byte (decipherOnly)', () => {
    const ku = keyUsageOf(der(pki.issueLeaf({ spiffeId: WEB, keyUsage: { keyAgreement: true, decipherOnly: true } }).certPem));
    expect(ku).toMatchObject({ keyAgreement: true, decipherOnly: true, digitalSignature: false, encipherOnly: false });
  });

  it('is undefined for a certificate without the extension', () => {
    expect(keyUsageOf(der(pki.issueLeaf({ spiffeId: WEB, keyUsage: null }).certPem))).toBeUndefined();
  });

  it('refuses truncated or malformed DER with WEFT_ERR_SVID_MALFORMED, never reads past the end', () => {
    const good = der(pki.issueLeaf({ spiffeId: WEB }).certPem);
    for (const cut of [0, 1, 2, 10, 100, good.length - 1]) {
      expect(codeOf(() => keyUsageOf(good.subarray(0, cut)))).toBe('WEFT_ERR_SVID_MALFORMED');
    }
    expect(codeOf(() => keyUsageOf(Buffer.from([0x02, 0x01, 0x00])))).toBe('WEFT_ERR_SVID_MALFORMED');
    expect(codeOf(() => keyUsageOf(Buffer.from([0x30, 0x85, 1, 2, 3, 4, 5])))).toBe('WEFT_ERR_SVID_MALFORMED');
  });
});
