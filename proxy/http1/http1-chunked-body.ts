// An incremental decoder for a chunked HTTP/1.1 body (RFC 9112 §7.1). Pure:
// feed it bytes as they arrive, split anywhere; it hands the chunk data to a
// sink (as views of the input, no copies) and says where the message ends.
// Chunk extensions and trailer fields are checked and dropped. Bad framing
// is a WEFT_ERR_UPSTREAM_PROTOCOL error. At least as strict as llhttp (held to
// it by http1-differential-fuzz.test.ts): nothing between the size and ';' or
// CRLF, extensions as `;name[=token|"quoted"]` without whitespace, and no
// Content-Length or empty Transfer-Encoding among the trailers.
import { WeftError } from '../../proto/errors.ts';

/** Receives decoded body bytes. */
export interface BodySink {
  onBodyChunk(chunk: Buffer): void;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const SEMI = 59;
const COLON = 58;
const EQUALS = 61;
const DQUOTE = 34;
const BACKSLASH = 92;

/** Chunk-size digits accepted (leading zeros aside): 13 hex digits is 2^52, within a double's integers. */
const MAX_SIZE_DIGITS = 13;
/** Longest chunk-extension on one size line, bytes. */
const MAX_EXTENSION_BYTES = 4096;
/** Largest trailer section, bytes. */
const MAX_TRAILER_BYTES = 64 * 1024;

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[0x41 + i] = 10 + i;
  HEX[0x61 + i] = 10 + i;
}

const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/** HTAB, SP, VCHAR, obs-text: field values, quoted-pairs. */
const TEXT = new Uint8Array(256);
TEXT[HTAB] = 1;
for (let b = 0x20; b <= 0xff; b++) if (b !== 0x7f) TEXT[b] = 1;

/** qdtext (RFC 9110 5.6.4): TEXT but '"' and '\\'. */
const QDTEXT = TEXT.slice();
QDTEXT[DQUOTE] = 0;
QDTEXT[BACKSLASH] = 0;

// Trailer field names that llhttp refuses: Content-Length (framing is
// chunked), and Transfer-Encoding when its value is empty. Matched as the
// name streams by, lower-cased (`| 0x20` is exact on these letters and '-').
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding', 'latin1');
// Trailers llhttp reads as connection control (a close, or a coding after
// chunked that makes the message close-delimited): the connection is then
// not reused.
const CONNECTION = Buffer.from('connection', 'latin1');
const PROXY_CONNECTION = Buffer.from('proxy-connection', 'latin1');
const NAMES = [CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION, PROXY_CONNECTION] as const;

// States.
const SIZE = 0; // chunk-size hex digits
const EXT_START = 1; // just after ';': an extension name (possibly empty, as llhttp)
const EXT_NAME = 2;
const EXT_VALUE = 3; // after '=': token chars, or a quoted string
const EXT_QUOTED = 4;
const EXT_QPAIR = 5; // after '\\' in a quoted string
const EXT_QDONE = 6; // after the closing '"': ';' or CR
const SIZE_LF = 7; // CR seen after the size line
const DATA = 8;
const DATA_CR = 9; // CRLF after chunk data
const DATA_LF = 10;
const TRAILER_START = 11; // start of a trailer line, or the final CRLF
const TRAILER_NAME = 12;
const TRAILER_VALUE = 13;
const TRAILER_LF = 14;
const END_LF = 15; // CR of the final CRLF seen
const DONE = 16;

function framingError(what: string): WeftError {
  return new WeftError('WEFT_ERR_UPSTREAM_PROTOCOL', `invalid chunked body from upstream: ${what}`);
}

/** Which of the `candidates` (bits over NAMES) still match with `b` at `at`. */
function nameMatch(candidates: number, at: number, b: number): number {
  const lower = b | 0x20;
  let match = 0;
  for (let k = 0; k < NAMES.length; k++) if ((candidates & (1 << k)) !== 0 && NAMES[k]![at] === lower) match |= 1 << k;
  return match;
}

export class ChunkedDecoder {
  #state = SIZE;
  #size = 0;
  #digits = 0;
  #sawDigit = false;
  #remaining = 0;
  #lineBytes = 0;
  #trailerBytes = 0;
  /** Length of the trailer field name so far. */
  #nameLen = 0;
  /** Bit n set: the name may still be NAMES[n]. */
  #nameMatch = 0;
  /** In a Transfer-Encoding trailer whose value is still empty. */
  #emptyTe = false;
  #noReuse = false;

  /** Ready for a new message. */
  reset(): void {
    this.#state = SIZE;
    this.#size = 0;
    this.#digits = 0;
    this.#sawDigit = false;
    this.#remaining = 0;
    this.#lineBytes = 0;
    this.#trailerBytes = 0;
    this.#emptyTe = false;
    this.#noReuse = false;
  }

  get done(): boolean {
    return this.#state === DONE;
  }

  /** A trailer (Connection, Proxy-Connection, Transfer-Encoding) says not to reuse the connection. */
  get noReuse(): boolean {
    return this.#noReuse;
  }

