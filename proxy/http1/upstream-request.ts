// Writes a request onto an upstream connection: the head, and the caller's
// body. A body that has fully arrived already (the usual case for a small
// one) goes out with the head in one write, framed by its length; one still
// arriving is streamed as it comes, with the caller's Content-Length or
// chunked as the caller sent it, pausing the caller while the socket is full.
// One per connection, reused for each of its exchanges.
//
// A streamed request's head is held until its first body bytes have been
// parsed (or its end): a request whose body framing is bad from the start
// (an invalid first chunk size, an oversized chunk extension) is refused by
// the caller-side parser before anything of it reaches the upstream. Node's
// server answers `Expect: 100-continue` itself, so a client waiting for it
// does send its body. A framing error later in a body can only abort what is
// in flight (the upstream sees the request cut short, as with a client that
// went away).
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WeftError } from '../../proto/errors.ts';

/** A caller's body that sends nothing for this long (while we are not holding it back) fails with 408. */
export const DEFAULT_BODY_IDLE_MS = 60_000;

/** A body this small is copied into the head's buffer; a larger one is written next to it (one writev). */
const COPY_BODY_LIMIT = 16 * 1024;

export class UpstreamRequestWriter {
  readonly #socket: Socket;
  readonly #onCallerGone: (nothingSent: boolean) => void;
  #req: IncomingMessage | undefined;
  /** The head of a streamed request, until its first body bytes (or its end) arrive. */
  #heldHead: string | undefined;
  #chunked = false;
  #done = true;
  #paused = false;
  // Listeners, bound once per connection (not per request).
  readonly #onData = (chunk: Buffer): void => this.#write(chunk);
  readonly #onEnd = (): void => this.#ended();
  readonly #onClose = (): void => {
    if (!this.#done) this.#onCallerGone(this.#heldHead !== undefined);
  };
  readonly #bodyIdleMs: number;
  readonly #onStalled: (err: Error) => void;
  /** Runs while a streamed body is expected from the caller (not while we paused it). */
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #onIdle = (): void => {
    if (this.#done || this.#paused) return;
    this.#onStalled(new WeftError('WEFT_ERR_REQUEST_TIMEOUT', `no request body data for ${this.#bodyIdleMs} ms`));
  };

  /**
   * `onCallerGone`: the caller closed before its body was through
   * (`nothingSent`: before any byte of it went upstream); `onStalled`: its
   * body sent nothing for `bodyIdleMs`.
   */
  constructor(socket: Socket, onCallerGone: (nothingSent: boolean) => void, bodyIdleMs: number, onStalled: (err: Error) => void) {
    this.#socket = socket;
    this.#onCallerGone = onCallerGone;
    this.#bodyIdleMs = bodyIdleMs;
    this.#onStalled = onStalled;
    socket.on('drain', () => this.#drained());
  }

  #armIdle(): void {
    if (this.#idleTimer === undefined) {
      this.#idleTimer = setTimeout(this.#onIdle, this.#bodyIdleMs);
      this.#idleTimer.unref();
    } else {
      this.#idleTimer.refresh();
    }
  }

  #disarmIdle(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  /** The whole body has been written (or there was none). */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Writes `head` (request line and headers, without the final CRLF) and the
   * body of `req`, or `buffered` (a body read already, which a retry sends
   * again) in its place.
   */
  send(head: string, req: IncomingMessage, bodyless: boolean, buffered?: Buffer): void {
    const socket = this.#socket;
    if (bodyless) {
      this.#done = true;
      socket.write(`${head}\r\n`, 'latin1');
      return;
    }
    const declaredLength = req.headers['content-length'] !== undefined;
    if (buffered !== undefined || (req.complete && req.readableFlowing !== true)) {
      // Everything is here: head and body in one write, with its length.
      this.#done = true;
      const body = buffered ?? (req.read() as Buffer | null);
      const n = body === null ? 0 : body.length;
      const h = declaredLength ? `${head}\r\n` : `${head}content-length: ${n}\r\n\r\n`;
      if (body === null || n === 0) {
        socket.write(h, 'latin1');
      } else if (n <= COPY_BODY_LIMIT) {
        const out = Buffer.allocUnsafe(h.length + n);
        out.write(h, 0, 'latin1');
        body.copy(out, h.length);
        socket.write(out);
      } else {
        socket.cork();
        socket.write(h, 'latin1');
        socket.write(body);
        socket.uncork();
      }
      return;
    }
    this.#done = false;
    this.#paused = false;
    this.#chunked = !declaredLength;
    this.#req = req;
    this.#heldHead = declaredLength ? `${head}\r\n` : `${head}transfer-encoding: ${req.headers['transfer-encoding'] ?? 'chunked'}\r\n\r\n`;
    req.on('data', this.#onData);
    req.on('end', this.#onEnd);
    req.on('close', this.#onClose);
    this.#armIdle();
  }

  /**
   * Stops streaming (the exchange is over, or failed). A body not through is
   * read on and dropped, so that the caller's connection is not left stalled
   * behind it.
   */
  detach(): void {
    const req = this.#req;
    if (req === undefined) return;
    this.#req = undefined;
    this.#heldHead = undefined;
    this.#disarmIdle();
    this.#paused = false;
    req.removeListener('data', this.#onData);
    req.removeListener('end', this.#onEnd);
    req.removeListener('close', this.#onClose);
    if (!this.#done) req.resume();
  }

  /** Writes the held head, if any (the caller's body has begun well). */
  #release(): void {
    const head = this.#heldHead;
    if (head === undefined) return;
    this.#heldHead = undefined;
    this.#socket.write(head, 'latin1');
  }

  #write(chunk: Buffer): void {
    const socket = this.#socket;
    if (socket.destroyed) return;
    let ok: boolean;
    socket.cork();
    this.#release();
    if (this.#chunked) {
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
    } else {
      ok = socket.write(chunk);
    }
    socket.uncork();
    if (!ok && !this.#paused) {
      this.#paused = true;
      this.#req?.pause();
      this.#disarmIdle();
    } else if (!this.#paused) {
      this.#armIdle();
    }
  }

  #ended(): void {
    if (!this.#socket.destroyed) {
      this.#socket.cork();
      this.#release();
      if (this.#chunked) this.#socket.write('0\r\n\r\n', 'latin1');
      this.#socket.uncork();
    }
    this.#done = true;
    this.detach();
  }

  #drained(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#req?.resume();
      if (!this.#done) this.#armIdle();
    }
  }
}
