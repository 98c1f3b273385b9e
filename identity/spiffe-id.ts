// SPIFFE IDs: parse, format and match, per the SPIFFE-ID standard
// (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md).
// A Weft workload's ID is spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>.

import { WeftError } from '../proto/errors.ts';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

/** The standard asks implementations to support IDs up to 2048 bytes and to produce none longer. */
export const SPIFFE_ID_MAX_LENGTH = 2048;

const SCHEME_PREFIX = 'spiffe://';
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const PATH_SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;

export interface SpiffeId {
  trustDomain: string;
  /** '' for a trust-domain ID, else '/seg/seg...' */
  path: string;
  /** Present only when the path is exactly /ns/<namespace>/sa/<serviceaccount>. */
  namespace?: string;
  serviceAccount?: string;
}

function invalid(id: string, why: string): WeftError {
  return new WeftError('WEFT_ERR_SPIFFE_ID_INVALID', `invalid SPIFFE ID ${JSON.stringify(truncate(id))}: ${why}`);
}

function truncate(s: string): string {
  return s.length > 120 ? `${s.slice(0, 120)}...` : s;
}

/** Returns why the trust domain is invalid, or undefined when it is valid. */
function trustDomainProblem(td: string): string | undefined {
  if (td === '') return 'trust domain is missing';
  if (TRUST_DOMAIN_CHARS.test(td)) return undefined;
  if (td.includes('@')) return 'userinfo is not allowed';
  if (td.includes(':')) return 'a port is not allowed';
  return 'trust domain may contain only lowercase letters, digits, ".", "-" and "_"';
}

/** Returns why a path segment is invalid, or undefined when it is valid. */
function segmentProblem(seg: string): string | undefined {
  if (seg === '') return 'path segments must not be empty (no "//", no trailing "/")';
  if (seg === '.' || seg === '..') return 'path segments must not be "." or ".."';
  if (!PATH_SEGMENT_CHARS.test(seg)) return 'path segments may contain only letters, digits, ".", "-" and "_"';
  return undefined;
}

/**
 * Parses and validates a SPIFFE ID. Throws WEFT_ERR_SPIFFE_ID_INVALID.
 * The scheme is exactly "spiffe"; no userinfo, port, query, fragment or
 * percent-encoding; the ID is at most 2048 characters.
 */
export function parseSpiffeId(s: string): SpiffeId {
  if (typeof s !== 'string' || s === '') throw invalid(String(s), 'empty');
  if (s.length > SPIFFE_ID_MAX_LENGTH) throw invalid(s, `longer than ${SPIFFE_ID_MAX_LENGTH} characters`);
  if (!s.startsWith(SCHEME_PREFIX)) throw invalid(s, 'scheme must be "spiffe://"');
  if (s.includes('?')) throw invalid(s, 'a query is not allowed');
  if (s.includes('#')) throw invalid(s, 'a fragment is not allowed');

  const rest = s.slice(SCHEME_PREFIX.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);

  const tdProblem = trustDomainProblem(trustDomain);
  if (tdProblem !== undefined) throw invalid(s, tdProblem);

  if (path === '') return { trustDomain, path };
  const segments = path.slice(1).split('/');
  for (const seg of segments) {
    const problem = segmentProblem(seg);
    if (problem !== undefined) throw invalid(s, problem);
  }

  const id: SpiffeId = { trustDomain, path };
  if (segments.length === 4 && segments[0] === 'ns' && segments[2] === 'sa') {
    id.namespace = segments[1] as string;
    id.serviceAccount = segments[3] as string;
  }
  return id;
}

/** True when `s` is a valid SPIFFE ID. */
export function isSpiffeId(s: string): boolean {
  try {
    parseSpiffeId(s);
    return true;
  } catch {
    return false;
  }
}

/** spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>; throws WEFT_ERR_SPIFFE_ID_INVALID. */
export function formatWorkloadId(trustDomain: string, namespace: string, serviceAccount: string): string {
  const id = `${SCHEME_PREFIX}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  const parsed = parseSpiffeId(id);
  // A "/" inside a name would shift the segments and still parse; refuse it.
  if (parsed.namespace !== namespace || parsed.serviceAccount !== serviceAccount) {
    throw invalid(id, 'namespace and service account must be single path segments');
  }
  return id;
}

/**
 * An identity pattern is an exact SPIFFE ID, or a SPIFFE ID followed by "/*"
 * which matches every ID strictly below that path
 * ("spiffe://cluster.local/ns/demo/*" matches ".../ns/demo/sa/web" but not
 * ".../ns/demo" nor ".../ns/demo2/sa/web"). Throws WEFT_ERR_SPIFFE_ID_INVALID.
 */
export function validateIdentityPattern(pattern: string): void {
  parseSpiffeId(pattern.endsWith('/*') ? pattern.slice(0, -2) : pattern);
}

/**
 * Whether `id` matches `pattern` (see validateIdentityPattern). An invalid
 * pattern or an invalid ID never matches.
 */
export function identityMatches(pattern: string, id: string): boolean {
  return identityMatcher([pattern], { skipInvalid: true })(id);
}

/**
 * Compiles patterns once (for a per-connection check) into a predicate that is
 * true when the ID matches any of them. Throws WEFT_ERR_SPIFFE_ID_INVALID on an
 * invalid pattern unless `skipInvalid` is set, in which case those never match.
 */
export function identityMatcher(patterns: readonly string[], options?: { skipInvalid?: boolean }): (id: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const pattern of patterns) {
    try {
      validateIdentityPattern(pattern);
    } catch (err) {
      if (options?.skipInvalid) continue;
      throw err;
    }
    // Keep the trailing "/" of "/*" so that a prefix ends on a segment boundary.
    if (pattern.endsWith('/*')) prefixes.push(pattern.slice(0, -1));
    else exact.add(pattern);
  }
  // An exact pattern was validated above, so an ID equal to one is valid:
  // no parse. Only an ID under a prefix pattern is parsed (to refuse
  // ".." or "//" segments below the prefix).
  return (id: string): boolean => {
    if (exact.has(id)) return true;
    return prefixes.some((p) => id.startsWith(p)) && isSpiffeId(id);
  };
}
