// The original destination of each transparently redirected HTTP connection,
// remembered by the outbound listener and read by the target stage.
import type { SocketAddress } from './sockaddr.ts';

const redirected = new WeakMap<object, SocketAddress>();

export function rememberRedirected(socket: object, dst: SocketAddress): void {
  redirected.set(socket, dst);
}

/** The original destination of a redirected connection, undefined in explicit mode. */
export function redirectedDst(socket: object): SocketAddress | undefined {
  return redirected.get(socket);
}
