// The innermost stage: one HTTP request upstream, on a pooled connection.
// Outbound to a meshed endpoint: mTLS to the peer proxy's inbound port, which
// must present the endpoint's SPIFFE ID, naming the app port in weft-dst-port.
// Outbound to an unmeshed endpoint or egress, and inbound to the app: plain.
// Resolves when response headers arrive; network errors become typed errors.
// Requests go through Weft's own HTTP/1.1 client (upstream-origin.ts);
// upgrades (WebSocket) through node:http; HTTP/2 requests as HTTP/2
// streams (h2/h2-forward.ts).
import type { Agent as HttpAgent, OutgoingHttpHeaders, RequestOptions } from 'node:http';
import { PooledResponse, fromIncoming, type UpstreamResponse } from '../http1/upstream-response.ts';
import { WeftError } from '../../proto/errors.ts';
import { classifyUpstreamError } from '../http1/upstream-errors.ts';
import { forwardHeaders } from '../http1/forward-headers.ts';
import { destinationOf } from './forward-destination.ts';
import { h2Forward } from '../h2/h2-forward.ts';
import type { H2SessionPool } from '../h2/h2-sessions.ts';
import { requestHead } from '../http1/http1-request-head.ts';
import type { UpstreamPool } from '../http1/upstream-pool.ts';
import type { UpstreamOrigin } from '../http1/upstream-origin.ts';
import type { Exchange, Handler } from '../exchange.ts';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');

function headersOf(ex: Exchange): OutgoingHttpHeaders {
  const req = ex.req;
  return forwardHeaders(req.headers, {
    clientAddress: req.socket.remoteAddress,
    proto: ex.direction === 'inbound' && ex.tls ? 'https' : 'http',
    upgrade: ex.upgrade,
  });
}

interface Target {
  host: string;
  port: number;
  agent: HttpAgent;
  secure: boolean;
  headers: OutgoingHttpHeaders;
}

/** The node:http target of an upgrade. */
function upgradeTargetOf(ex: Exchange, pool: UpstreamPool, appAddress: string): Target {
  const headers = headersOf(ex);
  const d = destinationOf(ex, headers, pool, appAddress);
  const secure = d.identity !== '';
  return {
    host: d.host,
    port: d.port,
    agent: secure ? pool.tlsAgent(d.host, d.port, d.identity) : pool.plain,
    secure,
    headers,
  };
}

export interface ForwardOptions {
  pool: UpstreamPool;
  /** HTTP/2 sessions (h2/h2-sessions.ts): HTTP/2 requests go upstream as HTTP/2. */
  sessions: H2SessionPool;
  /** Where the app listens (inbound): 127.0.0.1 in a pod, the workload's own loopback address locally. */
  appAddress: string;
}

export function forwardStage({ pool, sessions, appAddress }: ForwardOptions): Handler {
  const viaHttp = httpForward(pool, appAddress);
  const viaH2 = h2Forward(sessions, pool, appAddress);
  return (ex) => {
    if (ex.h2 !== undefined) return viaH2(ex);
    if (ex.upgrade !== undefined) return viaHttp(ex);
    const message = ex.http1;
    if (message === undefined) return Promise.reject(new WeftError('WEFT_ERR_INTERNAL', 'no HTTP/1 request'));
    const deadline = ex.deadline;
    if (deadline?.expired !== undefined) return Promise.reject(deadline.expired);
    let origin: UpstreamOrigin;
    let head: string;
    const method = ex.req.method ?? 'GET';
    try {
      const headers = headersOf(ex);
      const d = destinationOf(ex, headers, pool, appAddress);
      origin = d.identity === '' ? pool.plainOrigin(d.host, d.port) : pool.tlsOrigin(d.host, d.port, d.identity, d.key);
      head = requestHead(method, ex.path, headers);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<UpstreamResponse>((resolve, reject) => {
      // The response registers itself as the deadline's and the caller's abort target.
      const response = new PooledResponse(resolve, reject, deadline, ex.res);
      origin.request(head, message, ex.bodyless, method === 'HEAD', response, ex.body);
    });
  };
}

/** The node:http path, used for upgrades (WebSocket): resolves on 101 with the upstream socket. */
function httpForward(pool: UpstreamPool, appAddress: string): Handler {
  return (ex) =>
    new Promise<UpstreamResponse>((resolve, reject) => {
      const t = upgradeTargetOf(ex, pool, appAddress);
      const connectTimeoutMs = ex.config.config.defaults.connectTimeoutMs;
      const deadline = ex.deadline;
      if (deadline?.expired !== undefined) {
        reject(deadline.expired);
        return;
      }
      const options: RequestOptions = {
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
      if (deadline !== undefined) deadline.onExpire = { abort: (err) => up.destroy(err) };
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
      if (ex.bodyless || ex.http1 === undefined) up.end();
      else ex.http1.pipe(up);
    });
}
