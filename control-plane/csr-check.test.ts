import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyAndCsr } from '../identity/csr-create.ts';
import { createTestPki } from '../identity/test-pki.ts';
import { CSR_MAX_PEM_BYTES, checkCsr } from './csr-check.ts';
import { createEcCsr, createTestCsr, sharedCsrKey, tamperCsr } from './csr-test-fixtures.ts';
import { codeOf } from '../test/harness/error-code.ts';

const ID = 'spiffe://cluster.local/ns/demo/sa/web';
const OTHER = 'spiffe://cluster.local/ns/demo/sa/api';

function rsaKeyPem(modulusLength: number, publicExponent?: number): string {
  return generateKeyPairSync('rsa', {
    modulusLength,
    ...(publicExponent === undefined ? {} : { publicExponent }),
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  }).privateKey;
}

describe('checkCsr: accepted requests', () => {
  it('returns the public key of a CSR whose one URI SAN is the authenticated ID', () => {
    const pem = checkCsr(createTestCsr({ uris: [ID] }), ID);
    expect(pem).toBe(sharedCsrKey().publicKeyPem);
  });

  it('accepts the CSRs workloads make (identity/csr-create.ts)', async () => {
    const { keyPem, csrPem } = await createKeyAndCsr(ID);
    expect(checkCsr(csrPem, ID)).toBe(createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString());
  });

  it('accepts a CSR without SANs: the ID comes from the token, not the CSR', () => {
    expect(checkCsr(createTestCsr(), ID)).toBe(sharedCsrKey().publicKeyPem);
  });

  it('ignores the subject (a CN that names someone else changes nothing)', () => {
    expect(checkCsr(createTestCsr({ commonName: 'admin', uris: [ID] }), ID)).toBe(sharedCsrKey().publicKeyPem);
  });

  it('accepts SHA-384/512 signatures, the legacy NEW CERTIFICATE REQUEST label and RSA keys above 2048 bits', () => {
    expect(codeOf(() => checkCsr(createTestCsr({ digest: 'sha384' }), ID))).toBeUndefined();
    expect(codeOf(() => checkCsr(createTestCsr({ digest: 'sha512' }), ID))).toBeUndefined();
    expect(codeOf(() => checkCsr(createTestCsr({ pemType: 'NEW CERTIFICATE REQUEST' }), ID))).toBeUndefined();
    const keyPem = rsaKeyPem(3072);
    const expected = createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString();
    expect(checkCsr(createTestCsr({ keyPem }), ID)).toBe(expected);
  });
});

