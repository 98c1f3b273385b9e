// Weft's error codes are part of the contract: proxies put them in the
// `weft-error` response header, control-plane replies carry them in gRPC
// status details, and tests assert them. Codes never change meaning.

export const ERROR_CODES = [
  // proxy data path
  'WEFT_ERR_NO_ROUTE',
  'WEFT_ERR_NO_ENDPOINTS',
  'WEFT_ERR_TIMEOUT',
  'WEFT_ERR_IDENTITY_MISMATCH',
  'WEFT_ERR_DENIED',
  'WEFT_ERR_FORBIDDEN',
  'WEFT_ERR_CLIENT_CLOSED',
  'WEFT_ERR_TLS_REQUIRED',
  'WEFT_ERR_TLS_HANDSHAKE',
  'WEFT_ERR_EGRESS_REFUSED',
  'WEFT_ERR_UPSTREAM_CONNECT',
  'WEFT_ERR_UPSTREAM_RESET',
  'WEFT_ERR_UPSTREAM_PROTOCOL',
  'WEFT_ERR_BAD_REQUEST',
  'WEFT_ERR_REQUEST_TIMEOUT',
  'WEFT_ERR_APP_UNAVAILABLE',
  'WEFT_ERR_LOOP',
  'WEFT_ERR_SHUTTING_DOWN',
  'WEFT_ERR_NOT_READY',
  // control plane
  'WEFT_ERR_STREAM_PROTOCOL',
  'WEFT_ERR_TOO_MANY_STREAMS',
  'WEFT_ERR_INTERNAL',
  // configuration
  'WEFT_ERR_CONFIG_INVALID',
  // identity
  'WEFT_ERR_SPIFFE_ID_INVALID',
  'WEFT_ERR_SVID_UNTRUSTED',
  'WEFT_ERR_SVID_EXPIRED',
  'WEFT_ERR_SVID_NOT_YET_VALID',
  'WEFT_ERR_SVID_SAN',
  'WEFT_ERR_SVID_IS_CA',
  'WEFT_ERR_SVID_MALFORMED',
  'WEFT_ERR_SVID_KEY_USAGE',
  'WEFT_ERR_SVID_MISSING',
  // control plane: CA and Identity.Certify
  'WEFT_ERR_TOKEN_INVALID',
  'WEFT_ERR_CERTIFY_DENIED',
  'WEFT_ERR_CSR_INVALID',
  'WEFT_ERR_CSR_TOO_LARGE',
  'WEFT_ERR_CSR_SIGNATURE',
  'WEFT_ERR_CSR_SAN',
  'WEFT_ERR_CSR_CA',
  'WEFT_ERR_CSR_KEY_WEAK',
  'WEFT_ERR_CSR_KEY_UNSUPPORTED',
  'WEFT_ERR_CA_INVALID',
  'WEFT_ERR_CA_EXPIRED',
  // control plane: cluster sources (manifest folder, Kubernetes)
  'WEFT_ERR_MANIFEST_INVALID',
  'WEFT_ERR_SOURCE_UNAVAILABLE',
  // injector: admission webhook and `weft inject`
  'WEFT_ERR_INJECT_ANNOTATION_INVALID',
  'WEFT_ERR_INJECT_CONFLICT',
  'WEFT_ERR_INJECT_POD_INVALID',
  'WEFT_ERR_INJECT_REVIEW_INVALID',
  'WEFT_ERR_INJECT_BODY_TOO_LARGE',
  'WEFT_ERR_INJECT_VERSION_INVALID',
  'WEFT_ERR_INIT_IPTABLES',
  // control plane: Kubernetes API requests (TokenReview, split status, Events, CA Secret)
  'WEFT_ERR_KUBE_API',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Base of every Weft error: a stable `code`, a message for humans, a `cause`. */
export class WeftError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'WeftError';
  }
}

/** Walks the cause chain and returns the first WeftError, if any. */
export function findWeftError(err: unknown): WeftError | undefined {
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 16; depth++) {
    if (cur instanceof WeftError) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The response header that names the error code of a proxy-generated response. */
export const ERROR_HEADER = 'weft-error';

/** The code of the deepest WeftError in the cause chain (the most specific reason), if any. */
export function rootWeftCode(err: unknown): ErrorCode | undefined {
  let code: ErrorCode | undefined;
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 16; depth++) {
    if (cur instanceof WeftError) code = cur.code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return code;
}
