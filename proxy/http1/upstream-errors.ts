// Network failures towards an upstream, as typed errors: before the
// connection is up (refused, unreachable, TLS handshake) they are connect
// failures (retryable) or, for a rejected peer certificate, identity
// mismatches; after it, resets.
import { WeftError, findWeftError } from '../../proto/errors.ts';
import { chainErrorCode } from '../../identity/tls-peer.ts';

const CONNECT_ERRNOS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// OpenSSL's verification failures, as Node reports them.
const TLS_VERIFY_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Connect-class errors of a pooled connection closed under a request: it may have reached the upstream. */
const mayHaveArrived = new WeakSet<WeftError>();

/**
 * Whether a WEFT_ERR_UPSTREAM_CONNECT came from a pooled connection the peer
 * closed as the request went out (the keep-alive race): the peer may have
 * read the request, so only an idempotent one is retried. Every other connect
 * failure means nothing was sent.
 */
export function requestMayHaveArrived(err: WeftError): boolean {
  return mayHaveArrived.has(err);
}

/** WEFT_ERR_UPSTREAM_CONNECT for a pooled connection the peer closed under a request (requestMayHaveArrived). */
export function staleConnectionError(cause?: unknown): WeftError {
  const stale = new WeftError('WEFT_ERR_UPSTREAM_CONNECT', 'pooled connection was closed by the peer', cause === undefined ? undefined : { cause });
  mayHaveArrived.add(stale);
  return stale;
}

/** Maps an upstream error to a typed error. */
export function classifyUpstreamError(err: unknown, connected: boolean, reused: boolean, secure: boolean): WeftError {
  const weft = findWeftError(err);
  if (weft !== undefined) return weft;
  const code = (err as { code?: string }).code ?? '';
  if (secure && TLS_VERIFY_CODES.has(code)) {
    // The cause names the identity reason (expired, untrusted, ...), as on the inbound side.
    const reason = new WeftError(chainErrorCode(code), `peer certificate chain refused: ${code}`, { cause: err });
    return new WeftError('WEFT_ERR_IDENTITY_MISMATCH', `peer certificate rejected: ${code}`, { cause: reason });
  }
  if (!connected || CONNECT_ERRNOS.has(code) || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new WeftError('WEFT_ERR_UPSTREAM_CONNECT', `cannot connect upstream: ${code || String(err)}`, { cause: err });
  }
  if (reused && (code === 'ECONNRESET' || code === 'EPIPE')) {
    // A pooled connection the peer closed: usually it had closed it before
    // the request arrived (retry like a connect failure), but it may have
    // read the request first (see requestMayHaveArrived).
    return staleConnectionError(err);
  }
  return new WeftError('WEFT_ERR_UPSTREAM_RESET', `upstream failed: ${code || String(err)}`, { cause: err });
}
