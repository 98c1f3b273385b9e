import { describe, expect, it } from 'vitest';
import { createBootstrapTokenValidator } from './token-validator.ts';
import { codeOfAsync as codeOf } from '../test/harness/error-code.ts';

const NOW = Date.parse('2030-01-01T00:00:00Z');

describe('createBootstrapTokenValidator', () => {
  it('issues random 32-byte base64url tokens that validate to their workload, again and again', async () => {
    const v = createBootstrapTokenValidator();
    const web = v.issue('demo', 'web');
    const api = v.issue('demo', 'api');
    expect(web).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(web, 'base64url')).toHaveLength(32);
    expect(web).not.toBe(api);
    expect(await v.validate(web, NOW)).toEqual({ namespace: 'demo', serviceAccount: 'web' });
    expect(await v.validate(web, NOW + 1)).toEqual({ namespace: 'demo', serviceAccount: 'web' });
    expect(await v.validate(api, NOW)).toEqual({ namespace: 'demo', serviceAccount: 'api' });
  });

  it('refuses empty, malformed, unknown and other validators\' tokens', async () => {
    const v = createBootstrapTokenValidator();
    const theirs = createBootstrapTokenValidator().issue('demo', 'web');
    const ours = v.issue('demo', 'web');
    expect(await codeOf(v.validate('', NOW))).toBe('WEFT_ERR_TOKEN_INVALID');
    expect(await codeOf(v.validate('not a token', NOW))).toBe('WEFT_ERR_TOKEN_INVALID');
    expect(await codeOf(v.validate(`${ours}x`, NOW))).toBe('WEFT_ERR_TOKEN_INVALID');
    expect(await codeOf(v.validate(ours.toUpperCase(), NOW))).toBe('WEFT_ERR_TOKEN_INVALID');
    expect(await codeOf(v.validate(theirs, NOW))).toBe('WEFT_ERR_TOKEN_INVALID');
    expect(await codeOf(v.validate(undefined as unknown as string, NOW))).toBe('WEFT_ERR_TOKEN_INVALID');
  });

  it('refuses a token from its expiry on', async () => {
    const v = createBootstrapTokenValidator();
    const t = v.issue('demo', 'web', { expiresAtUnixMs: NOW + 1000 });
    expect(await codeOf(v.validate(t, NOW + 999))).toBeUndefined();
    expect(await codeOf(v.validate(t, NOW + 1000))).toBe('WEFT_ERR_TOKEN_INVALID');
  });

  it('forgets revoked tokens', async () => {
    const v = createBootstrapTokenValidator();
    const t = v.issue('demo', 'web');
    expect(v.revoke(t)).toBe(true);
    expect(v.revoke(t)).toBe(false);
    expect(await codeOf(v.validate(t, NOW))).toBe('WEFT_ERR_TOKEN_INVALID');
  });

  it('returns a copy: callers cannot change what a token stands for', async () => {
    const v = createBootstrapTokenValidator();
    const t = v.issue('demo', 'web');
    const who = await v.validate(t, NOW);
    who.serviceAccount = 'admin';
    expect(await v.validate(t, NOW)).toEqual({ namespace: 'demo', serviceAccount: 'web' });
  });

  it('needs a namespace and a service account', () => {
    const v = createBootstrapTokenValidator();
    expect(() => v.issue('', 'web')).toThrow(RangeError);
    expect(() => v.issue('demo', '')).toThrow(RangeError);
    expect(() => v.issue('demo', 'web', { expiresAtUnixMs: Number.NaN })).toThrow(RangeError);
  });
});
