// Reads the X.509 keyUsage extension (RFC 5280 4.2.1.3) from a certificate's
// DER, which Node's X509Certificate does not expose (its `keyUsage` is the
// *extended* key usage). A minimal, bounds-checked DER walk: Certificate ->
// tbsCertificate -> [3] extensions -> the extension with OID 2.5.29.15 -> its
// BIT STRING. Pure; failures are WEFT_ERR_SVID_MALFORMED.

import { WeftError } from '../proto/errors.ts';

/** The keyUsage bits, by RFC 5280 name. */
export interface KeyUsage {
  digitalSignature: boolean;
  nonRepudiation: boolean;
  keyEncipherment: boolean;
  dataEncipherment: boolean;
  keyAgreement: boolean;
  keyCertSign: boolean;
  cRLSign: boolean;
  encipherOnly: boolean;
  decipherOnly: boolean;
}

const KEY_USAGE_NAMES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;

const TAG_BOOLEAN = 0x01;
const TAG_BIT_STRING = 0x03;
const TAG_OCTET_STRING = 0x04;
const TAG_OID = 0x06;
const TAG_SEQUENCE = 0x30;
const TAG_EXTENSIONS = 0xa3;
/** 2.5.29.15 as DER content bytes. */
const OID_KEY_USAGE = [0x55, 0x1d, 0x0f];

interface Tlv {
  tag: number;
  /** First content byte. */
  start: number;
  /** One past the last content byte. */
  end: number;
}

function malformed(why: string): WeftError {
  return new WeftError('WEFT_ERR_SVID_MALFORMED', `cannot read the certificate's key usage: ${why}`);
}

/** Reads one DER TLV at `offset`, which must end within `limit`. */
function readTlv(der: Uint8Array, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw malformed('truncated element');
  const tag = der[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw malformed('multi-byte tags are not used in certificates');
  let length = der[offset + 1] as number;
  let start = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4) throw malformed('unsupported length encoding');
    if (start + octets > limit) throw malformed('truncated length');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (der[start + i] as number);
    start += octets;
  }
  const end = start + length;
  if (end > limit) throw malformed('element longer than its container');
  return { tag, start, end };
}

function expectTag(t: Tlv, tag: number, what: string): Tlv {
  if (t.tag !== tag) throw malformed(`expected ${what}`);
  return t;
}

function sameBytes(der: Uint8Array, t: Tlv, bytes: readonly number[]): boolean {
  if (t.end - t.start !== bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (der[t.start + i] !== bytes[i]) return false;
  return true;
}

/** The keyUsage extension's bits, or undefined when the certificate has none. */
export function keyUsageOf(der: Uint8Array): KeyUsage | undefined {
  const cert = expectTag(readTlv(der, 0, der.length), TAG_SEQUENCE, 'a Certificate SEQUENCE');
  const tbs = expectTag(readTlv(der, cert.start, cert.end), TAG_SEQUENCE, 'a tbsCertificate SEQUENCE');
  let offset = tbs.start;
  while (offset < tbs.end) {
    const field = readTlv(der, offset, tbs.end);
    offset = field.end;
    if (field.tag !== TAG_EXTENSIONS) continue;
    const list = expectTag(readTlv(der, field.start, field.end), TAG_SEQUENCE, 'a SEQUENCE of extensions');
    let at = list.start;
    while (at < list.end) {
      const ext = expectTag(readTlv(der, at, list.end), TAG_SEQUENCE, 'an Extension SEQUENCE');
      at = ext.end;
      const oid = expectTag(readTlv(der, ext.start, ext.end), TAG_OID, 'an extension OID');
      if (!sameBytes(der, oid, OID_KEY_USAGE)) continue;
      let value = readTlv(der, oid.end, ext.end);
      if (value.tag === TAG_BOOLEAN) value = readTlv(der, value.end, ext.end);
      expectTag(value, TAG_OCTET_STRING, 'the extension value OCTET STRING');
      const bits = expectTag(readTlv(der, value.start, value.end), TAG_BIT_STRING, 'a keyUsage BIT STRING');
      return decodeBits(der, bits);
    }
    return undefined;
  }
  return undefined;
}

function decodeBits(der: Uint8Array, bits: Tlv): KeyUsage {
  if (bits.end - bits.start < 1) throw malformed('empty BIT STRING');
  const unused = der[bits.start] as number;
  if (unused > 7) throw malformed('invalid BIT STRING');
  const usage = {} as KeyUsage;
  KEY_USAGE_NAMES.forEach((name, i) => {
    const byte = bits.start + 1 + (i >> 3);
    usage[name] = byte < bits.end && ((der[byte] as number) & (0x80 >> (i & 7))) !== 0;
  });
  return usage;
}
