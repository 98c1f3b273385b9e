// The proxy process: `start(config)` opens the outbound (4140), inbound (4143)
// and admin (4191) listeners and returns a handle to feed it config and
// identity and to close it gracefully. Holds the last good config and
// certificate; a bad config is refused and the previous one keeps serving.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import type { ProxyConfig } from '../proto/mesh.ts';
import { DEFAULT_OPAQUE_PORTS, PORTS } from '../proto/mesh.ts';
import { ERROR_HEADER, WeftError, rootWeftCode } from '../proto/errors.ts';
import { validateProxyConfig } from './config/config-validate.ts';
import { compileConfig, type RuntimeConfig } from './config/config-compile.ts';
import { createEndpointBalancer, type EndpointBalancerOptions } from './routing/endpoint-choice.ts';
import { ProxyMetrics } from './metrics/metrics.ts';
import { UpstreamPool } from './http1/upstream-pool.ts';
import type { ApplyResult } from './config/apply-result.ts';

export type { ApplyResult };
import { trustDomainOf, type TlsMaterial } from './config/tls-material.ts';
import { createHttpServer, DEFAULT_LIMITS, missingHost, responsesDone, type HttpLimits } from './listen/http-limits.ts';
import { createOutboundListener, LISTENER_OPTIONS } from './listen/outbound-listener.ts';
import { acceptConnect } from './listen/connect-tunnel.ts';
import { parseAuthority, resolveAuthority } from './routing/service-resolve.ts';
import { forwardOutboundTcp, type OutboundTcpDeps } from './tcp/outbound-tcp.ts';
import { joinSockets } from './tcp/tcp-forward.ts';
import { createInboundListener, clientIdOf, dialledPortOf } from './listen/inbound-listener.ts';
import { newExchange, type Handler } from './exchange.ts';
import { H2SessionPool } from './h2/h2-sessions.ts';
import { createH2Server, HTTP2_LIMITS } from './h2/h2-server.ts';
import { newH2Exchange } from './h2/h2-exchange.ts';
import { respondH2 } from './h2/h2-respond.ts';
import { forwardStage } from './stages/forward-stage.ts';
import { inboundStack, outboundStack } from './stack.ts';
import type { AuthzHook } from './stages/authorize-stage.ts';
import { respond } from './respond.ts';
import { sendError } from './error-response.ts';
import { createAdminServer } from './listen/admin-server.ts';
import { runProbe } from './health/app-health.ts';
import type { AppProbe } from './health/app-probes.ts';
import { handleUpgrade } from './upgrade.ts';
import { createLogger, rateLimited, type Logger } from '../proto/log.ts';
import { startIdentityClient } from './clients/identity-client.ts';
import { startConfigClient } from './clients/config-client.ts';
import type { ControlPlaneTarget } from './clients/control-plane-channel.ts';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const tls = process.getBuiltinModule('node:tls');
const { X509Certificate } = process.getBuiltinModule('node:crypto');

/** notAfter of the first certificate of a PEM chain, ms. */
function certificateNotAfter(chainPem: string): number | undefined {
  try {
    return Date.parse(new X509Certificate(chainPem).validTo);
  } catch {
    return undefined;
  }
}

