// The state of one request as it moves down the stack. Each stage narrows the
// target (service -> route -> backend -> endpoint) and writes only its own
// fields, so later stages never recompute what earlier ones decided.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { UpstreamResponse } from './http1/upstream-response.ts';
import type { CompiledBackend, CompiledEndpoint, CompiledService, CompiledServiceRoute, RuntimeConfig } from './config/config-compile.ts';
import type { Direction } from './metrics/metrics.ts';
import type { Deadline } from './http1/deadline.ts';

export type { Deadline };

/**
 * What the stages read of a request, whatever its protocol: node:http's
 * IncomingMessage (HTTP/1.x) or an HTTP/2 stream's view (h2/h2-request.ts).
 * `url` is the request target (origin-form, or absolute-form in explicit
 * HTTP/1.x); `headers.host` the authority; `socket` the connection it came on.
 */
export interface ExchangeRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly socket: Socket;
  /** The whole body has been received. */
  readonly complete: boolean;
  /** Some of the body has been read (it can no longer be sent again from the start). */
  readonly readableDidRead: boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  once(event: 'end' | 'close', listener: () => void): unknown;
  removeListener(event: 'data' | 'end' | 'close', listener: (...args: never[]) => void): unknown;
}

/** An HTTP/2 request's own state (h2/): its stream and what the stages need beyond ExchangeRequest. */
export interface H2Call {
  /** The request body source and where the response goes. */
  readonly stream: import('node:http2').ServerHttp2Stream;
  /** content-type application/grpc: errors are gRPC statuses, grpc-status classifies. */
  readonly grpc: boolean;
  /** The body, kept (up to 64 KiB) while it streams, so that an attempt can be replayed. */
  readonly replay: import('./h2/replay-body.ts').ReplayBody | undefined;
  /** The caller's gRPC deadline (grpc-timeout), as performance.now() ms. */
  readonly deadlineAt: number | undefined;
}

export interface Exchange {
  readonly req: ExchangeRequest;
  /** HTTP/1.x: the node:http request (the HTTP/1.1 client reads the body from it); undefined for HTTP/2. */
  readonly http1: IncomingMessage | undefined;
  /** HTTP/2: the stream and its state; undefined for HTTP/1.x. */
  readonly h2: H2Call | undefined;
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
  /**
   * HTTP/2: how long this attempt waited for its session's connection (and
   * TLS handshake) to come up, ms. The balancer leaves it out of the latency
   * it learns: a multiplexed connection is made once per peer, and its
   * handshake says nothing about how fast the endpoint answers.
   */
  connectWaitMs?: number;
}

/** A stage's downstream: resolves with the upstream response, headers received, body unread. */
export type Handler = (ex: Exchange) => Promise<UpstreamResponse>;

/** One stage of the stack: wraps the next handler. */
export type Layer = (next: Handler) => Handler;

/**
 * A new exchange, before any stage: what the protocol knows (its request
 * view, its own state, whether there is a body, the target) and every
 * decision still open. One shape for every protocol (the stages stay
 * monomorphic).
 */
export function exchangeOf(
  req: ExchangeRequest,
  http1: IncomingMessage | undefined,
  h2: H2Call | undefined,
  direction: Direction,
  config: RuntimeConfig,
  start: number,
  bodyless: boolean,
): Exchange {
  return {
    req,
    http1,
    h2,
    direction,
    config,
    start,
    bodyless,
    path: req.url ?? '/',
    authority: '',
    port: 0,
    clientId: '',
    tls: false,
    appPort: 0,
    attempt: 0,
  };
}

export function newExchange(
  req: IncomingMessage,
  res: ServerResponse | undefined,
  direction: Direction,
  config: RuntimeConfig,
  start: number,
): Exchange {
  const te = req.headers['transfer-encoding'];
  const cl = req.headers['content-length'];
  const ex = exchangeOf(req, req, undefined, direction, config, start, te === undefined && (cl === undefined || cl === '0'));
  if (res !== undefined) ex.res = res;
  return ex;
}
