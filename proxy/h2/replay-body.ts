// An HTTP/2 request body that streams to the current attempt as it arrives
// and keeps a copy of its first MAX_REPLAY_BODY bytes, so that a retry (or a
// re-dispatch after a failed connect) can send it again from the start and
// then go on with what is still to come. Nothing waits for the body to end
// first: a bidirectional gRPC stream whose client waits for an answer before
// sending more works as it would without the proxy. Once more than the limit
// has gone out, the body is no longer replayable (as linkerd2-proxy's 64 KiB
// replay buffer). Backpressure: the source is paused while the attempt's
// stream does not drain.
import type { Readable, Writable } from 'node:stream';

/** Bodies up to this size are kept for replay (as linkerd2-proxy's 64 KiB). */
export const MAX_REPLAY_BODY = 64 * 1024;

const drop = (): void => {};

export class ReplayBody {
  readonly #source: Readable;
  readonly #limit: number;
  #kept: Buffer[] = [];
  #keptBytes = 0;
  #overflowed = false;
  #ended = false;
  #sink: Writable | undefined;
  #started = false;

  constructor(source: Readable, limit = MAX_REPLAY_BODY) {
    this.#source = source;
    this.#limit = limit;
  }

  /** Whether the body can be sent again from the start. */
  get replayable(): boolean {
    return !this.#overflowed;
  }

  /** Whether any of the body has been sent to an attempt. */
  get started(): boolean {
    return this.#started && (this.#keptBytes > 0 || this.#overflowed);
  }

  /**
   * Sends the body to `sink` (an attempt's request stream): what was kept,
   * then the rest as it arrives; ends it when the body ends. A previous sink
   * is let go (it was reset by its attempt). False if the body cannot be
   * replayed any more.
   */
  attach(sink: Writable): boolean {
    if (this.#overflowed) return false;
    const previous = this.#sink;
    if (previous !== undefined) previous.removeListener('drain', this.#onDrain);
    this.#sink = sink;
    for (const chunk of this.#kept) sink.write(chunk);
    if (this.#ended) {
      sink.end();
      return true;
    }
    if (!this.#started) {
      this.#started = true;
      this.#source.on('data', this.#onData);
      this.#source.once('end', this.#onEnd);
    }
    sink.on('drain', this.#onDrain);
    if (this.#source.isPaused()) this.#source.resume();
    return true;
  }

  /** The response is committed: no attempt will come again; the kept copy goes (the rest still streams to the sink). */
  commit(): void {
    this.#overflowed = true;
    this.#kept = [];
  }

  /**
   * Nothing will take the body any more (the answer is final and the
   * upstream stream closed, or the proxy answered itself): what is still to
   * come is read and dropped, so that the caller's stream completes instead
   * of waiting, paused, forever.
   */
  abandon(): void {
    this.commit();
    const sink = this.#sink;
    if (sink !== undefined) sink.removeListener('drain', this.#onDrain);
    this.#sink = undefined;
    this.#source.removeListener('data', this.#onData);
    if (this.#source.readableEnded) return;
    this.#source.on('data', drop);
    this.#source.resume();
  }

  /** The attempt's stream is gone: stop writing to it (what arrives meanwhile is kept, or overflows). */
  detach(sink: Writable): void {
    if (this.#sink !== sink) return;
    sink.removeListener('drain', this.#onDrain);
    this.#sink = undefined;
  }

  readonly #onData = (chunk: Buffer): void => {
    if (!this.#overflowed) {
      if (this.#keptBytes + chunk.length > this.#limit) {
        this.#overflowed = true;
        this.#kept = [];
      } else {
        this.#kept.push(chunk);
      }
      this.#keptBytes += chunk.length;
    }
    const sink = this.#sink;
    if (sink === undefined) {
      // Between attempts: keep what fits; pause so that nothing more is lost.
      this.#source.pause();
      return;
    }
    if (!sink.write(chunk)) this.#source.pause();
  };

  readonly #onDrain = (): void => {
    this.#source.resume();
  };

  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#sink?.end();
  };
}
