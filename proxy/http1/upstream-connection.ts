// One kept-alive HTTP/1.1 connection to an upstream, carrying one exchange at
// a time: it writes the request (upstream-request.ts), reads the response (interim 1xx
// skipped, the head parsed by http1-response-head.ts, a chunked body decoded),
// hands it to the PooledResponse with backpressure, and once the message is
// complete returns itself to its owner (the origin's pool) if it may be reused.
// Errors before any byte of the response on a connection that served before
// are connect failures (retryable: the peer had closed it); after, resets.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { UpstreamRequestWriter } from './upstream-request.ts';
import { WeftError, findWeftError } from '../../proto/errors.ts';
import { parseResponseHead } from './http1-response-head.ts';
import { ChunkedDecoder, type BodySink } from './http1-chunked-body.ts';
import { classifyUpstreamError, staleConnectionError } from './upstream-errors.ts';
import type { BodySource, PooledResponse } from './upstream-response.ts';

/** The pool a connection belongs to. */
export interface ConnectionOwner {
  /** The connection finished its exchange and can take another. */
  release(conn: UpstreamConnection): void;
  /** The connection is closed: forget it. Called once. */
  remove(conn: UpstreamConnection): void;
}

/** An idle connection is closed after this long... */
export const IDLE_TIMEOUT_MS = 30_000;
/** ...or this much before the upstream's own `Keep-Alive: timeout`, whichever is sooner. */
export const KEEP_ALIVE_MARGIN_MS = 1_000;
/** Not kept at all when that leaves less than this. */
const MIN_IDLE_MS = 500;
/** A body that stops arriving for this long (and not because we paused) fails. */
const BODY_STALL_MS = 300_000;
/** discard() reads and drops at most this much of a body; a larger one closes the connection. */
const DISCARD_LIMIT = 64 * 1024;

// Phases of the connection.
const IDLE = 0;
const HEAD = 1; // request sent (or being sent), waiting for the response head
const LENGTH = 2; // Content-Length body
const CHUNKED = 3;
const UNTIL_CLOSE = 4;
const CLOSED = 5;

export class UpstreamConnection implements BodySink, BodySource {
  readonly socket: Socket;
  readonly #owner: ConnectionOwner;
  readonly #secure: boolean;
  #phase = IDLE;
  #response: PooledResponse | undefined;
  /** Exchanges completed on this connection. */
  #served = 0;
  /** Any byte of the current response seen (an interim 1xx counts). */
  #gotBytes = false;
  #headRequest = false;
  /** A head split across reads. */
  #partialHead: Buffer | undefined;
  #remaining = 0;
  #decoder: ChunkedDecoder | undefined;
  /** Whether the current response allows another exchange after it. */
  #reusable = false;
  #keepAliveMs = -1;
  #paused = false;
  /** Bytes discard() may still drop; -1 when not discarding. */
  #discardLeft = -1;
  #removed = false;
  readonly #request: UpstreamRequestWriter;
  // Idle timer: one per connection, re-armed with refresh().
  #idleTimer: NodeJS.Timeout | undefined;
  #idleMs = 0;

