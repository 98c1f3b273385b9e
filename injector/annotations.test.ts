import { describe, expect, it } from 'vitest';
import { findWeftError } from '../proto/errors.ts';
import { injectModeOf, parseInjectMode, parsePortList, parseProxyLogLevel, parseQuantity } from './annotations.ts';
import { InjectError } from './inject-error.ts';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return findWeftError(err)?.code;
  }
  return undefined;
}

describe('parseInjectMode / injectModeOf', () => {
  it('accepts enabled and disabled, ignoring case and spaces', () => {
    expect(parseInjectMode(' Enabled ', 'k')).toBe('enabled');
    expect(parseInjectMode('DISABLED', 'k')).toBe('disabled');
    expect(codeOf(() => parseInjectMode('true', 'k'))).toBe('WEFT_ERR_INJECT_ANNOTATION_INVALID');
  });

  it('takes the annotation or the label; both agreeing is fine, disagreeing is a conflict', () => {
    expect(injectModeOf('pod', {}, {})).toBeUndefined();
    expect(injectModeOf('pod', { 'weft.dev/inject': 'enabled' }, {})).toBe('enabled');
    expect(injectModeOf('pod', {}, { 'weft.dev/inject': 'disabled' })).toBe('disabled');
    expect(injectModeOf('pod', { 'weft.dev/inject': 'enabled' }, { 'weft.dev/inject': 'enabled' })).toBe('enabled');
    expect(codeOf(() => injectModeOf('pod', { 'weft.dev/inject': 'enabled' }, { 'weft.dev/inject': 'disabled' }))).toBe(
      'WEFT_ERR_INJECT_CONFLICT',
    );
  });
});

describe('parsePortList', () => {
  it('reads ports and ranges, skipping blanks and duplicates', () => {
    expect(parsePortList(' 25, 8000-8100,,25 ', 'k')).toEqual([
      { from: 25, to: 25 },
      { from: 8000, to: 8100 },
    ]);
    expect(parsePortList('', 'k')).toEqual([]);
  });

  it.each(['http', '0', '65536', '80-', '-80', '90-80', '1.5', '0x50', '8080 8081'])('refuses %j', (v) => {
    let err: unknown;
    try {
      parsePortList(v, 'config.weft.dev/skip-inbound-ports');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InjectError);
    expect((err as InjectError).key).toBe('config.weft.dev/skip-inbound-ports');
    expect((err as InjectError).message).toContain('config.weft.dev/skip-inbound-ports');
  });
});

describe('parseQuantity', () => {
  it.each([
    ['100m', 0.1],
    ['1', 1],
    ['0.5', 0.5],
    ['.5', 0.5],
    ['64Mi', 64 * 2 ** 20],
    ['1G', 1e9],
    ['1E', 1e18],
    ['1e3', 1000],
    ['2Ki', 2048],
  ])('%s = %d', (q, v) => {
    expect(parseQuantity(q, 'k')).toBeCloseTo(v);
  });

  it.each(['64MB', '-1', '+1', '1.2.3', 'm', '', 'one', '1 Gi'])('refuses %j', (q) => {
    expect(codeOf(() => parseQuantity(q, 'k'))).toBe('WEFT_ERR_INJECT_ANNOTATION_INVALID');
  });
});

describe('parseProxyLogLevel', () => {
  it('accepts the proxy levels in any case and refuses others', () => {
    expect(parseProxyLogLevel('WARN', 'k')).toBe('warn');
    expect(codeOf(() => parseProxyLogLevel('trace', 'k'))).toBe('WEFT_ERR_INJECT_ANNOTATION_INVALID');
  });
});
