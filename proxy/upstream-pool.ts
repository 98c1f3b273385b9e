// Pooled, kept-alive upstream connections. One agent per (endpoint, expected
// identity): a pooled mTLS connection is only ever reused for the identity it
// was verified against. New connections use the current TLS context (our
// certificate and the trust bundle); rotation never cuts pooled connections.
import http from 'node:http';
import https from 'node:https';
import tls, { type PeerCertificate } from 'node:tls';
import { WeftError } from '../proto/errors.ts';
import { certificateSpiffeId } from '../identity/svid-verify.ts';

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

export class UpstreamPool {
  readonly plain: http.Agent;
  #context: tls.SecureContext | undefined;
  readonly #tlsAgents = new Map<string, https.Agent>();
  readonly #onConnection: ConnectionHook;

  constructor(onConnection: ConnectionHook) {
    this.#onConnection = onConnection;
    this.plain = this.#watch(new http.Agent(AGENT_OPTIONS), false);
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
          throw new WeftError('WEFT_ERR_IDENTITY_MISMATCH', 'this proxy has no certificate yet');
        }
        return create({ ...options, secureContext: pool.#context, servername: undefined } as tls.ConnectionOptions, cb);
      } as typeof agent.createConnection;
      this.#tlsAgents.set(key, this.#watch(agent, true));
    }
    return agent;
  }

  /** Drops agents of endpoints that are gone, closing their idle connections. */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, agent] of this.#tlsAgents) {
      if (!keys.has(key)) {
        this.#tlsAgents.delete(key);
        closeIdle(agent);
      }
    }
  }

  destroy(): void {
    this.plain.destroy();
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
