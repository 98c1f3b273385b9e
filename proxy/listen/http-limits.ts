// HTTP/1.1 server hygiene shared by the inbound and outbound listeners: every
// limit set explicitly, the strict parser (request smuggling inputs such as
// Content-Length with Transfer-Encoding, or duplicate Content-Length, are
// parse errors), and parse errors answered with a typed 400 / 431 / 408
// before anything reaches an app.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { rawErrorResponse } from '../error-response.ts';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const http = process.getBuiltinModule('node:http');

export interface HttpLimits {
  /** Largest request head (request line + headers), bytes: beyond it 431. */
  maxHeaderBytes: number;
  /** Time to receive a complete request head, ms: beyond it 408 and close. */
  headersTimeoutMs: number;
  /** Time to receive a whole request, ms: beyond it 408 and close. */
  requestTimeoutMs: number;
  /** Idle keep-alive connection lifetime, ms. */
  keepAliveTimeoutMs: number;
  /** A request body in flight that sends nothing for this long fails with 408 (the route timeout only starts once the request is complete). */
  requestBodyIdleMs: number;
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 65_000,
  requestBodyIdleMs: 60_000,
};

export function createHttpServer(limits: HttpLimits): Server {
  const server = http.createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    insecureHTTPParser: false,
    requireHostHeader: true,
    // How often header/request timeouts are checked (Node's default is 30 s).
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    noDelay: true,
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => onClientError(err, socket));
  const tracker: ResponseTracker = { active: 0, idle: [] };
  trackers.set(server, tracker);
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    tracker.active++;
    // 'close' follows 'finish', and also comes when the connection is lost.
    res.once('close', () => {
      if (--tracker.active === 0) for (const f of tracker.idle.splice(0)) f();
    });
  });
  return server;
}

interface ResponseTracker {
  active: number;
  idle: Array<() => void>;
}
const trackers = new WeakMap<Server, ResponseTracker>();

/**
 * Resolves once every response `server` has begun is complete (last byte
 * written, or the connection gone), or after `timeoutMs`. For a graceful
 * close: a response is in flight until its body has been sent, not merely
 * until the upstream's headers arrived.
 */
export function responsesDone(server: Server, timeoutMs: number): Promise<void> {
  const t = trackers.get(server);
  if (t === undefined || t.active === 0) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, timeoutMs));
    t.idle.push(done);
  });
}

/**
 * Whether `req` lacks the Host it must have: Node's parser requires one of
 * HTTP/1.1 only. An HTTP/1.0 request without Host is refused (400) unless its
 * target is absolute-form, whose authority then becomes its Host (old
 * HTTP/1.0 clients of an explicit proxy send no Host).
 */
export function missingHost(req: IncomingMessage): boolean {
  if (req.headers.host !== undefined) return false;
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]+)(?:[/?#]|$)/i.exec(req.url ?? '')?.[1];
  if (authority === undefined) return true;
  req.headers.host = authority;
  return false;
}

/**
 * Answers a request the parser rejected, then closes the connection. A
 * request whose head was accepted but whose body is bad (an invalid chunk
 * size, an oversized chunk extension) has an exchange in flight: its response
 * is detached from the connection (what it would write goes nowhere), the 400
 * is written instead, and the connection's close aborts the exchange, which
 * never sent anything upstream (upstream-request.ts holds the head until the
 * body begins well). Once a response has begun, all that can be done is to
 * close.
 */
export function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!socket.writable || (inFlight !== undefined && inFlight !== null && inFlight.headersSent)) {
    socket.destroy();
    return;
  }
  if (inFlight !== undefined && inFlight !== null) inFlight.detachSocket(socket as import('node:net').Socket);
  const inFlightReq = inFlight ?? undefined;
  let reply: string;
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      reply = rawErrorResponse(431, 'Request Header Fields Too Large', 'WEFT_ERR_BAD_REQUEST');
      break;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      reply = rawErrorResponse(408, 'Request Timeout', 'WEFT_ERR_BAD_REQUEST');
      break;
    case 'ECONNRESET':
      socket.destroy();
      return;
    default:
      reply = rawErrorResponse(400, 'Bad Request', 'WEFT_ERR_BAD_REQUEST');
  }
  // Once the reply is out, the exchange in flight (if any) is aborted: its
  // request closes, which fails it without anything sent upstream.
  socket.end(reply, () => {
    if (inFlightReq === undefined) return;
    // As Node does for a response whose connection closed (it no longer can: detached).
    inFlightReq.emit('close');
    if (!inFlightReq.req.destroyed) inFlightReq.req.destroy();
  });
}
