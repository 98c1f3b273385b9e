// Identity.Certify, transport aside: authenticate the token -> derive the
// SPIFFE ID from its namespace and ServiceAccount -> refuse a request for any
// other ID -> check the CSR (only its public key is used) -> issue. Nothing is
// issued unless every step passes. gRPC status mapping lives in
// identity-grpc.ts.

import type { CertifyRequest, CertifyResponse } from '../proto/mesh.ts';
import { WeftError } from '../proto/errors.ts';
import { formatWorkloadId } from '../identity/spiffe-id.ts';
import type { CaAuthority } from './ca-authority.ts';
import { checkCsr } from './csr-check.ts';
import type { TokenValidator } from './token-validator.ts';

export interface CertifyDeps {
  validator: TokenValidator;
  ca: Pick<CaAuthority, 'issueLeaf'>;
  trustDomain: string;
  /** Unix ms. */
  now: number;
  /** Leaf lifetime; the CA's default (24 h) when omitted. */
  lifetimeMs?: number | undefined;
}

/**
 * Issues a leaf SVID for the caller the token authenticates. Rejects with a
 * WeftError: WEFT_ERR_TOKEN_INVALID, WEFT_ERR_CERTIFY_DENIED (`identity` or
 * the CSR's URI SAN names another workload, or the token's ServiceAccount
 * makes no valid ID), a WEFT_ERR_CSR_* code, or what the CA throws.
 */
export async function certify(req: CertifyRequest, deps: CertifyDeps): Promise<CertifyResponse> {
  const token = typeof req.token === 'string' ? req.token : '';
  if (token === '') throw new WeftError('WEFT_ERR_TOKEN_INVALID', 'no token');
  // Other failures of the validator (e.g. TokenReview unreachable) pass
  // through: they are not a verdict on the token.
  const who = await deps.validator.validate(token, deps.now);

  let spiffeId: string;
  try {
    spiffeId = formatWorkloadId(deps.trustDomain, who.namespace, who.serviceAccount);
  } catch (cause) {
    throw new WeftError(
      'WEFT_ERR_CERTIFY_DENIED',
      `no SPIFFE ID for namespace ${JSON.stringify(who.namespace)}, service account ${JSON.stringify(who.serviceAccount)}`,
      { cause },
    );
  }

  const expected = typeof req.identity === 'string' ? req.identity : '';
  if (expected !== '' && expected !== spiffeId) {
    throw new WeftError('WEFT_ERR_CERTIFY_DENIED', `the token is for ${spiffeId}, not ${expected}`);
  }

  const publicKeyPem = checkCsr(typeof req.csrPem === 'string' ? req.csrPem : '', spiffeId);
  return deps.ca.issueLeaf({ spiffeId, publicKeyPem, now: deps.now, lifetimeMs: deps.lifetimeMs });
}
