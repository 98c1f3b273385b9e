// The inbound listener (4143): one port for mTLS and, in permissive mode,
// plaintext. On the listener's own port (where mesh peers dial) the first
// byte tells them apart (0x16 opens a TLS handshake); a connection redirected
// from an app port (transparent mode) is never a peer's, and is plaintext for
// the app at once, whoever speaks first.
//
// mTLS: a tls.Server (never listening itself) takes the connection, so that
// Node records OpenSSL's verdict on the client's chain against the current
// trust bundle; a bare TLSSocket would ask for a certificate and check nothing.
// After the handshake identity/tls-peer.ts verifies the client's SVID (chain
// verdict, validity, not a CA, key usage, one SPIFFE ID in our trust domain).
// Only a verified connection reaches the HTTP server: a refused one is closed
// before any byte is read from it, counted in inbound_tcp_errors_total{error}
// and logged at warn (rate-limited). The verified SPIFFE ID is kept per
// connection (clientIdOf).
//
// ALPN h2 (a peer proxy's HTTP/2) and, from a redirected plaintext client,
// the HTTP/2 preface go to the HTTP/2 server (h2/h2-server.ts).
//
// Plaintext in strict mode is refused with a 403 naming WEFT_ERR_TLS_REQUIRED
// before any HTTP parsing.
import type { TLSSocket } from 'node:tls';
import net from 'node:net';
import type http from 'node:http';
import { WeftError, findWeftError } from '../../proto/errors.ts';
import { rateLimited, type Logger } from '../../proto/log.ts';
import { verifyTlsClient } from '../../identity/tls-peer.ts';
import { rawErrorResponse } from '../error-response.ts';
import type { ConnProtocol, ProxyMetrics } from '../metrics/metrics.ts';
import type { TlsMaterial } from '../config/tls-material.ts';
import { originalDestination } from './original-dst.ts';
import { peekProtocol } from './peek.ts';
import { LISTENER_OPTIONS } from './outbound-listener.ts';
import { decodeTransportHeader, OPAQUE_ALPN, TRANSPORT_HEADER_BYTES } from '../tcp/transport-header.ts';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const tls = process.getBuiltinModule('node:tls');
const { randomBytes } = process.getBuiltinModule('node:crypto');

const TLS_HANDSHAKE = 0x16;
const clientIds = new WeakMap<object, string>();
const dialledPorts = new WeakMap<object, number>();

/** The verified SPIFFE ID of the client of an inbound mTLS connection, '' for plaintext. */
export function clientIdOf(socket: net.Socket): string {
  return clientIds.get(socket) ?? '';
}

/** The port a redirected plaintext client dialled (transparent mode), 0 when unknown. */
export function dialledPortOf(socket: net.Socket): number {
  return dialledPorts.get(socket) ?? 0;
}

export interface InboundListenerOptions {
  http: http.Server;
  /** Takes an HTTP/2 connection: mTLS with ALPN h2 (its client ID recorded), or a redirected plaintext h2c one. */
  h2?: (socket: net.Socket) => void;
  metrics: ProxyMetrics;
  log: Logger;
  strict: () => boolean;
  /** Read original destinations (injected pods): the port a plaintext client dialled is the app port. */
  transparent?: boolean;
  /** How long a plaintext client may stay silent before it is opaque TCP. Default 1000 ms. */
  detectTimeoutMs?: number;
  opaquePorts?: () => ReadonlySet<number>;
  /**
   * A connection for an app port that is not HTTP/1.x: plaintext (clientId
   * '', transparent mode) or an mTLS peer's opaque stream (ALPN
   * weft.opaque/1, transport header already read). Paused.
   */
  onOpaque?: (socket: net.Socket, appPort: number, clientId: string) => void;
  handshakeTimeoutMs?: number;
  /** Wall clock for certificate validity. Default: the real one. */
  now?: () => Date;
}

export interface InboundListener {
  readonly server: net.Server;
  /** Takes one accepted connection (for more servers created with LISTENER_OPTIONS, e.g. on IPv6). */
  readonly handle: (socket: net.Socket) => void;
  /** Installs our certificate and the trust bundle; later handshakes use them. */
  setTls(material: TlsMaterial): void;
  /** Whether TLS material is installed (until then TLS connections are refused). */
  readonly hasTls: boolean;
}

