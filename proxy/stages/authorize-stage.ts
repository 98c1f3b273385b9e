// Inbound: is this client allowed, and for which app port? mTLS clients must
// present an allowed SPIFFE ID (the static allow-list: WEFT_ERR_DENIED, 403);
// plaintext reaches here only in permissive mode (strict mode refused it
// before HTTP parsing). Picks the app port the caller named in weft-dst-port
// (a redirected plaintext client: the port it dialled). Then access control
// (routing/authz-policy.ts: TrafficTargets, else the default policy) for that
// port and request: a denial is WEFT_ERR_FORBIDDEN (403; PERMISSION_DENIED for
// gRPC). Every verdict goes to `onVerdict` (metrics, the denial log).
import { WeftError } from '../../proto/errors.ts';
import { DST_PORT_HEADER } from '../http1/forward-headers.ts';
import type { AuthzVerdict } from '../routing/authz-policy.ts';
import type { Exchange, Layer } from '../exchange.ts';

export type AuthzHook = (ex: Exchange, verdict: AuthzVerdict) => void;

export function authorizeStage(onVerdict: AuthzHook): Layer {
  return (next) => (ex) => {
    const inbound = ex.config.inbound;
    if (ex.tls && (ex.clientId === '' || !inbound.allows(ex.clientId))) {
      return Promise.reject(new WeftError('WEFT_ERR_DENIED', `${ex.clientId || 'a client without a SPIFFE ID'} may not call this workload`));
    }
    if (!ex.tls && inbound.policy.mode === 'STRICT') {
      return Promise.reject(new WeftError('WEFT_ERR_TLS_REQUIRED', 'strict mode: plaintext refused'));
    }
    // A redirected plaintext client goes to the port it dialled (set from the
    // original destination); no other plaintext client may choose one.
    if (ex.tls || ex.appPort === 0) {
      // Only a verified peer proxy may choose the port; plaintext gets the default.
      const requested = ex.tls ? ex.req.headers[DST_PORT_HEADER] : undefined;
      const port = inbound.appPort(typeof requested === 'string' ? requested : undefined);
      if (port === undefined) {
        return Promise.reject(new WeftError('WEFT_ERR_DENIED', `app port ${String(requested)} is not served here`));
      }
      ex.appPort = port;
    }
    const verdict = inbound.authz.authorize({
      clientId: ex.tls ? ex.clientId : '',
      port: ex.appPort,
      http: { method: ex.req.method ?? 'GET', path: ex.path, headers: ex.req.headers },
    });
    onVerdict(ex, verdict);
    if (!verdict.allowed) {
      const who = ex.tls ? ex.clientId : 'an unauthenticated client';
      return Promise.reject(new WeftError('WEFT_ERR_FORBIDDEN', `${who} may not call ${ex.req.method ?? 'GET'} ${ex.path} on port ${ex.appPort} (${verdict.by})`));
    }
    return next(ex);
  };
}
