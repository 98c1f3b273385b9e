// The innermost stage: one HTTP request upstream, on a pooled connection.
// Outbound to a meshed endpoint: mTLS to the peer proxy's inbound port, which
// must present the endpoint's SPIFFE ID, naming the app port in weft-dst-port.
// Outbound to an unmeshed endpoint or egress, and inbound to the app: plain.
// Resolves when response headers arrive; network errors become typed errors.
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { WeftError, findWeftError } from '../proto/errors.ts';
import { DST_PORT_HEADER, CLIENT_ID_HEADER, forwardHeaders } from './forward-headers.ts';
import type { UpstreamPool } from './upstream-pool.ts';
import type { Exchange, Handler } from './exchange.ts';

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

interface Target {
  host: string;
  port: number;
  agent: http.Agent;
  secure: boolean;
  headers: OutgoingHttpHeaders;
}

function targetOf(ex: Exchange, pool: UpstreamPool, appAddress: string): Target {
  const req = ex.req;
  const headers = forwardHeaders(req.headers, {
    clientAddress: req.socket.remoteAddress,
    proto: ex.direction === 'inbound' && ex.tls ? 'https' : 'http',
    upgrade: ex.upgrade,
  });
  if (ex.direction === 'inbound') {
    if (ex.clientId !== '') headers[CLIENT_ID_HEADER] = ex.clientId;
    return { host: appAddress, port: ex.appPort, agent: pool.plain, secure: false, headers };
  }
  const ep = ex.endpoint?.endpoint;
  if (ep === undefined) {
    const egress = ex.egress;
    if (egress === undefined) throw new WeftError('WEFT_ERR_NO_ENDPOINTS', 'no endpoint chosen');
    return { host: egress.host, port: egress.port, agent: pool.plain, secure: false, headers };
  }
  if (ep.identity === '') {
    return { host: ep.address, port: ep.port, agent: pool.plain, secure: false, headers };
  }
  if (!pool.hasTls) throw new WeftError('WEFT_ERR_IDENTITY_MISMATCH', 'this proxy has no certificate yet');
  headers[DST_PORT_HEADER] = String(ep.port);
  return {
    host: ep.address,
    port: ep.proxyPort,
    agent: pool.tlsAgent(ep.address, ep.proxyPort, ep.identity),
    secure: true,
    headers,
  };
}

/** Maps a client-request error to a typed error. */
export function classifyUpstreamError(err: unknown, connected: boolean, reused: boolean, secure: boolean): WeftError {
  const weft = findWeftError(err);
  if (weft !== undefined) return weft;
  const code = (err as { code?: string }).code ?? '';
  if (secure && TLS_VERIFY_CODES.has(code)) {
    return new WeftError('WEFT_ERR_IDENTITY_MISMATCH', `peer certificate rejected: ${code}`, { cause: err });
  }
  if (!connected || CONNECT_ERRNOS.has(code)) {
    return new WeftError('WEFT_ERR_UPSTREAM_CONNECT', `cannot connect upstream: ${code || String(err)}`, { cause: err });
  }
  if (reused && code === 'ECONNRESET') {
    // A pooled connection the peer had already closed: the request never
    // reached it, so this is safe to retry like a connect failure.
    return new WeftError('WEFT_ERR_UPSTREAM_CONNECT', 'pooled connection was closed by the peer', { cause: err });
  }
  return new WeftError('WEFT_ERR_UPSTREAM_RESET', `upstream failed: ${code || String(err)}`, { cause: err });
}

export interface ForwardOptions {
  pool: UpstreamPool;
  /** Where the app listens (inbound): 127.0.0.1 in a pod, the workload's own loopback address locally. */
  appAddress: string;
}

export function forwardStage({ pool, appAddress }: ForwardOptions): Handler {
  return (ex) =>
    new Promise<IncomingMessage>((resolve, reject) => {
      const t = targetOf(ex, pool, appAddress);
      const connectTimeoutMs = ex.config.config.defaults.connectTimeoutMs;
      const deadline = ex.deadline;
      if (deadline?.expired !== undefined) {
        reject(deadline.expired);
        return;
      }
      const options: http.RequestOptions = {
        host: t.host,
        port: t.port,
        method: ex.req.method,
        path: ex.path,
        headers: t.headers,
        agent: t.agent,
      };
      const up = t.secure ? https.request(options) : http.request(options);
      let connected = false;
      let connectTimer: NodeJS.Timeout | undefined;
      if (deadline !== undefined) deadline.onExpire = (err) => up.destroy(err);
      const done = (): void => {
        if (deadline !== undefined) deadline.onExpire = undefined;
        if (connectTimer !== undefined) clearTimeout(connectTimer);
      };
      up.on('socket', (socket) => {
        if (!socket.connecting) {
          connected = true;
          return;
        }
        connectTimer = setTimeout(() => {
          up.destroy(new WeftError('WEFT_ERR_UPSTREAM_CONNECT', `connect timeout after ${connectTimeoutMs} ms`));
        }, connectTimeoutMs);
        socket.once(t.secure ? 'secureConnect' : 'connect', () => {
          connected = true;
          if (connectTimer !== undefined) clearTimeout(connectTimer);
        });
      });
      up.on('response', (res) => {
        done();
        resolve(res);
      });
      up.on('upgrade', (res, socket, head) => {
        done();
        ex.upgraded = { socket, head };
        resolve(res);
      });
      up.on('error', (err) => {
        done();
        reject(classifyUpstreamError(err, connected, up.reusedSocket, t.secure));
      });
      // Client gone: stop the upstream request too.
      const res = ex.res;
      res?.once('close', () => {
        if (!res.writableFinished) up.destroy();
      });
      if (ex.bodyless) up.end();
      else ex.req.pipe(up);
    });
}
