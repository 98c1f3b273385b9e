// Workload side of Certify: a fresh key pair and a PKCS#10 CSR for it. The
// CSR carries the SPIFFE ID as its only URI SAN (the CA ignores it and uses
// the authenticated identity, but a correct CSR documents intent).
// Off the event loop: the key is generated on libuv's thread pool and the
// CSR is signed natively (forge's pure-JS RSA would block a proxy ~50 ms).
import { promisify } from 'node:util';
import forge from 'node-forge';
// node:crypto via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const { generateKeyPair, sign } = process.getBuiltinModule('node:crypto');

export interface KeyAndCsr {
  keyPem: string;
  csrPem: string;
}

const generate = promisify(generateKeyPair);
const SHA256_WITH_RSA = forge.pki.oids.sha256WithRSAEncryption ?? '1.2.840.113549.1.1.11';

export async function createKeyAndCsr(spiffeId: string, modulusLength = 2048): Promise<KeyAndCsr> {
  const { privateKey, publicKey } = await generate('rsa', { modulusLength });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  csr.setSubject([{ name: 'organizationName', value: 'weft' }]);
  csr.setAttributes([
    {
      name: 'extensionRequest',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: spiffeId }] }],
    },
  ]);
  // What csr.sign() does, with the signature made natively.
  const c = csr as forge.pki.CertificateSigningRequest & { signatureOid: string; siginfo: { algorithmOid: string }; certificationRequestInfo: forge.asn1.Asn1 };
  c.signatureOid = SHA256_WITH_RSA;
  c.siginfo.algorithmOid = SHA256_WITH_RSA;
  c.certificationRequestInfo = (forge.pki as unknown as { getCertificationRequestInfo(c: unknown): forge.asn1.Asn1 }).getCertificationRequestInfo(csr);
  const infoDer = Buffer.from(forge.asn1.toDer(c.certificationRequestInfo).getBytes(), 'binary');
  csr.signature = sign('sha256', infoDer, privateKey).toString('binary');
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), csrPem: forge.pki.certificationRequestToPem(csr) };
}
