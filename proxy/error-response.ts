// The one place where the proxy turns errors into HTTP responses. It walks the
// cause chain to the first WeftError; anything else is a 502. Each response
// names its code in the `weft-error` header so callers and tests can tell a
// proxy-generated error from an app's.
import type { ServerResponse } from 'node:http';
import { ERROR_HEADER, findWeftError, type ErrorCode } from '../proto/errors.ts';
import { GRPC_STATUS, encodeGrpcMessage, type GrpcStatusName } from './h2/grpc-status.ts';

const STATUS: Partial<Record<ErrorCode, number>> = {
  WEFT_ERR_NO_ROUTE: 404,
  WEFT_ERR_NO_ENDPOINTS: 503,
  WEFT_ERR_TIMEOUT: 504,
  WEFT_ERR_IDENTITY_MISMATCH: 502,
  WEFT_ERR_DENIED: 403,
  WEFT_ERR_FORBIDDEN: 403,
  // The caller went away before the answer (nginx's 499): nothing is sent, the metrics say so; not the server's failure.
  WEFT_ERR_CLIENT_CLOSED: 499,
  WEFT_ERR_TLS_REQUIRED: 403,
  WEFT_ERR_EGRESS_REFUSED: 403,
  WEFT_ERR_UPSTREAM_CONNECT: 502,
  WEFT_ERR_UPSTREAM_RESET: 502,
  WEFT_ERR_UPSTREAM_PROTOCOL: 502,
  WEFT_ERR_BAD_REQUEST: 400,
  WEFT_ERR_REQUEST_TIMEOUT: 408,
  WEFT_ERR_APP_UNAVAILABLE: 503,
  WEFT_ERR_LOOP: 508,
  WEFT_ERR_SHUTTING_DOWN: 503,
  WEFT_ERR_NOT_READY: 503,
};

/**
 * The gRPC status a gRPC caller gets for each code (grpc/grpc
 * doc/http-grpc-status-mapping.md for the HTTP ones: 403 PERMISSION_DENIED,
 * 404 UNIMPLEMENTED, 502/503/504 UNAVAILABLE, 400 INTERNAL); a deadline is
 * DEADLINE_EXCEEDED. Anything else is UNAVAILABLE.
 */
const GRPC: Partial<Record<ErrorCode, GrpcStatusName>> = {
  WEFT_ERR_NO_ROUTE: 'UNIMPLEMENTED',
  WEFT_ERR_TIMEOUT: 'DEADLINE_EXCEEDED',
  WEFT_ERR_REQUEST_TIMEOUT: 'DEADLINE_EXCEEDED',
  WEFT_ERR_DENIED: 'PERMISSION_DENIED',
  WEFT_ERR_FORBIDDEN: 'PERMISSION_DENIED',
  WEFT_ERR_CLIENT_CLOSED: 'CANCELLED',
  WEFT_ERR_TLS_REQUIRED: 'PERMISSION_DENIED',
  WEFT_ERR_EGRESS_REFUSED: 'PERMISSION_DENIED',
  WEFT_ERR_BAD_REQUEST: 'INTERNAL',
  WEFT_ERR_LOOP: 'INTERNAL',
  WEFT_ERR_TOO_MANY_STREAMS: 'RESOURCE_EXHAUSTED',
};

export interface ErrorReply {
  status: number;
  code: ErrorCode;
  message: string;
}

/** Classifies an error: HTTP status and the stable code. Pure. */
export function errorReply(err: unknown): ErrorReply {
  const weft = findWeftError(err);
  if (weft !== undefined) {
    return { status: STATUS[weft.code] ?? 502, code: weft.code, message: weft.message };
  }
  return { status: 502, code: 'WEFT_ERR_UPSTREAM_RESET', message: err instanceof Error ? err.message : String(err) };
}

/**
 * Sends the error response if headers are not sent yet; otherwise the only
 * honest signal left is to cut the connection. Returns the reply used.
 */
export function sendError(res: ServerResponse, err: unknown): ErrorReply {
  const reply = errorReply(err);
  if (res.headersSent) {
    res.destroy();
    return reply;
  }
  const body = `${reply.code}: ${reply.message}\n`;
  res.writeHead(reply.status, {
    [ERROR_HEADER]: reply.code,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
  return reply;
}

/** The gRPC status number for an error reply. Pure. */
export function grpcStatusFor(reply: ErrorReply): number {
  return GRPC_STATUS[GRPC[reply.code] ?? 'UNAVAILABLE'];
}

/**
 * The headers of the proxy's own answer to an HTTP/2 request: for a gRPC
 * caller a trailers-only response (:status 200, the gRPC status and message;
 * never an HTTP error a gRPC client cannot read), else the HTTP status. Both
 * name the code in `weft-error`. Pure.
 */
export function h2ErrorHeaders(reply: ErrorReply, grpc: boolean): Record<string, string | number> {
  if (grpc) {
    return {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': grpcStatusFor(reply),
      'grpc-message': encodeGrpcMessage(`${reply.code}: ${reply.message}`),
      [ERROR_HEADER]: reply.code,
    };
  }
  return { ':status': reply.status, [ERROR_HEADER]: reply.code, 'content-type': 'text/plain; charset=utf-8' };
}

/** A raw HTTP/1.1 error response for sockets that have no ServerResponse (parse errors, upgrades). */
export function rawErrorResponse(status: number, reason: string, code: ErrorCode): string {
  const body = `${code}\n`;
  return (
    `HTTP/1.1 ${status} ${reason}\r\n${ERROR_HEADER}: ${code}\r\ncontent-type: text/plain\r\n` +
    `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`
  );
}
