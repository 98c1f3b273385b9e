import { describe, expect, it } from 'vitest';
import { codeOf } from '../../test/harness/error-code.ts';
import { decodeTransportHeader, encodeTransportHeader } from './transport-header.ts';

describe('transport header', () => {
  it('round-trips a port, byte by byte', () => {
    for (const port of [1, 80, 5432, 65535]) {
      const h = encodeTransportHeader(port);
      for (let n = 0; n < h.length; n++) expect(decodeTransportHeader(h.subarray(0, n))).toBe('more');
      expect(decodeTransportHeader(Buffer.concat([h, Buffer.from('PING\r\n')]))).toBe(port);
    }
  });
  it('refuses what is not a header: other magic, version, port 0', () => {
    expect(codeOf(() => decodeTransportHeader(Buffer.from('GET / HTTP/1.1')))).toBe('WEFT_ERR_BAD_REQUEST');
    expect(codeOf(() => decodeTransportHeader(Buffer.from([0x57, 0x45, 0x46, 0x54, 2, 0, 80])))).toBe('WEFT_ERR_BAD_REQUEST');
    expect(codeOf(() => decodeTransportHeader(Buffer.from([0x57, 0x45, 0x46, 0x54, 1, 0, 0])))).toBe('WEFT_ERR_BAD_REQUEST');
    expect(() => encodeTransportHeader(0)).toThrow(RangeError);
  });
});
