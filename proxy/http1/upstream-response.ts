// What the innermost stage hands back up the stack: an upstream response whose
// headers have arrived and whose body has not been read yet. Stages look at
// the status (retries, the balancer); respond.ts streams the body out.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';
import type { Deadline } from './deadline.ts';
import type { ResponseHead } from './http1-response-head.ts';
import { WeftError } from '../../proto/errors.ts';

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly headers: IncomingHttpHeaders;
  /** HTTP/2: END_STREAM came with the headers (a trailers-only gRPC response). */
  readonly endStream?: boolean;
  /** Streams the body into `dest` and ends it; resolves when done or failed. */
  pipeTo(dest: Writable): Promise<void>;
  /**
   * Drops the body (a 503 about to be retried), freeing the connection: a
   * rest of at most 64 KiB is read and dropped and the connection reused; a
   * larger or close-delimited one closes the connection instead.
   */
  discard(): void;
}

/** Adapts a node:http response (the upgrade path). */
export function fromIncoming(res: IncomingMessage): UpstreamResponse & { message: IncomingMessage } {
  return {
    message: res,
    statusCode: res.statusCode ?? 502,
    statusMessage: res.statusMessage ?? '',
    headers: res.headers,
    pipeTo(dest) {
      return new Promise<void>((resolve) => {
        res.on('error', () => dest.destroy());
        dest.once('close', () => {
          if (!res.complete) res.destroy();
          resolve();
        });
        res.pipe(dest);
      });
    },
    discard: () => res.resume(),
  };
}

/** The connection a PooledResponse's body is read from (upstream-connection.ts). */
export interface BodySource {
  /** Stops reading (backpressure). */
  pauseBody(): void;
  /** Reads on. */
  resumeBody(): void;
  /** Reads and drops the rest of the body, or closes the connection if that is not worth it. */
  discardBody(): void;
  /** Ends the exchange: the connection is closed, and the response fails with `reason`. */
  abortBody(reason: Error): void;
}

/** Body bytes held before pipeTo(); beyond this the upstream is paused. */
export const HOLD_LIMIT = 64 * 1024;

const WAITING = 0; // for the connection and the response head
const STREAMING = 1; // head received, body arriving
const ENDED = 2; // the whole body has been received
const FAILED = 3;
const DISCARDED = 4;

const NO_HEADERS: IncomingHttpHeaders = Object.freeze({}) as IncomingHttpHeaders;

/**
 * A response read by our HTTP/1.1 client from a pooled connection. It is the
 * pending request too: the connection (or the pool, before there is one)
 * reports the head, body chunks, the end or an error to it, and the deadline
 * and the caller going away abort it. Body chunks that arrive before
 * pipeTo() are held, up to HOLD_LIMIT (then the connection is paused), so a
 * small body that is complete by then goes out with the headers in one
 * write; after pipeTo() they are written through with backpressure.
 */
export class PooledResponse implements UpstreamResponse {
  statusCode = 0;
  statusMessage = '';
  headers: IncomingHttpHeaders = NO_HEADERS;
  #state = WAITING;
  #resolve: ((res: UpstreamResponse) => void) | undefined;
  #reject: ((err: Error) => void) | undefined;
  #deadline: Deadline | undefined;
  #source: BodySource | undefined;
  /** The emitter whose 'close' aborts us: the caller's response, then pipeTo's dest. */
  #watched: Writable | undefined;
  #dest: Writable | undefined;
  #held: Buffer[] | undefined;
  #heldBytes = 0;
  #paused = false;
  #piped: (() => void) | undefined;
  /** Waiting for dest's 'drain' (the connection is paused meanwhile). */
  #draining = false;
  readonly #onClose = (): void => this.#closed();
  /** Made on the first backpressure only: most responses never need it. */
  #onDrain: (() => void) | undefined;

