import { describe, expect, it } from 'vitest';
import { detectProtocol, MAX_DETECT_BYTES } from './protocol-detect.ts';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

describe('detectProtocol', () => {
  it.each([
    ['GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'http1'],
    ['POST /x?y=1 HTTP/1.0\r\n', 'http1'],
    ['GET http://web.demo/ HTTP/1.1\r\n', 'http1'],
    ['CONNECT web:443 HTTP/1.1\r\n', 'http1'],
    ['OPTIONS * HTTP/1.1\n', 'http1'],
    [PREFACE, 'h2'],
    [`${PREFACE}\x00\x00\x00\x04`, 'h2'],
    ['PING\r\n', 'opaque'],
    ['*1\r\n$4\r\nPING\r\n', 'opaque'],
    ['GET / HTTP/2.0\r\n', 'opaque'],
    ['GET  / HTTP/1.1\r\n', 'opaque'],
    ['GET / HTTP/1.1\rX', 'opaque'],
    ['SSH-2.0-OpenSSH_9.2\r\n', 'opaque'],
    ['\x00\x00\x00\x08\x04\xd2\x16\x2f', 'opaque'],
    ['\x16\x03\x01\x00\x02\x01\x00', 'tls'],
    ['\x16\x03\x03\x00\x00', 'tls'],
    ['\x16\x05\x01', 'opaque'],
  ])('%j -> %s', (input, want) => {
    expect(detectProtocol(b(input))).toBe(want);
  });

  it.each([[''], ['G'], ['GET'], ['GET /'], ['GET / HTTP/1'], ['GET / HTTP/1.1'], ['GET / HTTP/1.1\r'], ['PRI * HTTP/2.0\r\n'], ['\x16'], ['\x16\x03'], ['\x16\x03\x01'], ['\x16\x03\x01\x02\x00\x01']])(
    '%j is not enough to tell',
    (input) => {
      expect(detectProtocol(b(input))).toBe('more');
    },
  );

  it('every strict prefix of an HTTP/1 request line or the h2 preface asks for more, then decides', () => {
    for (const whole of ['GET /path HTTP/1.1\r\n', PREFACE]) {
      for (let n = 1; n < whole.length; n++) expect(detectProtocol(b(whole.slice(0, n)))).toBe('more');
    }
  });

  it('waits for the whole first TLS record (the ClientHello), up to MAX_DETECT_BYTES', () => {
    const record = Buffer.concat([b('\x16\x03\x01\x01\x00'), Buffer.alloc(0x100, 1)]);
    for (let n = 1; n < record.length; n++) expect(detectProtocol(record.subarray(0, n))).toBe('more');
    expect(detectProtocol(record)).toBe('tls');
    const huge = Buffer.concat([b('\x16\x03\x01\x40\x00'), Buffer.alloc(MAX_DETECT_BYTES, 1)]);
    expect(detectProtocol(huge.subarray(0, MAX_DETECT_BYTES))).toBe('tls');
  });

  it('gives up on an endless request line at MAX_DETECT_BYTES (opaque)', () => {
    expect(detectProtocol(b(`GET /${'a'.repeat(MAX_DETECT_BYTES)}`))).toBe('opaque');
  });
});
