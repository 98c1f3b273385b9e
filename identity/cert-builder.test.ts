import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildCaCert,
  buildLeafCert,
  buildRootCaCert,
  loadSigner,
  randomSerialHex,
  type CertSigner,
} from './cert-builder.ts';
import { generateRsaKeyPair, type KeyPairPem } from './key-pair.ts';

const notBefore = new Date('2030-01-01T00:00:00.000Z');
const notAfter = new Date('2031-01-01T00:00:00.000Z');

let rootKey: KeyPairPem;
let issuerKey: KeyPairPem;
let leafKey: KeyPairPem;
let rootPem: string;
let issuerPem: string;
let signer: CertSigner;

beforeAll(() => {
  rootKey = generateRsaKeyPair();
  issuerKey = generateRsaKeyPair();
  leafKey = generateRsaKeyPair();
  rootPem = buildRootCaCert({ keyPem: rootKey.keyPem, subject: { organization: 'td', commonName: 'Root' }, notBefore, notAfter });
  issuerPem = buildCaCert({
    publicKeyPem: issuerKey.publicKeyPem,
    signer: { certPem: rootPem, keyPem: rootKey.keyPem },
    subject: { organization: 'td', commonName: 'Issuer' },
    notBefore,
    notAfter,
    pathLength: 0,
  });
  signer = loadSigner({ certPem: issuerPem, keyPem: issuerKey.keyPem });
});

function extension(pem: string, name: string): Record<string, unknown> | undefined {
  return forge.pki.certificateFromPem(pem).getExtension(name) as Record<string, unknown> | undefined;
}

describe('buildRootCaCert', () => {
  it('is a self-signed CA with the given subject and validity', () => {
    const root = new X509Certificate(rootPem);
    expect(root.ca).toBe(true);
    expect(root.subject).toBe('O=td\nCN=Root');
    expect(root.issuer).toBe(root.subject);
    expect(root.checkIssued(root)).toBe(true);
    expect(root.verify(root.publicKey)).toBe(true);
    expect(root.validFromDate).toEqual(notBefore);
    expect(root.validToDate).toEqual(notAfter);
    expect(extension(rootPem, 'keyUsage')).toMatchObject({ critical: true, keyCertSign: true, cRLSign: true });
  });
});

describe('buildCaCert', () => {
  it('is a CA signed by its signer, with a path length', () => {
    const root = new X509Certificate(rootPem);
    const issuer = new X509Certificate(issuerPem);
    expect(issuer.ca).toBe(true);
    expect(issuer.checkIssued(root)).toBe(true);
    expect(issuer.verify(root.publicKey)).toBe(true);
    expect(extension(issuerPem, 'basicConstraints')).toMatchObject({ critical: true, cA: true, pathLenConstraint: 0 });
  });

  it('accepts the signer as PEMs or loaded once', () => {
    const opts = { publicKeyPem: leafKey.publicKeyPem, subject: { commonName: 'Sub' }, notBefore, notAfter };
    const a = new X509Certificate(buildCaCert({ ...opts, signer }));
    const b = new X509Certificate(buildCaCert({ ...opts, signer: { certPem: issuerPem, keyPem: issuerKey.keyPem } }));
    const issuer = new X509Certificate(issuerPem);
    expect(a.checkIssued(issuer) && a.verify(issuer.publicKey)).toBe(true);
    expect(b.checkIssued(issuer) && b.verify(issuer.publicKey)).toBe(true);
  });
});

