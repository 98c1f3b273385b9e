import { describe, expect, it } from 'vitest';
import { rateLimited } from './log.ts';

describe('rateLimited', () => {
  it('writes one line per key per interval, then says how many it suppressed', () => {
    let t = 0;
    const lines: Array<[string, object | undefined]> = [];
    const log = rateLimited((msg, fields) => lines.push([msg, fields]), 1_000, () => t);
    log('a', 'refused', { code: 'a' });
    log('a', 'refused', { code: 'a' });
    log('b', 'refused', { code: 'b' });
    t = 999;
    log('a', 'refused', { code: 'a' });
    t = 1_000;
    log('a', 'refused', { code: 'a' });
    expect(lines).toEqual([
      ['refused', { code: 'a' }],
      ['refused', { code: 'b' }],
      ['refused', { code: 'a', suppressed: 2 }],
    ]);
  });
});
