// gRPC over HTTP/2, as far as a proxy needs it (PROTOCOL-HTTP2.md of
// grpc/grpc): which requests are gRPC, the status a response ends with, and
// the deadline a caller sets in grpc-timeout. Pure.
import type { IncomingHttpHeaders } from 'node:http';

/** The gRPC status codes by name (grpc/grpc doc/statuscodes.md). */
export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatusName = keyof typeof GRPC_STATUS;

/** Whether a request (or response) is gRPC: content-type application/grpc, alone or with a +suffix or parameters. */
export function isGrpc(headers: IncomingHttpHeaders): boolean {
  const ct = headers['content-type'];
  if (ct === undefined || ct.length < 16) return false;
  if (ct.slice(0, 16).toLowerCase() !== 'application/grpc') return false;
  const next = ct.charCodeAt(16);
  return Number.isNaN(next) || next === 0x2b /* + */ || next === 0x3b /* ; */;
}

/**
 * The grpc-status of a trailers block (or a trailers-only response), or
 * undefined when absent or not a decimal number. Values outside 0..16 are
 * kept (a server may send them; clients treat them as UNKNOWN) but capped
 * for labels by the caller.
 */
export function grpcStatusOf(headers: IncomingHttpHeaders | Record<string, unknown>): number | undefined {
  const raw = headers['grpc-status'];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (typeof v !== 'string' || !/^\d{1,3}$/.test(v)) return undefined;
  return Number(v);
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * The deadline a gRPC caller set, in ms, from grpc-timeout ("TimeoutValue
 * TimeoutUnit": at most 8 ASCII digits and one of H M S m u n). Undefined
 * when absent; 'invalid' when malformed (the caller answers INTERNAL, as a
 * gRPC server would). Sub-millisecond values round up to 1 ms: a deadline
 * that has not passed yet is never 0.
 */
export function grpcTimeoutMs(headers: IncomingHttpHeaders): number | 'invalid' | undefined {
  const raw = headers['grpc-timeout'];
  if (raw === undefined) return undefined;
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (typeof v !== 'string') return 'invalid';
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (m === null) return 'invalid';
  const ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  return ms === 0 ? 0 : Math.max(1, Math.ceil(ms));
}

/** grpc-timeout for `ms` milliseconds, as a proxy sends it on (what is left of the caller's deadline). */
export function encodeGrpcTimeout(ms: number): string {
  const v = Math.max(0, Math.ceil(ms));
  return v < 1e8 ? `${v}m` : `${Math.min(99_999_999, Math.ceil(v / 1000))}S`;
}

/**
 * grpc-message is percent-encoded (PROTOCOL-HTTP2.md): every byte outside
 * printable ASCII, and '%' itself.
 */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
