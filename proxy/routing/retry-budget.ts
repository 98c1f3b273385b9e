// Retries: which failures may be retried (isRetryable) and how many retries
// the proxy may add on top of the original traffic (the retry budget, as in
// Finagle and linkerd2-proxy).
//
// Budget: over a sliding window (windowMs, kept as `buckets` time buckets),
// retries may number at most
//     minPerSecond * windowMs / 1000  +  ratio * (original requests in window)
// so retries add at most `ratio` of the recent request rate, plus a small
// floor that lets low-traffic clients retry at all. This keeps a failing
// upstream from being hit by a retry storm. Time is the `now` parameter (ms).

import { WeftError } from '../../proto/errors.ts';

export interface RetryBudgetOptions {
  /** Retries allowed per original request in the window (e.g. 0.2). */
  ratio: number;
  /** Retries per second allowed regardless of traffic. */
  minPerSecond: number;
  /** Sliding window, ms. Default 10 000. */
  windowMs?: number;
  /** Time buckets in the window. Default 10. */
  buckets?: number;
}

export interface RetryBudget {
  /** Records one original request (not a retry). */
  deposit(now: number): void;
  /** Takes one retry from the budget; false when it is spent (do not retry). */
  tryWithdraw(now: number): boolean;
  /** Retries still allowed in the current window (may be fractional). */
  available(now: number): number;
}

export function createRetryBudget(options: RetryBudgetOptions): RetryBudget {
  const { ratio, minPerSecond } = options;
  const windowMs = options.windowMs ?? 10_000;
  const buckets = options.buckets ?? 10;
  if (!(Number.isFinite(ratio) && ratio >= 0)) throw invalid(`retry budget ratio must be >= 0 (got ${ratio})`);
  if (!(Number.isFinite(minPerSecond) && minPerSecond >= 0)) {
    throw invalid(`retry budget minPerSecond must be >= 0 (got ${minPerSecond})`);
  }
  if (!(Number.isFinite(windowMs) && windowMs > 0)) throw invalid(`retry budget windowMs must be > 0 (got ${windowMs})`);
  if (!(Number.isInteger(buckets) && buckets >= 1)) throw invalid(`retry budget buckets must be an integer >= 1 (got ${buckets})`);

  const reserve = (minPerSecond * windowMs) / 1000;
  const bucketMs = windowMs / buckets;
  const requests = new Float64Array(buckets);
  const retries = new Float64Array(buckets);
  let totalRequests = 0;
  let totalRetries = 0;
  // Bucket number (floor(now / bucketMs)) of the newest bucket; slot = epoch % buckets.
  let epoch = Number.NEGATIVE_INFINITY;

  /** Slides the window to `now` and returns the slot of the current bucket. */
  function advance(now: number): number {
    const e = Math.floor(now / bucketMs);
    if (e > epoch) {
      if (e - epoch >= buckets) {
        // The whole window is stale (or this is the first call).
        requests.fill(0);
        retries.fill(0);
        totalRequests = 0;
        totalRetries = 0;
      } else {
        // Clear the buckets that fell out of the window.
        for (let k = epoch + 1; k <= e; k++) {
          const slot = mod(k, buckets);
          totalRequests -= requests[slot]!;
          totalRetries -= retries[slot]!;
          requests[slot] = 0;
          retries[slot] = 0;
        }
      }
      epoch = e;
    }
    // A clock that went backwards counts into the newest bucket.
    return mod(epoch, buckets);
  }

  function allowed(): number {
    return reserve + ratio * totalRequests;
  }

  return {
    deposit(now) {
      const slot = advance(now);
      requests[slot]!++;
      totalRequests++;
    },
    tryWithdraw(now) {
      const slot = advance(now);
      if (totalRetries + 1 > allowed()) return false;
      retries[slot]!++;
      totalRetries++;
      return true;
    },
    available(now) {
      advance(now);
      return Math.max(0, allowed() - totalRetries);
    },
  };
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}

function invalid(message: string): WeftError {
  return new WeftError('WEFT_ERR_CONFIG_INVALID', message);
}

/**
 * What went wrong with an attempt:
 *   - connect: no connection to the endpoint (refused, reset or timed out
 *     before any byte of the request was written): nothing reached it;
 *   - appUnavailable: the endpoint's proxy could not reach its app (503 with
 *     weft-error WEFT_ERR_APP_UNAVAILABLE): nothing reached the app;
 *   - stale: a pooled connection closed as the request went out (the
 *     keep-alive race): the request may have reached the app;
 *   - status503: the app answered 503;
 *   - grpcStatus: a gRPC call ended at once (trailers-only) with a status the
 *     route lists as retryable: the operator declared it safe to repeat;
 *   - other: anything else (a reset mid-request, a timeout, another status):
 *     the app may have acted on the request.
 */
export type RetryFailure = 'connect' | 'appUnavailable' | 'stale' | 'status503' | 'grpcStatus' | 'other';

export interface RetryCheck {
  /** Request method (RFC 9110: case-sensitive; "get" is not GET). */
  readonly method: string;
  /** Retries already made for this request: 0 when the original attempt just failed. */
  readonly attempt: number;
  /** RetryPolicy.maxRetries. */
  readonly maxRetries: number;
  /** What went wrong: a connection failure, a 503 response, anything else. */
  readonly failure: RetryFailure;
  /** Whether the request body (if any) is buffered and can be sent again. */
  readonly bodyReplayable: boolean;
}

/** Idempotent methods (RFC 9110 §9.2.2). POST and PATCH are retried only when nothing reached the app. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * Whether a failed attempt may be retried (the budget is checked separately),
 * always with a body that can be sent again and retries left under
 * maxRetries:
 *   - any method when nothing reached the app (connect, appUnavailable);
 *   - an idempotent method after the app's own 503 or a stale connection;
 *   - never after anything else: the app may have acted on it.
 */
export function isRetryable(c: RetryCheck): boolean {
  if (!c.bodyReplayable || c.attempt >= c.maxRetries) return false;
  switch (c.failure) {
    case 'connect':
    case 'appUnavailable':
      return c.method !== 'CONNECT';
    case 'stale':
    case 'status503':
      return IDEMPOTENT.has(c.method);
    case 'grpcStatus':
      return true;
    case 'other':
      return false;
  }
}
