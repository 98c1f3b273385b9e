// Runs a stack for one exchange and writes the result to the caller: the
// upstream response streamed back with hop-by-hop headers removed, or the
// typed error as its status code (error-response.ts). Records the metrics.
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { sendError } from './error-response.ts';
import { responseHeaders } from './http1/forward-headers.ts';
import type { Exchange, Handler } from './exchange.ts';
import type { ProxyMetrics, TargetLabels, TargetMetrics } from './metrics/metrics.ts';

/** The metric labels of an exchange, from what the stages decided. */
export function labelsOf(ex: Exchange): TargetLabels {
  const tls = ex.tls ? 'true' : 'false';
  if (ex.direction === 'inbound') {
    return { direction: 'inbound', authority: ex.authority, tls, client_id: ex.clientId };
  }
  const ep = ex.endpoint?.endpoint;
  const svc = ex.backend?.service.service ?? ex.service?.service;
  return {
    direction: 'outbound',
    authority: ex.authority,
    tls,
    dst_namespace: ep?.namespace ?? svc?.namespace ?? '',
    dst_service: svc?.name ?? '',
    dst_deployment: ep?.deployment ?? '',
    dst_pod: ep?.pod ?? '',
    dst_serviceaccount: ep?.serviceAccount ?? '',
    server_id: ep?.identity ?? '',
  };
}

/**
 * The metrics of an exchange's target, cached per compiled endpoint/service
 * (or config), direction, authority, tls and client ID: once seen, a lookup
 * that builds no key and no label object.
 */
export function targetOf(ex: Exchange, metrics: ProxyMetrics): TargetMetrics {
  const owner: object = ex.endpoint ?? ex.backend ?? ex.service ?? ex.config;
  return (
    metrics.lookup(owner, ex.direction, ex.authority, ex.tls, ex.clientId) ??
    metrics.remember(owner, ex.direction, ex.authority, ex.tls, ex.clientId, labelsOf(ex))
  );
}

export async function respond(
  ex: Exchange,
  res: ServerResponse,
  handler: Handler,
  metrics: ProxyMetrics,
  draining: () => boolean,
): Promise<void> {
  try {
    const up = await handler(ex);
    ex.tls = ex.direction === 'inbound' ? ex.tls : ex.endpoint !== undefined && ex.endpoint.agentKey !== '';
    const headers = responseHeaders(up.headers);
    if (draining()) headers.connection = 'close';
    res.writeHead(up.statusCode ?? 502, up.statusMessage, headers);
    const target = targetOf(ex, metrics);
    target.request();
    target.response(up.statusCode ?? 502, performance.now() - ex.start);
    // Resolve only once the body is through, so in-flight counting (graceful
    // shutdown) covers the whole response. An error on either side ends both;
    // the status was already counted.
    await up.pipeTo(res);
  } catch (err) {
    if (ex.direction === 'outbound') ex.tls = ex.endpoint !== undefined && ex.endpoint.agentKey !== '';
    if (draining() && !res.headersSent) res.setHeader('connection', 'close');
    const reply = sendError(res, err);
    const target = targetOf(ex, metrics);
    target.request();
    target.response(reply.status, performance.now() - ex.start, reply.code);
  }
}
