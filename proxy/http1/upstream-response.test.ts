import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { codeOfAsync } from '../../test/harness/error-code.ts';
import { WeftError } from '../../proto/errors.ts';
import type { Deadline } from '../exchange.ts';
import type { ResponseHead } from './http1-response-head.ts';
import { HOLD_LIMIT, PooledResponse, type BodySource, type UpstreamResponse } from './upstream-response.ts';

/** A connection as the response sees it: records what it is asked to do. */
class Source implements BodySource {
  calls: string[] = [];
  paused = false;
  readonly #response: (() => PooledResponse) | undefined;
  constructor(response?: () => PooledResponse) {
    this.#response = response;
  }
  pauseBody(): void {
    this.paused = true;
    this.calls.push('pause');
  }
  resumeBody(): void {
    this.paused = false;
    this.calls.push('resume');
  }
  discardBody(): void {
    this.calls.push('discard');
  }
  abortBody(reason: Error): void {
    this.calls.push('abort');
    this.#response?.().onError(reason);
  }
}

/** A destination that records each write it receives; `highWaterMark` small to show backpressure. */
function sink(highWaterMark = 16 * 1024 * 1024): { dest: Writable; writes: Buffer[][]; body: () => Buffer } {
  const writes: Buffer[][] = [];
  const dest = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, cb) {
      writes.push([chunk]);
      setImmediate(cb);
    },
    writev(chunks, cb) {
      writes.push(chunks.map((c) => c.chunk as Buffer));
      setImmediate(cb);
    },
  });
  return { dest, writes, body: () => Buffer.concat(writes.flat()) };
}

const head = (statusCode = 200): ResponseHead => ({
  statusCode,
  statusMessage: 'OK',
  headers: { 'x-a': '1' },
  end: 0,
  framing: 'length',
  contentLength: 0,
  reusable: true,
  keepAliveMs: -1,
});

function pending(deadline?: Deadline): { response: PooledResponse; result: Promise<UpstreamResponse> } {
  let response!: PooledResponse;
  const result = new Promise<UpstreamResponse>((resolve, reject) => {
    response = new PooledResponse(resolve, reject, deadline, undefined);
  });
  return { response, result };
}

describe('PooledResponse', () => {
  it('resolves on the head; a small body complete before pipeTo goes out in one write with end()', async () => {
    const { response, result } = pending();
    const source = new Source();
    response.attach(source);
    response.onHead(head());
    response.onBody(Buffer.from('hel'));
    response.onBody(Buffer.from('lo'));
    response.onEnd();
    const res = await result;
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-a']).toBe('1');
    const { dest, writes } = sink();
    const finished = new Promise((r) => dest.once('finish', r));
    await res.pipeTo(dest);
    await finished;
    expect(writes).toEqual([[Buffer.from('hello')]]);
    expect(source.calls).toEqual([]);
  });

  it(`holds up to ${HOLD_LIMIT} bytes before pipeTo, then pauses the connection; pipeTo writes them and resumes it`, async () => {
    const { response, result } = pending();
    const source = new Source();
    response.attach(source);
    response.onHead(head());
    const piece = Buffer.alloc(16 * 1024, 1);
    for (let i = 0; i < 4; i++) response.onBody(piece);
    expect(source.paused).toBe(false);
    response.onBody(piece);
    expect(source.paused).toBe(true);
    const { dest, body } = sink();
    const piped = (await result).pipeTo(dest);
    expect(source.paused).toBe(false);
    response.onBody(Buffer.from('tail'));
    response.onEnd();
    await piped;
    await new Promise((r) => dest.once('finish', r));
    expect(body().length).toBe(5 * piece.length + 4);
  });

  it('pauses the connection while the destination is full, and resumes it on drain', async () => {
    const { response, result } = pending();
    const source = new Source();
    response.attach(source);
    response.onHead(head());
    const { dest, body } = sink(1024);
    const piped = (await result).pipeTo(dest);
    response.onBody(Buffer.alloc(4096, 2));
    expect(source.paused).toBe(true);
    response.onBody(Buffer.alloc(10, 3)); // one more already read: written, no second pause
    expect(source.calls).toEqual(['pause']);
    await new Promise((r) => dest.once('drain', r));
    expect(source.paused).toBe(false);
    response.onEnd();
    await piped;
    expect(body().length).toBe(4106);
  });

  it('an error after the head destroys the destination and settles pipeTo', async () => {
    const { response, result } = pending();
    response.attach(new Source());
    response.onHead(head());
    const { dest } = sink();
    const piped = (await result).pipeTo(dest);
    response.onBody(Buffer.from('part'));
    response.onError(new WeftError('WEFT_ERR_UPSTREAM_RESET', 'gone'));
    await piped;
    expect(dest.destroyed).toBe(true);
  });

  it('an error before the head rejects with it', async () => {
    const { response, result } = pending();
    response.onError(new WeftError('WEFT_ERR_UPSTREAM_CONNECT', 'refused'));
    expect(await codeOfAsync(result)).toBe('WEFT_ERR_UPSTREAM_CONNECT');
    expect(response.pending).toBe(false);
  });

  it('the deadline aborts it through the connection, and is released once the head is in', async () => {
    const deadline: Deadline = { expired: undefined, onExpire: undefined };
    const { response, result } = pending(deadline);
    const source = new Source(() => response);
    response.attach(source);
    expect(deadline.onExpire).toBe(response);
    deadline.onExpire?.abort(new WeftError('WEFT_ERR_TIMEOUT', 'late'));
    expect(await codeOfAsync(result)).toBe('WEFT_ERR_TIMEOUT');
    expect(source.calls).toEqual(['abort']);
    expect(deadline.onExpire).toBeUndefined();

    const other: Deadline = { expired: undefined, onExpire: undefined };
    const second = pending(other);
    second.response.attach(new Source());
    second.response.onHead(head());
    expect(other.onExpire).toBeUndefined();
  });

  it('aborted while waiting for a connection: rejects, and is no longer pending', async () => {
    const { response, result } = pending();
    response.abort(new WeftError('WEFT_ERR_TIMEOUT', 'late'));
    expect(await codeOfAsync(result)).toBe('WEFT_ERR_TIMEOUT');
    expect(response.pending).toBe(false);
  });

  it('discard() hands the rest of the body to the connection to drop, and reports nothing more', async () => {
    const { response, result } = pending();
    const source = new Source();
    response.attach(source);
    response.onHead(head(503));
    response.onBody(Buffer.from('busy'));
    (await result).discard();
    expect(source.calls).toEqual(['discard']);
    const { dest, writes } = sink();
    await response.pipeTo(dest);
    expect(writes).toEqual([]);
  });

  it('the caller closing before pipeTo aborts the exchange', async () => {
    const caller = sink().dest;
    let response!: PooledResponse;
    const result = new Promise<UpstreamResponse>((resolve, reject) => {
      response = new PooledResponse(resolve, reject, undefined, caller);
    });
    const source = new Source(() => response);
    response.attach(source);
    caller.destroy();
    expect(await codeOfAsync(result)).toBe('WEFT_ERR_UPSTREAM_RESET');
    expect(source.calls).toEqual(['abort']);
  });
});