  /**
   * Decodes `buf` from `start`. Chunk data goes to `sink`. Returns the offset
   * just past the end of the message once it is complete (bytes after it are
   * not the body's), else -1: all of `buf` was consumed, more is needed.
   * Throws a WeftError on bad framing.
   */
  decode(buf: Buffer, start: number, sink: BodySink): number {
    const len = buf.length;
    let state = this.#state;
    let i = start;
    while (i < len) {
      if (state === DATA) {
        const take = Math.min(this.#remaining, len - i);
        sink.onBodyChunk(buf.subarray(i, i + take));
        i += take;
        this.#remaining -= take;
        if (this.#remaining === 0) state = DATA_CR;
        continue;
      }
      const b = buf[i++]!;
      switch (state) {
        case SIZE: {
          const v = HEX[b]!;
          if (v >= 0) {
            if ((this.#size !== 0 || v !== 0) && ++this.#digits > MAX_SIZE_DIGITS) throw framingError('chunk size too large');
            this.#size = this.#size * 16 + v;
            this.#sawDigit = true;
          } else if (!this.#sawDigit) {
            throw framingError('bad chunk size');
          } else if (b === CR) {
            state = SIZE_LF;
          } else if (b === SEMI) {
            this.#lineBytes = 0;
            state = EXT_START;
          } else {
            // llhttp (strict) takes no whitespace here, though RFC 9112's BWS would.
            throw framingError('bad chunk size');
          }
          break;
        }
        case EXT_START:
        case EXT_NAME:
          if (TCHAR[b] === 1) state = EXT_NAME;
          else if (b === EQUALS) state = EXT_VALUE;
          else if (b === SEMI) state = EXT_START;
          else if (b === CR && state === EXT_NAME) state = SIZE_LF;
          else throw framingError('bad chunk extension');
          if (++this.#lineBytes > MAX_EXTENSION_BYTES) throw framingError('chunk extension too long');
          break;
        case EXT_VALUE:
          if (b === DQUOTE) state = EXT_QUOTED;
          else if (b === SEMI) state = EXT_START;
          else if (b === CR) state = SIZE_LF;
          else if (TCHAR[b] !== 1) throw framingError('bad chunk extension value');
          if (++this.#lineBytes > MAX_EXTENSION_BYTES) throw framingError('chunk extension too long');
          break;
        case EXT_QUOTED:
          if (b === DQUOTE) state = EXT_QDONE;
          else if (b === BACKSLASH) state = EXT_QPAIR;
          else if (QDTEXT[b] !== 1) throw framingError('bad character in a chunk extension quoted string');
          if (++this.#lineBytes > MAX_EXTENSION_BYTES) throw framingError('chunk extension too long');
          break;
        case EXT_QPAIR:
          if (TEXT[b] !== 1) throw framingError('bad quoted-pair in a chunk extension');
          state = EXT_QUOTED;
          if (++this.#lineBytes > MAX_EXTENSION_BYTES) throw framingError('chunk extension too long');
          break;
        case EXT_QDONE:
          if (b === SEMI) state = EXT_START;
          else if (b === CR) state = SIZE_LF;
          else throw framingError('bad character after a chunk extension quoted string');
          break;
        case SIZE_LF:
          if (b !== LF) throw framingError('chunk size line not ended by CRLF');
          if (this.#size === 0) {
            this.#trailerBytes = 0;
            state = TRAILER_START;
          } else {
            this.#remaining = this.#size;
            state = DATA;
          }
          this.#size = 0;
          this.#digits = 0;
          this.#sawDigit = false;
          this.#lineBytes = 0;
          break;
        case DATA_CR:
          if (b !== CR) throw framingError('chunk data not followed by CRLF');
          state = DATA_LF;
          break;
        case DATA_LF:
          if (b !== LF) throw framingError('chunk data not followed by CRLF');
          state = SIZE;
          break;
        case TRAILER_START:
          if (b === CR) {
            state = END_LF;
          } else if (TCHAR[b] === 1) {
            state = TRAILER_NAME;
            this.#nameLen = 1;
            this.#nameMatch = nameMatch(15, 0, b);
          } else {
            throw framingError(b === SP || b === HTAB ? 'obs-fold in trailer' : 'bad trailer field name');
          }
          break;
        case TRAILER_NAME:
          if (b === COLON) {
            state = TRAILER_VALUE;
            const n = this.#nameLen;
            const match = this.#nameMatch;
            if ((match & 1) !== 0 && n === CONTENT_LENGTH.length) throw framingError('content-length in trailers');
            this.#emptyTe = (match & 2) !== 0 && n === TRANSFER_ENCODING.length;
            if (this.#emptyTe || ((match & 4) !== 0 && n === CONNECTION.length) || ((match & 8) !== 0 && n === PROXY_CONNECTION.length)) {
              this.#noReuse = true;
            }
          } else if (TCHAR[b] !== 1) {
            throw framingError('bad trailer field name');
          } else if (this.#nameMatch !== 0) {
            this.#nameMatch = nameMatch(this.#nameMatch, this.#nameLen++, b);
          }
          break;
        case TRAILER_VALUE:
          if (b === CR) {
            if (this.#emptyTe) throw framingError('empty transfer-encoding in trailers');
            state = TRAILER_LF;
          } else if (TEXT[b] !== 1) {
            throw framingError('bad character in trailer field');
          } else if (b !== SP && b !== HTAB) {
            this.#emptyTe = false;
          }
          break;
        case TRAILER_LF:
          if (b !== LF) throw framingError('trailer line not ended by CRLF');
          state = TRAILER_START;
          break;
        case END_LF:
          if (b !== LF) throw framingError('chunked body not ended by CRLF');
          this.#state = DONE;
          return i;
        default:
          throw framingError('data after the end of the body');
      }
      if (state >= TRAILER_START && ++this.#trailerBytes > MAX_TRAILER_BYTES) throw framingError('trailers too large');
    }
    this.#state = state;
    return state === DONE ? i : -1;
  }
}
