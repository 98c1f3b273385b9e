import { describe, expect, it } from 'vitest';
import { codeOf } from '../../test/harness/error-code.ts';
import { parseResponseHead, type ResponseHead } from './http1-response-head.ts';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const parse = (s: string, headRequest = false, max?: number): ResponseHead | undefined =>
  parseResponseHead(b(s), 0, headRequest, max);
const must = (s: string, headRequest = false): ResponseHead => {
  const head = parse(s, headRequest);
  if (head === undefined) throw new Error('incomplete');
  return head;
};
const bad = (s: string): string | undefined => codeOf(() => parse(s));

describe('parseResponseHead: status line and headers', () => {
  it('parses a plain response and says where the head ends', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
    const head = must(text);
    expect(head.statusCode).toBe(200);
    expect(head.statusMessage).toBe('OK');
    expect({ ...head.headers }).toEqual({ 'content-type': 'text/plain', 'content-length': '5' });
    expect(head.end).toBe(text.length - 5);
    expect(head.framing).toBe('length');
    expect(head.contentLength).toBe(5);
    expect(head.reusable).toBe(true);
    expect(head.keepAliveMs).toBe(-1);
  });

  it('parses from an offset', () => {
    const text = 'xxxHTTP/1.1 204 No Content\r\n\r\n';
    const head = parseResponseHead(b(text), 3, false);
    expect(head?.statusCode).toBe(204);
    expect(head?.end).toBe(text.length);
  });

  it('returns undefined until the blank line has arrived, at every cut', () => {
    const text = 'HTTP/1.1 200 OK\r\nA: 1\r\nContent-Length: 0\r\n\r\n';
    for (let cut = 0; cut < text.length; cut++) expect(parse(text.slice(0, cut))).toBeUndefined();
    expect(parse(text)?.statusCode).toBe(200);
  });

  it('accepts an empty reason phrase, with or without the space', () => {
    expect(must('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n').statusMessage).toBe('');
    expect(must('HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n').statusMessage).toBe('');
    expect(must('HTTP/1.1 404 Not  Found \r\nContent-Length: 0\r\n\r\n').statusMessage).toBe('Not  Found ');
  });

  it('trims optional whitespace around values and keeps inner whitespace and obs-text', () => {
    const head = must('HTTP/1.1 200 OK\r\nX-A:  a b\t \r\nX-B:\r\nX-C: caf\xe9\r\nContent-Length: 0\r\n\r\n');
    expect(head.headers['x-a']).toBe('a b');
    expect(head.headers['x-b']).toBe('');
    expect(head.headers['x-c']).toBe('caf\xe9');
  });

  it('combines repeated fields as Node does', () => {
    const head = must(
      'HTTP/1.1 200 OK\r\n' +
        'Set-Cookie: a=1\r\nset-cookie: b=2\r\n' +
        'Vary: accept\r\nVary: origin\r\n' +
        'Cookie: x=1\r\nCookie: y=2\r\n' +
        'Content-Type: text/plain\r\nContent-Type: text/html\r\n' +
        'Location: /a\r\nLocation: /b\r\n' +
        'ETag: "1"\r\nETag: "2"\r\n' +
        'Content-Length: 0\r\n\r\n',
    );
    expect(head.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(head.headers.vary).toBe('accept, origin');
    expect(head.headers.cookie).toBe('x=1; y=2');
    expect(head.headers['content-type']).toBe('text/plain');
    expect(head.headers.location).toBe('/a');
    expect(head.headers.etag).toBe('"1"');
  });

  it('treats field names like Object methods as plain fields', () => {
    const head = must('HTTP/1.1 200 OK\r\nconstructor: x\r\ntoString: y\r\n__proto__: z\r\nContent-Length: 0\r\n\r\n');
    expect(head.headers.constructor).toBe('x');
    expect(head.headers.tostring).toBe('y');
    expect(Object.keys(head.headers)).toEqual(['constructor', 'tostring', 'content-length']);
  });

  it('rejects what is not a clean status line', () => {
    expect(bad('HTTP/2.0 200 OK\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('HTTP/1.2 200 OK\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('HTTP/1.1 20 OK\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('HTTP/1.1 2000 OK\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('HTTP/1.1 099 Low\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('HTTP/1.1  200 OK\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('HTTP/1.1 200 O\x01K\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('HTTP/1.1 200 OK\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('http/1.1 200 OK\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('ICY 200 OK\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
  });

  it('fails on garbage as soon as the first bytes show it, before any line ends', () => {
    expect(bad('<html>')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('HTTP/2')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('HTT')).toBeUndefined();
  });

  it('rejects bad header lines', () => {
    const line = (l: string): string | undefined => bad(`HTTP/1.1 200 OK\r\n${l}\r\nContent-Length: 0\r\n\r\n`);
    expect(line('Bad Name: x')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(line('Bad(Name): x')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(line('Name : x')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(line(': x')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(line('NoColon')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(line('X-A: a\rb')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(line('X-A: a\x00b')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(line('X-A: a\x7fb')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(line('X-A: a\nX-B: b')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(line('X-A: a\r\n  folded')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(line('X-A: a\r\n\tfolded')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
  });

  it('rejects a head over the size limit, complete or not', () => {
    const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(2000)}\r\nContent-Length: 0\r\n\r\n`;
    expect(codeOf(() => parse(big, false, 1024))).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(codeOf(() => parse(big.slice(0, 1500), false, 1024))).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(codeOf(() => parse(`HTTP/1.1 200 ${'a'.repeat(2000)}`, false, 1024))).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(parse(big, false, 4096)?.statusCode).toBe(200);
  });

  it('has a 64 KiB limit by default', () => {
    const head = (n: number): string => `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(n)}\r\nContent-Length: 0\r\n\r\n`;
    expect(parse(head(60 * 1024))?.statusCode).toBe(200);
    expect(bad(head(64 * 1024))).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
  });
});

describe('parseResponseHead: body framing (RFC 9112 6.3)', () => {
  it('no body for a HEAD request, 1xx, 204 and 304, whatever the headers say', () => {
    const head = must('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n', true);
    expect(head.framing).toBe('none');
    expect(head.headers['content-length']).toBe('1234');
    expect(head.reusable).toBe(true);
    expect(must('HTTP/1.1 100 Continue\r\n\r\n').framing).toBe('none');
    expect(must('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n').framing).toBe('none');
    expect(must('HTTP/1.1 204 No Content\r\n\r\n').framing).toBe('none');
    expect(must('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n').framing).toBe('none');
    expect(must('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n').framing).toBe('none');
  });

  it('chunked when chunked is the last transfer coding', () => {
    expect(must('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n').framing).toBe('chunked');
    expect(must('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n').framing).toBe('chunked');
    const split = must('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n');
    expect(split.framing).toBe('chunked');
    expect(split.reusable).toBe(true);
  });

  it('until close, not reusable, when another coding is last', () => {
    const head = must('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n');
    expect(head.framing).toBe('close');
    expect(head.reusable).toBe(false);
  });

  it('Transfer-Encoding with Content-Length is an error (RFC 9112 6.3; llhttp refuses it), in either order', () => {
    expect(bad('HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(bad('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
  });

  it('Content-Length: one valid number', () => {
    expect(must('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').contentLength).toBe(0);
    expect(must('HTTP/1.1 200 OK\r\nContent-Length: 123456789012345\r\n\r\n').contentLength).toBe(123456789012345);
  });

  it('rejects bad and conflicting Content-Length values', () => {
    const cl = (v: string): string | undefined => bad(`HTTP/1.1 200 OK\r\n${v}\r\n\r\n`);
    expect(cl('Content-Length: 42\r\nContent-Length: 43')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(cl('Content-Length: 42, 43')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(cl('Content-Length: -1')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(cl('Content-Length: +1')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(cl('Content-Length: 0x10')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(cl('Content-Length: 1 2')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(cl('Content-Length: 1.5')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(cl('Content-Length: ')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(cl('Content-Length: 1,')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(cl('Content-Length: 1234567890123456')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
  });

  it('until close, not reusable, without Content-Length or Transfer-Encoding', () => {
    const head = must('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n');
    expect(head.framing).toBe('close');
    expect(head.reusable).toBe(false);
  });

  it('Connection: close and HTTP/1.0 without keep-alive are not reusable', () => {
    expect(must('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').reusable).toBe(false);
    expect(must('HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\nContent-Length: 0\r\n\r\n').reusable).toBe(false);
    expect(must('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').reusable).toBe(false);
    expect(must('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').reusable).toBe(true);
    expect(must('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n').reusable).toBe(false);
    expect(must('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').reusable).toBe(true);
  });

  it('reads the Keep-Alive timeout hint', () => {
    const ka = (v: string): number => must(`HTTP/1.1 200 OK\r\nKeep-Alive: ${v}\r\nContent-Length: 0\r\n\r\n`).keepAliveMs;
    expect(ka('timeout=5')).toBe(5000);
    expect(ka('max=100, timeout=60')).toBe(60000);
    expect(ka('Timeout = 2')).toBe(2000);
    expect(ka('max=5')).toBe(-1);
    expect(ka('notimeout=5')).toBe(-1);
  });
});