export function createInboundListener(o: InboundListenerOptions): InboundListener {
  const handshakeTimeoutMs = o.handshakeTimeoutMs ?? 10_000;
  const now = o.now ?? (() => new Date());
  const warn = rateLimited((msg, fields) => o.log.warn(msg, fields));
  let material: TlsMaterial | undefined;

  const refuse = (socket: net.Socket, err: unknown): void => {
    const code = findWeftError(err)?.code ?? 'WEFT_ERR_TLS_HANDSHAKE';
    o.metrics.inboundTcpErrors.inc({ error: code });
    warn(code, 'inbound TLS connection refused', {
      code,
      reason: err instanceof Error ? err.message : String(err),
      client: socket.remoteAddress,
    });
    socket.destroy();
  };

  const tlsServer = tls.createServer({
    requestCert: true,
    // A peer's half-close (FIN, TLS close_notify) of an opaque stream is carried to the app, not turned into a full close.
    allowHalfOpen: true,
    // Opaque TCP between proxies says so in ALPN, HTTP/2 as h2; HTTP/1.1 clients offer none or http/1.1.
    ALPNProtocols: [OPAQUE_ALPN, 'h2', 'http/1.1'],
    // The verdict is ours (identity/tls-peer.ts), so that the reason is counted and logged.
    rejectUnauthorized: false,
    handshakeTimeout: handshakeTimeoutMs,
  });
  tlsServer.on('secureConnection', (secure: TLSSocket) => {
    const current = material;
    try {
      if (current === undefined) throw new WeftError('WEFT_ERR_NOT_READY', 'this proxy has no certificate yet');
      const { spiffeId } = verifyTlsClient(secure, { trustDomain: current.trustDomain, now: now() });
      clientIds.set(secure, spiffeId);
    } catch (err) {
      refuse(secure, err);
      return;
    }
    secure.on('error', () => secure.destroy());
    const opaque = secure.alpnProtocol === OPAQUE_ALPN && o.onOpaque !== undefined;
    const h2 = secure.alpnProtocol === 'h2' && o.h2 !== undefined;
    // Counted once verified (refusals are in inbound_tcp_errors_total); bytes are the app's, after decryption.
    o.metrics.trackConnection(secure, {
      direction: 'inbound',
      peer: 'src',
      tls: 'true',
      protocol: opaque ? 'opaque' : h2 ? 'h2' : 'http1',
      client_id: clientIds.get(secure) ?? '',
    });
    if (h2 && o.h2 !== undefined) {
      o.h2(secure);
      return;
    }
    if (opaque && o.onOpaque !== undefined) {
      const onOpaque = o.onOpaque;
      readTransportHeader(secure, handshakeTimeoutMs, (err, port) => {
        if (err !== undefined || port === undefined) refuse(secure, err);
        else onOpaque(secure, port, clientIds.get(secure) ?? '');
      });
      return;
    }
    o.http.emit('connection', secure);
  });
  tlsServer.on('tlsClientError', (err: Error, secure: TLSSocket) => {
    refuse(secure, new WeftError('WEFT_ERR_TLS_HANDSHAKE', `TLS handshake failed: ${(err as { code?: string }).code ?? err.message}`, { cause: err }));
  });

  /** A plaintext connection: refused in strict mode; else HTTP/1.x, h2c or opaque TCP for the app port it dialled. */
  const plaintext = (socket: net.Socket, dst: { port: number } | undefined): void => {
    const track = (protocol: ConnProtocol): void =>
      o.metrics.trackConnection(socket, { direction: 'inbound', peer: 'src', tls: 'false', protocol });
    if (o.strict()) {
      o.metrics.inboundTcpErrors.inc({ error: 'WEFT_ERR_TLS_REQUIRED' });
      warn('WEFT_ERR_TLS_REQUIRED', 'inbound plaintext connection refused (strict mode)', {
        code: 'WEFT_ERR_TLS_REQUIRED',
        client: socket.remoteAddress,
      });
      // Closed outright once the answer is out: the socket is paused and half-open
      // sockets are allowed, so waiting for the caller's FIN would keep it forever.
      socket.end(rawErrorResponse(403, 'Forbidden', 'WEFT_ERR_TLS_REQUIRED'), () => socket.destroy());
      return;
    }
    if (dst === undefined || o.onOpaque === undefined) {
      track('http1');
      o.http.emit('connection', socket);
      return;
    }
    const onOpaque = o.onOpaque;
    dialledPorts.set(socket, dst.port);
    if (o.opaquePorts?.().has(dst.port) === true) {
      track('opaque');
      onOpaque(socket, dst.port, '');
      return;
    }
    peekProtocol(socket, o.detectTimeoutMs ?? 1_000, (protocol) => {
      track(protocol);
      if (protocol === 'http1') o.http.emit('connection', socket);
      else if (protocol === 'h2' && o.h2 !== undefined) o.h2(socket);
      else onOpaque(socket, dst.port, '');
    });
  };

  const handle = (socket: net.Socket): void => {
    socket.on('error', () => socket.destroy());
    const dst = o.transparent === true ? originalDestination(socket) : undefined;
    // Mesh peers dial this listener's own port. A connection redirected here
    // from an app port is a caller outside the mesh (or one bypassing its
    // proxy): plaintext for the app whatever its first byte (a TLS handshake
    // is the app's own TLS, passed through), and it may speak a protocol in
    // which the server talks first (MySQL, SMTP): nothing waits for its
    // first byte here.
    if (dst !== undefined && dst.port !== socket.localPort) {
      plaintext(socket, dst);
      return;
    }
    const timer = setTimeout(() => socket.destroy(), handshakeTimeoutMs);
    socket.once('close', () => clearTimeout(timer));
    socket.once('readable', () => {
      clearTimeout(timer);
      // Everything available, put back whole (one chunk: an opaque stream is not split at byte 1).
      const first = socket.read() as Buffer | null;
      if (first === null) {
        socket.destroy();
        return;
      }
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) {
        if (material === undefined) {
          refuse(socket, new WeftError('WEFT_ERR_NOT_READY', 'this proxy has no certificate yet'));
          return;
        }
        // tls.Server bounds the handshake itself (handshakeTimeout -> tlsClientError).
        tlsServer.emit('connection', socket);
        return;
      }
      plaintext(socket, dst);
    });
    socket.resume();
    socket.pause();
  };
  const server = net.createServer(LISTENER_OPTIONS, handle);
  // The HTTP server never listens itself (it only gets sockets from here), and
  // Node starts its connection tracking on the server's own 'listening': the
  // list behind headersTimeout / requestTimeout (slowloris gets 408) and
  // closeIdleConnections / closeAllConnections (graceful close). Without this
  // none of those apply to inbound connections.
  server.on('listening', () => o.http.emit('listening'));

  return {
    server,
    handle,
    get hasTls() {
      return material !== undefined;
    },
    setTls(next) {
      const bundleChanged = material === undefined || material.trustBundlePem.join('') !== next.trustBundlePem.join('');
      tlsServer.setSecureContext({
        cert: next.certChainPem,
        key: next.keyPem,
        ca: next.trustBundlePem,
        minVersion: 'TLSv1.3',
      });
      // A resumed session skips chain verification: after a trust bundle
      // change, sessions issued under the old bundle must not resume.
      if (bundleChanged) tlsServer.setTicketKeys(randomBytes(48));
      material = next;
    },
  };
}

