import { isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { decodeSockaddr, formatIpv6 } from './sockaddr.ts';

describe('decodeSockaddr', () => {
  it('decodes a sockaddr_in (port in network order)', () => {
    const buf = Buffer.from('0200270fc61209010000000000000000', 'hex');
    expect(decodeSockaddr(buf)).toEqual({ address: '198.18.9.1', port: 9999, family: 4 });
  });
  it('decodes a sockaddr_in6', () => {
    const buf = Buffer.from('0a00270f000000002001000200000000000000000000000100000000', 'hex');
    expect(decodeSockaddr(buf)).toEqual({ address: '2001:2::1', port: 9999, family: 6 });
  });
  it('refuses other families and short buffers', () => {
    expect(decodeSockaddr(Buffer.from('01000000', 'hex'))).toBeUndefined();
    expect(decodeSockaddr(Buffer.from('0200270f', 'hex'))).toBeUndefined();
    expect(decodeSockaddr(Buffer.from('0a00270f0000000020010002', 'hex'))).toBeUndefined();
    expect(decodeSockaddr(Buffer.alloc(16), 40)).toBeUndefined();
  });
});

describe('formatIpv6', () => {
  it.each([
    [[0x2001, 2, 0, 0, 0, 0, 0, 1], '2001:2::1'],
    [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
    [[0x2001, 0xdb8, 0, 1, 0, 0, 0, 1], '2001:db8:0:1::1'],
    [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], '2001:db8::1:0:0:1'],
    [[1, 2, 3, 4, 5, 6, 7, 8], '1:2:3:4:5:6:7:8'],
    [[0, 0, 0, 0, 0, 0xffff, 0xc612, 0x0901], '::ffff:198.18.9.1'],
  ])('%j -> %s', (groups, text) => {
    expect(formatIpv6(groups)).toBe(text);
    expect(isIPv6(text)).toBe(true);
  });
});
