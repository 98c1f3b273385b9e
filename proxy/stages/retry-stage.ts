// Outbound stage 4: bounded retries. Only requests without a body (so they
// can be replayed) with an idempotent method, only on a connection failure or
// a 503, at most route.retry.maxRetries times, and only while the route's
// retry budget allows: retries can never multiply load on a failing service.
import type { UpstreamResponse } from '../http1/upstream-response.ts';
import { findWeftError } from '../../proto/errors.ts';
import { isRetryable, type RetryFailure } from '../routing/retry-budget.ts';
import type { Layer } from '../exchange.ts';

function failureOf(err: unknown): RetryFailure {
  return findWeftError(err)?.code === 'WEFT_ERR_UPSTREAM_CONNECT' ? 'connect' : 'other';
}

export function retryStage(now: () => number): Layer {
  return (next) => async (ex) => {
    const route = ex.route;
    if (route === undefined) return next(ex);
    route.budget.deposit(now());
    for (;;) {
      let failure: RetryFailure;
      let result: UpstreamResponse | undefined;
      let error: unknown;
      try {
        result = await next(ex);
        if (result.statusCode !== 503) return result;
        failure = 'status503';
      } catch (err) {
        error = err;
        failure = failureOf(err);
      }
      const retry =
        isRetryable({
          method: ex.req.method ?? 'GET',
          attempt: ex.attempt,
          maxRetries: route.retry.maxRetries,
          failure,
          bodyReplayable: ex.bodyless,
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
