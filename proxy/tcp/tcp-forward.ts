// Joins two connected (or connecting) sockets: bytes both ways with
// backpressure (pipe), a half-close on one side becomes a half-close on the
// other (both sockets must allow half-open), a reset or error on one side
// resets the other, and `done` is told once with the first error, if any.
import type { Duplex } from 'node:stream';
import type net from 'node:net';

function reset(s: Duplex): void {
  // resetAndDestroy sends an RST, but only a plain TCP socket can: on a TLS
  // socket (its handle is a TLSWrap) it throws, so that side is just closed.
  const sock = s as net.Socket & { _handle?: unknown; encrypted?: boolean };
  if (typeof sock.resetAndDestroy === 'function' && sock._handle != null && !sock.destroyed && sock.encrypted !== true) {
    try {
      sock.resetAndDestroy();
      return;
    } catch {
      // fall through
    }
  }
  s.destroy();
}

export function joinSockets(a: Duplex, b: Duplex, done: (err: Error | undefined) => void = () => {}): void {
  let finished = false;
  let closed = 0;
  const finish = (err: Error | undefined): void => {
    if (finished) return;
    finished = true;
    done(err);
  };
  const onError = (from: Duplex, to: Duplex) => (err: Error) => {
    reset(to);
    from.destroy();
    finish(err);
  };
  a.on('error', onError(a, b));
  b.on('error', onError(b, a));
  const onClose = (): void => {
    if (++closed === 2) finish(undefined);
  };
  a.once('close', () => {
    if (!b.destroyed && !b.writableEnded) b.end();
    onClose();
  });
  b.once('close', () => {
    if (!a.destroyed && !a.writableEnded) a.end();
    onClose();
  });
  a.pipe(b);
  b.pipe(a);
}
