// The innermost stage: one HTTP request upstream, on a pooled connection.
// Outbound to a meshed endpoint: mTLS to the peer proxy's inbound port, which
// must present the endpoint's SPIFFE ID, naming the app port in weft-dst-port.
// Outbound to an unmeshed endpoint or egress, and inbound to the app: plain.
// Resolves when response headers arrive; network errors become typed errors.
import http, { type OutgoingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { DispatchedResponse, fromIncoming, type UpstreamResponse } from './upstream-response.ts';
import https from 'node:https';
import { WeftError } from '../proto/errors.ts';
import { classifyUpstreamError } from './upstream-errors.ts';
import { DST_PORT_HEADER, CLIENT_ID_HEADER, forwardHeaders } from './forward-headers.ts';
import type { UpstreamPool } from './upstream-pool.ts';
import type { Exchange, Handler } from './exchange.ts';

interface Target {
  host: string;
  port: number;
  /** node:http agent (upgrades). */
  agent: http.Agent;
  /** undici dispatcher (requests). */
  dispatcher: Dispatcher;
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
  const plain = (host: string, port: number): Target => ({
    host,
    port,
    agent: pool.plain,
    dispatcher: pool.plainDispatcher,
    secure: false,
    headers,
  });
  if (ex.direction === 'inbound') {
    if (ex.clientId !== '') headers[CLIENT_ID_HEADER] = ex.clientId;
    return plain(appAddress, ex.appPort);
  }
  const ep = ex.endpoint?.endpoint;
  if (ep === undefined) {
    const egress = ex.egress;
    if (egress === undefined) throw new WeftError('WEFT_ERR_NO_ENDPOINTS', 'no endpoint chosen');
    return plain(egress.host, egress.port);
  }
  if (ep.identity === '') return plain(ep.address, ep.port);
  if (!pool.hasTls) throw new WeftError('WEFT_ERR_NOT_READY', 'this proxy has no certificate yet');
  headers[DST_PORT_HEADER] = String(ep.port);
  return {
    host: ep.address,
    port: ep.proxyPort,
    agent: pool.tlsAgent(ep.address, ep.proxyPort, ep.identity),
    dispatcher: pool.tlsDispatcher(ep.address, ep.proxyPort, ep.identity),
    secure: true,
    headers,
  };
}

export interface ForwardOptions {
  pool: UpstreamPool;
  /** Where the app listens (inbound): 127.0.0.1 in a pod, the workload's own loopback address locally. */
  appAddress: string;
}

/** Request headers as undici takes them (no hop-by-hop, no Expect: Node answered 100-continue already). */
function dispatchHeaders(h: OutgoingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in h) {
    const v = h[name];
    if (v === undefined || name === 'expect') continue;
    out[name] = typeof v === 'number' ? String(v) : v;
  }
  return out;
}

function origin(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function forwardStage({ pool, appAddress }: ForwardOptions): Handler {
  const viaHttp = httpForward(pool, appAddress);
  return (ex) => {
    if (ex.upgrade !== undefined) return viaHttp(ex);
    return new Promise<UpstreamResponse>((resolve, reject) => {
      const t = targetOf(ex, pool, appAddress);
      const deadline = ex.deadline;
      if (deadline?.expired !== undefined) {
        reject(deadline.expired);
        return;
      }
      let settled = false;
      const response = new DispatchedResponse(
        (r) => {
          settled = true;
          if (deadline !== undefined) deadline.onExpire = undefined;
          resolve(r);
        },
        (err) => {
          settled = true;
          if (deadline !== undefined) deadline.onExpire = undefined;
          // Errors before the connection is up were typed by the connector.
          reject(classifyUpstreamError(err, true, false, t.secure));
        },
      );
      if (deadline !== undefined) deadline.onExpire = (err) => response.abort(err);
      // Client gone before the response: stop the upstream request too.
      const res = ex.res;
      res?.once('close', () => {
        if (!settled) response.abort(new WeftError('WEFT_ERR_UPSTREAM_RESET', 'client went away'));
      });
      t.dispatcher.dispatch(
        {
          origin: origin(t.host, t.port),
          path: ex.path,
          method: (ex.req.method ?? 'GET') as Dispatcher.HttpMethod,
          headers: dispatchHeaders(t.headers),
          body: ex.bodyless ? null : ex.req,
        },
        response,
      );
    });
  };
}

/** The node:http path, used for upgrades (WebSocket): resolves on 101 with the upstream socket. */
function httpForward(pool: UpstreamPool, appAddress: string): Handler {
  return (ex) =>
    new Promise<UpstreamResponse>((resolve, reject) => {
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
        resolve(fromIncoming(res));
      });
      up.on('upgrade', (res, socket, head) => {
        done();
        ex.upgraded = { socket, head };
        resolve(fromIncoming(res));
      });
      up.on('error', (err) => {
        done();
        reject(classifyUpstreamError(err, connected, up.reusedSocket, t.secure));
      });
      if (ex.bodyless) up.end();
      else ex.req.pipe(up);
    });
}
