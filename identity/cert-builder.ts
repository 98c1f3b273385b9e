// Builds X.509 certificates: self-signed roots, intermediate CAs and leaf
// SVIDs. node-forge assembles the TBSCertificate; Node's native crypto signs
// it (forge's pure-JS RSA signature costs ~50 ms, native ~1 ms). Every input,
// validity and serial number included, is a parameter: the caller owns the
// clock. Keys are PEM (subject keys RSA: forge encodes only RSA public keys).

import type { KeyObject, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
// node:crypto via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const { X509Certificate: X509, createPrivateKey, createPublicKey, randomBytes, sign } = process.getBuiltinModule('node:crypto');

export interface DistinguishedName {
  commonName?: string;
  organization?: string;
  organizationalUnit?: string;
  country?: string;
}

/** A CA that signs certificates: its certificate and private key, parsed once by loadSigner. */
export interface CertSigner {
  readonly certPem: string;
  readonly key: KeyObject;
  /** The CA's subject, as forge attributes, to become the issuer of what it signs. */
  readonly subjectAttributes: readonly forge.pki.CertificateField[];
  /** The CA's subjectKeyIdentifier (binary string), if it has one. */
  readonly keyIdentifier: string | undefined;
}

/** Either a loaded signer or the PEMs to load one from. */
export type SignerInput = CertSigner | { certPem: string; keyPem: string };

export interface CommonCertOptions {
  subject?: DistinguishedName;
  notBefore: Date;
  notAfter: Date;
  /** Hex; a random positive 127-bit serial when omitted. */
  serialHex?: string;
}

export interface RootCaCertOptions extends CommonCertOptions {
  subject: DistinguishedName;
  /** The root's own private key; it signs itself. */
  keyPem: string;
  pathLength?: number;
}

export interface CaCertOptions extends CommonCertOptions {
  subject: DistinguishedName;
  publicKeyPem: string;
  signer: SignerInput;
  pathLength?: number;
}

export interface LeafCertOptions extends CommonCertOptions {
  publicKeyPem: string;
  signer: SignerInput;
  /** URI SANs; an SVID has exactly one, its SPIFFE ID. Not validated here. */
  uris?: readonly string[];
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  /** basicConstraints CA:TRUE instead of CA:FALSE (for tests of rejection). */
  isCa?: boolean;
  /**
   * For tests of rejection: the keyUsage bits to set instead of the default
   * (node-forge names, e.g. { keyCertSign: true }), or null for no keyUsage
   * extension at all.
   */
  keyUsage?: Readonly<Record<string, boolean>> | null;
  /** For tests of rejection: the extKeyUsage purposes instead of serverAuth + clientAuth, or null for none. */
  extKeyUsage?: Readonly<Record<string, boolean>> | null;
}

const SHA256_WITH_RSA = forge.pki.oids['sha256WithRSAEncryption'] as string;
const SAN_URI = 6;
const SAN_DNS = 2;
const SAN_IP = 7;

/** A random positive serial number, 16 bytes, minimal DER encoding. */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/** Parses a CA's certificate and key once, for signing many certificates. */
export function loadSigner(input: { certPem: string; keyPem: string }): CertSigner {
  let x509: X509Certificate;
  let key: KeyObject;
  try {
    x509 = new X509(input.certPem);
    key = createPrivateKey(input.keyPem);
  } catch (cause) {
    throw new TypeError('signer certificate or key cannot be parsed', { cause });
  }
  if (!x509.ca) throw new TypeError(`signer certificate is not a CA: ${x509.subject}`);
  if (!x509.checkPrivateKey(key)) throw new TypeError('signer key does not match signer certificate');
  if (key.asymmetricKeyType !== 'rsa') throw new TypeError('signer key must be RSA');
  const cert = forge.pki.certificateFromPem(input.certPem);
  const ski = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  return {
    certPem: input.certPem,
    key,
    subjectAttributes: cert.subject.attributes,
    keyIdentifier: ski?.subjectKeyIdentifier ? forge.util.hexToBytes(ski.subjectKeyIdentifier) : undefined,
  };
}

function toSigner(input: SignerInput): CertSigner {
  return 'key' in input ? input : loadSigner(input);
}

/** A self-signed CA certificate (a trust anchor). Returns PEM. */
export function buildRootCaCert(opts: RootCaCertOptions): string {
  const key = createPrivateKey(opts.keyPem);
  const publicKeyPem = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  const subject = dnToAttributes(opts.subject);
  return signCert({
    publicKeyPem,
    subject,
    issuer: subject,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    serialHex: opts.serialHex,
    signingKey: key,
    extensions: (cert) => [
      caBasicConstraints(opts.pathLength),
      { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
      { name: 'subjectKeyIdentifier' },
      // Self-signed: the authority key is the certificate's own.
      { name: 'authorityKeyIdentifier', keyIdentifier: cert.generateSubjectKeyIdentifier().getBytes() },
    ],
  });
}

/** An intermediate CA certificate signed by `signer`. Returns PEM. */
export function buildCaCert(opts: CaCertOptions): string {
  const signer = toSigner(opts.signer);
  return signCert({
    publicKeyPem: opts.publicKeyPem,
    subject: dnToAttributes(opts.subject),
    issuer: signer.subjectAttributes,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    serialHex: opts.serialHex,
    signingKey: signer.key,
    extensions: () => [
      caBasicConstraints(opts.pathLength),
      { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
      { name: 'subjectKeyIdentifier' },
      ...authorityKeyId(signer),
    ],
  });
}

/**
 * A leaf certificate (an X.509 SVID when `uris` holds one SPIFFE ID) signed by
 * `signer`: CA:FALSE (critical), digitalSignature + keyEncipherment,
 * serverAuth + clientAuth, the SANs. With no subject, the SAN extension is
 * critical (RFC 5280 4.2.1.6). Returns PEM.
 */
export function buildLeafCert(opts: LeafCertOptions): string {
  const signer = toSigner(opts.signer);
  const subject = dnToAttributes(opts.subject ?? {});
  const altNames = [
    ...(opts.uris ?? []).map((value) => ({ type: SAN_URI, value })),
    ...(opts.dnsNames ?? []).map((value) => ({ type: SAN_DNS, value })),
    ...(opts.ipAddresses ?? []).map((ip) => ({ type: SAN_IP, ip })),
  ];
  const isCa = opts.isCa === true;
  return signCert({
    publicKeyPem: opts.publicKeyPem,
    subject,
    issuer: signer.subjectAttributes,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    serialHex: opts.serialHex,
    signingKey: signer.key,
    extensions: () => [
      { name: 'basicConstraints', critical: true, cA: isCa },
      ...keyUsageExtension(opts.keyUsage, isCa),
      ...(opts.extKeyUsage === null ? [] : [{ name: 'extKeyUsage', ...(opts.extKeyUsage ?? { serverAuth: true, clientAuth: true }) }]),
      ...(altNames.length > 0 ? [{ name: 'subjectAltName', critical: subject.length === 0, altNames }] : []),
      { name: 'subjectKeyIdentifier' },
      ...authorityKeyId(signer),
    ],
  });
}

function keyUsageExtension(bits: LeafCertOptions['keyUsage'], isCa: boolean): object[] {
  if (bits === null) return [];
  if (bits !== undefined) return [{ name: 'keyUsage', critical: true, ...bits }];
  return isCa
    ? [{ name: 'keyUsage', critical: true, digitalSignature: true, keyCertSign: true, cRLSign: true }]
    : [{ name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true }];
}

function caBasicConstraints(pathLength: number | undefined): object {
  return pathLength === undefined
    ? { name: 'basicConstraints', critical: true, cA: true }
    : { name: 'basicConstraints', critical: true, cA: true, pathLenConstraint: pathLength };
}

function authorityKeyId(signer: CertSigner): object[] {
  return signer.keyIdentifier === undefined
    ? []
    : [{ name: 'authorityKeyIdentifier', keyIdentifier: signer.keyIdentifier }];
}

function dnToAttributes(dn: DistinguishedName): forge.pki.CertificateField[] {
  const attrs: forge.pki.CertificateField[] = [];
  // forge reads valueTagClass as the value's ASN.1 type; its typings call it a Class.
  const utf8 = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;
  if (dn.country !== undefined) attrs.push({ shortName: 'C', value: dn.country }); // PrintableString
  if (dn.organization !== undefined) attrs.push({ shortName: 'O', value: dn.organization, valueTagClass: utf8 });
  if (dn.organizationalUnit !== undefined) {
    attrs.push({ shortName: 'OU', value: dn.organizationalUnit, valueTagClass: utf8 });
  }
  if (dn.commonName !== undefined) attrs.push({ shortName: 'CN', value: dn.commonName, valueTagClass: utf8 });
  return attrs;
}

/** Positive, minimally encoded DER INTEGER contents as hex. */
function normalizeSerial(hex: string | undefined): string {
  if (hex === undefined) return randomSerialHex();
  if (!/^[0-9a-fA-F]+$/.test(hex)) throw new RangeError(`serial number is not hex: ${hex}`);
  let h = hex.toLowerCase().replace(/^0+/, '');
  if (h === '') throw new RangeError('serial number must be positive');
  if (h.length % 2 === 1) h = `0${h}`;
  if (parseInt(h.slice(0, 2), 16) >= 0x80) h = `00${h}`;
  return h;
}

// forge's typings omit getTBSCertificate, which cert.sign() uses internally.
const getTBSCertificate = (forge.pki as unknown as {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
}).getTBSCertificate;

interface SignCertInput {
  publicKeyPem: string;
  subject: forge.pki.CertificateField[];
  issuer: readonly forge.pki.CertificateField[];
  notBefore: Date;
  notAfter: Date;
  serialHex: string | undefined;
  signingKey: KeyObject;
  extensions: (cert: forge.pki.Certificate) => object[];
}

function signCert(input: SignCertInput): string {
  if (!(input.notBefore instanceof Date) || Number.isNaN(input.notBefore.getTime())) {
    throw new RangeError('notBefore must be a valid Date');
  }
  if (!(input.notAfter instanceof Date) || Number.isNaN(input.notAfter.getTime())) {
    throw new RangeError('notAfter must be a valid Date');
  }
  if (input.notAfter.getTime() <= input.notBefore.getTime()) throw new RangeError('notAfter must be after notBefore');
  if (input.signingKey.asymmetricKeyType !== 'rsa') throw new TypeError('signing key must be RSA');
  if (createPublicKey(input.publicKeyPem).asymmetricKeyType !== 'rsa') {
    throw new TypeError('subject public key must be RSA (node-forge encodes only RSA keys)');
  }

  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(input.publicKeyPem);
  cert.serialNumber = normalizeSerial(input.serialHex);
  cert.validity.notBefore = input.notBefore;
  cert.validity.notAfter = input.notAfter;
  cert.setSubject(input.subject);
  cert.setIssuer([...input.issuer]);
  cert.setExtensions(input.extensions(cert));

  // What cert.sign() does, with the signature made natively.
  cert.signatureOid = SHA256_WITH_RSA;
  cert.siginfo.algorithmOid = SHA256_WITH_RSA;
  cert.tbsCertificate = getTBSCertificate(cert);
  const tbsDer = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
  cert.signature = sign('sha256', tbsDer, input.signingKey).toString('binary');
  return forge.pki.certificateToPem(cert);
}
