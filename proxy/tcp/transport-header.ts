// The transport header of an opaque mTLS connection between two proxies (the
// wire rule, also in proto/mesh.proto): after a handshake that negotiated
// ALPN "weft.opaque/1", the client proxy's first bytes are
//   'W' 'E' 'F' 'T'  0x01 (version)  port (u16, network order)
// naming the app port the stream is for; every byte after them is the
// application's. Pure.
import { WeftError } from '../../proto/errors.ts';

export const OPAQUE_ALPN = 'weft.opaque/1';
export const TRANSPORT_HEADER_BYTES = 7;
const MAGIC = [0x57, 0x45, 0x46, 0x54];
const VERSION = 1;

export function encodeTransportHeader(port: number): Buffer {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad port ${port}`);
  return Buffer.from([...MAGIC, VERSION, port >> 8, port & 0xff]);
}

/**
 * The port named by a transport header at the start of `bytes`, 'more' when
 * fewer than TRANSPORT_HEADER_BYTES have arrived. Throws
 * WEFT_ERR_BAD_REQUEST for anything that is not a version-1 header.
 */
export function decodeTransportHeader(bytes: Uint8Array): number | 'more' {
  const n = Math.min(bytes.length, TRANSPORT_HEADER_BYTES);
  for (let i = 0; i < Math.min(n, 4); i++) {
    if (bytes[i] !== MAGIC[i]) throw new WeftError('WEFT_ERR_BAD_REQUEST', 'opaque connection without a transport header');
  }
  if (n >= 5 && bytes[4] !== VERSION) throw new WeftError('WEFT_ERR_BAD_REQUEST', `transport header version ${bytes[4]} unknown`);
  if (n < TRANSPORT_HEADER_BYTES) return 'more';
  const port = ((bytes[5] as number) << 8) | (bytes[6] as number);
  if (port === 0) throw new WeftError('WEFT_ERR_BAD_REQUEST', 'transport header names port 0');
  return port;
}