describe('checkCsr: refused requests', () => {
  it('refuses empty and oversized input before parsing', () => {
    expect(codeOf(() => checkCsr('', ID))).toBe('WEFT_ERR_CSR_INVALID');
    expect(codeOf(() => checkCsr('   \n', ID))).toBe('WEFT_ERR_CSR_INVALID');
    const big = createTestCsr({ commonName: 'x'.repeat(CSR_MAX_PEM_BYTES) });
    expect(codeOf(() => checkCsr(big, ID))).toBe('WEFT_ERR_CSR_TOO_LARGE');
    expect(codeOf(() => checkCsr(`${createTestCsr()}${' '.repeat(CSR_MAX_PEM_BYTES)}`, ID))).toBe(
      'WEFT_ERR_CSR_TOO_LARGE',
    );
  });

  it('refuses what is not exactly one PEM CSR', () => {
    const csr = createTestCsr();
    expect(codeOf(() => checkCsr('hello', ID))).toBe('WEFT_ERR_CSR_INVALID');
    expect(codeOf(() => checkCsr(`${csr}${csr}`, ID))).toBe('WEFT_ERR_CSR_INVALID');
    expect(codeOf(() => checkCsr(createTestPki().anchorPem, ID))).toBe('WEFT_ERR_CSR_INVALID');
    expect(codeOf(() => checkCsr('-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n', ID))).toBe(
      'WEFT_ERR_CSR_INVALID',
    );
    // Trailing bytes after the DER structure.
    const lines = csr.trim().split('\n');
    const body = Buffer.concat([Buffer.from(lines.slice(1, -1).join(''), 'base64'), Buffer.from([0, 0])]);
    const padded = `-----BEGIN CERTIFICATE REQUEST-----\n${body.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(codeOf(() => checkCsr(padded, ID))).toBe('WEFT_ERR_CSR_INVALID');
  });

  it('refuses a CSR altered after signing (the self-signature no longer verifies)', () => {
    const csr = createTestCsr({ commonName: 'tamper-me', uris: [ID] });
    expect(codeOf(() => checkCsr(csr, ID))).toBeUndefined();
    expect(codeOf(() => checkCsr(tamperCsr(csr, 'tamper-me', 'tamper-mx'), ID))).toBe('WEFT_ERR_CSR_SIGNATURE');
  });

  it('refuses a CSR whose URI SAN was rewritten after signing', () => {
    const csr = createTestCsr({ uris: [OTHER] });
    expect(codeOf(() => checkCsr(tamperCsr(csr, 'sa/api', 'sa/web'), ID))).toBe('WEFT_ERR_CSR_SIGNATURE');
  });

  it('refuses SHA-1 signatures', () => {
    expect(codeOf(() => checkCsr(createTestCsr({ digest: 'sha1' }), ID))).toBe('WEFT_ERR_CSR_SIGNATURE');
  });

  it('refuses CA requests', () => {
    expect(codeOf(() => checkCsr(createTestCsr({ isCa: true }), ID))).toBe('WEFT_ERR_CSR_CA');
    expect(codeOf(() => checkCsr(createTestCsr({ uris: [ID], isCa: true }), ID))).toBe('WEFT_ERR_CSR_CA');
    expect(codeOf(() => checkCsr(createTestCsr({ keyCertSign: true }), ID))).toBe('WEFT_ERR_CSR_CA');
  });

  it('refuses SANs other than exactly one URI', () => {
    const cases = [
      { uris: [ID], dnsNames: ['web.demo.svc'] },
      { uris: [ID, ID] },
      { uris: [ID, OTHER] },
      { dnsNames: ['web.demo.svc'] },
      { emails: ['web@example.com'] },
      { ipAddresses: ['10.0.0.1'] },
      { uris: [ID], ipAddresses: ['127.0.0.1'] },
      { uris: [ID], dnsNames: ['web.demo.svc'], separateSanExtensions: true },
      { uris: [ID, ID], separateSanExtensions: true },
    ];
    for (const opts of cases) {
      expect({ opts, code: codeOf(() => checkCsr(createTestCsr(opts), ID)) }).toEqual({ opts, code: 'WEFT_ERR_CSR_SAN' });
    }
  });

  it("refuses a URI SAN that is another workload's identity", () => {
    expect(codeOf(() => checkCsr(createTestCsr({ uris: [OTHER] }), ID))).toBe('WEFT_ERR_CERTIFY_DENIED');
    expect(codeOf(() => checkCsr(createTestCsr({ uris: [`${ID}/x`] }), ID))).toBe('WEFT_ERR_CERTIFY_DENIED');
    expect(codeOf(() => checkCsr(createTestCsr({ uris: ['https://example.com/'] }), ID))).toBe(
      'WEFT_ERR_CERTIFY_DENIED',
    );
  });

  it('refuses weak RSA keys', () => {
    expect(codeOf(() => checkCsr(createTestCsr({ keyPem: rsaKeyPem(1024) }), ID))).toBe('WEFT_ERR_CSR_KEY_WEAK');
    expect(codeOf(() => checkCsr(createTestCsr({ keyPem: rsaKeyPem(2048, 3) }), ID))).toBe('WEFT_ERR_CSR_KEY_WEAK');
  });

  it('refuses non-RSA keys with a clear code (the CA encodes only RSA subject keys)', () => {
    expect(() => checkCsr(createEcCsr(), ID)).toThrow(/EC is not supported/);
    expect(codeOf(() => checkCsr(createEcCsr(), ID))).toBe('WEFT_ERR_CSR_KEY_UNSUPPORTED');
  });
});
