// Outbound stage 4: bounded retries (policy: routing/retry-budget.ts
// isRetryable). Any method is retried when nothing reached the app (no
// connection to the endpoint, or its proxy answered WEFT_ERR_APP_UNAVAILABLE);
// an idempotent one also after the app's own 503; nothing else. At most
// route.retry.maxRetries times, and only while the route's retry budget
// allows: retries can never multiply load on a failing service. Each retry
// avoids the endpoints this request already failed on (balance-stage.ts).
//
// A request that got no connection at all is not retried but re-dispatched,
// as linkerd2-proxy's balancer does: nothing of it left the proxy, so it goes
// to another endpoint of the same backend without counting against
// maxRetries or the budget, once per endpoint at most. A streamed body is no
// obstacle then: nothing of it was read.
//
// A retry must send the body again: a body with a declared length of at most
// MAX_REPLAY_BODY is read whole before the first attempt (when the route
// retries at all); a larger or chunked one streams and is never retried.
// An HTTP/2 body streams at once and keeps its first 64 KiB for replay
// (h2/replay-body.ts): a gRPC call is retried while it fits.
//
// gRPC: a trailers-only response whose grpc-status the route lists in
// retryableGrpcStatuses is retried (the call was not committed: no response
// message reached the caller); a response with messages never is.
import type { IncomingMessage } from 'node:http';
import type { UpstreamResponse } from '../http1/upstream-response.ts';
import { ERROR_HEADER, WeftError, findWeftError } from '../../proto/errors.ts';
import { isRetryable, type RetryFailure } from '../routing/retry-budget.ts';
import { requestMayHaveArrived } from '../http1/upstream-errors.ts';
import type { Exchange, Layer } from '../exchange.ts';
import { grpcStatusOf } from '../h2/grpc-status.ts';

/** Bodies up to this size are kept for replay (as linkerd2-proxy's 64 KiB). */
export const MAX_REPLAY_BODY = 64 * 1024;

function failureOf(err: unknown): RetryFailure {
  const weft = findWeftError(err);
  if (weft?.code !== 'WEFT_ERR_UPSTREAM_CONNECT') return 'other';
  return requestMayHaveArrived(weft) ? 'stale' : 'connect';
}

/** The length of a body worth buffering, or undefined. */
function replayableLength(req: IncomingMessage): number | undefined {
  if (req.headers['transfer-encoding'] !== undefined) return undefined;
  const n = Number(req.headers['content-length']);
  return Number.isInteger(n) && n > 0 && n <= MAX_REPLAY_BODY ? n : undefined;
}

/** Reads a body of `length` bytes whole; a caller that goes away or sends a bad body fails it (400). */
function readBody(req: IncomingMessage, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer): void => {
      chunks.push(c);
      n += c.length;
    };
    const cleanup = (): void => {
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('close', onClose);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, n));
    };
    const onClose = (): void => {
      cleanup();
      reject(new WeftError('WEFT_ERR_BAD_REQUEST', `the request body ended after ${n} of ${length} bytes`));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
  });
}

/** Whether the body (if any) can be sent again from the start: none, kept whole, untouched, or (HTTP/2) still within its replay buffer. */
function bodyReplayable(ex: Exchange): boolean {
  if (ex.bodyless || ex.body !== undefined) return true;
  const replay = ex.h2?.replay;
  if (replay !== undefined) return replay.replayable;
  return false;
}

/**
 * What went wrong with a response, or undefined when it is not a failure to
 * retry: the peer proxy's word that its app took nothing, the app's 503, or
 * (gRPC) a trailers-only response whose grpc-status the route lists as
 * retryable. A gRPC response with a body or a streamed one was committed:
 * never retried.
 */
function responseFailure(ex: Exchange, res: UpstreamResponse, retryableGrpc: readonly number[] | undefined): RetryFailure | undefined {
  // The peer proxy's own word that its app took nothing (only meshed endpoints say so).
  const fromPeerProxy = ex.endpoint !== undefined && ex.endpoint.endpoint.identity !== '';
  if (fromPeerProxy && res.headers[ERROR_HEADER] === 'WEFT_ERR_APP_UNAVAILABLE') return 'appUnavailable';
  if (res.statusCode === 503) return 'status503';
  if (ex.h2?.grpc === true && res.endStream === true && retryableGrpc !== undefined && retryableGrpc.length > 0) {
    const status = grpcStatusOf(res.headers);
    if (status !== undefined && retryableGrpc.includes(status)) return 'grpcStatus';
  }
  return undefined;
}

/** Whether a request whose connection failed can go to another endpoint: its body untouched or kept, an endpoint not yet tried. */
function redispatchable(ex: Exchange): boolean {
  if (ex.h2 !== undefined ? !bodyReplayable(ex) : !ex.bodyless && ex.body === undefined && ex.req.readableDidRead) return false;
  if (ex.pinned !== undefined) return false;
  const backend = ex.backend;
  if (backend === undefined) return false;
  const set = backend.service.endpointsFor(backend.port === 0 ? ex.port : backend.port);
  return set !== undefined && (ex.failed?.size ?? 0) < set.keys.length;
}

export function retryStage(now: () => number): Layer {
  return (next) => async (ex) => {
    const route = ex.route;
    if (route === undefined) return next(ex);
    route.budget.deposit(now());
    if (!ex.bodyless && ex.body === undefined && ex.http1 !== undefined && route.retry.maxRetries > 0) {
      const length = replayableLength(ex.http1);
      if (length !== undefined) ex.body = await readBody(ex.http1, length);
    }
    for (;;) {
      let failure: RetryFailure;
      let result: UpstreamResponse | undefined;
      let error: unknown;
      try {
        result = await next(ex);
        const failed = responseFailure(ex, result, route.retry.retryableGrpcStatuses);
        if (failed === undefined) return result;
        failure = failed;
      } catch (err) {
        error = err;
        failure = failureOf(err);
      }
      if (failure === 'connect' && redispatchable(ex)) continue;
      const retry =
        isRetryable({
          method: ex.req.method ?? 'GET',
          attempt: ex.attempt,
          maxRetries: route.retry.maxRetries,
          failure,
          bodyReplayable: bodyReplayable(ex),
        }) && route.budget.tryWithdraw(now());
      if (!retry) {
        if (result !== undefined) return result;
        throw error;
      }
      result?.discard(); // drop the 503's body, freeing its connection
      ex.attempt++;
    }
  };
}
