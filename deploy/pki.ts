// Key material `weft install` puts in the cluster:
//   - the identity CA (trust anchor + issuer) in Secret weft-identity, made
//     here unless the user hands in their own;
//   - the injector's serving certificate: a CA of its own (the webhook's
//     caBundle, trusted for nothing else) and a leaf for the injector
//     Service's DNS names, in Secret weft-injector-tls.
// The clock is a parameter; keys are RSA (identity/cert-builder.ts).
import { X509Certificate } from 'node:crypto';
import { WeftError } from '../proto/errors.ts';
import { buildLeafCert, buildRootCaCert } from '../identity/cert-builder.ts';
import { generateRsaKeyPair } from '../identity/key-pair.ts';
import {
  CA_BACKDATE_MS,
  checkCaMaterial,
  createCaMaterial,
  renewIssuer,
  type CaMaterial,
} from '../control-plane/ca-material.ts';
import { INJECTOR, MESH_NAMESPACE } from './names.ts';

const DAY_MS = 24 * 3_600_000;
export const INJECTOR_CA_LIFETIME_MS = 10 * 365 * DAY_MS;
export const INJECTOR_CERT_LIFETIME_MS = 365 * DAY_MS;

export interface InjectorTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** The DNS names the apiserver may use for the injector Service. */
export function injectorDnsNames(namespace = MESH_NAMESPACE): string[] {
  return [
    `${INJECTOR}.${namespace}.svc`,
    `${INJECTOR}.${namespace}.svc.cluster.local`,
    `${INJECTOR}.${namespace}`,
  ];
}

export function createInjectorTls(now: number): InjectorTls {
  const caKey = generateRsaKeyPair();
  const caPem = buildRootCaCert({
    keyPem: caKey.keyPem,
    subject: { organization: 'weft', commonName: 'Weft injector webhook CA' },
    notBefore: new Date(now - CA_BACKDATE_MS),
    notAfter: new Date(now + INJECTOR_CA_LIFETIME_MS),
    pathLength: 0,
  });
  const leafKey = generateRsaKeyPair();
  const [first] = injectorDnsNames();
  const certPem = buildLeafCert({
    publicKeyPem: leafKey.publicKeyPem,
    signer: { certPem: caPem, keyPem: caKey.keyPem },
    subject: { commonName: first },
    dnsNames: injectorDnsNames(),
    notBefore: new Date(now - CA_BACKDATE_MS),
    notAfter: new Date(now + INJECTOR_CERT_LIFETIME_MS),
  });
  return { caPem, certPem, keyPem: leafKey.keyPem };
}

/** PEM text handed in by the user (any may be absent). */
export interface ProvidedIdentity {
  trustAnchorPem?: string | undefined;
  trustAnchorKeyPem?: string | undefined;
  issuerPem?: string | undefined;
  issuerKeyPem?: string | undefined;
}

function identityError(message: string, cause?: unknown): WeftError {
  return new WeftError('WEFT_ERR_CA_INVALID', message, cause === undefined ? undefined : { cause });
}

/**
 * The identity CA to install:
 *   - nothing given: a new anchor (10 years) and issuer (1 year); the anchor
 *     key is kept, so the control plane can renew the issuer itself;
 *   - an anchor and an issuer with its key: used as they are (plus the anchor
 *     key if given);
 *   - an anchor with its key but no issuer: a new issuer under that anchor.
 * Whatever is returned passed checkCaMaterial at `now`. Throws
 * WEFT_ERR_CA_INVALID / WEFT_ERR_CA_EXPIRED with a message naming the flag.
 */
export function resolveIdentity(given: ProvidedIdentity, trustDomain: string, now: number): CaMaterial {
  const { trustAnchorPem, trustAnchorKeyPem, issuerPem, issuerKeyPem } = given;
  let material: CaMaterial;
  if (trustAnchorPem === undefined) {
    if (trustAnchorKeyPem !== undefined || issuerPem !== undefined || issuerKeyPem !== undefined) {
      throw identityError('--identity-issuer-* and --identity-trust-anchor-key-pem need --identity-trust-anchor-pem');
    }
    material = createCaMaterial({ trustDomain, now });
  } else if (issuerPem !== undefined || issuerKeyPem !== undefined) {
    if (issuerPem === undefined || issuerKeyPem === undefined) {
      throw identityError('--identity-issuer-pem and --identity-issuer-key-pem go together');
    }
    material = { anchorPem: trustAnchorPem, anchorKeyPem: trustAnchorKeyPem, issuerPem, issuerKeyPem };
  } else if (trustAnchorKeyPem !== undefined) {
    material = renewIssuer({ anchorPem: trustAnchorPem, anchorKeyPem: trustAnchorKeyPem }, { trustDomain, now });
  } else {
    throw identityError(
      '--identity-trust-anchor-pem needs either --identity-issuer-pem and --identity-issuer-key-pem, or --identity-trust-anchor-key-pem to make an issuer',
    );
  }
  checkCaMaterial(material, now);
  return material;
}

/** True when `certPem` was signed by the CA `caPem` (signature and issuer name). */
export function signedBy(certPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}
