// The server name (SNI) a TLS ClientHello asks for, read from the first TLS
// record of a connection (RFC 8446 4.1.2, RFC 6066 3). Used to record where a
// passed-through TLS connection was meant to go; the proxy never terminates
// it. Pure: anything malformed or incomplete is undefined, never a throw.

const HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const HOST_NAME = 0x00;

/** A bounds-checked cursor over bytes; every read returns undefined past the end. */
class Reader {
  #at: number;
  readonly #end: number;
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array, at: number, end: number) {
    this.bytes = bytes;
    this.#at = at;
    this.#end = Math.min(end, bytes.length);
  }
  u8(): number | undefined {
    return this.#at + 1 <= this.#end ? (this.bytes[this.#at++] as number) : undefined;
  }
  u16(): number | undefined {
    const hi = this.u8();
    const lo = this.u8();
    return hi === undefined || lo === undefined ? undefined : (hi << 8) | lo;
  }
  u24(): number | undefined {
    const hi = this.u8();
    const rest = this.u16();
    return hi === undefined || rest === undefined ? undefined : (hi << 16) | rest;
  }
  skip(n: number): boolean {
    if (this.#at + n > this.#end) return false;
    this.#at += n;
    return true;
  }
  /** A sub-reader over the next n bytes (consumed here). */
  take(n: number): Reader | undefined {
    if (this.#at + n > this.#end) return undefined;
    const sub = new Reader(this.bytes, this.#at, this.#at + n);
    this.#at += n;
    return sub;
  }
  /** The next n bytes as Latin-1 text. */
  text(n: number): string | undefined {
    if (this.#at + n > this.#end) return undefined;
    const s = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.#at, n).toString('latin1');
    this.#at += n;
    return s;
  }
}

/** A DNS name as SNI carries it (RFC 6066: no IP literals, no trailing dot), lower-cased; else undefined. */
function hostName(s: string): string | undefined {
  if (s.length === 0 || s.length > 253) return undefined;
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(s)) return undefined;
  return s.toLowerCase();
}

/** The host_name of the server_name extension of the ClientHello that `bytes` begins with, if whole and well formed. */
export function clientHelloServerName(bytes: Uint8Array): string | undefined {
  const record = new Reader(bytes, 0, bytes.length);
  if (record.u8() !== HANDSHAKE) return undefined;
  if (!record.skip(2)) return undefined; // legacy record version
  const recordLength = record.u16();
  if (recordLength === undefined) return undefined;
  const body = record.take(recordLength);
  if (body === undefined) return undefined;
  if (body.u8() !== CLIENT_HELLO) return undefined;
  const helloLength = body.u24();
  if (helloLength === undefined) return undefined;
  // A ClientHello larger than its first record (rare: huge key shares) is read as far as the record goes.
  const hello = body.take(Math.min(helloLength, recordLength - 4));
  if (hello === undefined) return undefined;
  if (!hello.skip(2 + 32)) return undefined; // legacy_version, random
  const sessionId = hello.u8();
  if (sessionId === undefined || !hello.skip(sessionId)) return undefined;
  const suites = hello.u16();
  if (suites === undefined || !hello.skip(suites)) return undefined;
  const compression = hello.u8();
  if (compression === undefined || !hello.skip(compression)) return undefined;
  const extensionsLength = hello.u16();
  if (extensionsLength === undefined) return undefined;
  const extensions = hello.take(extensionsLength);
  if (extensions === undefined) return undefined;
  for (;;) {
    const type = extensions.u16();
    const length = extensions.u16();
    if (type === undefined || length === undefined) return undefined;
    const ext = extensions.take(length);
    if (ext === undefined) return undefined;
    if (type !== EXT_SERVER_NAME) continue;
    const listLength = ext.u16();
    if (listLength === undefined) return undefined;
    const list = ext.take(listLength);
    if (list === undefined) return undefined;
    for (;;) {
      const nameType = list.u8();
      const nameLength = list.u16();
      if (nameType === undefined || nameLength === undefined) return undefined;
      const name = list.text(nameLength);
      if (name === undefined) return undefined;
      if (nameType === HOST_NAME) return hostName(name);
    }
  }
}
