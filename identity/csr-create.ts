// Workload side of Certify: a fresh key pair and a PKCS#10 CSR for it. The
// CSR carries the SPIFFE ID as its only URI SAN (the CA ignores it and uses
// the authenticated identity, but a correct CSR documents intent).
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface KeyAndCsr {
  keyPem: string;
  csrPem: string;
}

export function createKeyAndCsr(spiffeId: string, modulusLength = 2048): KeyAndCsr {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicPem);
  csr.setSubject([{ name: 'organizationName', value: 'weft' }]);
  csr.setAttributes([
    {
      name: 'extensionRequest',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: spiffeId }] }],
    },
  ]);
  csr.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { keyPem, csrPem: forge.pki.certificationRequestToPem(csr) };
}
