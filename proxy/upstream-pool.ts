// Pooled, kept-alive upstream connections. One agent per (endpoint, expected
// identity): a pooled mTLS connection is only ever reused for the identity it
// was verified against. New connections use the current TLS context (our
// certificate and the trust bundle); rotation never cuts pooled connections.
import http from 'node:http';
import https from 'node:https';
import tls, { type PeerCertificate } from 'node:tls';
import net from 'node:net';
import { Agent, Pool, type Dispatcher, type buildConnector } from 'undici';
import { WeftError } from '../proto/errors.ts';
import { certificateSpiffeId } from '../identity/svid-verify.ts';
import { classifyUpstreamError } from './upstream-errors.ts';

/** Our own certificate, key and the trust anchors we verify peers against. */
export interface TlsMaterial {
  certChainPem: string;
  keyPem: string;
  trustBundlePem: string[];
}

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

/** Checks the peer leaf presents exactly `expected` (the chain was verified by OpenSSL against the trust bundle). */
export function checkPeerIdentity(expected: string, cert: PeerCertificate): Error | undefined {
  try {
    if ((cert as { ca?: boolean }).ca === true) {
      return new WeftError('WEFT_ERR_IDENTITY_MISMATCH', 'peer leaf certificate is a CA');
    }
    const id = certificateSpiffeId(cert.raw);
    if (id !== expected) {
      return new WeftError('WEFT_ERR_IDENTITY_MISMATCH', `peer is ${id}, expected ${expected}`);
    }
    return undefined;
  } catch (cause) {
    return new WeftError('WEFT_ERR_IDENTITY_MISMATCH', `peer certificate has no usable SPIFFE ID (expected ${expected})`, { cause });
  }
}

export type ConnectionHook = (socket: import('node:net').Socket, tls: boolean) => void;

// undici keeps idle connections this long (Node's servers default to 5 s and
// say so in Keep-Alive, which undici honours; Weft's inbound keeps 65 s).
const DISPATCHER_OPTIONS = {
  keepAliveTimeout: 30_000,
  keepAliveMaxTimeout: 60_000,
  // Weft's own per-attempt deadline governs headers; the body may take its time.
  headersTimeout: 0,
  bodyTimeout: 300_000,
  connections: 1024,
};

/**
 * Upstream connections. Requests go through undici dispatchers (its HTTP/1.1
 * client is about twice as fast as node:http's); WebSocket upgrades through
 * node:http agents. Both share the TLS context and the peer identity check.
 */
export class UpstreamPool {
  readonly plain: http.Agent;
  #context: tls.SecureContext | undefined;
  readonly #tlsAgents = new Map<string, https.Agent>();
  readonly #tlsPools = new Map<string, Pool>();
  readonly #plainDispatcher: Agent;
  readonly #onConnection: ConnectionHook;
  readonly #connectTimeoutMs: () => number;

  constructor(onConnection: ConnectionHook, connectTimeoutMs: () => number = () => 1_000) {
    this.#onConnection = onConnection;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.plain = this.#watch(new http.Agent(AGENT_OPTIONS), false);
    this.#plainDispatcher = new Agent({ ...DISPATCHER_OPTIONS, connect: this.#connector(undefined) });
  }

  /** The dispatcher for plaintext requests (unmeshed endpoints, egress, the local app): pass `origin`. */
  get plainDispatcher(): Dispatcher {
    return this.#plainDispatcher;
  }

  /** The dispatcher for an mTLS endpoint that must present `identity`. */
  tlsDispatcher(address: string, port: number, identity: string): Dispatcher {
    const key = tlsAgentKey(address, port, identity);
    let pool = this.#tlsPools.get(key);
    if (pool === undefined) {
      pool = new Pool(`http://${address.includes(':') ? `[${address}]` : address}:${port}`, {
        ...DISPATCHER_OPTIONS,
        connect: this.#connector(identity),
      });
      this.#tlsPools.set(key, pool);
    }
    return pool;
  }

