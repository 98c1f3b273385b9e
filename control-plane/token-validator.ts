// Authenticates the token of a Certify call to a namespace and ServiceAccount,
// from which the workload's SPIFFE ID is derived. In Kubernetes the token is
// the pod's projected ServiceAccount token, checked with TokenReview (a later
// implementation of TokenValidator); in the local mesh it is a bootstrap token
// that `weft up` issues to each workload it starts, kept here in memory.

import { createHash, randomBytes } from 'node:crypto';
import { WeftError } from '../proto/errors.ts';

export interface TokenIdentity {
  namespace: string;
  serviceAccount: string;
  /** The pod the token is bound to, when the token says (a projected ServiceAccount token); bootstrap tokens name none. */
  pod?: string;
}

export interface TokenValidator {
  /** Resolves to the token's identity at `now` (unix ms); rejects WEFT_ERR_TOKEN_INVALID. */
  validate(token: string, now: number): Promise<TokenIdentity>;
}

export interface IssueTokenOptions {
  /** Unix ms after which the token is refused; never, when omitted. */
  expiresAtUnixMs?: number;
}

export interface BootstrapTokenValidator extends TokenValidator {
  /** A new random token (32 bytes, base64url) for the workload. */
  issue(namespace: string, serviceAccount: string, options?: IssueTokenOptions): string;
  /** Forgets a token; true when it was known. */
  revoke(token: string): boolean;
}

const TOKEN_BYTES = 32;
/** 32 bytes in unpadded base64url. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

interface Entry {
  identity: TokenIdentity;
  expiresAtUnixMs: number | undefined;
}

/** Tokens are looked up by SHA-256: a lookup's timing tells nothing about a valid token. */
function digestOf(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function invalid(message: string): WeftError {
  return new WeftError('WEFT_ERR_TOKEN_INVALID', message);
}

/**
 * Bootstrap tokens held in memory, keyed by their SHA-256 (the tokens
 * themselves are not kept). A token stays valid until revoked or expired, so a
 * workload renews its certificate with the same token.
 */
export function createBootstrapTokenValidator(): BootstrapTokenValidator {
  const entries = new Map<string, Entry>();

  function issue(namespace: string, serviceAccount: string, options?: IssueTokenOptions): string {
    if (typeof namespace !== 'string' || namespace === '') throw new RangeError('namespace must not be empty');
    if (typeof serviceAccount !== 'string' || serviceAccount === '') {
      throw new RangeError('serviceAccount must not be empty');
    }
    const expiresAtUnixMs = options?.expiresAtUnixMs;
    if (expiresAtUnixMs !== undefined && !Number.isFinite(expiresAtUnixMs)) {
      throw new RangeError('expiresAtUnixMs must be a finite unix time in ms');
    }
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    entries.set(digestOf(token), { identity: { namespace, serviceAccount }, expiresAtUnixMs });
    return token;
  }

  async function validate(token: string, now: number): Promise<TokenIdentity> {
    if (typeof token !== 'string' || token === '') throw invalid('no token');
    if (!TOKEN_SHAPE.test(token)) throw invalid('token is not a bootstrap token');
    const entry = entries.get(digestOf(token));
    if (entry === undefined) throw invalid('unknown token');
    if (entry.expiresAtUnixMs !== undefined && now >= entry.expiresAtUnixMs) throw invalid('token expired');
    return { ...entry.identity };
  }

  function revoke(token: string): boolean {
    return entries.delete(digestOf(token));
  }

  return { issue, validate, revoke };
}
