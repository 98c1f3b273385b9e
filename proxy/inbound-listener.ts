// The inbound listener (4143): one port for mTLS and, in permissive mode,
// plaintext. The first byte tells them apart (0x16 opens a TLS handshake).
// mTLS: the client must present a certificate chaining to the trust bundle
// (checked by OpenSSL during the handshake); its SPIFFE ID is read once per
// connection. Plaintext in strict mode is refused with a 403 naming
// WEFT_ERR_TLS_REQUIRED before any HTTP parsing.
import type { SecureContext, TLSSocket } from 'node:tls';
import net from 'node:net';
import type http from 'node:http';
import { certificateSpiffeId } from '../identity/svid-verify.ts';
import { rawErrorResponse } from './error-response.ts';
import type { ProxyMetrics } from './metrics.ts';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const tls = process.getBuiltinModule('node:tls');

const TLS_HANDSHAKE = 0x16;
const clientIds = new WeakMap<object, string>();

/** The client's SPIFFE ID on an mTLS connection, '' if it has none usable. Cached per connection. */
export function clientIdOf(socket: net.Socket): string {
  let id = clientIds.get(socket);
  if (id === undefined) {
    id = '';
    try {
      const cert = (socket as TLSSocket).getPeerCertificate();
      if (cert.raw !== undefined && (cert as { ca?: boolean }).ca !== true) id = certificateSpiffeId(cert.raw);
    } catch {
      id = '';
    }
    clientIds.set(socket, id);
  }
  return id;
}

export interface InboundListenerOptions {
  http: http.Server;
  metrics: ProxyMetrics;
  /** Current TLS context (our certificate + trust bundle); undefined: not ready, TLS refused. */
  context: () => SecureContext | undefined;
  strict: () => boolean;
  handshakeTimeoutMs?: number;
}

export function createInboundListener(o: InboundListenerOptions): net.Server {
  const handshakeTimeoutMs = o.handshakeTimeoutMs ?? 10_000;
  const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    const timer = setTimeout(() => socket.destroy(), handshakeTimeoutMs);
    socket.once('close', () => clearTimeout(timer));
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) {
        socket.destroy();
        return;
      }
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) {
        const context = o.context();
        if (context === undefined) {
          socket.destroy();
          return;
        }
        o.metrics.trackConnection(socket, { direction: 'inbound', peer: 'src', tls: 'true' });
        const secure = new tls.TLSSocket(socket, {
          isServer: true,
          secureContext: context,
          requestCert: true,
          rejectUnauthorized: true,
        });
        secure.on('error', () => secure.destroy());
        secure.once('secure', () => clearTimeout(timer));
        o.http.emit('connection', secure);
        return;
      }
      clearTimeout(timer);
      o.metrics.trackConnection(socket, { direction: 'inbound', peer: 'src', tls: 'false' });
      if (o.strict()) {
        socket.end(rawErrorResponse(403, 'Forbidden', 'WEFT_ERR_TLS_REQUIRED'));
        return;
      }
      o.http.emit('connection', socket);
    });
    socket.resume();
    socket.pause();
  });
  // The HTTP server never listens itself (it only gets sockets from here), and
  // Node starts its connection tracking on the server's own 'listening': the
  // list behind headersTimeout / requestTimeout (slowloris gets 408) and
  // closeIdleConnections / closeAllConnections (graceful close). Without this
  // none of those apply to inbound connections.
  server.on('listening', () => o.http.emit('listening'));
  return server;
}
