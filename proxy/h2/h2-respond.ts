// Runs a stack for one HTTP/2 exchange and answers the caller's stream: the
// upstream's headers (END_STREAM kept: a trailers-only gRPC response stays
// one), its DATA with backpressure, its trailers, and a reset passed on with
// its code; or the proxy's own error (error-response.ts: a gRPC status for a
// gRPC caller). Records the metrics once the response has ended, with the
// gRPC status from the trailers (or the trailers-only headers).
import { performance } from 'node:perf_hooks';
import type { OutgoingHttpHeaders as H2OutHeaders, ServerHttp2Stream } from 'node:http2';
import { errorReply, grpcStatusFor, h2ErrorHeaders } from '../error-response.ts';
import { responseHeaders } from '../http1/forward-headers.ts';
import { targetOf } from '../respond.ts';
import type { Exchange, Handler } from '../exchange.ts';
import type { ProxyMetrics } from '../metrics/metrics.ts';
import { H2Response } from './h2-response.ts';
import { GRPC_STATUS, grpcStatusOf } from './grpc-status.ts';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const { constants } = process.getBuiltinModule('node:http2');

/** The caller's stream can take nothing more (reset, or closed and about to be destroyed). */
function gone(caller: ServerHttp2Stream): boolean {
  return caller.destroyed || caller.closed;
}

function outboundTls(ex: Exchange): void {
  if (ex.direction === 'outbound') ex.tls = ex.endpoint !== undefined && ex.endpoint.agentKey !== '';
}

/**
 * Never rejects: a caller's stream that closed between two steps (respond,
 * trailers) ends the exchange quietly, and `onError` hears of anything else.
 */
export async function respondH2(ex: Exchange, handler: Handler, metrics: ProxyMetrics, onError: (err: unknown) => void = () => {}): Promise<void> {
  try {
    await exchangeH2(ex, handler, metrics);
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_HTTP2_INVALID_STREAM') return;
    onError(err);
  }
}

/** A gRPC status as a label value: 0..16, anything else UNKNOWN (2); -1 (none) as is. */
function grpcLabel(s: number | undefined): number {
  if (s === undefined) return -1;
  return s > 16 ? GRPC_STATUS.UNKNOWN : s;
}

async function exchangeH2(ex: Exchange, handler: Handler, metrics: ProxyMetrics): Promise<void> {
  const call = ex.h2;
  if (call === undefined) return;
  const caller = call.stream;
  let up: H2Response;
  try {
    const res = await handler(ex);
    if (!(res instanceof H2Response)) throw new Error('an HTTP/2 exchange got a response of another protocol');
    up = res;
  } catch (err) {
    outboundTls(ex);
    const reply = errorReply(err);
    try {
      if (!caller.headersSent && !gone(caller)) {
        if (call.grpc) {
          caller.respond(h2ErrorHeaders(reply, true), { endStream: true });
        } else {
          caller.respond(h2ErrorHeaders(reply, false));
          caller.end(`${reply.code}: ${reply.message}\n`);
        }
      } else if (!gone(caller)) {
        caller.close(constants.NGHTTP2_INTERNAL_ERROR);
      }
    } finally {
      // The rest of the caller's body has nowhere to go: read and dropped, so its stream completes.
      call.replay?.abandon();
      const target = targetOf(ex, metrics);
      target.request();
      if (call.grpc) target.response(200, performance.now() - ex.start, reply.code, grpcStatusFor(reply));
      else target.response(reply.status, performance.now() - ex.start, reply.code);
    }
    return;
  }
  // Committed: the body will not be sent again; its replay copy can go. Once
  // the upstream stream is closed, the rest of the caller's body (if any) is
  // read and dropped, so that the caller's stream completes.
  const replay = call.replay;
  if (replay !== undefined) {
    replay.commit();
    if (up.stream.closed) replay.abandon();
    else up.stream.once('close', () => replay.abandon());
  }
  outboundTls(ex);
  const target = targetOf(ex, metrics);
  target.request();
  const latency = performance.now() - ex.start;
  if (gone(caller)) {
    up.discard();
    target.response(up.statusCode, latency, '', call.grpc ? -1 : undefined);
    return;
  }
  const headers = responseHeaders(up.headers) as H2OutHeaders;
  headers[':status'] = up.statusCode;
  try {
    if (up.endStream) {
      caller.respond(headers, { endStream: true });
      target.response(up.statusCode, latency, '', call.grpc ? grpcLabel(grpcStatusOf(up.headers)) : undefined);
      return;
    }
    caller.respond(headers, { waitForTrailers: true });
  } catch (err) {
    // Headers the caller's stream refuses: neither side is left hanging.
    up.discard();
    if (!gone(caller)) caller.close(constants.NGHTTP2_INTERNAL_ERROR);
    target.response(502, latency, 'WEFT_ERR_UPSTREAM_PROTOCOL', call.grpc ? -1 : undefined);
    throw err;
  }
  caller.once('wantTrailers', () => {
    const t = up.trailers;
    try {
      caller.sendTrailers(t !== undefined ? (responseHeaders(t) as H2OutHeaders) : {});
    } catch {
      // Trailers it refuses, or a stream closed meanwhile: end it, never leave it open.
      if (!gone(caller)) caller.close(constants.NGHTTP2_INTERNAL_ERROR);
    }
  });
  await up.pipeTo(caller);
  if (up.aborted && !gone(caller)) {
    // The upstream reset the stream: so is the caller's, with the same code.
    caller.close(up.stream.rstCode);
  } else if (!up.stream.closed && gone(caller)) {
    // The caller reset (or went away): cancel upstream with its code.
    up.stream.close(caller.rstCode ?? constants.NGHTTP2_CANCEL);
  }
  const status = call.grpc ? grpcLabel(grpcStatusOf(up.trailers ?? {}) ?? grpcStatusOf(up.headers)) : undefined;
  target.response(up.statusCode, latency, '', status);
}
