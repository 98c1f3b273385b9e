import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ReplayBody } from './replay-body.ts';

/** A sink that records what it got and whether it was ended; `highWaterMark` small to exercise backpressure. */
function sink(highWaterMark = 16): Writable & { got: () => string; ended: () => boolean } {
  const chunks: Buffer[] = [];
  let ended = false;
  const w = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      setImmediate(cb);
    },
    final(cb) {
      ended = true;
      cb();
    },
  });
  return Object.assign(w, { got: () => Buffer.concat(chunks).toString(), ended: () => ended });
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ReplayBody', () => {
  it('streams to the attempt as the body arrives (nothing waits for its end)', async () => {
    const src = new PassThrough();
    const body = new ReplayBody(src, 1024);
    const a = sink();
    expect(body.attach(a)).toBe(true);
    src.write('hello ');
    await tick();
    expect(a.got()).toBe('hello ');
    expect(a.ended()).toBe(false);
    src.end('world');
    await tick();
    await tick();
    expect(a.got()).toBe('hello world');
    expect(a.ended()).toBe(true);
  });

  it('replays what was kept to a second attempt, then goes on live', async () => {
    const src = new PassThrough();
    const body = new ReplayBody(src, 1024);
    const a = sink();
    body.attach(a);
    src.write('one ');
    await tick();
    body.detach(a);
    const b = sink();
    expect(body.attach(b)).toBe(true);
    src.end('two');
    await tick();
    await tick();
    expect(b.got()).toBe('one two');
    expect(b.ended()).toBe(true);
    expect(a.got()).toBe('one ');
  });

  it('a body that ended before the retry is replayed whole and ended', async () => {
    const src = new PassThrough();
    const body = new ReplayBody(src, 1024);
    body.attach(sink());
    src.end('all of it');
    await tick();
    await tick();
    const b = sink();
    expect(body.attach(b)).toBe(true);
    await tick();
    expect(b.got()).toBe('all of it');
    expect(b.ended()).toBe(true);
  });

  it('past the limit it is no longer replayable, but the first attempt still gets every byte', async () => {
    const src = new PassThrough();
    const body = new ReplayBody(src, 8);
    const a = sink();
    body.attach(a);
    src.write('12345');
    await tick();
    expect(body.replayable).toBe(true);
    src.end('67890');
    await tick();
    await tick();
    expect(body.replayable).toBe(false);
    expect(a.got()).toBe('1234567890');
    expect(body.attach(sink())).toBe(false);
  });

  it('backpressure: the source pauses while the attempt does not drain', async () => {
    const src = new PassThrough({ highWaterMark: 16 });
    const body = new ReplayBody(src, 1 << 20);
    const slow = new Writable({ highWaterMark: 4, write: (_c, _e, _cb) => {} }); // never drains
    body.attach(slow);
    let accepted = 0;
    for (let i = 0; i < 100; i++) if (src.write(Buffer.alloc(8))) accepted++;
    await tick();
    await tick();
    expect(src.isPaused()).toBe(true);
    expect(accepted).toBeLessThan(100);
  });
});

describe('ReplayBody.abandon', () => {
  it('reads and drops what is still to come (the caller is never left paused), and is no longer replayable', async () => {
    const src = new PassThrough({ highWaterMark: 16 });
    const body = new ReplayBody(src, 1024);
    const a = new Writable({ highWaterMark: 4, write: (_c, _e, _cb) => {} }); // never drains: the source pauses
    body.attach(a);
    for (let i = 0; i < 10; i++) src.write(Buffer.alloc(8));
    await tick();
    expect(src.isPaused()).toBe(true);
    body.abandon();
    expect(body.replayable).toBe(false);
    let ended = false;
    src.on('end', () => (ended = true));
    for (let i = 0; i < 100; i++) src.write(Buffer.alloc(8));
    src.end();
    await tick();
    await tick();
    expect(ended).toBe(true);
  });
});
