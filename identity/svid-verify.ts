// Verifies X.509 SVIDs with Node's crypto.X509Certificate: the chain from the
// leaf through the intermediates to one trust anchor (names and signatures),
// validity at a given `now` of every certificate on that path, a non-CA leaf
// with exactly one URI SAN that is a valid SPIFFE ID, and optionally the ID
// the caller expects. Every failure is a WeftError with an identity code.

import type { KeyObject, X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { WeftError } from '../proto/errors.ts';
import type { SpiffeId } from './spiffe-id.ts';
import { checkSvidLeaf, checkValidAt, describeCertificate as describe, spiffeIdOf, type SvidRole } from './svid-leaf.ts';
// node:crypto via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const { X509Certificate: X509 } = process.getBuiltinModule('node:crypto');

/** Longest chain accepted (leaf + intermediates [+ a copy of the anchor]). */
const MAX_CHAIN_LENGTH = 8;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

interface TrustAnchor {
  readonly cert: X509Certificate;
  /** Cached: X509Certificate#publicKey builds a new KeyObject on every read. */
  readonly publicKey: KeyObject;
}

/** Trust anchors parsed once (parseTrustBundle), for verifying many SVIDs. */
export interface TrustBundle {
  readonly anchors: readonly TrustAnchor[];
  /**
   * Known intermediate CAs, not trusted by themselves: used to complete a
   * chain whose peer did not (or, through Node, could not) present them, as
   * Go's x509 VerifyOptions.Intermediates. See peerChainFromTlsSocket.
   */
  readonly intermediates: readonly X509Certificate[];
  /** The bundle's certificates as PEM, e.g. for a TLS context's `ca`. */
  readonly pems: readonly string[];
  /** When set, SVIDs of any other trust domain are untrusted. */
  readonly trustDomain: string | undefined;
}

export type CertificateInput = string | Uint8Array | X509Certificate;

/** The chain, leaf first, then intermediates (in any order): give one of the two. */
export type ChainInput =
  /** PEM: one or several CERTIFICATE blocks per string. */
  | { chainPem: string | readonly string[]; chainDer?: undefined }
  /** DER, e.g. from peerChainFromTlsSocket. */
  | { chainDer: readonly Uint8Array[]; chainPem?: undefined };

/** The trust anchors: give one of the two. */
export type AnchorsInput =
  /** Parsed once by parseTrustBundle: the per-connection fast path. */
  | { trustBundle: TrustBundle; trustBundlePem?: undefined }
  /** PEM, parsed on every call. */
  | { trustBundlePem: readonly string[]; trustBundle?: undefined };

export type VerifySvidOptions = ChainInput &
  AnchorsInput & {
    /** Verification time: validity windows are checked against it. */
    now: Date;
    /** When given, the SVID's ID must equal it (else WEFT_ERR_IDENTITY_MISMATCH). */
    expectedId?: string | undefined;
    /** When given, an extended key usage on the leaf must allow this TLS role. */
    role?: SvidRole | undefined;
  };

export interface VerifiedSvid {
  spiffeId: string;
  /** The parsed ID (trust domain, path, namespace and service account when present). */
  identity: SpiffeId;
  /** The leaf's notAfter. */
  notAfter: Date;
}

function malformed(message: string, cause?: unknown): WeftError {
  return new WeftError('WEFT_ERR_SVID_MALFORMED', message, cause === undefined ? undefined : { cause });
}

/** Splits PEM text into its CERTIFICATE blocks. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(PEM_CERTIFICATE) ?? [];
}

/** Parses one certificate (PEM, DER or already parsed); throws WEFT_ERR_SVID_MALFORMED. */
export function parseCertificate(input: CertificateInput): X509Certificate {
  if (input instanceof X509) return input;
  try {
    return new X509(input);
  } catch (cause) {
    throw malformed('cannot parse certificate', cause);
  }
}

function parsePemList(pems: string | readonly string[], what: string): X509Certificate[] {
  const blocks = (typeof pems === 'string' ? [pems] : pems).flatMap((p) => {
    const found = splitPemCertificates(p);
    if (found.length === 0) throw malformed(`${what}: no PEM CERTIFICATE block found`);
    return found;
  });
  return blocks.map(parseCertificate);
}

export interface TrustBundleOptions {
  /** When set, SVIDs of any other trust domain are WEFT_ERR_SVID_UNTRUSTED. */
  trustDomain?: string | undefined;
  /** Intermediate CAs to complete chains with (e.g. the workload's own issuer chain). */
  intermediatesPem?: string | readonly string[] | undefined;
}

/**
 * Parses trust anchors once. Each string may hold several PEM certificates.
 * Every anchor and intermediate must be a CA certificate. Throws
 * WEFT_ERR_SVID_MALFORMED.
 */
export function parseTrustBundle(pems: string | readonly string[], options: TrustBundleOptions = {}): TrustBundle {
  const certs = parsePemList(pems, 'trust bundle');
  if (certs.length === 0) throw malformed('trust bundle is empty');
  const intermediates =
    options.intermediatesPem === undefined ? [] : parsePemList(options.intermediatesPem, 'intermediates');
  for (const cert of [...certs, ...intermediates]) {
    if (!cert.ca) throw malformed(`trust bundle certificate is not a CA: ${describe(cert)}`);
  }
  return {
    anchors: certs.map((cert) => ({ cert, publicKey: cert.publicKey })),
    intermediates,
    pems: certs.map((c) => c.toString()),
    trustDomain: options.trustDomain,
  };
}

function parseChain(opts: VerifySvidOptions): X509Certificate[] {
  const chain =
    opts.chainDer !== undefined ? opts.chainDer.map(parseCertificate) : parsePemList(opts.chainPem, 'certificate chain');
  if (chain.length === 0) throw malformed('no certificate presented');
  if (chain.length > MAX_CHAIN_LENGTH) throw malformed(`certificate chain longer than ${MAX_CHAIN_LENGTH}`);
  return chain;
}

function validAt(cert: X509Certificate, t: number): boolean {
  return cert.validFromDate.getTime() <= t && t <= cert.validToDate.getTime();
}

function issued(issuer: X509Certificate, child: X509Certificate, issuerKey?: KeyObject): boolean {
  // checkIssued compares names (and key identifiers / key usage); verify checks the signature.
  return child.checkIssued(issuer) && child.verify(issuerKey ?? issuer.publicKey);
}

/**
 * Builds the path leaf -> intermediates -> anchor. Intermediates (presented
 * ones first, then the bundle's known ones) may come in any order; each is
 * used at most once; unused extra certificates (such as a copy of the anchor)
 * are ignored. Among several issuers, one valid at `now` is preferred (e.g. a
 * renewed root with the same key). Returns the path, anchor last.
 */
function buildPath(chain: X509Certificate[], bundle: TrustBundle, t: number): X509Certificate[] {
  const leaf = chain[0] as X509Certificate;
  const unused = [...chain.slice(1), ...bundle.intermediates];
  const path = [leaf];
  let current = leaf;
  for (;;) {
    const anchors = bundle.anchors.filter((a) => issued(a.cert, current, a.publicKey));
    if (anchors.length > 0) {
      const anchor = anchors.find((a) => validAt(a.cert, t)) ?? (anchors[0] as TrustAnchor);
      path.push(anchor.cert);
      return path;
    }
    const candidates = unused.filter((c) => issued(c, current));
    const issuer = candidates.find((c) => c.ca && validAt(c, t)) ?? candidates.find((c) => c.ca);
    if (issuer === undefined) {
      const notCa = candidates[0];
      throw new WeftError(
        'WEFT_ERR_SVID_UNTRUSTED',
        notCa === undefined
          ? `no trust anchor or known intermediate issued ${describe(current)}`
          : `${describe(current)} was issued by ${describe(notCa)}, which is not a CA`,
      );
    }
    unused.splice(unused.indexOf(issuer), 1);
    path.push(issuer);
    current = issuer;
  }
}

function checkValidity(path: X509Certificate[], now: Date): void {
  for (const cert of path) checkValidAt(cert, now);
}

/** The SPIFFE ID of an X.509 SVID: its one URI SAN, validated. Throws WEFT_ERR_SVID_SAN / _MALFORMED. */
export function certificateSpiffeId(certificate: CertificateInput): string {
  const cert = parseCertificate(certificate);
  return spiffeIdOf(cert).spiffeId;
}

/**
 * Verifies an X.509 SVID chain at `now`. Throws a WeftError with code
 * WEFT_ERR_SVID_MALFORMED (unparseable, empty), WEFT_ERR_SVID_UNTRUSTED (no
 * path to an anchor, non-CA issuer, other trust domain), WEFT_ERR_SVID_EXPIRED /
 * WEFT_ERR_SVID_NOT_YET_VALID (any certificate on the path),
 * WEFT_ERR_SVID_IS_CA (CA leaf), WEFT_ERR_SVID_KEY_USAGE (leaf key usage not
 * an SVID's), WEFT_ERR_SVID_SAN (not exactly one URI SAN, or not a SPIFFE ID),
 * WEFT_ERR_IDENTITY_MISMATCH (not `expectedId`). The leaf checks are
 * svid-leaf.ts's checkSvidLeaf.
 */
export function verifySvid(opts: VerifySvidOptions): VerifiedSvid {
  const bundle = opts.trustBundle ?? parseTrustBundle(opts.trustBundlePem);
  const chain = parseChain(opts);
  const leaf = chain[0] as X509Certificate;
  const t = opts.now.getTime();

  const path = buildPath(chain, bundle, t);
  checkValidity(path, opts.now);
  const { spiffeId, identity } = checkSvidLeaf(leaf, {
    now: opts.now,
    trustDomain: bundle.trustDomain,
    expectedId: opts.expectedId,
    role: opts.role,
  });
  return { spiffeId, identity, notAfter: leaf.validToDate };
}

/**
 * The peer's certificate chain as DER, leaf first, from a connected TLS socket
 * (follows `issuerCertificate` until it refers to itself). Empty when the peer
 * presented no certificate. The chain may end with the anchor when the local
 * TLS context knows it; verifySvid ignores that copy.
 *
 * Caveat, server side: Node 24.21 (see nodejs/node#65579) loses the
 * client's intermediates once anything has called
 * getPeerX509Certificate() on the socket, which tls.Server itself does after
 * a successful requestCert verification. The chain is then [leaf] only; give
 * the verifier the intermediates it should expect through
 * parseTrustBundle(..., { intermediatesPem }).
 */
export function peerChainFromTlsSocket(socket: TLSSocket): Buffer[] {
  const chain: Buffer[] = [];
  const seen = new Set<object>();
  let cert: Partial<DetailedPeerCertificate> | null | undefined = socket.getPeerCertificate(true);
  while (cert && cert.raw && !seen.has(cert) && chain.length < MAX_CHAIN_LENGTH) {
    seen.add(cert);
    chain.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return chain;
}
