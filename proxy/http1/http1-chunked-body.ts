// An incremental decoder for a chunked HTTP/1.1 body (RFC 9112 §7.1). Pure:
// feed it bytes as they arrive, split anywhere; it hands the chunk data to a
// sink (as views of the input, no copies) and says where the message ends.
// Chunk extensions and trailer fields are checked and dropped. Bad framing
// is a WEFT_ERR_UPSTREAM_PROTOCOL error.
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

/** Chunk-size digits accepted: 13 hex digits is 2^52, within a double's integers. */
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

/** HTAB, SP, VCHAR, obs-text: field values and chunk extensions. */
const TEXT = new Uint8Array(256);
TEXT[HTAB] = 1;
for (let b = 0x20; b <= 0xff; b++) if (b !== 0x7f) TEXT[b] = 1;

// States.
const SIZE = 0; // chunk-size hex digits
const SIZE_WS = 1; // whitespace after the size: only ';' may follow
const EXTENSION = 2; // after ';' up to CR
const SIZE_LF = 3; // CR seen after the size line
const DATA = 4;
const DATA_CR = 5; // CRLF after chunk data
const DATA_LF = 6;
const TRAILER_START = 7; // start of a trailer line, or the final CRLF
const TRAILER_NAME = 8;
const TRAILER_VALUE = 9;
const TRAILER_LF = 10;
const END_LF = 11; // CR of the final CRLF seen
const DONE = 12;

function framingError(what: string): WeftError {
  return new WeftError('WEFT_ERR_UPSTREAM_PROTOCOL', `invalid chunked body from upstream: ${what}`);
}

export class ChunkedDecoder {
  #state = SIZE;
  #size = 0;
  #digits = 0;
  #remaining = 0;
  #lineBytes = 0;
  #trailerBytes = 0;

  /** Ready for a new message. */
  reset(): void {
    this.#state = SIZE;
    this.#size = 0;
    this.#digits = 0;
    this.#remaining = 0;
    this.#lineBytes = 0;
    this.#trailerBytes = 0;
  }

  get done(): boolean {
    return this.#state === DONE;
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
            if (++this.#digits > MAX_SIZE_DIGITS) throw framingError('chunk size too large');
            this.#size = this.#size * 16 + v;
          } else if (this.#digits === 0) {
            throw framingError('bad chunk size');
          } else if (b === CR) {
            state = SIZE_LF;
          } else if (b === SEMI) {
            this.#lineBytes = 0;
            state = EXTENSION;
          } else if (b === SP || b === HTAB) {
            state = SIZE_WS;
          } else {
            throw framingError('bad chunk size');
          }
          break;
        }
        case SIZE_WS:
          if (b === SEMI) {
            this.#lineBytes = 0;
            state = EXTENSION;
          } else if (b !== SP && b !== HTAB) {
            throw framingError('bad character after chunk size');
          }
          break;
        case EXTENSION:
          if (b === CR) state = SIZE_LF;
          else if (TEXT[b] !== 1) throw framingError('bad character in chunk extension');
          else if (++this.#lineBytes > MAX_EXTENSION_BYTES) throw framingError('chunk extension too long');
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
          if (b === CR) state = END_LF;
          else if (TCHAR[b] === 1) state = TRAILER_NAME;
          else throw framingError(b === SP || b === HTAB ? 'obs-fold in trailer' : 'bad trailer field name');
          break;
        case TRAILER_NAME:
          if (b === COLON) state = TRAILER_VALUE;
          else if (TCHAR[b] !== 1) throw framingError('bad trailer field name');
          break;
        case TRAILER_VALUE:
          if (b === CR) state = TRAILER_LF;
          else if (TEXT[b] !== 1) throw framingError('bad character in trailer field');
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
