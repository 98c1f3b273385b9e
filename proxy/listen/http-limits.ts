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
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 65_000,
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

/** Answers a request the parser rejected, then closes the connection. */
export function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
    socket.destroy();
    return;
  }
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
  socket.end(reply);
}
