// Inbound: is this client allowed? mTLS clients must present an allowed
// SPIFFE ID (WEFT_ERR_DENIED, 403); plaintext reaches here only in
// permissive mode (strict mode refused it before HTTP parsing). Also picks
// the app port the caller named in weft-dst-port (a redirected plaintext
// client: the port it dialled).
import { WeftError } from '../../proto/errors.ts';
import { DST_PORT_HEADER } from '../http1/forward-headers.ts';
import type { Layer } from '../exchange.ts';

export const authorizeStage: Layer = (next) => (ex) => {
  const inbound = ex.config.inbound;
  if (ex.tls && (ex.clientId === '' || !inbound.allows(ex.clientId))) {
    return Promise.reject(new WeftError('WEFT_ERR_DENIED', `${ex.clientId || 'a client without a SPIFFE ID'} may not call this workload`));
  }
  if (!ex.tls && inbound.policy.mode === 'STRICT') {
    return Promise.reject(new WeftError('WEFT_ERR_TLS_REQUIRED', 'strict mode: plaintext refused'));
  }
  // A redirected plaintext client goes to the port it dialled (set from the
  // original destination); no other plaintext client may choose one.
  if (!ex.tls && ex.appPort !== 0) return next(ex);
  // Only a verified peer proxy may choose the port; plaintext gets the default.
  const requested = ex.tls ? ex.req.headers[DST_PORT_HEADER] : undefined;
  const port = inbound.appPort(typeof requested === 'string' ? requested : undefined);
  if (port === undefined) {
    return Promise.reject(new WeftError('WEFT_ERR_DENIED', `app port ${String(requested)} is not served here`));
  }
  ex.appPort = port;
  return next(ex);
};