  constructor(
    resolve: (res: UpstreamResponse) => void,
    reject: (err: Error) => void,
    deadline: Deadline | undefined,
    caller: Writable | undefined,
  ) {
    this.#resolve = resolve;
    this.#reject = reject;
    if (deadline !== undefined) {
      this.#deadline = deadline;
      deadline.onExpire = this;
    }
    if (caller !== undefined) {
      this.#watched = caller;
      caller.once('close', this.#onClose);
    }
  }

  /** Still waiting for a connection or the head: worth sending. */
  get pending(): boolean {
    return this.#state === WAITING;
  }

  /** The connection this response is read from. */
  attach(source: BodySource): void {
    this.#source = source;
  }

  /** Aborts the exchange (deadline, caller gone): the connection is closed. */
  abort(reason: Error): void {
    if (this.#state !== WAITING && this.#state !== STREAMING) return;
    const source = this.#source;
    if (source !== undefined) source.abortBody(reason); // calls onError
    else this.onError(reason);
  }

  // --- reported by the connection ---

  onHead(head: ResponseHead): void {
    this.statusCode = head.statusCode;
    this.statusMessage = head.statusMessage;
    this.headers = head.headers;
    this.#state = STREAMING;
    this.#clearDeadline();
    const resolve = this.#resolve;
    this.#resolve = undefined;
    this.#reject = undefined;
    resolve?.(this);
  }

  onBody(chunk: Buffer): void {
    const dest = this.#dest;
    if (dest === undefined) {
      if (this.#held === undefined) this.#held = [chunk];
      else this.#held.push(chunk);
      this.#heldBytes += chunk.length;
      if (this.#heldBytes > HOLD_LIMIT && !this.#paused) {
        this.#paused = true;
        this.#source?.pauseBody();
      }
      return;
    }
    if (!dest.write(chunk)) this.#waitForDrain(dest);
  }

  onEnd(): void {
    if (this.#state !== STREAMING) return;
    this.#state = ENDED;
    this.#detachSource();
    const dest = this.#dest;
    if (dest !== undefined) {
      dest.end();
      this.#finish();
    }
  }

  onError(err: Error): void {
    const state = this.#state;
    if (state === WAITING) {
      this.#state = FAILED;
      this.#source = undefined;
      this.#clearDeadline();
      this.#unwatch();
      const reject = this.#reject;
      this.#resolve = undefined;
      this.#reject = undefined;
      reject?.(err);
      return;
    }
    if (state !== STREAMING) return;
    this.#state = FAILED;
    this.#held = undefined;
    this.#detachSource();
    const dest = this.#dest;
    if (dest !== undefined) {
      dest.destroy();
      this.#finish();
    }
  }

  // --- UpstreamResponse ---

  pipeTo(dest: Writable): Promise<void> {
    if (this.#state === DISCARDED || this.#state === WAITING) return Promise.resolve();
    this.#dest = dest;
    if (this.#state === FAILED || dest.destroyed) {
      this.abort(new WeftError('WEFT_ERR_UPSTREAM_RESET', 'the caller went away'));
      dest.destroy();
      this.#unwatch();
      return Promise.resolve();
    }
    const held = this.#held;
    this.#held = undefined;
    if (this.#state === ENDED) {
      // The whole body is here: headers and body go out in one write.
      if (held === undefined) dest.end();
      else dest.end(held.length === 1 ? held[0] : Buffer.concat(held, this.#heldBytes));
      this.#unwatch();
      return Promise.resolve();
    }
    if (this.#watched !== dest) {
      this.#unwatch();
      this.#watched = dest;
      dest.once('close', this.#onClose);
    }
    return new Promise<void>((resolve) => {
      this.#piped = resolve;
      let ok = true;
      if (held !== undefined) for (const chunk of held) ok = dest.write(chunk) && ok;
      if (ok) {
        if (this.#paused) this.#source?.resumeBody();
      } else {
        this.#waitForDrain(dest);
      }
      this.#paused = false;
    });
  }

  discard(): void {
    const state = this.#state;
    this.#held = undefined;
    this.#state = DISCARDED;
    this.#unwatch();
    if (state !== STREAMING) return;
    const source = this.#source;
    this.#source = undefined;
    source?.discardBody();
  }

  // --- internals ---

  /** The caller (or pipeTo's dest) closed. */
  #closed(): void {
    this.#watched = undefined;
    if (this.#state === WAITING || this.#state === STREAMING) {
      this.abort(new WeftError('WEFT_ERR_UPSTREAM_RESET', 'the caller went away'));
    }
    this.#finish();
  }

  /** dest is full: pause the connection until it drains. */
  #waitForDrain(dest: Writable): void {
    if (this.#draining || this.#source === undefined) return;
    this.#draining = true;
    this.#source.pauseBody();
    this.#onDrain ??= () => {
      this.#draining = false;
      this.#source?.resumeBody();
    };
    dest.once('drain', this.#onDrain);
  }

  #detachSource(): void {
    this.#source = undefined;
    if (this.#draining && this.#onDrain !== undefined) this.#dest?.removeListener('drain', this.#onDrain);
    this.#draining = false;
  }

  #clearDeadline(): void {
    const deadline = this.#deadline;
    this.#deadline = undefined;
    if (deadline !== undefined && deadline.onExpire === this) deadline.onExpire = undefined;
  }

  #unwatch(): void {
    this.#watched?.removeListener('close', this.#onClose);
    this.#watched = undefined;
  }

  #finish(): void {
    this.#unwatch();
    const piped = this.#piped;
    this.#piped = undefined;
    piped?.();
  }
}
