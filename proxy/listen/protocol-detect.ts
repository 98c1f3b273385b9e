// What a connection speaks, from its first bytes (as linkerd2-proxy's
// detection does):
//   - the HTTP/2 connection preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" -> h2;
//   - a TLS record carrying a handshake (0x16 0x03 0x00..0x04) -> tls, once
//     the whole first record (the ClientHello, whose SNI is recorded) is in,
//     or MAX_DETECT_BYTES of it;
//   - an HTTP/1.x request line "METHOD SP target SP HTTP/1.d CRLF" -> http1;
//   - anything else -> opaque.
// Bytes that are still a prefix of one of these ask for more ('more'), up to
// MAX_DETECT_BYTES; the caller decides what a timeout means (opaque: the
// client may be waiting for a server-first banner). Pure.

export type Protocol = 'http1' | 'h2' | 'tls' | 'opaque';

/** The request line may not be longer than this before we call it opaque (linkerd2-proxy: 8 KiB). */
export const MAX_DETECT_BYTES = 8192;

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;

/** RFC 9110 tchar. */
function isTchar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x21 || (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b || c === 0x2d || c === 0x2e ||
    c === 0x5e || c === 0x5f || c === 0x60 || c === 0x7c || c === 0x7e
  );
}

function prefixOf(bytes: Uint8Array, of: Uint8Array): boolean {
  const n = Math.min(bytes.length, of.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== of[i]) return false;
  return true;
}

/** 'more' while `bytes` could still become an HTTP/1.x request line; else the verdict. */
function http1(bytes: Uint8Array): 'http1' | 'opaque' | 'more' {
  let i = 0;
  while (i < bytes.length && isTchar(bytes[i] as number)) i++;
  if (i === bytes.length) return i > 0 || bytes.length === 0 ? 'more' : 'opaque';
  if (i === 0 || bytes[i] !== SP) return 'opaque';
  i++;
  const targetStart = i;
  // The request target: visible ASCII, no spaces.
  while (i < bytes.length && (bytes[i] as number) > SP && (bytes[i] as number) < 0x7f) i++;
  if (i === bytes.length) return 'more';
  if (i === targetStart || bytes[i] !== SP) return 'opaque';
  i++;
  const version = Buffer.from('HTTP/1.', 'latin1');
  for (let k = 0; k < version.length; k++, i++) {
    if (i === bytes.length) return 'more';
    if (bytes[i] !== version[k]) return 'opaque';
  }
  if (i === bytes.length) return 'more';
  const minor = bytes[i] as number;
  if (minor < 0x30 || minor > 0x39) return 'opaque';
  i++;
  if (i === bytes.length) return 'more';
  if (bytes[i] === LF) return 'http1';
  if (bytes[i] !== CR) return 'opaque';
  i++;
  if (i === bytes.length) return 'more';
  return bytes[i] === LF ? 'http1' : 'opaque';
}

/**
 * The protocol of a connection whose first bytes are `bytes`, or 'more' when
 * they are not enough to tell (never beyond MAX_DETECT_BYTES).
 */
export function detectProtocol(bytes: Uint8Array): Protocol | 'more' {
  if (bytes.length === 0) return 'more';
  if (bytes[0] === 0x16) {
    if (bytes.length < 3) return 'more';
    if (bytes[1] !== 0x03 || (bytes[2] as number) > 0x04) return 'opaque';
    if (bytes.length < 5) return 'more';
    const recordEnd = 5 + (((bytes[3] as number) << 8) | (bytes[4] as number));
    return bytes.length >= recordEnd || bytes.length >= MAX_DETECT_BYTES ? 'tls' : 'more';
  }
  if (prefixOf(bytes, H2_PREFACE)) {
    if (bytes.length >= H2_PREFACE.length) return 'h2';
    // "PRI * HTTP/2.0\r\n" is also the start of a (bogus) HTTP/1 line: wait for the whole preface.
    return 'more';
  }
  const verdict = http1(bytes);
  if (verdict === 'more' && bytes.length >= MAX_DETECT_BYTES) return 'opaque';
  return verdict;
}
