// Outbound stage 5: a response timeout per attempt (headers must arrive in
// time). On expiry the attempt is aborted and fails with WEFT_ERR_TIMEOUT
// (504). Placed inside retries so each attempt gets its own deadline.
// As Envoy's route timeout, it starts once the request is complete (its
// body wholly received): a long upload is not a slow response. A body that
// stalls is the request-body idle timeout's (408, upstream-request.ts).
// A gRPC caller's own deadline (grpc-timeout) counts from the call's start
// and wins when it is sooner; its expiry is DEADLINE_EXCEEDED to the caller.
import { WeftError } from '../../proto/errors.ts';
import type { Deadline, Exchange, Handler, Layer } from '../exchange.ts';
import type { UpstreamResponse } from '../http1/upstream-response.ts';

export function timeoutStage(now: () => number): Layer {
  return (next) => (ex) => {
    const routeMs = ex.route?.timeoutMs ?? ex.config.config.defaults.timeoutMs;
    // A gRPC caller's deadline (grpc-timeout) runs from the call's start, whatever the body does.
    const deadlineAt = ex.h2?.deadlineAt;
    if (deadlineAt !== undefined) {
      const left = Math.max(0, deadlineAt - now());
      if (routeMs <= 0 || left < routeMs) return withDeadline(next, ex, left, true);
    }
    if (routeMs <= 0) return next(ex);
    return withDeadline(next, ex, routeMs, false);
  };
}

function withDeadline(next: Handler, ex: Exchange, ms: number, fromStart: boolean): Promise<UpstreamResponse> {
  const deadline: Deadline = { expired: undefined, onExpire: undefined };
  ex.deadline = deadline;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    timer = setTimeout(() => {
      const err = new WeftError('WEFT_ERR_TIMEOUT', fromStart ? `the caller's deadline (grpc-timeout) passed` : `no response within ${ms} ms of the complete request`);
      deadline.expired = err;
      deadline.onExpire?.abort(err);
    }, ms);
  };
  const req = ex.req;
  const complete = fromStart || ex.bodyless || req.complete;
  if (complete) arm();
  else req.once('end', arm);
  const done = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    if (!complete) req.removeListener('end', arm);
  };
  return next(ex).then(
    (res) => {
      done();
      return res;
    },
    (err: unknown) => {
      done();
      throw err;
    },
  );
}
