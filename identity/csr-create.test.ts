import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { createKeyAndCsr } from './csr-create.ts';

describe('createKeyAndCsr', () => {
  it('makes a CSR whose self-signature verifies, for the returned key, with the SPIFFE ID as its only SAN', async () => {
    const id = 'spiffe://cluster.local/ns/demo/sa/web';
    const { keyPem, csrPem } = await createKeyAndCsr(id);
    const csr = forge.pki.certificationRequestFromPem(csrPem);
    expect(csr.verify()).toBe(true);
    const ext = (csr.getAttribute({ name: 'extensionRequest' }) as { extensions: Array<{ name: string; altNames: Array<{ type: number; value: string }> }> }).extensions;
    expect(ext.find((e) => e.name === 'subjectAltName')?.altNames).toEqual([{ type: 6, value: id }]);
    const pub = forge.pki.publicKeyToPem(csr.publicKey as forge.pki.PublicKey);
    const fromKey = forge.pki.publicKeyToPem(forge.pki.setRsaPublicKey((forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey).n, (forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey).e));
    expect(pub).toBe(fromKey);
    expect(() => new X509Certificate(csrPem)).toThrow();
  });
});
