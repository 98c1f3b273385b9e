// Where the innermost stage sends a request, whatever its protocol: inbound,
// the app; outbound, the chosen endpoint (a meshed one through its proxy's
// inbound port over mTLS, naming the app port in weft-dst-port) or the egress
// address. Also adds the headers this hop owes the next.
import type { OutgoingHttpHeaders } from 'node:http';
import { WeftError } from '../../proto/errors.ts';
import { DST_PORT_HEADER, CLIENT_ID_HEADER } from '../http1/forward-headers.ts';
import type { UpstreamPool } from '../http1/upstream-pool.ts';
import type { Exchange } from '../exchange.ts';

/** Where a request goes. One object, refilled by destinationOf: used synchronously, never kept. */
export const destination = { host: '', port: 0, identity: '', key: '' };

/** Fills `destination` for `ex` and adds the headers this hop owes the next. */
export function destinationOf(ex: Exchange, headers: OutgoingHttpHeaders, pool: UpstreamPool, appAddress: string): typeof destination {
  const d = destination;
  d.identity = '';
  d.key = '';
  if (ex.direction === 'inbound') {
    if (ex.clientId !== '') headers[CLIENT_ID_HEADER] = ex.clientId;
    d.host = appAddress;
    d.port = ex.appPort;
    return d;
  }
  const compiled = ex.endpoint;
  if (compiled === undefined) {
    const egress = ex.egress;
    if (egress === undefined) throw new WeftError('WEFT_ERR_NO_ENDPOINTS', 'no endpoint chosen');
    d.host = egress.host;
    d.port = egress.port;
    return d;
  }
  const ep = compiled.endpoint;
  d.host = ep.address;
  if (ep.identity === '') {
    d.port = ep.port;
    return d;
  }
  if (!pool.hasTls) throw new WeftError('WEFT_ERR_NOT_READY', 'this proxy has no certificate yet');
  headers[DST_PORT_HEADER] = String(ep.port);
  d.port = ep.proxyPort;
  d.identity = ep.identity;
  d.key = compiled.agentKey;
  return d;
}

