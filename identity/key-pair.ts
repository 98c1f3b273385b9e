// Key pairs as PEM strings, made with Node's native crypto (node-forge's pure
// JS key generation is far slower). RSA, because node-forge, which builds
// Weft's certificates, only handles RSA subject keys.

// node:crypto via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const { createPrivateKey, createPublicKey, generateKeyPairSync } = process.getBuiltinModule('node:crypto');

export interface KeyPairPem {
  /** PKCS#8 private key */
  keyPem: string;
  /** SPKI public key */
  publicKeyPem: string;
}

/** A fresh RSA key pair (2048 bits unless told). Costs roughly 50-300 ms. */
export function generateRsaKeyPair(modulusLength = 2048): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { keyPem: privateKey, publicKeyPem: publicKey };
}

/** The SPKI PEM public key of a private key PEM. */
export function publicKeyPemOf(keyPem: string): string {
  return createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'pem' }).toString();
}
