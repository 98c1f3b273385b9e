// The one place where the control plane's WeftErrors become gRPC statuses,
// for every service it serves (Identity, Config):
//   WEFT_ERR_TOKEN_INVALID                 -> UNAUTHENTICATED
//   WEFT_ERR_CERTIFY_DENIED                -> PERMISSION_DENIED
//   WEFT_ERR_CSR_*, WEFT_ERR_STREAM_PROTOCOL -> INVALID_ARGUMENT
//   WEFT_ERR_TOO_MANY_STREAMS              -> RESOURCE_EXHAUSTED
//   anything else                          -> INTERNAL (details withheld)
// The Weft code travels in the `weft-error` trailer and prefixes the status
// details ("WEFT_ERR_...: message"), so clients and tests assert codes.
import * as grpc from '@grpc/grpc-js';
import { findWeftError, type ErrorCode } from '../proto/errors.ts';
import { GRPC_ERROR_CODE_KEY } from '../proto/mesh-grpc.ts';

export interface GrpcStatusOfError {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
  /** The Weft code found on the error's cause chain ('WEFT_ERR_INTERNAL' if none). */
  weftCode: ErrorCode;
}

function statusFor(code: ErrorCode | undefined): grpc.status {
  if (code === 'WEFT_ERR_TOKEN_INVALID') return grpc.status.UNAUTHENTICATED;
  if (code === 'WEFT_ERR_CERTIFY_DENIED') return grpc.status.PERMISSION_DENIED;
  if (code === 'WEFT_ERR_STREAM_PROTOCOL') return grpc.status.INVALID_ARGUMENT;
  if (code === 'WEFT_ERR_TOO_MANY_STREAMS') return grpc.status.RESOURCE_EXHAUSTED;
  if (code !== undefined && code.startsWith('WEFT_ERR_CSR_')) return grpc.status.INVALID_ARGUMENT;
  return grpc.status.INTERNAL;
}

/** The gRPC status an error is answered with (see the table above). */
export function grpcStatusOf(err: unknown): GrpcStatusOfError {
  const weft = findWeftError(err);
  const code = statusFor(weft?.code);
  const metadata = new grpc.Metadata();
  const weftCode = weft?.code ?? 'WEFT_ERR_INTERNAL';
  metadata.set(GRPC_ERROR_CODE_KEY, weftCode);
  const message = code === grpc.status.INTERNAL ? 'internal error' : (weft?.message ?? 'internal error');
  return { code, details: `${weftCode}: ${message}`, metadata, weftCode };
}

/** The same as an Error object, for streams (`call.emit('error', ...)`). */
export function toGrpcError(err: unknown): grpc.ServiceError & { weftCode: ErrorCode } {
  const s = grpcStatusOf(err);
  return Object.assign(new Error(s.details), { code: s.code, details: s.details, metadata: s.metadata, weftCode: s.weftCode });
}
