// The outbound listener (4140). Explicit mode (the local mesh's HTTP_PROXY):
// every connection is HTTP/1.1 and the Host header (or absolute-form target)
// names the destination. Transparent mode (an injected pod, iptables
// REDIRECT): each connection has an original destination, and its first bytes
// decide the stack (protocol-detect.ts): HTTP/1.x goes to the HTTP server and
// HTTP/2 (prior knowledge) to the HTTP/2 server, with that destination
// remembered (redirected.ts); anything else (TLS, its SNI read from the
// ClientHello and passed on to be recorded, server-first or unknown
// protocols) to opaque TCP. Ports in `opaquePorts`
// skip detection; a client silent for `detectTimeoutMs` is opaque (it may be
// waiting for the server's banner). A connection made to the listener itself
// (no original destination) is treated as explicit.
import net from 'node:net';
import type http from 'node:http';
import type { ProxyMetrics } from '../metrics/metrics.ts';
import type { Protocol } from './protocol-detect.ts';
import { peekProtocol } from './peek.ts';
import { clientHelloServerName } from './tls-client-hello.ts';
import { rememberRedirected } from './redirected.ts';
import { originalDestination } from './original-dst.ts';
import type { SocketAddress } from './sockaddr.ts';

export interface OutboundListenerOptions {
  http: http.Server;
  /** Takes an HTTP/2 (prior knowledge) connection, paused, its preface put back. */
  h2: (socket: net.Socket) => void;
  metrics: ProxyMetrics;
  /** Read original destinations (injected pods). */
  transparent: boolean;
  detectTimeoutMs: number;
  /** Explicit mode: how long a silent client is waited for before it goes to the HTTP server (whose own timeouts apply). Default 10 s. */
  explicitDetectTimeoutMs?: number;
  /** Whether connections to this destination skip detection (opaque ports of the pod, opaque Service ports). */
  isOpaque: (dst: SocketAddress) => boolean;
  /** A redirected connection that is not HTTP/1.x, paused, its first bytes unshifted; `sni` is a TLS client's server name. */
  onTcp: (socket: net.Socket, dst: SocketAddress, protocol: Exclude<Protocol, 'http1' | 'h2'>, sni?: string) => void;
}

/** Options of every listener socket: paused (to peek), half-open allowed (opaque TCP carries FIN across). */
export const LISTENER_OPTIONS: net.ServerOpts = { noDelay: true, pauseOnConnect: true, allowHalfOpen: true };

export interface Listener {
  /** The primary listening server. */
  readonly server: net.Server;
  /** Takes one accepted connection (for more servers created with LISTENER_OPTIONS, e.g. on IPv6). */
  readonly handle: (socket: net.Socket) => void;
}

export function createOutboundListener(o: OutboundListenerOptions): Listener {
  const handle = (socket: net.Socket): void => {
    const dst = o.transparent ? originalDestination(socket) : undefined;
    if (dst === undefined) {
      // Explicit proxy: HTTP/1.x, or HTTP/2 with prior knowledge (its
      // :authority names the destination as Host does). Anything that is not
      // the HTTP/2 preface goes to the HTTP server, which answers garbage
      // with a 400; a silent client is left to its headers timeout there.
      socket.on('error', () => socket.destroy());
      peekProtocol(socket, o.explicitDetectTimeoutMs ?? 10_000, (protocol) => {
        if (protocol === 'h2') {
          o.metrics.trackConnection(socket, { direction: 'outbound', peer: 'src', tls: 'false', protocol: 'h2' });
          o.h2(socket);
          return;
        }
        o.http.emit('connection', socket);
        socket.resume();
      });
      return;
    }
    if (o.isOpaque(dst)) {
      o.metrics.trackConnection(socket, { direction: 'outbound', peer: 'src', tls: 'false', protocol: 'opaque' });
      o.onTcp(socket, dst, 'opaque');
      return;
    }
    socket.on('error', () => socket.destroy());
    peekProtocol(socket, o.detectTimeoutMs, (protocol, head) => {
      if (protocol === 'http1') {
        rememberRedirected(socket, dst);
        o.http.emit('connection', socket);
        return;
      }
      if (protocol === 'h2') {
        rememberRedirected(socket, dst);
        o.metrics.trackConnection(socket, { direction: 'outbound', peer: 'src', tls: 'false', protocol: 'h2' });
        o.h2(socket);
        return;
      }
      o.metrics.trackConnection(socket, { direction: 'outbound', peer: 'src', tls: 'false', protocol });
      o.onTcp(socket, dst, protocol, protocol === 'tls' ? clientHelloServerName(head) : undefined);
    });
  };
  const server = net.createServer(LISTENER_OPTIONS, handle);
  // As for inbound: the HTTP server never listens itself (see inbound-listener.ts).
  server.on('listening', () => o.http.emit('listening'));
  return { server, handle };
}
