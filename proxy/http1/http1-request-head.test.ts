import { describe, expect, it } from 'vitest';
import { requestHead } from './http1-request-head.ts';

describe('requestHead', () => {
  it('writes the request line and one line per value, without the final CRLF', () => {
    expect(
      requestHead('POST', '/a?b=1', {
        host: 'web.demo',
        'content-length': 5,
        'x-list': ['a', 'b'],
        'x-none': undefined,
      }),
    ).toBe('POST /a?b=1 HTTP/1.1\r\nhost: web.demo\r\ncontent-length: 5\r\nx-list: a\r\nx-list: b\r\n');
  });

  it('never sends Expect (Node answered 100-continue already)', () => {
    expect(requestHead('PUT', '/', { host: 'h', expect: '100-continue' })).toBe('PUT / HTTP/1.1\r\nhost: h\r\n');
  });
});
