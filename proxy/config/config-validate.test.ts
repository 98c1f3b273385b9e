import { describe, expect, it } from 'vitest';
import { findWeftError } from '../../proto/errors.ts';
import { validateProxyConfig } from './config-validate.ts';

const withRetry = (retry: unknown): unknown => ({ version: '1', defaults: { retry } });

describe('retry.retryableGrpcStatuses', () => {
  it('defaults to UNAVAILABLE (14) when absent or empty', () => {
    expect(validateProxyConfig({ version: '1' }).defaults.retry.retryableGrpcStatuses).toEqual([14]);
    expect(validateProxyConfig(withRetry({ retryableGrpcStatuses: [] })).defaults.retry.retryableGrpcStatuses).toEqual([14]);
  });

  it('keeps the statuses given', () => {
    expect(validateProxyConfig(withRetry({ retryableGrpcStatuses: [1, 4, 14] })).defaults.retry.retryableGrpcStatuses).toEqual([1, 4, 14]);
  });

  it.each([[[0]], [[17]], [['UNAVAILABLE']], [[1.5]], ['14']])('%j is refused with WEFT_ERR_CONFIG_INVALID', (bad) => {
    let err: unknown;
    try {
      validateProxyConfig(withRetry({ retryableGrpcStatuses: bad }));
    } catch (e) {
      err = e;
    }
    expect(findWeftError(err)?.code).toBe('WEFT_ERR_CONFIG_INVALID');
  });
});
