import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { findWeftError } from '../proto/errors.ts';
import { parseSubjectAltName, uriSans } from './subject-alt-name.ts';
import { createTestPki, type TestPki } from './test-pki.ts';

describe('parseSubjectAltName', () => {
  it('splits plain entries', () => {
    expect(parseSubjectAltName('URI:spiffe://td/a, DNS:a.example, IP Address:127.0.0.1')).toEqual([
      { type: 'URI', value: 'spiffe://td/a' },
      { type: 'DNS', value: 'a.example' },
      { type: 'IP Address', value: '127.0.0.1' },
    ]);
  });

  it('returns nothing for a certificate without SANs', () => {
    expect(parseSubjectAltName(undefined)).toEqual([]);
    expect(parseSubjectAltName('')).toEqual([]);
  });

  it('decodes JSON-quoted values, with the prefix outside or inside the quotes', () => {
    expect(parseSubjectAltName('DNS:"a\\u002cb.example", URI:spiffe://td/x')).toEqual([
      { type: 'DNS', value: 'a,b.example' },
      { type: 'URI', value: 'spiffe://td/x' },
    ]);
    expect(parseSubjectAltName('"URI:spiffe://td/x, URI:spiffe://td/y", DNS:z')).toEqual([
      { type: 'URI', value: 'spiffe://td/x, URI:spiffe://td/y' },
      { type: 'DNS', value: 'z' },
    ]);
  });

  it('rejects broken quoting and entries without a type', () => {
    expect(() => parseSubjectAltName('URI:"unterminated')).toThrow();
    expect(findWeftError(catchErr(() => parseSubjectAltName('URI:"unterminated')))?.code).toBe('WEFT_ERR_SVID_MALFORMED');
    expect(findWeftError(catchErr(() => parseSubjectAltName('nocolon')))?.code).toBe('WEFT_ERR_SVID_MALFORMED');
  });
});

describe('uriSans on real certificates', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = createTestPki();
  });

  it('cannot be fooled by a value that contains ", URI:"', () => {
    const leaf = pki.issueLeaf({ uris: ['spiffe://td/a, URI:spiffe://td/b'] });
    const san = new X509Certificate(leaf.certPem).subjectAltName;
    expect(uriSans(san)).toEqual(['spiffe://td/a, URI:spiffe://td/b']);
  });

  it('sees every URI SAN among other kinds', () => {
    const leaf = pki.issueLeaf({
      uris: ['spiffe://td/a', 'spiffe://td/b'],
      dnsNames: ['x.example', 'weird"name'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    expect(uriSans(new X509Certificate(leaf.certPem).subjectAltName)).toEqual(['spiffe://td/a', 'spiffe://td/b']);
  });
});

function catchErr(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
