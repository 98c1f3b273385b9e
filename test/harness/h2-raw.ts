// A raw HTTP/2 client for the abuse tests: it writes frames no well-behaved
// client library would (rapid resets, endless CONTINUATION, connection
// headers, a content-length its DATA disagrees with) and reads back the
// frames the proxy answers with (RST_STREAM and GOAWAY codes, HEADERS).
// HPACK: literal header fields without indexing, no Huffman (RFC 7541 6.2.2).
import net from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

function hpackInt(value: number, prefixBits: number, first: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

/** A header block of literal fields without indexing (new names). */
export function headerBlock(fields: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00]), hpackInt(n.length, 7, 0), n, hpackInt(v.length, 7, 0), v);
  }
  return Buffer.concat(parts);
}

export function requestFields(authority: string, path = '/', method = 'GET', extra: Array<[string, string]> = []): Array<[string, string]> {
  return [[':method', method], [':scheme', 'http'], [':path', path], [':authority', authority], ...extra];
}

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** A raw connection: the preface and an empty SETTINGS sent; frames received are collected (and SETTINGS/PING acked). */
export class RawH2 {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  closed = false;
  #buf = Buffer.alloc(0);

  constructor(port: number, host = '127.0.0.1') {
    this.socket = net.connect(port, host);
    this.socket.on('error', () => {});
    this.socket.on('close', () => (this.closed = true));
    this.socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
    this.socket.on('data', (d: Buffer) => this.#read(d));
  }

  #read(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    while (this.#buf.length >= 9) {
      const len = this.#buf.readUIntBE(0, 3);
      if (this.#buf.length < 9 + len) return;
      const f: Frame = {
        type: this.#buf[3] as number,
        flags: this.#buf[4] as number,
        streamId: this.#buf.readUInt32BE(5) & 0x7fffffff,
        payload: this.#buf.subarray(9, 9 + len),
      };
      this.#buf = this.#buf.subarray(9 + len);
      this.frames.push(f);
      if (f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0 && !this.socket.destroyed) this.socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
    }
  }

  write(b: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(b);
  }

  /** The GOAWAY error code received, if any. */
  get goaway(): number | undefined {
    const g = this.frames.find((f) => f.type === FRAME.GOAWAY);
    return g === undefined ? undefined : g.payload.readUInt32BE(4);
  }

  /** RST_STREAM codes received, by stream. */
  resets(): Map<number, number> {
    const out = new Map<number, number>();
    for (const f of this.frames) if (f.type === FRAME.RST_STREAM) out.set(f.streamId, f.payload.readUInt32BE(0));
    return out;
  }

  /** Whether a HEADERS frame came back on a stream. */
  answered(streamId: number): boolean {
    return this.frames.some((f) => f.type === FRAME.HEADERS && f.streamId === streamId);
  }

  /** Resolves once the connection is closed by the other end, or after `ms` (false). */
  waitClosed(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.socket.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
