// HTTP/2 client sessions, one per origin: h2c to an app or an unmeshed
// endpoint, mTLS (ALPN h2) to a peer proxy for one expected identity. Every
// stream to that origin is multiplexed on its one connection. A session
// that fails, is closed, or receives GOAWAY is dropped at once: new streams
// open a new connection while the streams already on the old one finish.
// Idle sessions close after IDLE_MS without frames. Connect failures are
// typed by the pool (WEFT_ERR_UPSTREAM_CONNECT, WEFT_ERR_IDENTITY_MISMATCH)
// so that the retry stage can tell "nothing was sent".
import type { ClientHttp2Session, SecureClientSessionOptions } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { WeftError } from '../../proto/errors.ts';
import type { UpstreamPool } from '../http1/upstream-pool.ts';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const http2 = process.getBuiltinModule('node:http2');

/** A session closes after this long without any frame. */
const IDLE_MS = 60_000;
/** Client stream IDs are odd and below 2^31: a session is replaced well before they run out. */
export const MAX_STREAMS_PER_SESSION = 2 ** 29;

/** What this proxy asks of its upstream sessions (flow-control windows as Node's defaults, bounded header lists). */
export const CLIENT_SETTINGS = {
  enablePush: false,
  maxHeaderListSize: 64 * 1024,
} as const;

export interface H2Session {
  readonly session: ClientHttp2Session;
  /** Set once the connection (and TLS handshake) is up. */
  connected: boolean;
  /** performance.now() when it came up; 0 before. */
  connectedAt: number;
  /** Streams opened on it (it is retired long before HTTP/2's 2^31 stream IDs run out). */
  streams: number;
  /** Why the connection failed before it was up, if it did. */
  connectError: WeftError | undefined;
}

export class H2SessionPool {
  readonly #pool: UpstreamPool;
  readonly #sessions = new Map<string, H2Session>();

  constructor(pool: UpstreamPool) {
    this.#pool = pool;
  }

  /** The live session to host:port (mTLS when `identity` is set), opened if there is none. */
  session(host: string, port: number, identity: string | undefined): H2Session {
    const key = identity === undefined ? `${host}:${port}` : `${host}:${port}|${identity}`;
    const existing = this.#sessions.get(key);
    if (existing !== undefined && !existing.session.closed && !existing.session.destroyed) return existing;
    const pool = this.#pool;
    const entry: H2Session = { session: undefined as unknown as ClientHttp2Session, connected: false, connectedAt: 0, streams: 0, connectError: undefined };
    const authority = `${identity === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const options: SecureClientSessionOptions = {
      settings: CLIENT_SETTINGS,
      maxSessionMemory: 64,
      createConnection: () =>
        pool.connectH2(host, port, identity, (err) => {
          if (err === undefined) {
            entry.connected = true;
            entry.connectedAt = performance.now();
          } else entry.connectError = err;
        }),
    };
    const session = http2.connect(authority, options);
    (entry as { session: ClientHttp2Session }).session = session;
    const drop = (): void => {
      if (this.#sessions.get(key) === entry) this.#sessions.delete(key);
    };
    session.on('error', drop);
    session.on('close', drop);
    session.on('goaway', drop);
    session.setTimeout(IDLE_MS, () => session.close());
    // A session must not keep the process alive on its own (the proxy's listeners do).
    session.unref();
    this.#sessions.set(key, entry);
    return entry;
  }

  /**
   * Counts a stream opened on `entry`; at MAX_STREAMS_PER_SESSION the session
   * is retired: closed gracefully (its streams finish) and replaced for new ones.
   */
  opened(entry: H2Session): void {
    if (++entry.streams < MAX_STREAMS_PER_SESSION) return;
    for (const [key, e] of this.#sessions) if (e === entry) this.#sessions.delete(key);
    entry.session.close();
  }

  /** Sessions open now (tests, metrics). */
  get size(): number {
    return this.#sessions.size;
  }

  /** Closes every session gracefully (open streams finish). */
  close(): void {
    for (const { session } of this.#sessions.values()) session.close();
    this.#sessions.clear();
  }

  /** Destroys every session at once. */
  destroy(): void {
    for (const { session } of this.#sessions.values()) session.destroy();
    this.#sessions.clear();
  }
}

/** A WeftError for a stream that failed on `entry`: a connect failure stays one, anything else is a reset. */
export function streamError(entry: H2Session, err: Error | undefined, what: string): WeftError {
  if (!entry.connected && entry.connectError !== undefined) return entry.connectError;
  if (!entry.connected) {
    return new WeftError('WEFT_ERR_UPSTREAM_CONNECT', `HTTP/2 connection failed: ${err?.message ?? what}`, err !== undefined ? { cause: err } : undefined);
  }
  return new WeftError('WEFT_ERR_UPSTREAM_RESET', `${what}${err !== undefined ? `: ${err.message}` : ''}`, err !== undefined ? { cause: err } : undefined);
}
