import { describe, expect, it } from 'vitest';
import { WeftError } from '../../proto/errors.ts';
import { createRetryBudget, isRetryable, type RetryCheck } from './retry-budget.ts';

/** How many retries the budget grants at `now` before refusing (drains it). */
function drain(budget: ReturnType<typeof createRetryBudget>, now: number, max = 10_000): number {
  let n = 0;
  while (n < max && budget.tryWithdraw(now)) n++;
  return n;
}

function depositN(budget: ReturnType<typeof createRetryBudget>, now: number, n: number): void {
  for (let i = 0; i < n; i++) budget.deposit(now);
}

describe('createRetryBudget', () => {
  it('with no traffic, allows minPerSecond * window seconds retries', () => {
    const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 10, windowMs: 10_000 });
    expect(budget.available(0)).toBe(100);
    expect(drain(budget, 0)).toBe(100);
    expect(budget.tryWithdraw(0)).toBe(false);
  });

  it('with minPerSecond 0, retries are a ratio of original requests', () => {
    const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 0 });
    expect(budget.tryWithdraw(0)).toBe(false);
    depositN(budget, 0, 10);
    expect(drain(budget, 0)).toBe(2);
    depositN(budget, 1, 5);
    expect(drain(budget, 1)).toBe(1);
  });

  it('a fractional allowance rounds down (no partial retries)', () => {
    const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 0 });
    depositN(budget, 0, 9); // 1.8 allowed
    expect(drain(budget, 0)).toBe(1);
    expect(budget.available(0)).toBeCloseTo(0.8, 9);
  });

  it('reserve and ratio add up', () => {
    const budget = createRetryBudget({ ratio: 0.5, minPerSecond: 1, windowMs: 2000 });
    depositN(budget, 0, 6);
    expect(drain(budget, 0)).toBe(2 + 3);
  });

  it('ratio 0 and minPerSecond 0: never retries', () => {
    const budget = createRetryBudget({ ratio: 0, minPerSecond: 0 });
    depositN(budget, 0, 1000);
    expect(budget.tryWithdraw(0)).toBe(false);
  });

  it('requests older than the window stop counting', () => {
    const budget = createRetryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 10_000, buckets: 10 });
    depositN(budget, 0, 10); // bucket [0, 1000)
    depositN(budget, 5_000, 10); // bucket [5000, 6000)
    expect(budget.available(9_999)).toBe(10);
    expect(budget.available(10_000)).toBe(5); // first bucket slid out
    expect(budget.available(14_999)).toBe(5);
    expect(budget.available(15_000)).toBe(0);
  });

  it('spent retries are given back as the window slides', () => {
    const budget = createRetryBudget({ ratio: 0, minPerSecond: 1, windowMs: 10_000 });
    expect(drain(budget, 0)).toBe(10);
    expect(budget.tryWithdraw(9_999)).toBe(false);
    expect(budget.tryWithdraw(10_000)).toBe(true);
    expect(drain(budget, 10_000)).toBe(9);
  });

  it('retries are bounded across the window, not per bucket', () => {
    const budget = createRetryBudget({ ratio: 0.1, minPerSecond: 0, windowMs: 10_000 });
    let granted = 0;
    // 100 requests/s for 10 s, each followed by an attempted retry.
    for (let t = 0; t < 10_000; t += 10) {
      budget.deposit(t);
      if (budget.tryWithdraw(t)) granted++;
    }
    expect(granted).toBe(100); // 10% of 1000
  });

  it('steady state: retries track ratio * request rate', () => {
    const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 0, windowMs: 10_000 });
    let granted = 0;
    let requests = 0;
    for (let t = 0; t < 60_000; t += 10) {
      budget.deposit(t);
      if (t >= 30_000) {
        requests++;
        if (budget.tryWithdraw(t)) granted++;
      }
    }
    // After warm-up, every request wants a retry; about 20% get one.
    expect(granted / requests).toBeGreaterThan(0.17);
    expect(granted / requests).toBeLessThan(0.23);
  });

  it('after a long idle gap the window is empty', () => {
    const budget = createRetryBudget({ ratio: 1, minPerSecond: 0 });
    depositN(budget, 0, 50);
    expect(drain(budget, 0)).toBe(50);
    expect(budget.available(1e9)).toBe(0);
    budget.deposit(1e9);
    expect(budget.tryWithdraw(1e9)).toBe(true);
    expect(budget.tryWithdraw(1e9)).toBe(false);
  });

  it('a clock going backwards counts into the newest bucket', () => {
    const budget = createRetryBudget({ ratio: 1, minPerSecond: 0, windowMs: 10_000 });
    budget.deposit(20_000);
    budget.deposit(5_000); // earlier than the window start: still counted, not lost
    expect(budget.available(20_000)).toBe(2);
    expect(budget.available(30_000)).toBe(0);
  });

  it('supports a window that does not divide evenly into buckets', () => {
    const budget = createRetryBudget({ ratio: 1, minPerSecond: 0, windowMs: 1000, buckets: 3 });
    budget.deposit(0);
    expect(budget.available(999)).toBe(1);
    expect(budget.available(1000)).toBe(0);
  });

  it.each([
    { ratio: -0.1, minPerSecond: 0 },
    { ratio: Number.NaN, minPerSecond: 0 },
    { ratio: 0.2, minPerSecond: -1 },
    { ratio: 0.2, minPerSecond: 1, windowMs: 0 },
    { ratio: 0.2, minPerSecond: 1, buckets: 0 },
    { ratio: 0.2, minPerSecond: 1, buckets: 2.5 },
  ])('invalid options %j -> WEFT_ERR_CONFIG_INVALID', (opts) => {
    let err: unknown;
    try {
      createRetryBudget(opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WeftError);
    expect((err as WeftError).code).toBe('WEFT_ERR_CONFIG_INVALID');
  });
});