/** Reads the transport header of an opaque mTLS stream, puts back what follows it, and says which port it names. */
function readTransportHeader(socket: TLSSocket, timeoutMs: number, done: (err: Error | undefined, port?: number) => void): void {
  let buf = Buffer.alloc(0);
  let finished = false;
  const finish = (err: Error | undefined, port?: number): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
    socket.removeListener('end', onEnd);
    done(err, port);
  };
  const onReadable = (): void => {
    let chunk: Buffer | null;
    while (!finished && (chunk = socket.read() as Buffer | null) !== null) {
      buf = Buffer.concat([buf, chunk]);
      try {
        const port = decodeTransportHeader(buf);
        if (port === 'more') continue;
        if (buf.length > TRANSPORT_HEADER_BYTES) socket.unshift(buf.subarray(TRANSPORT_HEADER_BYTES));
        finish(undefined, port);
      } catch (err) {
        finish(err as Error);
      }
    }
  };
  const onEnd = (): void => finish(new WeftError('WEFT_ERR_BAD_REQUEST', 'opaque stream ended before its transport header'));
  const timer = setTimeout(() => finish(new WeftError('WEFT_ERR_BAD_REQUEST', 'no transport header in time')), timeoutMs);
  socket.on('readable', onReadable);
  socket.once('end', onEnd);
}
