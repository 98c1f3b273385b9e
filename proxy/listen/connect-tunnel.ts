// HTTP CONNECT on the explicit outbound listener (the local mesh's
// http_proxy): clients that tunnel through a proxy, as @grpc/grpc-js does for
// every channel when http_proxy is set, say `CONNECT host:port` and then
// speak their protocol inside. The tunnel is accepted (200) and its first
// bytes decide, as on a redirected connection: HTTP/2 (a gRPC channel) goes
// to the HTTP/2 server and HTTP/1.x to the HTTP server, where :authority or
// Host names the target as for any request; anything else (TLS to an
// outside host) is `onOpaque`'s, with the CONNECT authority. A target that
// is not host:port, or a CONNECT inside a tunnel, is 400.
import type net from 'node:net';
import type http from 'node:http';
import { rawErrorResponse } from '../error-response.ts';
import { peekProtocol } from './peek.ts';

export interface ConnectTunnelOptions {
  http: http.Server;
  h2: (socket: net.Socket) => void;
  /** A tunnel that is neither HTTP/1.x nor HTTP/2, paused, its first bytes put back. */
  onOpaque: (socket: net.Socket, authority: string) => void;
  /** How long the client may stay silent after the 200 before its tunnel counts as opaque, ms. */
  detectTimeoutMs: number;
}

/** `host:port` or `[v6]:port`, as a CONNECT request target must be (RFC 9110 9.3.6). */
const AUTHORITY_FORM = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/** Sockets that are tunnels already: a CONNECT inside a tunnel is refused (no nesting). */
const tunnels = new WeakSet<object>();

export function acceptConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer, o: ConnectTunnelOptions): void {
  const authority = req.url ?? '';
  if (tunnels.has(socket)) {
    socket.end(rawErrorResponse(400, 'Bad Request', 'WEFT_ERR_BAD_REQUEST'));
    return;
  }
  tunnels.add(socket);
  socket.on('error', () => socket.destroy());
  if (!AUTHORITY_FORM.test(authority)) {
    socket.end(rawErrorResponse(400, 'Bad Request', 'WEFT_ERR_BAD_REQUEST'));
    return;
  }
  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) socket.unshift(head);
  peekProtocol(socket, o.detectTimeoutMs, (protocol) => {
    if (protocol === 'h2') {
      o.h2(socket);
      return;
    }
    if (protocol === 'http1') {
      o.http.emit('connection', socket);
      socket.resume();
      return;
    }
    o.onOpaque(socket, authority);
  });
}
