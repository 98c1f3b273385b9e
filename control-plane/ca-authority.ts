// The CA at work: signs leaf X.509 SVIDs with the issuer. A leaf carries
// exactly one URI SAN (its SPIFFE ID, inside the CA's trust domain), is
// CA:FALSE, serverAuth + clientAuth, starts a minute in the past (clock skew
// between hosts) and never outlives its issuer. The caller owns the clock
// (`now`, unix ms) and has already authenticated the ID and checked the key.

import { WeftError } from '../proto/errors.ts';
import { buildLeafCert, loadSigner, type CertSigner } from '../identity/cert-builder.ts';
import { parseSpiffeId } from '../identity/spiffe-id.ts';
import { checkCaMaterial, checkTrustDomain, type CaMaterial } from './ca-material.ts';

export const DEFAULT_LEAF_LIFETIME_MS = 24 * 3_600_000;
/** A leaf's notBefore is this far before `now`. */
export const LEAF_BACKDATE_MS = 60_000;

export interface IssueLeafRequest {
  /** Authenticated SPIFFE ID: the leaf's one URI SAN. */
  spiffeId: string;
  /** SPKI PEM, RSA (checked by csr-check.ts). */
  publicKeyPem: string;
  /** Unix ms. */
  now: number;
  /** Default DEFAULT_LEAF_LIFETIME_MS; cut short by the issuer's notAfter. */
  lifetimeMs?: number | undefined;
}

/** The shape of CertifyResponse. */
export interface IssuedLeafCert {
  leafPem: string;
  /** [issuerPem]: the leaf's issuer first, anchor excluded. */
  intermediatesPem: string[];
  /** The leaf's notAfter, unix ms (whole seconds, as encoded). */
  validUntilUnixMs: number;
}

export interface IssuedEvent {
  spiffeId: string;
  validUntilUnixMs: number;
  /** Certificates issued so far, this one included. */
  issuedCount: number;
}

export interface CaAuthorityOptions {
  trustDomain: string;
  /** Unix ms: the material is checked at this time. */
  now: number;
  /** Called after each issued certificate (metrics). */
  onIssued?: (event: IssuedEvent) => void;
}

export interface CaAuthority {
  readonly trustDomain: string;
  readonly anchorPem: string;
  readonly issuerPem: string;
  /** [anchorPem]: what peers verify SVIDs against. */
  readonly trustBundlePem: readonly string[];
  readonly issuerNotAfterUnixMs: number;
  /**
   * Signs a leaf. Throws WEFT_ERR_CERTIFY_DENIED (ID invalid or outside the
   * trust domain), WEFT_ERR_CA_EXPIRED (issuer not valid at `now`).
   */
  issueLeaf(req: IssueLeafRequest): IssuedLeafCert;
  /** Certificates issued by this authority since it was created. */
  issuedCount(): number;
}

/** Whole seconds, as X.509 times are encoded. */
function floorToSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/** A CA over checked material. Throws what checkCaMaterial throws. */
export function createCaAuthority(material: CaMaterial, opts: CaAuthorityOptions): CaAuthority {
  checkTrustDomain(opts.trustDomain);
  const checked = checkCaMaterial(material, opts.now);
  const signer: CertSigner = loadSigner({ certPem: material.issuerPem, keyPem: material.issuerKeyPem });
  const issuerNotBefore = checked.issuerNotBeforeUnixMs;
  const issuerNotAfter = checked.issuerNotAfterUnixMs;
  let issued = 0;

  function issueLeaf(req: IssueLeafRequest): IssuedLeafCert {
    const lifetimeMs = req.lifetimeMs ?? DEFAULT_LEAF_LIFETIME_MS;
    if (!Number.isFinite(lifetimeMs) || lifetimeMs < 1000) {
      throw new RangeError('lifetimeMs must be at least one second');
    }
    if (!Number.isFinite(req.now)) throw new RangeError('now must be a finite unix time in ms');
    let trustDomain: string;
    try {
      trustDomain = parseSpiffeId(req.spiffeId).trustDomain;
    } catch (cause) {
      throw new WeftError('WEFT_ERR_CERTIFY_DENIED', 'cannot issue: invalid SPIFFE ID', { cause });
    }
    if (trustDomain !== opts.trustDomain) {
      throw new WeftError(
        'WEFT_ERR_CERTIFY_DENIED',
        `cannot issue ${req.spiffeId}: outside trust domain ${opts.trustDomain}`,
      );
    }
    if (req.now < issuerNotBefore || req.now >= issuerNotAfter) {
      throw new WeftError(
        'WEFT_ERR_CA_EXPIRED',
        `issuer is valid from ${new Date(issuerNotBefore).toISOString()} to ${new Date(issuerNotAfter).toISOString()}`,
      );
    }
    const notBefore = Math.max(floorToSecond(req.now - LEAF_BACKDATE_MS), issuerNotBefore);
    const notAfter = Math.min(floorToSecond(req.now + lifetimeMs), issuerNotAfter);
    if (notAfter <= req.now) {
      throw new WeftError('WEFT_ERR_CA_EXPIRED', `issuer expires at ${new Date(issuerNotAfter).toISOString()}`);
    }
    const leafPem = buildLeafCert({
      publicKeyPem: req.publicKeyPem,
      signer,
      uris: [req.spiffeId],
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
    });
    issued += 1;
    const result = { leafPem, intermediatesPem: [material.issuerPem], validUntilUnixMs: notAfter };
    opts.onIssued?.({ spiffeId: req.spiffeId, validUntilUnixMs: notAfter, issuedCount: issued });
    return result;
  }

  return {
    trustDomain: opts.trustDomain,
    anchorPem: material.anchorPem,
    issuerPem: material.issuerPem,
    trustBundlePem: [material.anchorPem],
    issuerNotAfterUnixMs: issuerNotAfter,
    issueLeaf,
    issuedCount: () => issued,
  };
}
