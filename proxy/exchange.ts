// The state of one request as it moves down the stack. Each stage narrows the
// target (service -> route -> backend -> endpoint) and writes only its own
// fields, so later stages never recompute what earlier ones decided.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UpstreamResponse } from './http1/upstream-response.ts';
import type { CompiledBackend, CompiledEndpoint, CompiledService, CompiledServiceRoute, RuntimeConfig } from './config/config-compile.ts';
import type { Direction } from './metrics/metrics.ts';
import type { Deadline } from './http1/deadline.ts';

export type { Deadline };

export interface Exchange {
  readonly req: IncomingMessage;
  /** The response to the caller; absent for upgrades (raw socket). */
  res?: ServerResponse;
  readonly direction: Direction;
  /** Config snapshot taken when the request arrived: a config swap mid-request changes nothing. */
  readonly config: RuntimeConfig;
  /** performance.now() at arrival. */
  readonly start: number;
  /** True when the request has no body, so it can be replayed on retry. */
  readonly bodyless: boolean;
  /** Origin-form path and query sent upstream. */
  path: string;
  /** Authority label for metrics (bounded: canonical service name, never a raw IP). */
  authority: string;
  /** Outbound: resolved service and the port the request addressed. */
  service?: CompiledService;
  port: number;
  /** Outbound to an unknown host, when egress is allowed. */
  egress?: { host: string; port: number };
  route?: CompiledServiceRoute;
  backend?: CompiledBackend;
  endpoint?: CompiledEndpoint;
  /** Outbound, transparent: the app dialled this endpoint's own address (a call by pod IP): no split, no balancing. */
  pinned?: CompiledEndpoint;
  /** Inbound: the client's SPIFFE ID ('' for plaintext). */
  clientId: string;
  /** Whether the hop this proxy forwards on (outbound) or received on (inbound) is mTLS. */
  tls: boolean;
  /** Inbound: the app port to forward to. */
  appPort: number;
  /** The current attempt's deadline (set by the timeout stage). */
  deadline?: Deadline;
  /** The Upgrade protocol requested (WebSocket), passed through end to end. */
  upgrade?: string;
  /** Set by forward when the upstream switched protocols: its socket and early bytes. */
  upgraded?: { socket: import('node:stream').Duplex; head: Buffer };
  /** Attempt number, 0 for the first. */
  attempt: number;
  /** The request body, read whole so that a retry can send it again (retry-stage.ts); absent when streamed. */
  body?: Buffer;
  /** Balancer keys of the endpoints this request already failed on: a retry avoids them. */
  failed?: Set<string>;
}

/** A stage's downstream: resolves with the upstream response, headers received, body unread. */
export type Handler = (ex: Exchange) => Promise<UpstreamResponse>;

/** One stage of the stack: wraps the next handler. */
export type Layer = (next: Handler) => Handler;

export function newExchange(
  req: IncomingMessage,
  res: ServerResponse | undefined,
  direction: Direction,
  config: RuntimeConfig,
  start: number,
): Exchange {
  const te = req.headers['transfer-encoding'];
  const cl = req.headers['content-length'];
  const ex: Exchange = {
    req,
    direction,
    config,
    start,
    bodyless: te === undefined && (cl === undefined || cl === '0'),
    path: req.url ?? '/',
    authority: '',
    port: 0,
    clientId: '',
    tls: false,
    appPort: 0,
    attempt: 0,
  };
  if (res !== undefined) ex.res = res;
  return ex;
}
