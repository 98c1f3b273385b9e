import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WeftError } from '../proto/errors.ts';
import type { CertifyRequest } from '../proto/mesh.ts';
import { createCaAuthority } from './ca-authority.ts';
import { createCaMaterial } from './ca-material.ts';
import { createTestCsr, tamperCsr } from './csr-test-fixtures.ts';
import { certify, type CertifyDeps } from './identity-service.ts';
import { createBootstrapTokenValidator, type TokenValidator } from './token-validator.ts';
import { codeOfAsync as codeOf } from '../test/harness/error-code.ts';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const TD = 'cluster.local';
const WEB = 'spiffe://cluster.local/ns/demo/sa/web';
const API = 'spiffe://cluster.local/ns/demo/sa/api';

const material = createCaMaterial({ trustDomain: TD, now: NOW });

function setup(): { deps: CertifyDeps; token: string; issued: () => number } {
  const validator = createBootstrapTokenValidator();
  const token = validator.issue('demo', 'web');
  const ca = createCaAuthority(material, { trustDomain: TD, now: NOW });
  return { deps: { validator, ca, trustDomain: TD, now: NOW }, token, issued: () => ca.issuedCount() };
}

describe('certify', () => {
  it("issues a leaf for the token's workload, with or without the expected identity", async () => {
    const { deps, token, issued } = setup();
    for (const req of [
      { identity: WEB, token, csrPem: createTestCsr({ uris: [WEB] }) },
      { identity: '', token, csrPem: createTestCsr() },
    ]) {
      const res = await certify(req, deps);
      const leaf = new X509Certificate(res.leafPem);
      expect(leaf.subjectAltName).toBe(`URI:${WEB}`);
      expect(res.intermediatesPem).toEqual([material.issuerPem]);
      expect(res.validUntilUnixMs).toBe(NOW + 24 * 3_600_000);
    }
    expect(issued()).toBe(2);
  });

  it('takes the ID from the token even when the CSR subject names someone else', async () => {
    const { deps, token } = setup();
    const res = await certify({ identity: '', token, csrPem: createTestCsr({ commonName: API }) }, deps);
    expect(new X509Certificate(res.leafPem).subjectAltName).toBe(`URI:${WEB}`);
  });

  it('passes lifetimeMs to the CA', async () => {
    const { deps, token } = setup();
    const res = await certify({ identity: WEB, token, csrPem: createTestCsr() }, { ...deps, lifetimeMs: 3_600_000 });
    expect(res.validUntilUnixMs).toBe(NOW + 3_600_000);
  });

  it('refuses, issuing nothing: bad token, another identity, bad CSRs', async () => {
    const { deps, token, issued } = setup();
    const csrPem = createTestCsr({ uris: [WEB], commonName: 'tamper-me' });
    const cases: [string, CertifyRequest, string][] = [
      ['no token', { identity: WEB, token: '', csrPem }, 'WEFT_ERR_TOKEN_INVALID'],
      ['unknown token', { identity: WEB, token: 'x'.repeat(43), csrPem }, 'WEFT_ERR_TOKEN_INVALID'],
      ['identity of another workload', { identity: API, token, csrPem }, 'WEFT_ERR_CERTIFY_DENIED'],
      ['identity in another trust domain', { identity: 'spiffe://example.org/ns/demo/sa/web', token, csrPem }, 'WEFT_ERR_CERTIFY_DENIED'],
      ['CSR SAN of another workload', { identity: WEB, token, csrPem: createTestCsr({ uris: [API] }) }, 'WEFT_ERR_CERTIFY_DENIED'],
      ['CSR SAN of another workload, no identity', { identity: '', token, csrPem: createTestCsr({ uris: [API] }) }, 'WEFT_ERR_CERTIFY_DENIED'],
      ['tampered CSR', { identity: WEB, token, csrPem: tamperCsr(csrPem, 'tamper-me', 'tamper-mx') }, 'WEFT_ERR_CSR_SIGNATURE'],
      ['URI + DNS SANs', { identity: WEB, token, csrPem: createTestCsr({ uris: [WEB], dnsNames: ['web'] }) }, 'WEFT_ERR_CSR_SAN'],
      ['CA request', { identity: WEB, token, csrPem: createTestCsr({ isCa: true }) }, 'WEFT_ERR_CSR_CA'],
      ['no CSR', { identity: WEB, token, csrPem: '' }, 'WEFT_ERR_CSR_INVALID'],
    ];
    const got: [string, string | undefined][] = [];
    for (const [name, req] of cases) got.push([name, await codeOf(certify(req, deps))]);
    expect(got).toEqual(cases.map(([name, , code]) => [name, code]));
    expect(issued()).toBe(0);
  });

  it('refuses a token whose service account makes no valid SPIFFE ID', async () => {
    const { deps, issued } = setup();
    const validator: TokenValidator = { validate: async () => ({ namespace: 'demo', serviceAccount: 'a/b' }) };
    expect(await codeOf(certify({ identity: '', token: 't', csrPem: createTestCsr() }, { ...deps, validator }))).toBe(
      'WEFT_ERR_CERTIFY_DENIED',
    );
    expect(issued()).toBe(0);
  });

  it('lets other validator failures through (not a verdict on the token)', async () => {
    const { deps } = setup();
    const down = new Error('TokenReview unreachable');
    const validator: TokenValidator = { validate: async () => Promise.reject(down) };
    await expect(certify({ identity: '', token: 't', csrPem: createTestCsr() }, { ...deps, validator })).rejects.toBe(down);
    const typed: TokenValidator = {
      validate: async () => Promise.reject(new WeftError('WEFT_ERR_TOKEN_INVALID', 'expired')),
    };
    expect(await codeOf(certify({ identity: '', token: 't', csrPem: createTestCsr() }, { ...deps, validator: typed }))).toBe(
      'WEFT_ERR_TOKEN_INVALID',
    );
  });

  it('checks the token before the CSR (an unauthenticated caller learns nothing about CSR rules)', async () => {
    const { deps } = setup();
    expect(await codeOf(certify({ identity: '', token: 'nope', csrPem: 'garbage' }, deps))).toBe('WEFT_ERR_TOKEN_INVALID');
  });
});