export interface Listen {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface ProxyStartConfig {
  outbound?: Listen;
  inbound?: Listen;
  admin?: Listen;
  /** Where the app listens for inbound traffic. Default 127.0.0.1. */
  appAddress?: string;
  /** Namespace of this proxy's workload. Default "default". */
  namespace?: string;
  /** Initial mesh config (any shape; validated). */
  config?: unknown;
  /** This proxy's certificate chain (leaf first) and key. */
  identity?: { certChainPem: string; keyPem: string };
  limits?: Partial<HttpLimits>;
  /** Enables POST /shutdown on the admin port. */
  enableShutdown?: boolean;
  /** How long close() waits for in-flight requests, ms. */
  drainTimeoutMs?: number;
  /**
   * How long close() keeps accepting after it starts (with /ready 503 and
   * `connection: close` on responses), so that callers' configs drop this
   * endpoint before its listeners close. Default 0; main.ts (the process) 5000.
   */
  shutdownGraceMs?: number;
  random?: () => number;
  now?: () => number;
  /** Load-balancer tuning (failure accrual backoffs...); routing/endpoint-choice.ts has the defaults. */
  balancer?: Omit<EndpointBalancerOptions, 'onEject'>;
  logger?: Logger;
  /**
   * Transparent mode (an injected pod, behind weft-init's iptables rules):
   * connections are routed by their original destination and their first
   * bytes (HTTP/1.x, or opaque TCP). Default false: explicit HTTP_PROXY mode.
   */
  transparent?: boolean;
  /** Ports that skip protocol detection (always opaque TCP). Default DEFAULT_OPAQUE_PORTS. */
  opaquePorts?: readonly number[];
  /** How long a silent client is waited for before it is opaque TCP, ms. Default 1000. */
  detectTimeoutMs?: number;
  /** The pod's original kubelet probes (WEFT_APP_PROBES), run on /app-health/... of the admin port. */
  appProbes?: ReadonlyMap<string, AppProbe>;
  /** Called when /shutdown is requested. */
  onShutdown?: () => void;
  /**
   * Called (once) when the control plane asks this proxy to shut down: its
   * pod's app containers have finished for good (a Job's; mesh.proto rule 5).
   * The process should then `close({ graceMs: 0 })` and exit 0, so that the
   * pod completes. Default: close({ graceMs: 0 }).
   */
  onShutdownRequested?: (reason: string) => void;
  /** Control-plane mode: config and certificates come from the control plane. */
  controlPlane?: ControlPlaneTarget & {
    /** This workload's SPIFFE ID. */
    spiffeId: string;
    /** Bootstrap or ServiceAccount token, re-read at each call. */
    token: () => string;
    pod: string;
    serviceAccount: string;
  };
}

export interface Proxy {
  readonly ports: { outbound: number; inbound: number; admin: number };
  readonly metrics: ProxyMetrics;
  /** Validates, compiles and swaps in a config. On error the previous config stays. */
  applyConfig(raw: unknown): ApplyResult;
  /** Installs a new certificate (rotation); new connections use it. */
  setIdentity(identity: { certChainPem: string; keyPem: string; validUntilMs?: number }): void;
  /** The config in force, if any. */
  current(): ProxyConfig | undefined;
  ready(): boolean;
  /**
   * Stops accepting, lets in-flight requests finish (up to drainTimeoutMs), then closes.
   * `graceMs` replaces shutdownGraceMs (0: when no caller can still be sent here,
   * as once a Job's pod has finished). The first call's options hold.
   */
  close(opts?: { graceMs?: number }): Promise<void>;
}

async function listen(server: net.Server, l: Listen | undefined, defHost: string, defPort: number): Promise<number> {
  server.listen(l?.port ?? defPort, l?.host ?? defHost);
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('listener has no port');
  return addr.port;
}

export async function start(cfg: ProxyStartConfig = {}): Promise<Proxy> {
  const log = cfg.logger ?? createLogger('info');
  const random = cfg.random ?? Math.random;
  const now = cfg.now ?? (() => performance.now());
  const limits: HttpLimits = { ...DEFAULT_LIMITS, ...cfg.limits };
  const metrics = new ProxyMetrics();
  const warnEject = rateLimited((msg, fields) => log.warn(msg, fields));
  const balancer = createEndpointBalancer({
    ...cfg.balancer,
    onEject: (endpoint, failures, backoffMs) => {
      metrics.endpointEjections.inc({ endpoint });
      warnEject(endpoint, 'endpoint ejected from load balancing', { endpoint, consecutiveFailures: failures, backoffMs });
    },
  });

  let runtime: RuntimeConfig | undefined;
  let identity: { certChainPem: string; keyPem: string; trustDomain: string } | undefined;
  let draining = false;
  let inflight = 0;
  let drained: (() => void) | undefined;

  const connectTimeoutMs = (): number => runtime?.config.defaults.connectTimeoutMs ?? 1_000;
  const warnConnect = rateLimited((msg, fields) => log.warn(msg, fields));
  const outboundPool = new UpstreamPool(
    (socket, isTls, protocol) => metrics.trackConnection(socket, { direction: 'outbound', peer: 'dst', tls: isTls ? 'true' : 'false', protocol: protocol ?? 'http1' }),
    connectTimeoutMs,
    (err, host, port) => {
      const code = rootWeftCode(err) ?? err.code;
      metrics.outboundTcpErrors.inc({ error: code });
      warnConnect(code, 'outbound connection failed', { code, reason: err.message, endpoint: `${host}:${port}` });
    },
    limits.requestBodyIdleMs,
  );
  const inboundPool = new UpstreamPool(
    (socket) => metrics.trackConnection(socket, { direction: 'inbound', peer: 'dst', tls: 'false' }),
    connectTimeoutMs,
    undefined,
    limits.requestBodyIdleMs,
  );

  function refreshTls(): void {
    if (identity === undefined || runtime === undefined) return;
    const material: TlsMaterial = { ...identity, trustBundlePem: runtime.config.trustBundlePem };
    if (material.trustBundlePem.length === 0) return;
    outboundPool.setTls(material);
    inboundListener.setTls(material);
  }

  const outboundSessions = new H2SessionPool(outboundPool);
  const inboundSessions = new H2SessionPool(inboundPool);
  const deps = { namespace: cfg.namespace ?? 'default', balancer, random, now };
  const outboundHandler = outboundStack(deps, forwardStage({ pool: outboundPool, sessions: outboundSessions, appAddress: '' }));
  const appAddress = cfg.appAddress ?? '127.0.0.1';
  // Access control: every verdict counted (as Linkerd's inbound_*_authz_*), each denial logged at info (rate-limited).
  const infoDeny = rateLimited((msg, fields) => log.info(msg, fields));
  const denied = (kind: 'request' | 'connection', clientId: string, port: number, by: string, extra: Record<string, unknown> = {}): void =>
    infoDeny(`${kind}:${clientId}:${port}`, `inbound ${kind} denied`, { code: 'WEFT_ERR_FORBIDDEN', client: clientId || 'unauthenticated', port, by, ...extra });
  const onVerdict: AuthzHook = (ex, v) => {
    const client_id = ex.tls ? ex.clientId : '';
    const target_port = String(ex.appPort);
    if (v.allowed) {
      metrics.httpAuthzAllow.inc({ target_port, authz: v.by, client_id });
      return;
    }
    metrics.httpAuthzDeny.inc({ target_port, client_id });
    denied('request', client_id, ex.appPort, v.by, { method: ex.req.method, path: ex.path });
  };
  const inboundHandler = inboundStack(forwardStage({ pool: inboundPool, sessions: inboundSessions, appAddress }), onVerdict);

  // Inbound authority label: the Host the caller used, capped so that a
  // caller cannot create unbounded series.
  const authorities = new Set<string>();
  function inboundAuthority(host: string | undefined): string {
    if (host === undefined) return '';
    if (authorities.has(host)) return host;
    if (authorities.size >= 100 || host.length > 253) return 'other';
    authorities.add(host);
    return host;
  }

  function track<T>(p: Promise<T>): void {
    inflight++;
    void p.finally(() => {
      inflight--;
      if (inflight === 0) drained?.();
    });
  }

  const outboundHttp = createHttpServer(limits);
  outboundHttp.on('connection', (s: net.Socket) =>
    metrics.trackConnection(s, { direction: 'outbound', peer: 'src', tls: 'false' }),
  );
  outboundHttp.on('request', (req, res) => {
    const start = performance.now();
    if (missingHost(req)) {
      sendError(res, new WeftError('WEFT_ERR_BAD_REQUEST', 'an HTTP/1.0 request without Host'));
      return;
    }
    if (runtime === undefined) {
      sendError(res, new WeftError('WEFT_ERR_NOT_READY', 'proxy has no config yet'));
      return;
    }
    track(respond(newExchange(req, res, 'outbound', runtime, start), res, outboundHandler, metrics, () => draining));
  });
  // CONNECT (a client that tunnels through its http_proxy, as @grpc/grpc-js does): see listen/connect-tunnel.ts.
  outboundHttp.on('connect', (req: import('node:http').IncomingMessage, socket: net.Socket, head: Buffer) => {
    // The connection is already counted (the HTTP server's 'connection').
    acceptConnect(req, socket, head, {
      http: outboundHttp,
      h2: (s) => outboundH2.accept(s),
      detectTimeoutMs: cfg.detectTimeoutMs ?? 1_000,
      onOpaque: (s, authority) => tunnelOpaque(s, authority),
    });
  });
  /** An opaque CONNECT tunnel (TLS to an outside host): egress to exactly that host:port, when egress is allowed and it names no mesh service. */
  function tunnelOpaque(socket: net.Socket, authority: string): void {
    const rt = runtime;
    let refusal: WeftError | undefined;
    const parsed = parseAuthority(authority, 443);
    if (rt === undefined) refusal = new WeftError('WEFT_ERR_NOT_READY', 'proxy has no config yet');
    else if (parsed === undefined) refusal = new WeftError('WEFT_ERR_BAD_REQUEST', `bad CONNECT authority ${authority}`);
    else if (resolveAuthority(rt.index, authority, 443, deps.namespace) !== undefined) {
      refusal = new WeftError('WEFT_ERR_NO_ROUTE', `opaque TCP to mesh service ${authority} through CONNECT is not supported: use HTTP/1.1 or HTTP/2 inside, or transparent mode`);
    } else if (!rt.config.egress.allow) refusal = new WeftError('WEFT_ERR_EGRESS_REFUSED', `${authority} is not a mesh service and egress is refused`);
    if (refusal !== undefined || parsed === undefined) {
      const err = refusal ?? new WeftError('WEFT_ERR_BAD_REQUEST', 'bad CONNECT authority');
      metrics.outboundTcpErrors.inc({ error: err.code });
      warnConnect(err.code, 'CONNECT tunnel refused', { code: err.code, reason: err.message });
      socket.destroy();
      return;
    }
    const upstream = net.connect({ host: parsed.host, port: parsed.port, noDelay: true, allowHalfOpen: true });
    upstream.once('connect', () => metrics.trackConnection(upstream, { direction: 'outbound', peer: 'dst', tls: 'false', protocol: 'opaque' }));
    upstream.once('error', (err) => {
      metrics.outboundTcpErrors.inc({ error: 'WEFT_ERR_UPSTREAM_CONNECT' });
      warnConnect('WEFT_ERR_UPSTREAM_CONNECT', 'outbound connection failed', { code: 'WEFT_ERR_UPSTREAM_CONNECT', reason: err.message, endpoint: authority });
    });
    joinSockets(socket, upstream);
  }
  outboundHttp.on('upgrade', (req, socket, head) => {
    if (runtime === undefined) {
      socket.destroy();
      return;
    }
    track(handleUpgrade({ req, socket, head, direction: 'outbound', config: runtime, handler: outboundHandler, metrics }));
  });

  const inboundHttp = createHttpServer(limits);
  const prepareInbound = (req: import('node:http').IncomingMessage, rt: RuntimeConfig) => {
    const ex = newExchange(req, undefined, 'inbound', rt, performance.now());
    ex.tls = req.socket instanceof tls.TLSSocket;
    ex.clientId = ex.tls ? clientIdOf(req.socket) : '';
    if (!ex.tls) ex.appPort = dialledPortOf(req.socket);
    ex.authority = inboundAuthority(req.headers.host);
    return ex;
  };
  inboundHttp.on('request', (req, res) => {
    if (missingHost(req)) {
      sendError(res, new WeftError('WEFT_ERR_BAD_REQUEST', 'an HTTP/1.0 request without Host'));
      return;
    }
    if (runtime === undefined) {
      sendError(res, new WeftError('WEFT_ERR_NOT_READY', 'proxy has no config yet'));
      return;
    }
    const ex = prepareInbound(req, runtime);
    ex.res = res;
    track(respond(ex, res, inboundHandler, metrics, () => draining));
  });
  inboundHttp.on('upgrade', (req, socket, head) => {
    if (runtime === undefined) {
      socket.destroy();
      return;
    }
    const ex = prepareInbound(req, runtime);
    track(handleUpgrade({ req, socket, head, direction: 'inbound', config: runtime, handler: inboundHandler, metrics, exchange: ex }));
  });
  // HTTP/2: each stream is one exchange through the same stacks.
  const warnH2 = rateLimited((msg, fields) => log.warn(msg, fields));
  const h2SessionError = (direction: 'inbound' | 'outbound') => (err: Error & { code?: string }): void => {
    const code = err.code ?? 'ERR_HTTP2';
    metrics.h2SessionErrors.inc({ direction, error: code });
    warnH2(`${direction}:${code}`, 'HTTP/2 connection closed on error', { direction, code, reason: err.message });
  };
  const rejectWith = (err: WeftError): Handler => () => Promise.reject(err);
  const warnH2Exchange = rateLimited((msg, fields) => log.warn(msg, fields));
  const h2Failed = (err: unknown): void => warnH2Exchange('h2-exchange', 'HTTP/2 exchange failed', { reason: err instanceof Error ? err.message : String(err) });
  /** The HTTP/2 server of one direction: each stream an exchange through `handler`; inbound ones learn their client from the connection. */
  const h2Server = (direction: 'inbound' | 'outbound', handler: Handler): ReturnType<typeof createH2Server> =>
    createH2Server(
      HTTP2_LIMITS,
      (stream, headers, socket) => {
        const start = performance.now();
        const rt = runtime;
        if (rt === undefined) {
          stream.respond({ ':status': 503, [ERROR_HEADER]: 'WEFT_ERR_NOT_READY' }, { endStream: true });
          return;
        }
        const { ex, invalid } = newH2Exchange(stream, headers, socket, direction, rt, start);
        if (direction === 'inbound') {
          ex.tls = socket instanceof tls.TLSSocket;
          ex.clientId = ex.tls ? clientIdOf(socket) : '';
          if (!ex.tls) ex.appPort = dialledPortOf(socket);
          ex.authority = inboundAuthority(ex.req.headers.host);
        }
        track(respondH2(ex, invalid === undefined ? handler : rejectWith(invalid), metrics, h2Failed));
      },
      h2SessionError(direction),
    );
  const outboundH2 = h2Server('outbound', outboundHandler);
  const inboundH2 = h2Server('inbound', inboundHandler);

  const transparent = cfg.transparent ?? false;
  const detectTimeoutMs = cfg.detectTimeoutMs ?? 1_000;
  const opaquePorts: ReadonlySet<number> = new Set(cfg.opaquePorts ?? DEFAULT_OPAQUE_PORTS);
  const warnTcp = rateLimited((msg, fields) => log.warn(msg, fields));
  const tcpDeps: OutboundTcpDeps = {
    namespace: deps.namespace,
    pool: outboundPool,
    balancer,
    metrics,
    random,
    now,
    onRefused: (err) => {
      metrics.outboundTcpErrors.inc({ error: err.code });
      warnTcp(err.code, 'outbound TCP connection refused', { code: err.code, reason: err.message });
    },
  };
  const outboundListener = createOutboundListener({
    http: outboundHttp,
    h2: (socket) => outboundH2.accept(socket),
    metrics,
    transparent,
    detectTimeoutMs,
    isOpaque: (dst) =>
      opaquePorts.has(dst.port) ||
      (runtime?.opaqueDestinations.has(`${dst.address.startsWith('::ffff:') && dst.address.includes('.') ? dst.address.slice(7) : dst.address}:${dst.port}`) ?? false),
    onTcp: (socket, dst, protocol, sni) => {
      // TLS is passed through untouched; where it was meant to go is recorded (debug: one line per connection).
      if (sni !== undefined) log.debug('TLS passthrough', { dst: `${dst.address}:${dst.port}`, sni });
      forwardOutboundTcp(socket, dst, protocol, runtime, tcpDeps);
    },
  });

  const inboundListener = createInboundListener({
    http: inboundHttp,
    h2: (socket) => inboundH2.accept(socket),
    metrics,
    log,
    strict: () => runtime?.config.inbound.mode === 'STRICT',
    transparent,
    detectTimeoutMs,
    opaquePorts: () => opaquePorts,
    onOpaque: (socket, appPort, clientId) => {
      const rt = runtime;
      const isTls = socket instanceof tls.TLSSocket;
      if (rt === undefined || (isTls && !rt.inbound.allows(clientId))) {
        const code = rt === undefined ? 'WEFT_ERR_NOT_READY' : 'WEFT_ERR_DENIED';
        metrics.inboundTcpErrors.inc({ error: code });
        warnTcp(code, 'inbound TCP connection refused', { code, client: clientId, port: appPort });
        socket.destroy();
        return;
      }
      const verdict = rt.inbound.authz.authorize({ clientId: isTls ? clientId : '', port: appPort });
      const client_id = isTls ? clientId : '';
      if (!verdict.allowed) {
        metrics.tcpAuthzDeny.inc({ target_port: String(appPort), client_id });
        denied('connection', client_id, appPort, verdict.by);
        socket.destroy();
        return;
      }
      metrics.tcpAuthzAllow.inc({ target_port: String(appPort), authz: verdict.by, client_id });
      const app = net.connect({ host: appAddress, port: appPort, noDelay: true, allowHalfOpen: true });
      app.once('connect', () => metrics.trackConnection(app, { direction: 'inbound', peer: 'dst', tls: 'false', protocol: 'opaque' }));
      app.once('error', (err) => {
        metrics.inboundTcpErrors.inc({ error: 'WEFT_ERR_UPSTREAM_CONNECT' });
        warnTcp('app-connect', 'app refused an inbound TCP connection', { code: 'WEFT_ERR_UPSTREAM_CONNECT', port: appPort, reason: err.message });
      });
      joinSockets(socket, app);
    },
  });

  const clients: Array<{ close(): void }> = [];
  const extraServers: net.Server[] = [];
  let closing: Promise<void> | undefined;
  const proxy: Proxy = {
    ports: { outbound: 0, inbound: 0, admin: 0 },
    metrics,
    applyConfig(raw) {
      try {
        const config = validateProxyConfig(raw);
        const next = compileConfig(config);
        runtime = next;
        outboundPool.retain(next.agentKeys);
        balancer.prune(next.endpointKeys);
        metrics.setConfigVersion(config.version);
        refreshTls();
        log.info('config applied', { version: config.version, services: config.services.length });
        return { ok: true, version: config.version };
      } catch (err) {
        const error =
          err instanceof WeftError ? err : new WeftError('WEFT_ERR_CONFIG_INVALID', String(err), { cause: err });
        const version = typeof (raw as { version?: unknown })?.version === 'string' ? (raw as { version: string }).version : '';
        log.warn('config refused', { version, code: error.code, error: error.message });
        return { ok: false, version, error };
      }
    },
    setIdentity(id) {
      const trustDomain = trustDomainOf(id.certChainPem);
      if (trustDomain === '') log.warn('own certificate has no SPIFFE ID: every mTLS peer will be refused', { code: 'WEFT_ERR_SVID_SAN' });
      identity = { certChainPem: id.certChainPem, keyPem: id.keyPem, trustDomain };
      const validUntil = id.validUntilMs ?? certificateNotAfter(id.certChainPem);
      if (validUntil !== undefined) metrics.certExpiration.set(validUntil / 1000);
      metrics.certRefresh.inc();
      refreshTls();
    },
    current: () => runtime?.config,
    ready: () => !draining && runtime !== undefined && inboundListener.hasTls,
    close(opts) {
      closing ??= (async () => {
        // 1. Not ready any more (the kubelet and callers' control plane take
        //    the endpoint out), but still serving: new connections are
        //    accepted for the grace period, responses ask callers to close.
        draining = true;
        // HTTP/2 callers get GOAWAY: open streams finish, new ones go to a new connection.
        for (const h of [outboundH2, inboundH2]) for (const session of h.sessions) session.close();
        const graceMs = opts?.graceMs ?? cfg.shutdownGraceMs ?? 0;
        if (graceMs > 0) {
          log.info('shutting down: not ready, still accepting', { graceMs });
          await new Promise((r) => setTimeout(r, graceMs));
        }
        // 2. Stop accepting, then let in-flight requests finish (drainTimeoutMs).
        for (const c of clients) c.close();
        // Stop accepting: listeners close, idle keep-alive connections go.
        inboundListener.server.close();
        outboundListener.server.close();
        for (const extra of extraServers) extra.close();
        outboundHttp.close();
        inboundHttp.close();
        outboundHttp.closeIdleConnections();
        inboundHttp.closeIdleConnections();
        for (const h of [outboundH2, inboundH2]) for (const session of h.sessions) session.close();
        const deadline = performance.now() + (cfg.drainTimeoutMs ?? 30_000);
        if (inflight > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, cfg.drainTimeoutMs ?? 30_000);
            drained = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        // `inflight` ends when the upstream's response headers arrive; the body
        // may still be streaming to the caller. Cut nothing before it is sent.
        const left = deadline - performance.now();
        await Promise.all([responsesDone(outboundHttp, left), responsesDone(inboundHttp, left)]);
        outboundHttp.closeAllConnections();
        inboundHttp.closeAllConnections();
        // HTTP/2 sessions got GOAWAY at the start: each closes by itself once
        // its last stream's trailers are out. Wait for that (within the drain
        // time) rather than cut a stream's last frames.
        // (`closed` is already true: close() was called; `destroyed` comes once it is done.)
        const h2Sessions = [...outboundH2.sessions, ...inboundH2.sessions].filter((sn) => !sn.destroyed);
        if (h2Sessions.length > 0) {
          await Promise.race([
            Promise.all(h2Sessions.map((sn) => new Promise<void>((r) => sn.once('close', () => r())))),
            new Promise<void>((r) => setTimeout(r, Math.max(0, deadline - performance.now())).unref()),
          ]);
        }
        for (const h of [outboundH2, inboundH2]) for (const session of h.sessions) session.destroy();
        outboundSessions.destroy();
        inboundSessions.destroy();
        outboundPool.destroy();
        inboundPool.destroy();
        await admin.close();
      })();
      return closing;
    },
  };

  const admin = createAdminServer({
    metrics,
    ready: () => proxy.ready(),
    config: () => runtime?.config,
    enableShutdown: cfg.enableShutdown ?? false,
    onShutdown: () => (cfg.onShutdown ?? (() => void proxy.close()))(),
    appHealth: (key) => {
      const probe = cfg.appProbes?.get(key);
      return probe === undefined ? undefined : runProbe(probe, appAddress);
    },
  });

  if (cfg.config !== undefined) {
    const r = proxy.applyConfig(cfg.config);
    if (!r.ok && r.error) throw r.error;
  }
  if (cfg.identity !== undefined) proxy.setIdentity(cfg.identity);

  const ports = proxy.ports as { outbound: number; inbound: number; admin: number };
  ports.outbound = await listen(outboundListener.server, cfg.outbound, '127.0.0.1', PORTS.proxyOutbound);
  ports.inbound = await listen(inboundListener.server, cfg.inbound, '0.0.0.0', PORTS.proxyInbound);
  if (transparent) {
    // ip6tables REDIRECTs the app's IPv6 connections to [::1]:4140 and
    // incoming ones to the pod's IPv6 address: listen there too, where the
    // pod has IPv6 (weft-init refuses to leave an IPv6 pod unredirected).
    for (const [l, host, port] of [
      [outboundListener, '::1', ports.outbound],
      [inboundListener, '::', ports.inbound],
    ] as const) {
      const extra = net.createServer(LISTENER_OPTIONS, l.handle);
      try {
        await new Promise<void>((resolve, reject) => {
          extra.once('error', reject);
          extra.listen({ host, port, ipv6Only: true }, () => resolve());
        });
        extraServers.push(extra);
      } catch (err) {
        log.info('no IPv6 listener', { host, port, reason: (err as Error).message });
      }
    }
  }
  ports.admin = await admin.listen(cfg.admin?.port ?? PORTS.proxyAdmin, cfg.admin?.host ?? '0.0.0.0');
  log.info('proxy listening', ports);

  let shutdownRequested = false;
  const onShutdownRequested = (reason: string): void => {
    if (shutdownRequested) return;
    shutdownRequested = true;
    log.info('workload finished, shutting down', { reason });
    if (cfg.onShutdownRequested !== undefined) cfg.onShutdownRequested(reason);
    else void proxy.close({ graceMs: 0 });
  };

  const cp = cfg.controlPlane;
  if (cp !== undefined) {
    clients.push(
      startIdentityClient({ ...cp, log, onIdentity: (id) => proxy.setIdentity(id), random }),
      startConfigClient({
        ...cp,
        log,
        random,
        apply: (raw) => proxy.applyConfig(raw),
        onShutdown: onShutdownRequested,
        subscribe: () => ({
          namespace: cfg.namespace ?? 'default',
          pod: cp.pod,
          serviceAccount: cp.serviceAccount,
          version: runtime?.config.version ?? '',
          token: cp.token(),
        }),
      }),
    );
  }
  return proxy;
}
