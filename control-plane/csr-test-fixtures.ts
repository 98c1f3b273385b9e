// CSRs for tests of csr-check.ts and Identity.Certify: well-formed ones, and
// ones that a CA must refuse (extra SANs, CA requests, weak or EC keys, bad
// signatures). node-forge assembles the request; Node's crypto signs it
// (faster than forge's JS RSA). Test-only: nothing outside tests imports this.

import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import forge from 'node-forge';
import { generateRsaKeyPair, type KeyPairPem } from '../identity/key-pair.ts';

export interface TestCsrOptions {
  /** RSA private key (PEM) that signs the CSR and whose public key it carries. Default: a shared 2048-bit key. */
  keyPem?: string;
  commonName?: string;
  uris?: readonly string[];
  dnsNames?: readonly string[];
  emails?: readonly string[];
  ipAddresses?: readonly string[];
  /** Put each SAN in its own subjectAltName extension. */
  separateSanExtensions?: boolean;
  /** Request basicConstraints CA:TRUE. */
  isCa?: boolean;
  /** Request keyUsage keyCertSign. */
  keyCertSign?: boolean;
  /** Default sha256. */
  digest?: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  /** PEM label; default CERTIFICATE REQUEST. */
  pemType?: string;
}

const SIGNATURE_OIDS = {
  sha1: '1.2.840.113549.1.1.5',
  sha256: '1.2.840.113549.1.1.11',
  sha384: '1.2.840.113549.1.1.12',
  sha512: '1.2.840.113549.1.1.13',
} as const;

const getCertificationRequestInfo = (forge.pki as unknown as {
  getCertificationRequestInfo(csr: forge.pki.CertificateSigningRequest): forge.asn1.Asn1;
}).getCertificationRequestInfo;

let sharedKey: KeyPairPem | undefined;

/** The default key of createTestCsr, generated once. */
export function sharedCsrKey(): KeyPairPem {
  sharedKey ??= generateRsaKeyPair();
  return sharedKey;
}

/** A signed PKCS#10 CSR (PEM) as described by `opts`. */
export function createTestCsr(opts: TestCsrOptions = {}): string {
  const keyPem = opts.keyPem ?? sharedCsrKey().keyPem;
  const privateKey = createPrivateKey(keyPem);
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();

  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  csr.setSubject(opts.commonName === undefined ? [] : [{ shortName: 'CN', value: opts.commonName }]);

  const altNames = [
    ...(opts.uris ?? []).map((value) => ({ type: 6, value })),
    ...(opts.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(opts.emails ?? []).map((value) => ({ type: 1, value })),
    ...(opts.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  const extensions: object[] = [];
  if (altNames.length > 0) {
    if (opts.separateSanExtensions) {
      for (const n of altNames) extensions.push({ name: 'subjectAltName', altNames: [n] });
    } else {
      extensions.push({ name: 'subjectAltName', altNames });
    }
  }
  if (opts.isCa) extensions.push({ name: 'basicConstraints', critical: true, cA: true });
  if (opts.keyCertSign) extensions.push({ name: 'keyUsage', critical: true, keyCertSign: true, digitalSignature: true });
  if (extensions.length > 0) {
    csr.setAttributes([{ name: 'extensionRequest', extensions } as unknown as forge.pki.CertificateField]);
  }

  const digest = opts.digest ?? 'sha256';
  csr.signatureOid = SIGNATURE_OIDS[digest];
  csr.siginfo.algorithmOid = SIGNATURE_OIDS[digest];
  csr.certificationRequestInfo = getCertificationRequestInfo(csr);
  const criDer = Buffer.from(forge.asn1.toDer(csr.certificationRequestInfo).getBytes(), 'binary');
  csr.signature = sign(digest, criDer, privateKey).toString('binary');
  const der = forge.asn1.toDer(forge.pki.certificationRequestToAsn1(csr)).getBytes();
  return forge.pem.encode({ type: opts.pemType ?? 'CERTIFICATE REQUEST', body: der });
}

/** A correctly self-signed CSR with a P-256 EC key (forge cannot build these). */
export function createEcCsr(): string {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { asn1 } = forge;
  const U = asn1.Class.UNIVERSAL;
  const spki = asn1.fromDer(publicKey.export({ type: 'spki', format: 'der' }).toString('binary'));
  const cri = asn1.create(U, asn1.Type.SEQUENCE, true, [
    asn1.create(U, asn1.Type.INTEGER, false, asn1.integerToDer(0).getBytes()),
    asn1.create(U, asn1.Type.SEQUENCE, true, []),
    spki,
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, []),
  ]);
  const criDer = Buffer.from(asn1.toDer(cri).getBytes(), 'binary');
  const signature = sign('sha256', criDer, privateKey);
  const csr = asn1.create(U, asn1.Type.SEQUENCE, true, [
    cri,
    asn1.create(U, asn1.Type.SEQUENCE, true, [
      asn1.create(U, asn1.Type.OID, false, asn1.oidToDer('1.2.840.10045.4.3.2').getBytes()), // ecdsa-with-SHA256
    ]),
    asn1.create(U, asn1.Type.BITSTRING, false, `\u0000${signature.toString('binary')}`),
  ]);
  return forge.pem.encode({ type: 'CERTIFICATE REQUEST', body: asn1.toDer(csr).getBytes() });
}

/**
 * The CSR with `from` replaced by `to` (same length) inside its DER, after
 * signing: the structure stays valid, the signature no longer matches.
 */
export function tamperCsr(csrPem: string, from: string, to: string): string {
  if (from.length !== to.length) throw new RangeError('tamperCsr: from and to must have the same length');
  const block = forge.pem.decode(csrPem)[0];
  if (block === undefined) throw new TypeError('tamperCsr: no PEM block');
  const der = Buffer.from(block.body, 'binary');
  const at = der.indexOf(from, 0, 'latin1');
  if (at === -1) throw new RangeError(`tamperCsr: ${JSON.stringify(from)} not found`);
  der.write(to, at, 'latin1');
  return forge.pem.encode({ type: block.type, body: der.toString('binary') });
}