describe('buildLeafCert', () => {
  it('builds an SVID: CA:FALSE critical, key usages, SANs, signed by the issuer', () => {
    const pem = buildLeafCert({
      publicKeyPem: leafKey.publicKeyPem,
      signer,
      uris: ['spiffe://td/ns/a/sa/b'],
      dnsNames: ['b.a.svc'],
      ipAddresses: ['127.0.0.1'],
      notBefore,
      notAfter,
    });
    const leaf = new X509Certificate(pem);
    const issuer = new X509Certificate(issuerPem);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(issuer)).toBe(true);
    expect(leaf.verify(issuer.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe('URI:spiffe://td/ns/a/sa/b, DNS:b.a.svc, IP Address:127.0.0.1');
    expect(leaf.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(leaf.publicKey.export({ type: 'spki', format: 'pem' })).toBe(leafKey.publicKeyPem);
    expect(extension(pem, 'basicConstraints')).toMatchObject({ critical: true, cA: false });
    expect(extension(pem, 'keyUsage')).toMatchObject({
      critical: true,
      digitalSignature: true,
      keyEncipherment: true,
      keyCertSign: false,
    });
    // No subject: the SAN extension must be critical (RFC 5280 4.2.1.6).
    expect(leaf.subject).toBeFalsy();
    expect(extension(pem, 'subjectAltName')).toMatchObject({ critical: true });
  });

  it('keeps the SAN non-critical when there is a subject, and omits an empty SAN', () => {
    const withSubject = buildLeafCert({
      publicKeyPem: leafKey.publicKeyPem,
      signer,
      subject: { commonName: 'web' },
      uris: ['spiffe://td/x'],
      notBefore,
      notAfter,
    });
    expect(extension(withSubject, 'subjectAltName')).toMatchObject({ critical: false });
    const bare = buildLeafCert({ publicKeyPem: leafKey.publicKeyPem, signer, notBefore, notAfter });
    expect(new X509Certificate(bare).subjectAltName).toBeUndefined();
  });

  it('can mark a leaf CA:TRUE (for rejection tests)', () => {
    const pem = buildLeafCert({ publicKeyPem: leafKey.publicKeyPem, signer, uris: ['spiffe://td/x'], isCa: true, notBefore, notAfter });
    expect(new X509Certificate(pem).ca).toBe(true);
  });

  it('uses positive serials: random ones differ, given ones are encoded minimally', () => {
    const serial = (serialHex?: string): string =>
      new X509Certificate(buildLeafCert({ publicKeyPem: leafKey.publicKeyPem, signer, notBefore, notAfter, ...(serialHex ? { serialHex } : {}) }))
        .serialNumber;
    const a = serial();
    const b = serial();
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[4-7][0-9A-F]{31}$/);
    expect(serial('0001')).toBe('01');
    expect(serial('ab12')).toBe('AB12'); // a negative encoding would print as '-...'
    expect(serial('7f')).toBe('7F');
    expect(/^[4-7]/.test(randomSerialHex())).toBe(true);
  });

  it('truncates validity to whole seconds', () => {
    const pem = buildLeafCert({
      publicKeyPem: leafKey.publicKeyPem,
      signer,
      notBefore: new Date('2030-01-01T00:00:00.999Z'),
      notAfter: new Date('2030-01-02T00:00:00.500Z'),
    });
    expect(new X509Certificate(pem).validFromDate.toISOString()).toBe('2030-01-01T00:00:00.000Z');
  });
});

describe('input checks', () => {
  it('rejects an empty or inverted validity window', () => {
    expect(() => buildLeafCert({ publicKeyPem: leafKey.publicKeyPem, signer, notBefore: notAfter, notAfter: notBefore })).toThrow(
      RangeError,
    );
    expect(() => buildLeafCert({ publicKeyPem: leafKey.publicKeyPem, signer, notBefore, notAfter: notBefore })).toThrow(RangeError);
    expect(() => buildLeafCert({ publicKeyPem: leafKey.publicKeyPem, signer, notBefore: new Date(NaN), notAfter })).toThrow(
      RangeError,
    );
  });

  it('rejects bad serials', () => {
    expect(() => buildLeafCert({ publicKeyPem: leafKey.publicKeyPem, signer, notBefore, notAfter, serialHex: 'xyz' })).toThrow(
      RangeError,
    );
    expect(() => buildLeafCert({ publicKeyPem: leafKey.publicKeyPem, signer, notBefore, notAfter, serialHex: '00' })).toThrow(
      RangeError,
    );
  });

  it('rejects non-RSA subject keys (node-forge encodes only RSA)', () => {
    const ec = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    }).publicKey;
    expect(() => buildLeafCert({ publicKeyPem: ec, signer, notBefore, notAfter })).toThrow(TypeError);
  });

  it('refuses a signer that is not a CA, or whose key does not match', () => {
    const leafPem = buildLeafCert({ publicKeyPem: leafKey.publicKeyPem, signer, notBefore, notAfter });
    expect(() => loadSigner({ certPem: leafPem, keyPem: leafKey.keyPem })).toThrow(TypeError);
    expect(() => loadSigner({ certPem: issuerPem, keyPem: rootKey.keyPem })).toThrow(TypeError);
    expect(() => loadSigner({ certPem: 'junk', keyPem: issuerKey.keyPem })).toThrow(TypeError);
  });
});