  /**
   * A connector: plain TCP, or TLS with the current context (so rotation
   * applies to new connections) whose peer must present `identity`. Errors
   * before the connection is up are typed here: connect failure or identity
   * mismatch.
   */
  #connector(identity: string | undefined): buildConnector.connector {
    let session: Buffer | undefined;
    return (opts, cb) => {
      const host = opts.hostname.replace(/^\[|\]$/g, '');
      const port = Number(opts.port) || 80;
      let socket: net.Socket;
      if (identity === undefined) {
        socket = net.connect({ host, port, noDelay: true });
      } else {
        const context = this.#context;
        if (context === undefined) {
          cb(new WeftError('WEFT_ERR_NOT_READY', 'this proxy has no certificate yet'), null);
          return;
        }
        const s = tls.connect({
          host,
          port,
          secureContext: context,
          rejectUnauthorized: true,
          checkServerIdentity: (_h, cert) => checkPeerIdentity(identity, cert),
          ...(session !== undefined ? { session } : {}),
        });
        s.setNoDelay(true);
        s.on('session', (sess: Buffer) => {
          session = sess;
        });
        socket = s;
      }
      let settled = false;
      const timer = setTimeout(() => {
        socket.destroy(new WeftError('WEFT_ERR_UPSTREAM_CONNECT', `connect timeout after ${this.#connectTimeoutMs()} ms`));
      }, this.#connectTimeoutMs());
      const fail = (err: Error): void => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        if (identity !== undefined) session = undefined;
        cb(classifyUpstreamError(err, false, false, identity !== undefined), null);
      };
      socket.once('error', fail);
      socket.once(identity === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        socket.removeListener('error', fail);
        this.#onConnection(socket, identity !== undefined);
        cb(null, socket);
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
  }

  /** The agent for an mTLS endpoint that must present `identity`. */
  tlsAgent(address: string, port: number, identity: string): https.Agent {
    const key = `${address}:${port}|${identity}`;
    let agent = this.#tlsAgents.get(key);
    if (agent === undefined) {
      const pool = this;
      agent = new https.Agent({
        ...AGENT_OPTIONS,
        rejectUnauthorized: true,
        checkServerIdentity: (_host, cert) => checkPeerIdentity(identity, cert),
      });
      // The context is read at connect time, so rotation applies to new connections.
      const create = agent.createConnection.bind(agent);
      agent.createConnection = function (options: tls.ConnectionOptions, cb?: () => void) {
        if (pool.#context === undefined) {
          throw new WeftError('WEFT_ERR_NOT_READY', 'this proxy has no certificate yet');
        }
        return create({ ...options, secureContext: pool.#context, servername: undefined } as tls.ConnectionOptions, cb);
      } as typeof agent.createConnection;
      this.#tlsAgents.set(key, this.#watch(agent, true));
    }
    return agent;
  }

  /** Drops agents of endpoints that are gone, closing their idle connections. */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, pool] of this.#tlsPools) {
      if (!keys.has(key)) {
        this.#tlsPools.delete(key);
        // In-flight requests finish; then the pool closes its connections.
        void pool.close().catch(() => undefined);
      }
    }
    for (const [key, agent] of this.#tlsAgents) {
      if (!keys.has(key)) {
        this.#tlsAgents.delete(key);
        closeIdle(agent);
      }
    }
  }

  destroy(): void {
    this.plain.destroy();
    void this.#plainDispatcher.destroy().catch(() => undefined);
    for (const pool of this.#tlsPools.values()) void pool.destroy().catch(() => undefined);
    this.#tlsPools.clear();
    for (const agent of this.#tlsAgents.values()) agent.destroy();
    this.#tlsAgents.clear();
  }

  #watch<A extends http.Agent>(agent: A, isTls: boolean): A {
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

/** Key under which tlsAgent pools an endpoint. */
export function tlsAgentKey(address: string, port: number, identity: string): string {
  return `${address}:${port}|${identity}`;
}

function closeIdle(agent: http.Agent): void {
  for (const list of Object.values(agent.freeSockets)) {
    for (const s of list ?? []) s.destroy();
  }
  // In-use sockets finish their request; without keep-alive the agent closes them after.
  (agent as { keepAlive?: boolean }).keepAlive = false;
}
