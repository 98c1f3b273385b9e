// What the innermost stage hands back up the stack: an upstream response whose
// headers have arrived and whose body has not been read yet. Stages look at
// the status (retries, the balancer); respond.ts streams the body out.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';
import type { Dispatcher } from 'undici';

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly headers: IncomingHttpHeaders;
  /** Streams the body into `dest` and ends it; resolves when done or failed. */
  pipeTo(dest: Writable): Promise<void>;
  /** Drops the body (a 503 about to be retried), freeing the connection. */
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

const HOLD_LIMIT = 64 * 1024;

/**
 * An undici dispatch handler that is also the UpstreamResponse: body chunks
 * that arrive before pipeTo() are held (up to 64 KiB, then the upstream is
 * paused), then streamed with backpressure.
 */
export class DispatchedResponse implements UpstreamResponse, Dispatcher.DispatchHandler {
  statusCode = 0;
  statusMessage = '';
  headers: IncomingHttpHeaders = {};
  #controller: Dispatcher.DispatchController | undefined;
  #dest: Writable | undefined;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #ended = false;
  #failed: Error | undefined;
  #done: (() => void) | undefined;
  #discarding = false;
  readonly #onHeaders: (res: DispatchedResponse) => void;
  readonly #onError: (err: Error, started: boolean) => void;
  #started = false;

  constructor(onHeaders: (res: DispatchedResponse) => void, onError: (err: Error, started: boolean) => void) {
    this.#onHeaders = onHeaders;
    this.#onError = onError;
  }

  /** Aborts the request (deadline, client gone). */
  abort(reason: Error): void {
    if (this.#controller !== undefined && !this.#controller.aborted) this.#controller.abort(reason);
    else this.#failed ??= reason;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#failed !== undefined) controller.abort(this.#failed);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    this.statusCode = statusCode;
    this.statusMessage = statusMessage ?? '';
    this.headers = headers;
    this.#started = true;
    this.#onHeaders(this);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#discarding) return;
    const dest = this.#dest;
    if (dest === undefined) {
      // Held until pipeTo(): a small body that is complete by then goes out
      // with the headers in one write. A large one pauses the upstream.
      this.#held.push(chunk);
      this.#heldBytes += chunk.length;
      if (this.#heldBytes > HOLD_LIMIT) controller.pause();
      return;
    }
    if (!dest.write(chunk)) {
      controller.pause();
      dest.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.#ended = true;
    if (this.#dest !== undefined) {
      this.#dest.end();
    }
    this.#finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.#failed = err;
    if (!this.#started) {
      this.#onError(err, false);
      return;
    }
    this.#dest?.destroy();
    this.#finish();
  }

  pipeTo(dest: Writable): Promise<void> {
    this.#dest = dest;
    return new Promise<void>((resolve) => {
      this.#done = resolve;
      dest.once('close', () => {
        if (!this.#ended && this.#failed === undefined) this.abort(new Error('downstream closed'));
        this.#finish();
      });
      const held = this.#held;
      this.#held = [];
      if (this.#ended) {
        // The whole body is here: headers and body in one write.
        if (held.length === 0) dest.end();
        else dest.end(held.length === 1 ? held[0] : Buffer.concat(held));
        this.#finish();
        return;
      }
      let ok = true;
      for (const chunk of held) ok = dest.write(chunk) && ok;
      if (this.#failed !== undefined) {
        dest.destroy();
        this.#finish();
      } else if (ok) {
        this.#controller?.resume();
      } else {
        dest.once('drain', () => this.#controller?.resume());
      }
    });
  }

  discard(): void {
    this.#discarding = true;
    this.#held = [];
    this.#controller?.resume();
  }

  #finish(): void {
    const done = this.#done;
    this.#done = undefined;
    done?.();
  }
}
