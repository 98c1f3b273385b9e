// A throwaway PKI for tests: a self-signed trust anchor, an intermediate
// issuer it signed, and leaf SVIDs on demand. A thin layer over
// cert-builder.ts that fills in keys, names and validity windows. Keys are
// generated once per PKI (anchor, issuer, one shared leaf key) because RSA
// key generation dominates the cost; pass `keyPem` to reuse another key.

import {
  buildCaCert,
  buildLeafCert,
  buildRootCaCert,
  loadSigner,
  type CertSigner,
  type LeafCertOptions,
} from './cert-builder.ts';
import { generateRsaKeyPair, publicKeyPemOf, type KeyPairPem } from './key-pair.ts';
import { DEFAULT_TRUST_DOMAIN, formatWorkloadId } from './spiffe-id.ts';

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

export interface TestPkiOptions {
  trustDomain?: string;
  /** Base time of the default validity windows; the clock at each call when omitted. */
  now?: Date;
  /** Default: now - 1h .. now + 10y. */
  anchorValidity?: Validity;
  /** Default: now - 1h .. now + 5y. */
  issuerValidity?: Validity;
}

export interface LeafOptions {
  /** The one URI SAN. Default: formatWorkloadId(trustDomain, namespace, serviceAccount). */
  spiffeId?: string;
  /** Default 'default'; used only when neither spiffeId nor uris is given. */
  namespace?: string;
  /** Default 'default'; used only when neither spiffeId nor uris is given. */
  serviceAccount?: string;
  /** Exact URI SANs instead of spiffeId: [] or several, to test rejection. */
  uris?: readonly string[];
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  /** Default now - 5 min (or earlier, to precede notAfter). */
  notBefore?: Date;
  /** Default now + 24 h (or later, to follow notBefore). */
  notAfter?: Date;
  isCa?: boolean;
  /** keyUsage bits instead of the default, or null for none (see LeafCertOptions). */
  keyUsage?: LeafCertOptions['keyUsage'];
  /** extKeyUsage purposes instead of serverAuth + clientAuth, or null for none. */
  extKeyUsage?: LeafCertOptions['extKeyUsage'];
  /** Private key to certify (PKCS#8 or PKCS#1 PEM). Default: the PKI's shared leaf key. */
  keyPem?: string;
  /** Public key to certify when the private key stays with the caller (as with a CSR). */
  publicKeyPem?: string;
}

export interface IssuedCert {
  certPem: string;
  /** [leaf, issuer]: what a workload presents in its TLS handshake. */
  chainPem: string[];
}

export interface IssuedLeaf extends IssuedCert {
  keyPem: string;
  /** Ready for tls.createServer / tls.connect: key, cert (leaf + issuer), ca (the anchor). */
  tls: { key: string; cert: string; ca: string[] };
}

export interface TestPki {
  trustDomain: string;
  anchorPem: string;
  anchorKeyPem: string;
  issuerPem: string;
  issuerKeyPem: string;
  /** [anchorPem] */
  trustBundlePem: string[];
  /** A leaf SVID signed by the issuer. With `publicKeyPem` (and no `keyPem`), no key is returned. */
  issueLeaf(opts?: LeafOptions & { publicKeyPem?: undefined }): IssuedLeaf;
  issueLeaf(opts: LeafOptions & { publicKeyPem: string; keyPem?: undefined }): IssuedCert;
  issueLeaf(opts?: LeafOptions): IssuedCert & Partial<IssuedLeaf>;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const YEAR = 365 * DAY;

/** Creates a PKI: three RSA-2048 keys (anchor, issuer, shared leaf key), generated up front. */
export function createTestPki(options: TestPkiOptions = {}): TestPki {
  const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const now = (): number => (options.now ?? new Date()).getTime();

  const anchorKey = generateRsaKeyPair();
  const anchorPem = buildRootCaCert({
    keyPem: anchorKey.keyPem,
    subject: { organization: trustDomain, commonName: 'Weft Test Root CA' },
    ...(options.anchorValidity ?? { notBefore: new Date(now() - HOUR), notAfter: new Date(now() + 10 * YEAR) }),
  });

  const issuerKey = generateRsaKeyPair();
  const issuerPem = buildCaCert({
    publicKeyPem: issuerKey.publicKeyPem,
    signer: { certPem: anchorPem, keyPem: anchorKey.keyPem },
    subject: { organization: trustDomain, commonName: 'Weft Test Issuer CA' },
    pathLength: 0,
    ...(options.issuerValidity ?? { notBefore: new Date(now() - HOUR), notAfter: new Date(now() + 5 * YEAR) }),
  });
  const signer: CertSigner = loadSigner({ certPem: issuerPem, keyPem: issuerKey.keyPem });
  const leafKey: KeyPairPem = generateRsaKeyPair();

  function issueLeaf(opts?: LeafOptions & { publicKeyPem?: undefined }): IssuedLeaf;
  function issueLeaf(opts: LeafOptions & { publicKeyPem: string; keyPem?: undefined }): IssuedCert;
  function issueLeaf(opts?: LeafOptions): IssuedCert & Partial<IssuedLeaf>;
  function issueLeaf(opts: LeafOptions = {}): IssuedCert & Partial<IssuedLeaf> {
    if (opts.spiffeId !== undefined && opts.uris !== undefined) {
      throw new TypeError('issueLeaf: give spiffeId or uris, not both');
    }
    if (opts.keyPem !== undefined && opts.publicKeyPem !== undefined) {
      throw new TypeError('issueLeaf: give keyPem or publicKeyPem, not both');
    }
    const uris =
      opts.uris ??
      [opts.spiffeId ?? formatWorkloadId(trustDomain, opts.namespace ?? 'default', opts.serviceAccount ?? 'default')];

    const keyPem = opts.keyPem ?? (opts.publicKeyPem === undefined ? leafKey.keyPem : undefined);
    const publicKeyPem =
      keyPem === undefined ? (opts.publicKeyPem as string) : keyPem === leafKey.keyPem ? leafKey.publicKeyPem : publicKeyPemOf(keyPem);

    const t = now();
    const notBefore = opts.notBefore ?? new Date(Math.min(t - 5 * 60_000, (opts.notAfter?.getTime() ?? t) - HOUR));
    const notAfter = opts.notAfter ?? new Date(Math.max(t + DAY, notBefore.getTime() + DAY));

    const certPem = buildLeafCert({
      publicKeyPem,
      signer,
      uris,
      dnsNames: opts.dnsNames ?? [],
      ipAddresses: opts.ipAddresses ?? [],
      notBefore,
      notAfter,
      isCa: opts.isCa ?? false,
      ...(opts.keyUsage !== undefined ? { keyUsage: opts.keyUsage } : {}),
      ...(opts.extKeyUsage !== undefined ? { extKeyUsage: opts.extKeyUsage } : {}),
    });
    const chainPem = [certPem, issuerPem];
    if (keyPem === undefined) return { certPem, chainPem };
    return { certPem, chainPem, keyPem, tls: { key: keyPem, cert: chainPem.join(''), ca: [anchorPem] } };
  }

  return {
    trustDomain,
    anchorPem,
    anchorKeyPem: anchorKey.keyPem,
    issuerPem,
    issuerKeyPem: issuerKey.keyPem,
    trustBundlePem: [anchorPem],
    issueLeaf,
  };
}
