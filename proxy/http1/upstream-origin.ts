// The kept-alive connections to one origin: a plaintext address:port, or an
// mTLS (address, port, expected identity). An idle connection is reused most
// recently used first (LIFO), so a steady load keeps a few hot connections;
// otherwise a new one is opened, up to MAX_CONNECTIONS, beyond which requests
// wait for one to come free.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WeftError } from '../../proto/errors.ts';
import { UpstreamConnection, type ConnectionOwner } from './upstream-connection.ts';
import type { PooledResponse } from './upstream-response.ts';

/** Opens a connection: plain TCP, or TLS with the peer's identity checked. Errors come typed. */
export type Connector = (host: string, port: number, done: (err: Error | undefined, socket: Socket | undefined) => void) => void;

export const MAX_CONNECTIONS = 1024;

interface Waiting {
  head: string;
  req: IncomingMessage;
  bodyless: boolean;
  buffered: Buffer | undefined;
  headRequest: boolean;
  response: PooledResponse;
}

export class UpstreamOrigin implements ConnectionOwner {
  readonly host: string;
  readonly port: number;
  readonly #secure: boolean;
  readonly #connect: Connector;
  readonly #onEmpty: (origin: UpstreamOrigin) => void;
  /** Idle connections, most recently used last. */
  readonly #idle: UpstreamConnection[] = [];
  readonly #all = new Set<UpstreamConnection>();
  #connecting = 0;
  #waiting: Waiting[] = [];
  #closing = false;

  /** `onEmpty`: called when the origin holds no connection and nothing waits (its owner may forget it). */
  readonly #bodyIdleMs: number;

  constructor(host: string, port: number, secure: boolean, connect: Connector, onEmpty: (origin: UpstreamOrigin) => void, bodyIdleMs: number) {
    this.#bodyIdleMs = bodyIdleMs;
    this.host = host;
    this.port = port;
    this.#secure = secure;
    this.#connect = connect;
    this.#onEmpty = onEmpty;
  }

  /** Connections open or opening. */
  get size(): number {
    return this.#all.size + this.#connecting;
  }

  /** Sends a request on an idle connection, a new one, or the next one to come free. */
  /** `buffered`: the request body, already read (retries replay it), sent instead of reading `req`. */
  request(head: string, req: IncomingMessage, bodyless: boolean, headRequest: boolean, response: PooledResponse, buffered?: Buffer): void {
    let conn = this.#idle.pop();
    while (conn !== undefined && !conn.usable) conn = this.#idle.pop();
    if (conn !== undefined) {
      conn.send(head, req, bodyless, headRequest, response, buffered);
    } else if (this.size < MAX_CONNECTIONS) {
      this.#open(head, req, bodyless, headRequest, response, buffered);
    } else {
      this.#waiting.push({ head, req, bodyless, headRequest, response, buffered });
    }
  }

  #open(head: string, req: IncomingMessage, bodyless: boolean, headRequest: boolean, response: PooledResponse, buffered: Buffer | undefined): void {
    this.#connecting++;
    this.#connect(this.host, this.port, (err, socket) => {
      this.#connecting--;
      if (err !== undefined || socket === undefined) {
        response.onError(err ?? new WeftError('WEFT_ERR_UPSTREAM_CONNECT', 'no connection'));
        this.#openForWaiting();
        this.#checkEmpty();
        return;
      }
      const conn = new UpstreamConnection(socket, this, this.#secure, this.#bodyIdleMs);
      this.#all.add(conn);
      // Aborted while connecting (deadline, caller gone): keep the connection for the next request.
      if (response.pending) conn.send(head, req, bodyless, headRequest, response, buffered);
      else this.release(conn);
    });
  }

  release(conn: UpstreamConnection): void {
    if (this.#closing) {
      conn.close();
      return;
    }
    for (let w = this.#waiting.shift(); w !== undefined; w = this.#waiting.shift()) {
      if (w.response.pending) {
        conn.send(w.head, w.req, w.bodyless, w.headRequest, w.response, w.buffered);
        return;
      }
    }
    if (!conn.startIdle()) {
      conn.close();
      return;
    }
    this.#idle.push(conn);
  }

  remove(conn: UpstreamConnection): void {
    this.#all.delete(conn);
    const i = this.#idle.lastIndexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
    this.#openForWaiting();
    this.#checkEmpty();
  }

  /** No new requests: idle connections close now, busy ones after their exchange. */
  close(): void {
    this.#closing = true;
    this.#failWaiting();
    for (const conn of this.#idle.splice(0)) conn.close();
  }

  /** Closes every connection; exchanges in flight fail. */
  destroy(): void {
    this.#closing = true;
    this.#failWaiting();
    this.#idle.length = 0;
    for (const conn of [...this.#all]) conn.close();
  }

  /** Room again (a connection closed or failed to open): open one for each request still waiting. */
  #openForWaiting(): void {
    while (!this.#closing && this.#waiting.length > 0 && this.size < MAX_CONNECTIONS) {
      const w = this.#waiting.shift()!;
      if (w.response.pending) this.#open(w.head, w.req, w.bodyless, w.headRequest, w.response, w.buffered);
    }
  }

  #failWaiting(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const w of waiting) {
      w.response.onError(new WeftError('WEFT_ERR_UPSTREAM_CONNECT', 'upstream pool closed'));
    }
  }

  #checkEmpty(): void {
    if (this.#all.size === 0 && this.#connecting === 0 && this.#waiting.length === 0) this.#onEmpty(this);
  }
}
