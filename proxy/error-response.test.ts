import { describe, expect, it } from 'vitest';
import { WeftError, type ErrorCode } from '../proto/errors.ts';
import { errorReply, grpcStatusFor, h2ErrorHeaders } from './error-response.ts';
import { GRPC_STATUS } from './h2/grpc-status.ts';

describe('errors to gRPC callers', () => {
  it.each<[ErrorCode, keyof typeof GRPC_STATUS]>([
    ['WEFT_ERR_NO_ROUTE', 'UNIMPLEMENTED'],
    ['WEFT_ERR_TIMEOUT', 'DEADLINE_EXCEEDED'],
    ['WEFT_ERR_REQUEST_TIMEOUT', 'DEADLINE_EXCEEDED'],
    ['WEFT_ERR_DENIED', 'PERMISSION_DENIED'],
    ['WEFT_ERR_TLS_REQUIRED', 'PERMISSION_DENIED'],
    ['WEFT_ERR_EGRESS_REFUSED', 'PERMISSION_DENIED'],
    ['WEFT_ERR_BAD_REQUEST', 'INTERNAL'],
    ['WEFT_ERR_TOO_MANY_STREAMS', 'RESOURCE_EXHAUSTED'],
    ['WEFT_ERR_NO_ENDPOINTS', 'UNAVAILABLE'],
    ['WEFT_ERR_UPSTREAM_CONNECT', 'UNAVAILABLE'],
    ['WEFT_ERR_APP_UNAVAILABLE', 'UNAVAILABLE'],
    ['WEFT_ERR_IDENTITY_MISMATCH', 'UNAVAILABLE'],
    ['WEFT_ERR_NOT_READY', 'UNAVAILABLE'],
  ])('%s -> %s', (code, name) => {
    expect(grpcStatusFor(errorReply(new Error('outer', { cause: new WeftError(code, 'why') })))).toBe(GRPC_STATUS[name]);
  });

  it('is a trailers-only gRPC response (200, grpc-status, encoded grpc-message, weft-error), never an HTTP error', () => {
    const h = h2ErrorHeaders(errorReply(new WeftError('WEFT_ERR_TIMEOUT', 'no answer in 100% of the time\n')), true);
    expect(h).toEqual({
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': 4,
      'grpc-message': 'WEFT_ERR_TIMEOUT: no answer in 100%25 of the time%0A',
      'weft-error': 'WEFT_ERR_TIMEOUT',
    });
  });

  it('a non-gRPC HTTP/2 caller gets the HTTP status', () => {
    expect(h2ErrorHeaders(errorReply(new WeftError('WEFT_ERR_NO_ROUTE', 'x')), false)).toMatchObject({ ':status': 404, 'weft-error': 'WEFT_ERR_NO_ROUTE' });
    expect(h2ErrorHeaders(errorReply(new Error('socket hang up')), false)).toMatchObject({ ':status': 502, 'weft-error': 'WEFT_ERR_UPSTREAM_RESET' });
  });
});
