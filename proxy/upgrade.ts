// Upgrades (WebSocket) pass through the same stack as any request: routing,
// split, endpoint choice and mTLS all apply. When the upstream answers 101,
// the two sockets are joined byte for byte; any other answer is relayed and
// the connection closed.
import { performance } from 'node:perf_hooks';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { UpstreamResponse } from './http1/upstream-response.ts';
import { errorReply, rawErrorResponse } from './error-response.ts';
import { newExchange, type Exchange, type Handler } from './exchange.ts';
import type { RuntimeConfig } from './config/config-compile.ts';
import type { Direction, ProxyMetrics } from './metrics/metrics.ts';
import { targetOf } from './respond.ts';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const { STATUS_CODES } = process.getBuiltinModule('node:http');

export interface UpgradeRequest {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  direction: Direction;
  config: RuntimeConfig;
  handler: Handler;
  metrics: ProxyMetrics;
  /** A prepared exchange (inbound sets identity fields); else a new one. */
  exchange?: Exchange;
}

const HOP = new Set(['connection', 'upgrade', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'te', 'trailer']);

function head(res: UpstreamResponse, keepUpgrade: boolean): string {
  const status = res.statusCode ?? 502;
  let out = `HTTP/1.1 ${status} ${res.statusMessage || STATUS_CODES[status] || ''}\r\n`;
  for (const name in res.headers) {
    const value = res.headers[name];
    if (value === undefined || HOP.has(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) out += `${name}: ${v}\r\n`;
  }
  if (keepUpgrade) out += `connection: upgrade\r\nupgrade: ${String(res.headers.upgrade ?? '')}\r\n`;
  else out += 'connection: close\r\n';
  return `${out}\r\n`;
}

export async function handleUpgrade(u: UpgradeRequest): Promise<void> {
  const ex = u.exchange ?? newExchange(u.req, undefined, u.direction, u.config, performance.now());
  const upgrade = u.req.headers.upgrade;
  if (upgrade !== undefined) ex.upgrade = upgrade;
  const client = u.socket;
  client.on('error', () => client.destroy());
  let status: number;
  let code = '';
  try {
    const res = await u.handler(ex);
    status = res.statusCode ?? 502;
    const up = ex.upgraded;
    if (status === 101 && up !== undefined) {
      client.write(head(res, true));
      if (up.head.length > 0) client.write(up.head);
      if (u.head.length > 0) up.socket.write(u.head);
      up.socket.on('error', () => client.destroy());
      up.socket.pipe(client).on('close', () => up.socket.destroy());
      client.pipe(up.socket);
      client.on('close', () => up.socket.destroy());
    } else {
      client.write(head(res, false));
      await res.pipeTo(client);
    }
  } catch (err) {
    const reply = errorReply(err);
    status = reply.status;
    code = reply.code;
    client.end(rawErrorResponse(reply.status, STATUS_CODES[reply.status] ?? 'Error', reply.code));
  }
  if (ex.direction === 'outbound') ex.tls = ex.endpoint !== undefined && ex.endpoint.agentKey !== '';
  const target = targetOf(ex, u.metrics);
  target.request();
  target.response(status, performance.now() - ex.start, code);
}
