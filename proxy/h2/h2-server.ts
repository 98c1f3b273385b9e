// The HTTP/2 server side of a listener: it never listens itself, it takes
// connections that detection (or ALPN h2) gave it. Every limit is explicit
// (HTTP2_LIMITS): concurrent streams, header list size, session memory,
// invalid frames and refused streams per session. nghttp2 itself refuses
// what RFC 9113 forbids, each test-covered in test/e2e/h2-abuse.test.ts: a
// content-length that disagrees with the DATA frames, connection-specific
// headers (connection, transfer-encoding, keep-alive, upgrade, a te other
// than trailers), a rapid-reset loop (CVE-2023-44487: its stream reset rate
// limit sends GOAWAY) and CONTINUATION floods. A session that breaks them
// is closed; others are untouched. Session errors are counted and logged
// (rate-limited) through `onSessionError`. The HTTP/1.1 Upgrade to h2c is not
// offered: prior knowledge or ALPN only.
import type net from 'node:net';
import type { Http2Server, Http2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const http2 = process.getBuiltinModule('node:http2');

export interface Http2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS per connection. */
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE, bytes (also the largest header block accepted). */
  maxHeaderListSize: number;
  /** nghttp2's memory bound per session, MB: beyond it new streams are refused. */
  maxSessionMemoryMb: number;
  /** Invalid frames tolerated per session before it is closed. */
  maxSessionInvalidFrames: number;
  /** Streams refused (over the concurrency limit) per session before it is closed. */
  maxSessionRejectedStreams: number;
  /** A connection with no open stream is closed (GOAWAY) after this long, ms. */
  idleTimeoutMs: number;
}

export const HTTP2_LIMITS: Http2Limits = {
  maxConcurrentStreams: 512,
  maxHeaderListSize: 64 * 1024,
  maxSessionMemoryMb: 32,
  maxSessionInvalidFrames: 100,
  maxSessionRejectedStreams: 100,
  idleTimeoutMs: 300_000,
};

export interface H2Server {
  readonly server: Http2Server;
  /** Takes one connection (its first bytes already read and put back, or TLS with ALPN h2). */
  accept(socket: net.Socket): void;
  /** Open sessions (graceful shutdown sends each a GOAWAY). */
  readonly sessions: ReadonlySet<Http2Session>;
}

export function createH2Server(
  limits: Http2Limits,
  onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, socket: net.Socket) => void,
  onSessionError: (err: Error & { code?: string }) => void,
): H2Server {
  const server = http2.createServer({
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderListSize,
      enablePush: false,
    },
    maxSessionMemory: limits.maxSessionMemoryMb,
    maxHeaderListPairs: 256,
    maxSessionInvalidFrames: limits.maxSessionInvalidFrames,
    maxSessionRejectedStreams: limits.maxSessionRejectedStreams,
  });
  const sockets = new WeakMap<Http2Session, net.Socket>();
  const sessions = new Set<Http2Session>();
  // The session of a connection is created synchronously inside emit('connection').
  let accepting: net.Socket | undefined;
  server.on('session', (session: Http2Session) => {
    if (accepting !== undefined) sockets.set(session, accepting);
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.on('error', (err: Error) => onSessionError(err));
    // Idle connections (no frame for idleTimeoutMs) get GOAWAY; open streams finish.
    session.setTimeout(limits.idleTimeoutMs, () => session.close());
  });
  server.on('sessionError', () => {
    // Counted through the session's own 'error' above.
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const socket = sockets.get(stream.session as Http2Session);
    if (socket === undefined) {
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    // A stream error (a reset, a protocol error on it) is the caller's to see; never an uncaught 'error'.
    stream.on('error', () => {});
    // Handled once the frames read with it have been: a stream its client
    // reset in the same read (a rapid-reset loop) never costs an upstream
    // stream.
    setImmediate(() => {
      if (stream.destroyed || stream.closed) return;
      try {
        onStream(stream, headers, socket);
      } catch (err) {
        // A stream that closed under us: reset it, and count the failure.
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        onSessionError(err as Error & { code?: string });
      }
    });
  });
  return {
    server,
    sessions,
    accept(socket) {
      accepting = socket;
      try {
        server.emit('connection', socket);
      } finally {
        accepting = undefined;
      }
      // Not resumed here: the session reads the socket itself, bytes already
      // put back included; flowing mode would drop them as 'data' events.
    },
  };
}
