// A new Exchange for an HTTP/2 stream: its request view (h2-request.ts),
// whether it is gRPC, the caller's gRPC deadline, and a ReplayBody when it
// has a body. A malformed grpc-timeout or a CONNECT (no extended CONNECT
// here) is `invalid` (WEFT_ERR_BAD_REQUEST): answered before any stage runs.
import type net from 'node:net';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { WeftError } from '../../proto/errors.ts';
import type { RuntimeConfig } from '../config/config-compile.ts';
import type { Direction } from '../metrics/metrics.ts';
import { exchangeOf, type Exchange } from '../exchange.ts';
import { H2Request } from './h2-request.ts';
import { ReplayBody } from './replay-body.ts';
import { grpcTimeoutMs, isGrpc } from './grpc-status.ts';

export function newH2Exchange(
  stream: ServerHttp2Stream,
  raw: IncomingHttpHeaders,
  socket: net.Socket,
  direction: Direction,
  config: RuntimeConfig,
  start: number,
): { ex: Exchange; invalid: WeftError | undefined } {
  const req = new H2Request(stream, raw, socket);
  const grpc = isGrpc(req.headers);
  const bodyless = req.bodyless;
  const timeout = grpc ? grpcTimeoutMs(req.headers) : undefined;
  const call = {
    stream,
    grpc,
    replay: bodyless ? undefined : new ReplayBody(stream),
    deadlineAt: typeof timeout === 'number' ? start + timeout : undefined,
  };
  const ex = exchangeOf(req, undefined, call, direction, config, start, bodyless);
  let invalid: WeftError | undefined;
  if (timeout === 'invalid') invalid = new WeftError('WEFT_ERR_BAD_REQUEST', 'malformed grpc-timeout');
  else if (req.method === 'CONNECT') invalid = new WeftError('WEFT_ERR_BAD_REQUEST', 'CONNECT is not proxied over HTTP/2');
  return { ex, invalid };
}
