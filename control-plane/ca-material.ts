// The CA's material: a trust anchor (self-signed root) and an issuer
// (intermediate CA signed by the anchor) that signs the leaf SVIDs. Creates
// fresh material, renews the issuer under the same anchor, and checks material
// from anywhere (files, `weft install`, a Kubernetes Secret) before it is used.
// Pure apart from key generation and random serials: the clock is `now`
// (unix ms). Certificates are built by identity/cert-builder.ts.

import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { WeftError } from '../proto/errors.ts';
import { buildCaCert, buildRootCaCert } from '../identity/cert-builder.ts';
import { generateRsaKeyPair } from '../identity/key-pair.ts';
import { parseSpiffeId } from '../identity/spiffe-id.ts';

/** PEM text of the CA. The anchor key is optional: without it the issuer cannot be renewed here. */
export interface CaMaterial {
  anchorPem: string;
  anchorKeyPem?: string | undefined;
  issuerPem: string;
  issuerKeyPem: string;
}

/** Material that passed checkCaMaterial, with the parsed facts callers need. */
export interface CheckedCa {
  material: CaMaterial;
  anchor: X509Certificate;
  issuer: X509Certificate;
  issuerKey: KeyObject;
  anchorNotAfterUnixMs: number;
  issuerNotBeforeUnixMs: number;
  issuerNotAfterUnixMs: number;
}

const DAY_MS = 24 * 3_600_000;
const YEAR_MS = 365 * DAY_MS;

export const DEFAULT_ANCHOR_LIFETIME_MS = 10 * YEAR_MS;
export const DEFAULT_ISSUER_LIFETIME_MS = YEAR_MS;
/** A new CA certificate is backdated this much, for clock skew between hosts. */
export const CA_BACKDATE_MS = 60 * 60_000;

export interface CreateCaOptions {
  trustDomain: string;
  now: number;
  anchorLifetimeMs?: number;
  issuerLifetimeMs?: number;
}

export interface RenewIssuerOptions {
  trustDomain: string;
  now: number;
  issuerLifetimeMs?: number;
}

function caInvalid(message: string, cause?: unknown): WeftError {
  return new WeftError('WEFT_ERR_CA_INVALID', message, cause === undefined ? undefined : { cause });
}

/** Throws WEFT_ERR_SPIFFE_ID_INVALID unless `trustDomain` is a valid SPIFFE trust domain. */
export function checkTrustDomain(trustDomain: string): void {
  const id = parseSpiffeId(`spiffe://${trustDomain}`);
  if (id.trustDomain !== trustDomain || id.path !== '') {
    throw new WeftError('WEFT_ERR_SPIFFE_ID_INVALID', `invalid trust domain ${JSON.stringify(trustDomain)}`);
  }
}

function checkLifetime(name: string, ms: number): void {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`${name} must be a positive number of milliseconds`);
}

/** A new anchor and issuer for `trustDomain`, valid from `now` (backdated an hour). */
export function createCaMaterial(opts: CreateCaOptions): CaMaterial {
  checkTrustDomain(opts.trustDomain);
  const anchorLifetimeMs = opts.anchorLifetimeMs ?? DEFAULT_ANCHOR_LIFETIME_MS;
  checkLifetime('anchorLifetimeMs', anchorLifetimeMs);
  const anchorKey = generateRsaKeyPair();
  const anchorPem = buildRootCaCert({
    keyPem: anchorKey.keyPem,
    subject: { organization: opts.trustDomain, commonName: 'Weft Root CA' },
    notBefore: new Date(opts.now - CA_BACKDATE_MS),
    notAfter: new Date(opts.now + anchorLifetimeMs),
    pathLength: 1,
  });
  return renewIssuer(
    { anchorPem, anchorKeyPem: anchorKey.keyPem },
    { trustDomain: opts.trustDomain, now: opts.now, issuerLifetimeMs: opts.issuerLifetimeMs ?? DEFAULT_ISSUER_LIFETIME_MS },
  );
}

/**
 * A new issuer (new key) signed by the anchor of `material`, which must carry
 * the anchor key; any issuer in `material` is ignored. Never outlives the
 * anchor. Throws WEFT_ERR_CA_INVALID / WEFT_ERR_CA_EXPIRED.
 */
