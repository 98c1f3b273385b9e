// The head of an HTTP/1.1 response read from an upstream, parsed from bytes.
// Pure. Strict: anything but a clean status line and clean header lines
// (bad characters, obs-fold, bare CR or LF, a head over the size limit) is a
// WEFT_ERR_UPSTREAM_PROTOCOL error, and so is framing that llhttp refuses
// (more than one Content-Length, Content-Length with Transfer-Encoding, an
// empty Transfer-Encoding); http1-differential-fuzz.test.ts holds it to that. Headers come out as Node's
// IncomingMessage.headers would hold them, and the body's framing is decided
// as RFC 9112 §6.3 says, with whether the connection can carry another request.
import type { IncomingHttpHeaders } from 'node:http';
import { WeftError } from '../../proto/errors.ts';

/** Largest response head accepted (status line + headers + blank line). */
export const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;

/**
 * How the body is delimited: none (HEAD, 1xx, 204, 304), Content-Length
 * bytes, chunked, or everything until the upstream closes the connection.
 */
export type BodyFraming = 'none' | 'length' | 'chunked' | 'close';

export interface ResponseHead {
  statusCode: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  /** Offset just past the blank line that ends the head. */
  end: number;
  framing: BodyFraming;
  /** Body bytes when framing is 'length'. */
  contentLength: number;
  /** Whether the connection may carry another request after this message. */
  reusable: boolean;
  /** The upstream's `Keep-Alive: timeout=N`, in ms; -1 when it sent none. */
  keepAliveMs: number;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;

/** tchar (RFC 9110 5.6.2): the bytes allowed in a field name. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/** Bytes allowed in a field value and a reason phrase: HTAB, SP, VCHAR, obs-text. */
const FIELD_CHAR = new Uint8Array(256);
FIELD_CHAR[HTAB] = 1;
for (let b = 0x20; b <= 0xff; b++) if (b !== 0x7f) FIELD_CHAR[b] = 1;

// Node keeps only the first of these when a message repeats them
// (IncomingMessage's matchKnownFields); set-cookie becomes an array, cookie
// is joined with '; ', any other field with ', '.
const DROP_DUPLICATES = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

const KEEP_ALIVE_TIMEOUT = /(?:^|[\s,;])timeout\s*=\s*(\d{1,9})/i;
const STATUS_PREFIX = 'HTTP/1.';

function protocolError(what: string): WeftError {
  return new WeftError('WEFT_ERR_UPSTREAM_PROTOCOL', `invalid response from upstream: ${what}`);
}

/**
 * Parses the response head that starts at `buf[start]`. Returns undefined
 * while the head is incomplete (call again with more bytes, from the same
 * start); throws a WEFT_ERR_UPSTREAM_PROTOCOL WeftError when it is invalid or
 * larger than `maxBytes`. `headRequest`: the request was HEAD (no body follows).
 */
export function parseResponseHead(
  buf: Buffer,
  start: number,
  headRequest: boolean,
  maxBytes: number = MAX_RESPONSE_HEAD_BYTES,
): ResponseHead | undefined {
  const len = buf.length;
  // Fail fast on something that is not HTTP/1.x at all, before a line ends.
  const prefix = Math.min(len - start, STATUS_PREFIX.length);
  for (let i = 0; i < prefix; i++) {
    if (buf[start + i] !== STATUS_PREFIX.charCodeAt(i)) throw protocolError('not an HTTP/1.x status line');
  }
  let lf = buf.indexOf(LF, start);
  if (lf === -1) return incomplete(len - start, maxBytes);
  if (lf + 1 - start > maxBytes) throw protocolError(`head larger than ${maxBytes} bytes`);

  // Status line: HTTP/1.x SP 3DIGIT [SP reason-phrase] CRLF
  const lineEnd = lf - 1;
  if (lineEnd < start || buf[lineEnd] !== CR) throw protocolError('status line not ended by CRLF');
  const minor = buf[start + 7];
  if ((minor !== 0x30 && minor !== 0x31) || buf[start + 8] !== SP) throw protocolError('unsupported HTTP version');
  const d0 = digit(buf[start + 9]);
  const d1 = digit(buf[start + 10]);
  const d2 = digit(buf[start + 11]);
  if (d0 < 1 || d1 < 0 || d2 < 0 || start + 12 > lineEnd) throw protocolError('bad status code');
  const statusCode = d0 * 100 + d1 * 10 + d2;
  let statusMessage = '';
  if (start + 12 < lineEnd) {
    if (buf[start + 12] !== SP) throw protocolError('bad status code');
    for (let i = start + 13; i < lineEnd; i++) if (FIELD_CHAR[buf[i]!] !== 1) throw protocolError('bad character in reason phrase');
    statusMessage = buf.toString('latin1', start + 13, lineEnd);
  }
  const http11 = minor === 0x31;

  // Null prototype, as Node's: a field named like an Object method is just a field.
  const headers = Object.create(null) as IncomingHttpHeaders;
  let contentLength = -1;
  let transferEncoding: string | undefined;
  let connClose = false;
  let connKeepAlive = false;
  let keepAliveMs = -1;

  for (;;) {
    const lineStart = lf + 1;
    lf = buf.indexOf(LF, lineStart);
    if (lf === -1) return incomplete(len - start, maxBytes);
    if (lf + 1 - start > maxBytes) throw protocolError(`head larger than ${maxBytes} bytes`);
    const end = lf - 1;
    if (end < lineStart || buf[end] !== CR) throw protocolError('header line not ended by CRLF');
    if (end === lineStart) break; // the blank line
    const first = buf[lineStart];
    if (first === SP || first === HTAB) throw protocolError('obs-fold (header line continued on the next line)');
    let i = lineStart;
    while (i < end && TCHAR[buf[i]!] === 1) i++;
    if (i === lineStart || i === end || buf[i] !== COLON) throw protocolError('bad header name');
    const name = buf.toString('latin1', lineStart, i).toLowerCase();
    i++;
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    let valueEnd = end;
    while (valueEnd > i && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    for (let j = i; j < valueEnd; j++) if (FIELD_CHAR[buf[j]!] !== 1) throw protocolError(`bad character in ${name}`);
    const value = buf.toString('latin1', i, valueEnd);

    switch (name) {
      case 'content-length':
        // As llhttp: one field, one number (no list, not even of equal values).
        if (contentLength !== -1) throw protocolError('more than one content-length');
        contentLength = contentLengthOf(buf, i, valueEnd);
        break;
      case 'transfer-encoding':
        if (i === valueEnd) throw protocolError('empty transfer-encoding');
        // `chunked<HTAB>`: llhttp does not see chunked there, RFC 9112 does.
        // A framing two parsers read differently is refused.
        for (let j = valueEnd; j < end; j++) if (buf[j] === HTAB) throw protocolError('HTAB after the transfer-encoding value');
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        break;
      case 'connection':
      case 'proxy-connection': {
        // llhttp reads Proxy-Connection as Connection; tokens are trimmed of OWS only.
        const v = value.toLowerCase();
        if (v === 'keep-alive') connKeepAlive = true;
        else if (v === 'close') connClose = true;
        else {
          for (const token of v.split(',')) {
            const t = trimOws(token);
            if (t === 'close') connClose = true;
            else if (t === 'keep-alive') connKeepAlive = true;
          }
        }
        break;
      }
      case 'keep-alive': {
        const m = KEEP_ALIVE_TIMEOUT.exec(value);
        if (m !== null) keepAliveMs = Number(m[1]) * 1000;
        break;
      }
    }
    addHeader(headers, name, value);
  }

  const end = lf + 1;
  let reusable = !connClose && (http11 || connKeepAlive);
  let framing: BodyFraming;
  if (transferEncoding !== undefined && contentLength !== -1) {
    // RFC 9112 6.3: "ought to be handled as an error" (smuggling); llhttp does.
    throw protocolError('both transfer-encoding and content-length');
  }
  if (headRequest || statusCode < 200 || statusCode === 204 || statusCode === 304) {
    framing = 'none';
  } else if (transferEncoding !== undefined) {
    if (!http11) reusable = false;
    if (lastCodingIsChunked(transferEncoding)) {
      framing = 'chunked';
    } else {
      framing = 'close';
      reusable = false;
    }
  } else if (contentLength !== -1) {
    framing = 'length';
  } else {
    framing = 'close';
    reusable = false;
  }
  return {
    statusCode,
    statusMessage,
    headers,
    end,
    framing,
    contentLength: framing === 'length' ? contentLength : 0,
    reusable,
    keepAliveMs,
  };
}

function incomplete(have: number, maxBytes: number): undefined {
  if (have > maxBytes) throw protocolError(`head larger than ${maxBytes} bytes`);
  return undefined;
}

function digit(b: number | undefined): number {
  return b !== undefined && b >= 0x30 && b <= 0x39 ? b - 0x30 : -1;
}

/**
 * A Content-Length value, `buf[from, to)` trimmed of OWS: 1*DIGIT, as llhttp
 * takes it (no sign, no list). More than 15 significant digits (10^15 bytes)
 * is refused as too large: the number must stay exact in a double.
 */
function contentLengthOf(buf: Buffer, from: number, to: number): number {
  if (from === to) throw protocolError('empty content-length');
  let n = 0;
  let significant = 0;
  for (let j = from; j < to; j++) {
    const d = buf[j]! - 0x30;
    if (d < 0 || d > 9) throw protocolError('bad content-length');
    if ((n !== 0 || d !== 0) && ++significant > 15) throw protocolError('content-length too large');
    n = n * 10 + d;
  }
  return n;
}

/** `s` without leading and trailing SP and HTAB (String.trim() would take more, e.g. U+00A0). */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === SP || s.charCodeAt(a) === HTAB)) a++;
  while (b > a && (s.charCodeAt(b - 1) === SP || s.charCodeAt(b - 1) === HTAB)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

function lastCodingIsChunked(te: string): boolean {
  const comma = te.lastIndexOf(',');
  return trimOws(te.slice(comma + 1)).toLowerCase() === 'chunked';
}

function addHeader(headers: IncomingHttpHeaders, name: string, value: string): void {
  if (name === '__proto__') return; // as Node: never a key
  const existing = headers[name];
  if (existing === undefined) {
    headers[name] = name === 'set-cookie' ? [value] : value;
  } else if (name === 'set-cookie') {
    (existing as string[]).push(value);
  } else if (!DROP_DUPLICATES.has(name)) {
    headers[name] = `${existing as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
}