describe('isRetryable', () => {
  const base: RetryCheck = { method: 'GET', attempt: 0, maxRetries: 2, failure: 'connect', bodyReplayable: true };

  it.each(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])('%s is retryable', (method) => {
    expect(isRetryable({ ...base, method })).toBe(true);
    expect(isRetryable({ ...base, method, failure: 'status503' })).toBe(true);
  });

  it.each(['POST', 'PATCH', 'PROPFIND', 'get'])('%s is retried only when nothing reached the app', (method) => {
    expect(isRetryable({ ...base, method, failure: 'connect' })).toBe(true);
    expect(isRetryable({ ...base, method, failure: 'appUnavailable' })).toBe(true);
    expect(isRetryable({ ...base, method, failure: 'stale' })).toBe(false);
    expect(isRetryable({ ...base, method, failure: 'status503' })).toBe(false);
    expect(isRetryable({ ...base, method, failure: 'other' })).toBe(false);
  });

  it('CONNECT is never retried', () => {
    for (const failure of ['connect', 'appUnavailable', 'stale', 'status503', 'other'] as const) {
      expect(isRetryable({ ...base, method: 'CONNECT', failure })).toBe(false);
    }
  });

  it('only failures before the app, and 503s of idempotent requests, are retried', () => {
    expect(isRetryable({ ...base, failure: 'connect' })).toBe(true);
    expect(isRetryable({ ...base, failure: 'appUnavailable' })).toBe(true);
    expect(isRetryable({ ...base, failure: 'stale' })).toBe(true);
    expect(isRetryable({ ...base, failure: 'status503' })).toBe(true);
    expect(isRetryable({ ...base, failure: 'other' })).toBe(false);
  });

  it('stops at maxRetries', () => {
    expect(isRetryable({ ...base, attempt: 0, maxRetries: 2 })).toBe(true);
    expect(isRetryable({ ...base, attempt: 1, maxRetries: 2 })).toBe(true);
    expect(isRetryable({ ...base, attempt: 2, maxRetries: 2 })).toBe(false);
    expect(isRetryable({ ...base, attempt: 0, maxRetries: 0 })).toBe(false);
  });

  it('a gRPC status the route lists is retried whatever the method (gRPC calls are POSTs), within maxRetries and with a replayable body', () => {
    expect(isRetryable({ ...base, method: 'POST', failure: 'grpcStatus' })).toBe(true);
    expect(isRetryable({ ...base, method: 'POST', failure: 'grpcStatus', attempt: 2 })).toBe(false);
    expect(isRetryable({ ...base, method: 'POST', failure: 'grpcStatus', bodyReplayable: false })).toBe(false);
  });

  it('a body that cannot be replayed is not retried', () => {
    expect(isRetryable({ ...base, method: 'PUT', bodyReplayable: false })).toBe(false);
    expect(isRetryable({ ...base, method: 'POST', failure: 'appUnavailable', bodyReplayable: false })).toBe(false);
  });
});
