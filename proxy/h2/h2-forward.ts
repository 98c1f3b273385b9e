// The innermost stage for HTTP/2 requests: one stream on the origin's
// multiplexed session (h2-sessions.ts). Outbound to a meshed endpoint: mTLS
// (ALPN h2) to the peer proxy's inbound port, which must present the
// endpoint's SPIFFE ID, naming the app port in weft-dst-port; to an unmeshed
// endpoint or egress, and inbound to the app: h2c, the protocol the caller
// spoke. Resolves when the response headers arrive (informational 1xx ones
// are passed to the caller as they come); the body streams from the
// request's ReplayBody (kept for a retry) or straight from the caller.
import type { OutgoingHttpHeaders } from 'node:http';
import type { ClientHttp2Stream, IncomingHttpHeaders as H2Headers, OutgoingHttpHeaders as H2OutHeaders } from 'node:http2';
import { WeftError } from '../../proto/errors.ts';
import { forwardHeaders } from '../http1/forward-headers.ts';
import type { UpstreamPool } from '../http1/upstream-pool.ts';
import type { UpstreamResponse } from '../http1/upstream-response.ts';
import { destinationOf } from '../stages/forward-destination.ts';
import type { Exchange, Handler } from '../exchange.ts';
import { H2Response } from './h2-response.ts';
import { streamError, type H2SessionPool } from './h2-sessions.ts';
import { encodeGrpcTimeout } from './grpc-status.ts';
import { performance } from 'node:perf_hooks';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const { constants } = process.getBuiltinModule('node:http2');

/** The request headers for the next hop: this hop's forwarding headers, `te: trailers` kept (gRPC needs it), grpc-timeout lowered to what is left, the pseudo-headers set. */
function requestHeaders(ex: Exchange, headers: OutgoingHttpHeaders): H2OutHeaders {
  const authority = ex.req.headers.host;
  const out = headers as H2OutHeaders;
  delete out.host;
  if (ex.req.headers.te === 'trailers') out.te = 'trailers';
  // The caller's deadline goes on as what is left of it, so that the next hop's is no later.
  const deadlineAt = ex.h2?.deadlineAt;
  if (deadlineAt !== undefined) out['grpc-timeout'] = encodeGrpcTimeout(deadlineAt - performance.now());
  out[':method'] = ex.req.method ?? 'GET';
  out[':path'] = ex.path;
  out[':scheme'] = 'http';
  if (authority !== undefined) out[':authority'] = authority;
  return out;
}

export function h2Forward(sessions: H2SessionPool, pool: UpstreamPool, appAddress: string): Handler {
  return (ex) => {
    const call = ex.h2;
    if (call === undefined) return Promise.reject(new WeftError('WEFT_ERR_INTERNAL', 'an HTTP/1 request on the HTTP/2 path'));
    const deadline = ex.deadline;
    if (deadline?.expired !== undefined) return Promise.reject(deadline.expired);
    let stream: ClientHttp2Stream;
    let entry: ReturnType<H2SessionPool['session']>;
    const bodyless = ex.bodyless;
    try {
      const headers = forwardHeaders(ex.req.headers, {
        clientAddress: ex.req.socket.remoteAddress,
        proto: ex.direction === 'inbound' && ex.tls ? 'https' : 'http',
      });
      const d = destinationOf(ex, headers, pool, appAddress);
      entry = sessions.session(d.host, d.port, d.identity === '' ? undefined : d.identity);
      stream = entry.session.request(requestHeaders(ex, headers), { endStream: bodyless });
      sessions.opened(entry);
    } catch (err) {
      if (err instanceof WeftError) return Promise.reject(err);
      const code = (err as { code?: string }).code;
      // A session closing under us is a connection problem (re-dispatched); anything else is this request's (400).
      const closing = code === 'ERR_HTTP2_INVALID_SESSION' || code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_OUT_OF_STREAMS';
      return Promise.reject(
        new WeftError(closing ? 'WEFT_ERR_UPSTREAM_CONNECT' : 'WEFT_ERR_BAD_REQUEST', `no HTTP/2 stream: ${(err as Error).message}`, { cause: err }),
      );
    }
    const caller = call.stream;
    ex.connectWaitMs = undefined;
    // A stream that had to wait for its session's connection: how long is known once it is up.
    const asked = entry.connected ? undefined : performance.now();
    return new Promise<UpstreamResponse>((resolve, reject) => {
      let settled = false;
      const cleanup = (): void => {
        settled = true;
        if (deadline !== undefined) deadline.onExpire = undefined;
        caller.removeListener('close', onCallerClose);
      };
      const fail = (err: Error): void => {
        if (settled) return;
        cleanup();
        call.replay?.detach(stream);
        if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
        reject(err);
      };
      // The caller went away before the response: cancel upstream (the reply has nowhere to go).
      const onCallerClose = (): void => fail(new WeftError('WEFT_ERR_CLIENT_CLOSED', 'the caller reset the stream'));
      caller.once('close', onCallerClose);
      if (deadline !== undefined) deadline.onExpire = { abort: fail };
      stream.on('headers', (h: H2Headers) => {
        // 1xx (never 101 in HTTP/2): passed on as they come.
        const status = Number(h[':status']);
        if (status >= 100 && status < 200 && !caller.headersSent && !caller.destroyed) {
          try {
            caller.additionalHeaders(h as H2OutHeaders);
          } catch {
            // The caller's stream can no longer take them: the final response decides.
          }
        }
      });
      stream.once('response', (h: H2Headers, flags: number) => {
        if (settled) return;
        const status = Number(h[':status']);
        if (!(status >= 200 && status <= 599)) {
          fail(new WeftError('WEFT_ERR_UPSTREAM_PROTOCOL', `the upstream answered with :status ${String(h[':status'])}`));
          return;
        }
        cleanup();
        if (asked !== undefined && entry.connectedAt > 0) ex.connectWaitMs = Math.max(0, entry.connectedAt - asked);
        resolve(new H2Response(stream, h, flags));
      });
      stream.once('error', (err: Error) => fail(streamError(entry, err, 'HTTP/2 stream failed')));
      // Later errors (a reset after the response began) end the body, which h2-respond.ts handles.
      stream.on('error', () => {});
      stream.once('close', () => {
        if (settled) return;
        const code = stream.rstCode ?? 0;
        // REFUSED_STREAM: the peer processed nothing of it (RFC 9113 8.7), as a connect failure.
        if (code === constants.NGHTTP2_REFUSED_STREAM) {
          fail(new WeftError('WEFT_ERR_UPSTREAM_CONNECT', 'the upstream refused the stream (REFUSED_STREAM)'));
          return;
        }
        fail(streamError(entry, undefined, `the upstream closed the stream before its response (code ${code})`));
      });
      if (!bodyless) {
        if (call.replay !== undefined) {
          if (!call.replay.attach(stream)) fail(new WeftError('WEFT_ERR_INTERNAL', 'the request body can no longer be replayed'));
        } else {
          caller.pipe(stream);
        }
      }
    });
  };
}
