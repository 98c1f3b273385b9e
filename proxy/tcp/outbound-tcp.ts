// Outbound opaque TCP: a redirected connection that is not HTTP/1.x goes
// where the app dialled (dst-resolve.ts): a Service's ClusterIP to one of its
// endpoints (picked as for HTTP, per connection), a known pod IP to exactly
// that endpoint, anything else to exactly the address dialled. A meshed
// endpoint is reached over mTLS at its proxy's inbound port with the
// transport header naming the app port, and must present its identity; the
// rest is plain TCP. A failure before the upstream is up resets the client's
// connection and is counted in outbound_tcp_errors_total.
import type net from 'node:net';
import { WeftError } from '../../proto/errors.ts';
import type { RuntimeConfig } from '../config/config-compile.ts';
import { resolveDst } from '../routing/dst-resolve.ts';
import type { EndpointBalancer } from '../routing/endpoint-choice.ts';
import type { SocketAddress } from '../listen/sockaddr.ts';
import type { ProxyMetrics } from '../metrics/metrics.ts';
import type { UpstreamPool } from '../http1/upstream-pool.ts';
import { joinSockets } from './tcp-forward.ts';

export interface OutboundTcpDeps {
  namespace: string;
  pool: UpstreamPool;
  balancer: EndpointBalancer;
  metrics: ProxyMetrics;
  random: () => number;
  now: () => number;
  /** Told of a refusal (no target, no endpoints, no certificate): counted and logged by the caller. */
  onRefused: (err: WeftError) => void;
}

interface Upstream {
  host: string;
  port: number;
  identity: string | undefined;
  appPort: number;
}

function upstreamFor(rt: RuntimeConfig, dst: SocketAddress, d: OutboundTcpDeps): { up: Upstream; key?: string } {
  const target = resolveDst(rt, dst.address, dst.port, d.namespace);
  if (target.kind === 'egress') return { up: { host: target.host, port: target.port, identity: undefined, appPort: target.port } };
  let endpoint = target.kind === 'endpoint' ? target.endpoint : undefined;
  let key: string | undefined;
  if (target.kind === 'service') {
    const set = target.service.endpointsFor(target.port);
    key = set === undefined ? undefined : d.balancer.pick(set.keys, d.random, d.now());
    endpoint = key === undefined ? undefined : set?.byKey.get(key);
    if (endpoint === undefined) throw new WeftError('WEFT_ERR_NO_ENDPOINTS', `${target.service.id}:${target.port} has no endpoints`);
  }
  const ep = (endpoint as NonNullable<typeof endpoint>).endpoint;
  const meshed = ep.identity !== '' && ep.proxyPort > 0;
  return {
    up: meshed
      ? { host: ep.address, port: ep.proxyPort, identity: ep.identity, appPort: ep.port }
      : { host: ep.address, port: ep.port, identity: undefined, appPort: ep.port },
    ...(key !== undefined ? { key } : {}),
  };
}

/** Forwards `client` (paused, its first bytes unshifted) to where `dst` leads under config `rt`. */
export function forwardOutboundTcp(
  client: net.Socket,
  dst: SocketAddress,
  protocol: 'h2' | 'tls' | 'opaque',
  rt: RuntimeConfig | undefined,
  d: OutboundTcpDeps,
): void {
  let upstream: net.Socket;
  let key: string | undefined;
  try {
    if (rt === undefined) throw new WeftError('WEFT_ERR_NOT_READY', 'proxy has no config yet');
    const chosen = upstreamFor(rt, dst, d);
    key = chosen.key;
    upstream = d.pool.connectOpaque(chosen.up.host, chosen.up.port, chosen.up.identity, chosen.up.appPort, protocol);
  } catch (err) {
    const weft = err instanceof WeftError ? err : new WeftError('WEFT_ERR_UPSTREAM_CONNECT', String(err), { cause: err });
    d.onRefused(weft);
    client.resetAndDestroy();
    return;
  }
  // The balancer learns the connect latency (a connection's lifetime says nothing of the endpoint's health).
  if (key !== undefined) {
    const k = key;
    const t0 = d.now();
    d.balancer.start(k, t0);
    let ended = false;
    const end = (ok: boolean): void => {
      if (ended) return;
      ended = true;
      const t1 = d.now();
      d.balancer.end(k, t1, t1 - t0, ok);
    };
    upstream.once(upstream instanceof (process.getBuiltinModule('node:tls').TLSSocket) ? 'secureConnect' : 'connect', () => end(true));
    upstream.once('close', () => end(false));
  }
  joinSockets(client, upstream);
}
