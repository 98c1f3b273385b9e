// Pooled, kept-alive upstream connections. One pool per origin: plaintext
// address:port, or mTLS (endpoint, expected identity), so a pooled mTLS
// connection is only ever reused for the identity it was verified against.
// New connections use the current TLS context (our certificate and the trust
// bundle); rotation never cuts pooled connections. Requests go through our own
// HTTP/1.1 client (upstream-origin.ts, upstream-connection.ts); WebSocket
// upgrades through node:http agents. Both share the TLS context and the peer
// identity check.
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { ConnectionOptions, PeerCertificate, SecureContext } from 'node:tls';
import net from 'node:net';
import { WeftError, findWeftError } from '../../proto/errors.ts';
import { checkServerSvid } from '../../identity/tls-peer.ts';
import type { TlsMaterial } from '../config/tls-material.ts';
import { encodeTransportHeader, OPAQUE_ALPN } from '../tcp/transport-header.ts';
import { classifyUpstreamError } from './upstream-errors.ts';
import { UpstreamOrigin, type Connector } from './upstream-origin.ts';
import { tlsAgentKey } from './upstream-key.ts';
import { DEFAULT_BODY_IDLE_MS } from './upstream-request.ts';

export { tlsAgentKey };
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');
const tls = process.getBuiltinModule('node:tls');

const AGENT_OPTIONS = {
  keepAlive: true,
  keepAliveMsecs: 10_000,
  // Reuse the most recently used connection first, so a steady load keeps a
  // few hot connections instead of warming all of them.
  scheduling: 'lifo' as const,
  maxFreeSockets: 64,
  // Idle pooled connections are closed after this long.
  timeout: 30_000,
};

/**
 * tls.connect's checkServerIdentity for a mesh peer that must present exactly
 * `expected` in `trustDomain` (OpenSSL has verified the chain against the
 * trust bundle). A refusal is WEFT_ERR_IDENTITY_MISMATCH with the SVID check's
 * error as its cause.
 */
export function checkPeerIdentity(expected: string, trustDomain: string, cert: PeerCertificate): Error | undefined {
  const err = checkServerSvid(cert, { expectedId: expected, trustDomain, now: new Date() });
  if (err === undefined) return undefined;
  const code = findWeftError(err)?.code;
  return code === 'WEFT_ERR_IDENTITY_MISMATCH'
    ? err
    : new WeftError('WEFT_ERR_IDENTITY_MISMATCH', `peer certificate refused (expected ${expected}): ${err.message}`, { cause: err });
}

export type ConnectionHook = (socket: import('node:net').Socket, tls: boolean, protocol?: 'http1' | 'h2' | 'tls' | 'opaque') => void;
/** Told of every failed connection attempt (before any request was written), with its typed error. */
export type ConnectErrorHook = (err: WeftError, host: string, port: number) => void;

/**
 * Upstream connections: per-origin pools for requests, node:http agents for
 * upgrades. Connections opened are reported to `onConnection` (metrics).
 */
export class UpstreamPool {
  readonly plain: HttpAgent;
  #context: SecureContext | undefined;
  #trustDomain = '';
  readonly #tlsAgents = new Map<string, HttpsAgent>();
  /** Plaintext origins by address, then port (no key string built per request). */
  readonly #plainOrigins = new Map<string, Map<number, UpstreamOrigin>>();
  /** mTLS origins by tlsAgentKey (kept while the config names them: each holds its TLS session). */
  readonly #tlsOrigins = new Map<string, UpstreamOrigin>();
  readonly #plainConnect: Connector;
  readonly #onConnection: ConnectionHook;
  readonly #onConnectError: ConnectErrorHook;
  readonly #connectTimeoutMs: () => number;
  readonly #bodyIdleMs: number;

  /** `bodyIdleMs`: a caller's request body that sends nothing for this long fails (408; upstream-request.ts). */
  constructor(
    onConnection: ConnectionHook,
    connectTimeoutMs: () => number = () => 1_000,
    onConnectError: ConnectErrorHook = () => {},
    bodyIdleMs = DEFAULT_BODY_IDLE_MS,
  ) {
    this.#bodyIdleMs = bodyIdleMs;
    this.#onConnection = onConnection;
    this.#onConnectError = onConnectError;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.plain = this.#watch(new http.Agent(AGENT_OPTIONS), false);
    this.#plainConnect = this.#connector(undefined);
  }