  constructor(socket: Socket, owner: ConnectionOwner, secure: boolean, bodyIdleMs: number) {
    this.socket = socket;
    this.#owner = owner;
    this.#secure = secure;
    this.#request = new UpstreamRequestWriter(
      socket,
      (nothingSent) =>
        this.#fail(
          nothingSent
            ? new WeftError('WEFT_ERR_BAD_REQUEST', 'the request body was refused (or the caller went away) before any of the request was sent')
            : new WeftError('WEFT_ERR_UPSTREAM_RESET', 'the caller went away while sending the request body'),
        ),
      bodyIdleMs,
      (err) => this.#fail(err),
    );
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('error', (err: Error) => this.#onError(err));
    socket.on('close', () => this.#onClose());
    socket.setTimeout(BODY_STALL_MS);
    socket.on('timeout', () => this.#onTimeout());
  }

  /**
   * Sends a request and reports its response to `response`. `head` is the
   * request line and headers without the final CRLF (requestHead()).
   */
  send(head: string, req: IncomingMessage, bodyless: boolean, headRequest: boolean, response: PooledResponse, buffered?: Buffer): void {
    this.#response = response;
    response.attach(this);
    this.#phase = HEAD;
    this.#gotBytes = false;
    this.#headRequest = headRequest;
    this.#discardLeft = -1;
    this.#request.send(head, req, bodyless, buffered);
  }

  /** Whether the connection can take an exchange now (idle and open). */
  get usable(): boolean {
    return this.#phase === IDLE && !this.socket.destroyed;
  }

  /** Starts (or restarts) the idle timer; false when the upstream's keep-alive leaves too little time to reuse. */
  startIdle(): boolean {
    let ms = IDLE_TIMEOUT_MS;
    if (this.#keepAliveMs >= 0) ms = Math.min(ms, this.#keepAliveMs - KEEP_ALIVE_MARGIN_MS);
    if (ms < MIN_IDLE_MS) return false;
    if (this.#idleTimer === undefined || ms !== this.#idleMs) {
      if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
      this.#idleMs = ms;
      this.#idleTimer = setTimeout(() => {
        if (this.#phase === IDLE) this.close();
      }, ms);
      // The socket keeps the process alive, if anything does; the timer need not.
      this.#idleTimer.unref();
    } else {
      this.#idleTimer.refresh();
    }
    return true;
  }

  /** Closes the connection; an exchange in flight fails (reset). */
  close(): void {
    if (this.#phase === CLOSED) return;
    if (this.#response !== undefined || this.#phase !== IDLE) {
      this.#fail(new WeftError('WEFT_ERR_UPSTREAM_RESET', 'upstream connection closed by the proxy'));
      return;
    }
    this.#destroy();
  }

  // --- BodySource (the response) ---

  pauseBody(): void {
    if (this.#paused || this.#phase === CLOSED) return;
    this.#paused = true;
    this.socket.pause();
  }

  resumeBody(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#phase !== CLOSED) this.socket.resume();
  }

  discardBody(): void {
    // Detached from the response: nothing more is reported to it.
    this.#response = undefined;
    if (this.#phase === UNTIL_CLOSE || (this.#phase === LENGTH && this.#remaining > DISCARD_LIMIT)) {
      this.#destroy();
      return;
    }
    this.#discardLeft = DISCARD_LIMIT;
    this.resumeBody();
  }

  abortBody(reason: Error): void {
    this.#fail(reason);
  }

  // --- BodySink (the chunked decoder) ---

  onBodyChunk(chunk: Buffer): void {
    if (this.#discardLeft >= 0) {
      this.#discardLeft -= chunk.length;
      if (this.#discardLeft < 0) this.#destroy();
      return;
    }
    this.#response?.onBody(chunk);
  }

  // --- socket events ---

  #onData(chunk: Buffer): void {
    try {
      switch (this.#phase) {
        case HEAD:
          this.#gotBytes = true;
          this.#readHead(chunk);
          return;
        case LENGTH:
          this.#readLength(chunk, 0);
          return;
        case CHUNKED:
          this.#readChunked(chunk, 0);
          return;
        case UNTIL_CLOSE:
          this.onBodyChunk(chunk);
          return;
        case IDLE:
          // Bytes nobody asked for: this connection cannot be trusted with a request.
          this.#destroy();
          return;
      }
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #readHead(chunk: Buffer): void {
    let buf = chunk;
    const partial = this.#partialHead;
    if (partial !== undefined) {
      buf = Buffer.concat([partial, chunk]);
      this.#partialHead = undefined;
    }
    let start = 0;
    for (;;) {
      const head = parseResponseHead(buf, start, this.#headRequest);
      if (head === undefined) {
        this.#partialHead = start === 0 ? buf : buf.subarray(start);
        return;
      }
      if (head.statusCode < 200) {
        // 100 Continue, 102, 103 Early Hints: interim, not relayed. 101 was not asked for.
        if (head.statusCode === 101) {
          throw new WeftError('WEFT_ERR_UPSTREAM_PROTOCOL', 'upstream switched protocols without being asked to');
        }
        // An interim response that closes the connection (HTTP/1.0 without
        // keep-alive, Connection: close) leaves no room for the final one;
        // llhttp refuses what follows it too.
        if (!head.reusable) {
          throw new WeftError('WEFT_ERR_UPSTREAM_PROTOCOL', 'interim response from upstream closes the connection');
        }
        start = head.end;
        if (start === buf.length) return;
        continue;
      }
      this.#reusable = head.reusable;
      this.#keepAliveMs = head.keepAliveMs;
      const response = this.#response;
      switch (head.framing) {
        case 'none':
          response?.onHead(head);
          this.#complete(head.end === buf.length);
          return;
        case 'length':
          this.#phase = LENGTH;
          this.#remaining = head.contentLength;
          response?.onHead(head);
          if (head.contentLength === 0) this.#complete(head.end === buf.length);
          else if (head.end < buf.length) this.#readLength(buf, head.end);
          return;
        case 'chunked':
          this.#phase = CHUNKED;
          (this.#decoder ??= new ChunkedDecoder()).reset();
          response?.onHead(head);
          if (head.end < buf.length) this.#readChunked(buf, head.end);
          return;
        case 'close':
          this.#phase = UNTIL_CLOSE;
          response?.onHead(head);
          if (head.end < buf.length) this.onBodyChunk(buf.subarray(head.end));
          return;
      }
    }
  }

  #readLength(buf: Buffer, start: number): void {
    const available = buf.length - start;
    const remaining = this.#remaining;
    if (available <= remaining) {
      this.#remaining = remaining - available;
      this.onBodyChunk(start === 0 ? buf : buf.subarray(start));
      if (this.#remaining === 0 && this.#phase === LENGTH) this.#complete(true);
    } else {
      this.#remaining = 0;
      this.onBodyChunk(buf.subarray(start, start + remaining));
      if (this.#phase === LENGTH) this.#complete(false);
    }
  }

  #readChunked(buf: Buffer, start: number): void {
    const decoder = this.#decoder!;
    const end = decoder.decode(buf, start, this);
    if (end !== -1 && this.#phase === CHUNKED) {
      if (decoder.noReuse) this.#reusable = false;
      this.#complete(end === buf.length);
    }
  }

  /** The response message is complete. `clean`: no bytes followed it. */
  #complete(clean: boolean): void {
    const response = this.#response;
    this.#response = undefined;
    this.#phase = IDLE;
    this.#served++;
    this.#discardLeft = -1;
    const reuse = this.#reusable && clean && this.#request.done;
    this.#request.detach();
    response?.onEnd();
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
    if (reuse && !this.socket.destroyed) this.#owner.release(this);
    else this.#destroy();
  }

  #onEnd(): void {
    switch (this.#phase) {
      case UNTIL_CLOSE:
        this.#reusable = false;
        this.#complete(false);
        return;
      case HEAD:
        if (this.#partialHead !== undefined) {
          this.#fail(new WeftError('WEFT_ERR_UPSTREAM_PROTOCOL', 'upstream closed the connection within the response head'));
        } else if (this.#gotBytes) {
          this.#fail(new WeftError('WEFT_ERR_UPSTREAM_RESET', 'upstream closed the connection after an interim response'));
        } else if (this.#served > 0) {
          this.#fail(staleConnectionError());
        } else {
          this.#fail(new WeftError('WEFT_ERR_UPSTREAM_RESET', 'upstream closed the connection without responding'));
        }
        return;
      case LENGTH:
      case CHUNKED:
        this.#fail(new WeftError('WEFT_ERR_UPSTREAM_RESET', 'upstream closed the connection before the end of the body'));
        return;
      default:
        this.#destroy();
    }
  }

  #onError(err: Error): void {
    if (this.#phase === IDLE || this.#phase === CLOSED) {
      this.#destroy();
      return;
    }
    const beforeResponse = this.#phase === HEAD && !this.#gotBytes && this.#served > 0;
    this.#fail(classifyUpstreamError(err, true, beforeResponse, this.#secure));
  }

  #onClose(): void {
    if (this.#phase !== CLOSED && this.#response !== undefined) {
      this.#fail(new WeftError('WEFT_ERR_UPSTREAM_RESET', 'upstream connection closed'));
    }
    this.#destroy();
  }

  #onTimeout(): void {
    // Only a body that stalls on the upstream's side; the head is the
    // deadline's business, an idle connection the idle timer's, and a body we
    // paused waits for the caller.
    if ((this.#phase === LENGTH || this.#phase === CHUNKED || this.#phase === UNTIL_CLOSE) && !this.#paused) {
      this.#fail(new WeftError('WEFT_ERR_UPSTREAM_RESET', `no body data from upstream for ${BODY_STALL_MS / 1000} s`));
    }
  }

  // --- endings ---

  /** The exchange in flight (if any) fails with `err`; the connection is closed. */
  #fail(err: Error): void {
    if (this.#phase === CLOSED) return;
    const response = this.#response;
    this.#response = undefined;
    this.#destroy();
    response?.onError(findWeftError(err) ?? classifyUpstreamError(err, true, false, this.#secure));
  }

  #destroy(): void {
    this.#phase = CLOSED;
    this.#partialHead = undefined;
    this.#request.detach();
    if (this.#idleTimer !== undefined) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
    if (!this.socket.destroyed) this.socket.destroy();
    if (!this.#removed) {
      this.#removed = true;
      this.#owner.remove(this);
    }
  }
}
