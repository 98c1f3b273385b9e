// Reads the first bytes of a paused socket until protocol-detect.ts can tell
// what it speaks, then puts them back (unshift) and says. A client that sends
// nothing for `timeoutMs`, or half-closes first, is 'opaque' (it may be
// waiting for a server-first banner). `decided` also gets the bytes read.
import type net from 'node:net';
import { detectProtocol, type Protocol } from './protocol-detect.ts';

export function peekProtocol(socket: net.Socket, timeoutMs: number, decided: (protocol: Protocol, head: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let length = 0;
  let done = false;
  const decide = (protocol: Protocol): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
    socket.removeListener('end', onEnd);
    socket.removeListener('close', onClose);
    const head = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length);
    if (length > 0) socket.unshift(head);
    decided(protocol, head);
  };
  const onReadable = (): void => {
    let chunk: Buffer | null;
    while (!done && (chunk = socket.read() as Buffer | null) !== null) {
      chunks.push(chunk);
      length += chunk.length;
      const verdict = detectProtocol(chunks.length === 1 ? chunk : Buffer.concat(chunks, length));
      if (verdict !== 'more') decide(verdict);
    }
  };
  const onEnd = (): void => decide('opaque');
  const onClose = (): void => {
    done = true;
    clearTimeout(timer);
  };
  const timer = setTimeout(() => decide('opaque'), timeoutMs);
  socket.on('readable', onReadable);
  socket.once('end', onEnd);
  socket.once('close', onClose);
}