  /** The pool for plaintext requests to host:port (unmeshed endpoints, egress, the local app). */
  plainOrigin(host: string, port: number): UpstreamOrigin {
    let byPort = this.#plainOrigins.get(host);
    if (byPort === undefined) {
      byPort = new Map();
      this.#plainOrigins.set(host, byPort);
    }
    let origin = byPort.get(port);
    if (origin === undefined) {
      origin = new UpstreamOrigin(host, port, false, this.#plainConnect, this.#forgetPlain, this.#bodyIdleMs);
      byPort.set(port, origin);
    }
    return origin;
  }

  /** The pool for an mTLS endpoint that must present `identity`; `key` is its tlsAgentKey, if known. */
  tlsOrigin(address: string, port: number, identity: string, key: string = tlsAgentKey(address, port, identity)): UpstreamOrigin {
    let origin = this.#tlsOrigins.get(key);
    if (origin === undefined) {
      origin = new UpstreamOrigin(address, port, true, this.#connector(identity), keepOrigin, this.#bodyIdleMs);
      this.#tlsOrigins.set(key, origin);
    }
    return origin;
  }

  /** A plaintext origin without connections is forgotten (endpoints come and go). */
  readonly #forgetPlain = (origin: UpstreamOrigin): void => {
    const byPort = this.#plainOrigins.get(origin.host);
    if (byPort?.get(origin.port) !== origin) return;
    byPort.delete(origin.port);
    if (byPort.size === 0) this.#plainOrigins.delete(origin.host);
  };

  /**
   * A connector: plain TCP, or TLS with the current context (so rotation
   * applies to new connections) whose peer must present `identity`, reusing
   * the origin's last TLS session. Errors before the connection is up are
   * typed here: connect failure or identity mismatch.
   */
  #connector(identity: string | undefined): Connector {
    let session: Buffer | undefined;
    return (host, port, done) => {
      let socket: net.Socket;
      if (identity === undefined) {
        socket = net.connect({ host, port, noDelay: true });
      } else {
        const context = this.#context;
        if (context === undefined) {
          done(new WeftError('WEFT_ERR_NOT_READY', 'this proxy has no certificate yet'), undefined);
          return;
        }
        const s = tls.connect({
          host,
          port,
          secureContext: context,
          rejectUnauthorized: true,
          checkServerIdentity: (_h, cert) => checkPeerIdentity(identity, this.#trustDomain, cert),
          ...(session !== undefined ? { session } : {}),
        });
        s.setNoDelay(true);
        s.on('session', (sess: Buffer) => {
          session = sess;
        });
        socket = s;
      }
      this.#watchConnect(socket, host, port, identity !== undefined, 'http1', (typed) => {
        if (typed !== undefined) {
          if (identity !== undefined) session = undefined;
          done(typed, undefined);
        } else {
          done(undefined, socket);
        }
      });
    };
  }

  get hasTls(): boolean {
    return this.#context !== undefined;
  }

  /** Installs new TLS material; later connections use it. */
  setTls(material: TlsMaterial): void {
    this.#context = tls.createSecureContext({
      cert: material.certChainPem,
      key: material.keyPem,
      ca: material.trustBundlePem,
      minVersion: 'TLSv1.3',
    });
    this.#trustDomain = material.trustDomain;
  }

  /**
   * A new connection for opaque TCP: plain to host:port, or (with `identity`)
   * mTLS to the peer proxy at host:port with ALPN weft.opaque/1, whose peer
   * must present `identity`, and the transport header naming `appPort`
   * already written. Connect failures go to the connect-error hook and are
   * emitted as 'error' typed like the HTTP path's.
   */
  connectOpaque(host: string, port: number, identity: string | undefined, appPort: number, protocol: 'h2' | 'tls' | 'opaque' = 'opaque'): net.Socket {
    let socket: net.Socket;
    if (identity === undefined) {
      socket = net.connect({ host, port, noDelay: true, allowHalfOpen: true });
    } else {
      // allowHalfOpen: a half-close crosses the mesh.
      socket = this.#connectPeer(host, port, identity, OPAQUE_ALPN, true);
      socket.write(encodeTransportHeader(appPort));
    }
    this.#watchConnect(socket, host, port, identity !== undefined, protocol, () => {});
    return socket;
  }

  /**
   * A new connection for HTTP/2: h2c to host:port, or (with `identity`) mTLS
   * to the peer proxy at host:port with ALPN h2, whose peer must present
   * `identity`. Failures are typed and reported as for connectOpaque; `settled`
   * says when the connection is up (or why not).
   */
  connectH2(host: string, port: number, identity: string | undefined, settled: (err?: WeftError) => void): net.Socket {
    let socket: net.Socket;
    if (identity === undefined) {
      socket = net.connect({ host, port, noDelay: true });
    } else {
      socket = this.#connectPeer(host, port, identity, 'h2', false);
    }
    this.#watchConnect(socket, host, port, identity !== undefined, 'h2', settled);
    return socket;
  }

  /** mTLS to a peer proxy with one ALPN protocol; the peer must present `identity` (checkPeerIdentity). */
  #connectPeer(host: string, port: number, identity: string, alpn: string, allowHalfOpen: boolean): net.Socket {
    if (this.#context === undefined) throw new WeftError('WEFT_ERR_NOT_READY', 'this proxy has no certificate yet');
    const socket = tls.connect({
      host,
      port,
      secureContext: this.#context,
      rejectUnauthorized: true,
      ALPNProtocols: [alpn],
      checkServerIdentity: (_h, cert) => checkPeerIdentity(identity, this.#trustDomain, cert),
      // Passed to the TLSSocket by tls.connect (not in its types).
      ...({ allowHalfOpen } as object),
    });
    socket.setNoDelay(true);
    return socket;
  }

  /**
   * Bounds a new connection's connect (and TLS handshake) by the connect
   * timeout; a failure is typed (classifyUpstreamError), reported to the
   * connect-error hook and passed to `settled`; success reports the connection
   * to the metrics hook and calls `settled()` once.
   */
  #watchConnect(socket: net.Socket, host: string, port: number, secure: boolean, protocol: 'http1' | 'h2' | 'tls' | 'opaque', settled: (err?: WeftError) => void): void {
    let done = false;
    const timeoutMs = this.#connectTimeoutMs();
    const timer = setTimeout(() => {
      socket.destroy(new WeftError('WEFT_ERR_UPSTREAM_CONNECT', `connect timeout after ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      const typed = classifyUpstreamError(err, false, false, secure);
      this.#onConnectError(typed, host, port);
      settled(typed);
    };
    socket.once('error', fail);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      socket.removeListener('error', fail);
      this.#onConnection(socket, secure, protocol);
      settled();
    });
  }

  /** The agent for an mTLS endpoint that must present `identity`. */
  tlsAgent(address: string, port: number, identity: string): HttpsAgent {
    const key = `${address}:${port}|${identity}`;
    let agent = this.#tlsAgents.get(key);
    if (agent === undefined) {
      const pool = this;
      agent = new https.Agent({
        ...AGENT_OPTIONS,
        rejectUnauthorized: true,
        checkServerIdentity: (_host, cert) => checkPeerIdentity(identity, pool.#trustDomain, cert),
      });
      // The context is read at connect time, so rotation applies to new connections.
      const create = agent.createConnection.bind(agent);
      agent.createConnection = function (options: ConnectionOptions, cb?: () => void) {
        if (pool.#context === undefined) {
          throw new WeftError('WEFT_ERR_NOT_READY', 'this proxy has no certificate yet');
        }
        return create({ ...options, secureContext: pool.#context, servername: undefined } as ConnectionOptions, cb);
      } as typeof agent.createConnection;
      this.#tlsAgents.set(key, this.#watch(agent, true));
    }
    return agent;
  }

  /** Drops the pools and agents of mTLS endpoints that are gone: in-flight requests finish, idle connections close. */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, origin] of this.#tlsOrigins) {
      if (!keys.has(key)) {
        this.#tlsOrigins.delete(key);
        origin.close();
      }
    }
    for (const [key, agent] of this.#tlsAgents) {
      if (!keys.has(key)) {
        this.#tlsAgents.delete(key);
        closeIdle(agent);
      }
    }
  }

  /** Closes every connection, in flight or idle. */
  destroy(): void {
    this.plain.destroy();
    for (const byPort of this.#plainOrigins.values()) for (const origin of byPort.values()) origin.destroy();
    this.#plainOrigins.clear();
    for (const origin of this.#tlsOrigins.values()) origin.destroy();
    this.#tlsOrigins.clear();
    for (const agent of this.#tlsAgents.values()) agent.destroy();
    this.#tlsAgents.clear();
  }

  #watch<A extends HttpAgent>(agent: A, isTls: boolean): A {
    const seen = new WeakSet<object>();
    // 'free' fires for every socket returned to the pool; count each socket once, at creation.
    const create = agent.createConnection.bind(agent);
    const hook = this.#onConnection;
    agent.createConnection = function (options: never, cb?: never) {
      const socket = create(options, cb) as import('node:net').Socket;
      if (socket && !seen.has(socket)) {
        seen.add(socket);
        hook(socket, isTls);
      }
      return socket;
    } as typeof agent.createConnection;
    return agent;
  }
}

/** mTLS origins stay until retain() drops them: their TLS session is worth keeping. */
function keepOrigin(): void {}

function closeIdle(agent: HttpAgent): void {
  for (const list of Object.values(agent.freeSockets)) {
    for (const s of list ?? []) s.destroy();
  }
  // In-use sockets finish their request; without keep-alive the agent closes them after.
  (agent as { keepAlive?: boolean }).keepAlive = false;
}