export function renewIssuer(
  material: Pick<CaMaterial, 'anchorPem' | 'anchorKeyPem'>,
  opts: RenewIssuerOptions,
): CaMaterial {
  checkTrustDomain(opts.trustDomain);
  const lifetimeMs = opts.issuerLifetimeMs ?? DEFAULT_ISSUER_LIFETIME_MS;
  checkLifetime('issuerLifetimeMs', lifetimeMs);
  if (material.anchorKeyPem === undefined) {
    throw caInvalid('cannot renew the issuer: the trust anchor key is not available');
  }
  const anchor = parseCert(material.anchorPem, 'trust anchor');
  const anchorKey = parseKey(material.anchorKeyPem, 'trust anchor key');
  if (!anchor.checkPrivateKey(anchorKey)) throw caInvalid('trust anchor key does not match the trust anchor');
  const anchorNotAfter = anchor.validToDate.getTime();
  if (anchorNotAfter <= opts.now) {
    throw new WeftError('WEFT_ERR_CA_EXPIRED', `trust anchor expired at ${anchor.validToDate.toISOString()}`);
  }
  const issuerKey = generateRsaKeyPair();
  const notBefore = Math.max(opts.now - CA_BACKDATE_MS, anchor.validFromDate.getTime());
  const issuerPem = buildCaCert({
    publicKeyPem: issuerKey.publicKeyPem,
    signer: { certPem: material.anchorPem, keyPem: material.anchorKeyPem },
    subject: { organization: opts.trustDomain, commonName: 'Weft Issuer CA' },
    notBefore: new Date(notBefore),
    notAfter: new Date(Math.min(opts.now + lifetimeMs, anchorNotAfter)),
    pathLength: 0,
  });
  return { anchorPem: material.anchorPem, anchorKeyPem: material.anchorKeyPem, issuerPem, issuerKeyPem: issuerKey.keyPem };
}

function parseCert(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (cause) {
    throw caInvalid(`${what}: cannot parse certificate`, cause);
  }
}

function parseKey(pem: string, what: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (cause) {
    throw caInvalid(`${what}: cannot parse private key`, cause);
  }
}

/**
 * Checks that the material is a usable CA at `now`: the anchor is a
 * self-signed CA certificate, the issuer a CA certificate the anchor signed,
 * each key (RSA) matches its certificate, and both are valid at `now`.
 * Throws WEFT_ERR_CA_INVALID, or WEFT_ERR_CA_EXPIRED for a certificate
 * outside its validity window.
 */
export function checkCaMaterial(material: CaMaterial, now: number): CheckedCa {
  const anchor = parseCert(material.anchorPem, 'trust anchor');
  const issuer = parseCert(material.issuerPem, 'issuer');
  if (!anchor.ca) throw caInvalid('trust anchor is not a CA certificate');
  if (!(anchor.checkIssued(anchor) && anchor.verify(anchor.publicKey))) {
    throw caInvalid('trust anchor is not self-signed');
  }
  if (!issuer.ca) throw caInvalid('issuer is not a CA certificate');
  if (!(issuer.checkIssued(anchor) && issuer.verify(anchor.publicKey))) {
    throw caInvalid('issuer was not signed by the trust anchor');
  }
  if (material.anchorKeyPem !== undefined) {
    const anchorKey = parseKey(material.anchorKeyPem, 'trust anchor key');
    if (!anchor.checkPrivateKey(anchorKey)) throw caInvalid('trust anchor key does not match the trust anchor');
  }
  const issuerKey = parseKey(material.issuerKeyPem, 'issuer key');
  if (issuerKey.asymmetricKeyType !== 'rsa') throw caInvalid('issuer key must be RSA');
  if (!issuer.checkPrivateKey(issuerKey)) throw caInvalid('issuer key does not match the issuer');
  for (const [what, cert] of [['trust anchor', anchor], ['issuer', issuer]] as const) {
    if (now < cert.validFromDate.getTime()) {
      throw new WeftError('WEFT_ERR_CA_EXPIRED', `${what} is not valid before ${cert.validFromDate.toISOString()}`);
    }
    if (now >= cert.validToDate.getTime()) {
      throw new WeftError('WEFT_ERR_CA_EXPIRED', `${what} expired at ${cert.validToDate.toISOString()}`);
    }
  }
  return {
    material,
    anchor,
    issuer,
    issuerKey,
    anchorNotAfterUnixMs: anchor.validToDate.getTime(),
    issuerNotBeforeUnixMs: issuer.validFromDate.getTime(),
    issuerNotAfterUnixMs: issuer.validToDate.getTime(),
  };
}
