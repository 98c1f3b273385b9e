// Serves Identity.Certify over gRPC (@grpc/grpc-js; mesh.proto as loaded by
// proto/mesh-grpc.ts with @grpc/proto-loader). Failures are answered through
// grpc-status.ts, the control plane's one WeftError -> gRPC status table
// (token invalid -> UNAUTHENTICATED, denied -> PERMISSION_DENIED, CSR
// problems -> INVALID_ARGUMENT, else INTERNAL; the Weft code in the
// `weft-error` trailer). Requests are bounded: a server created with
// IDENTITY_SERVER_OPTIONS refuses messages over 64 KiB (RESOURCE_EXHAUSTED,
// before any handler runs), and csr-check.ts refuses a CSR over 16 KiB.

import type * as grpc from '@grpc/grpc-js';
import type { ErrorCode } from '../proto/errors.ts';
import type { CertifyRequest, CertifyResponse } from '../proto/mesh.ts';
import { meshGrpc } from '../proto/mesh-grpc.ts';
import type { CaAuthority } from './ca-authority.ts';
import { grpcStatusOf } from './grpc-status.ts';
import { certify } from './identity-service.ts';
import type { TokenValidator } from './token-validator.ts';

/** Largest request message the control-plane server should accept. */
export const MAX_RECEIVE_MESSAGE_BYTES = 64 * 1024;

/** Options for the grpc.Server that hosts the Identity service. */
export const IDENTITY_SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
};

export interface IdentityGrpcOptions {
  validator: TokenValidator;
  ca: Pick<CaAuthority, 'issueLeaf'>;
  trustDomain: string;
  /** Unix ms; Date.now when omitted. */
  now?: () => number;
  /** Leaf lifetime; the CA's default (24 h) when omitted. */
  lifetimeMs?: number;
  /** Told of every refused or failed call (logs, metrics), after the reply. */
  onError?: (err: unknown, status: grpc.status, code: ErrorCode) => void;
}

/** Registers Identity.Certify on `server` (create it with IDENTITY_SERVER_OPTIONS). */
export function addIdentityService(server: grpc.Server, options: IdentityGrpcOptions): void {
  const now = options.now ?? Date.now;
  const handler: grpc.handleUnaryCall<CertifyRequest, CertifyResponse> = (call, callback) => {
    certify(call.request, {
      validator: options.validator,
      ca: options.ca,
      trustDomain: options.trustDomain,
      now: now(),
      lifetimeMs: options.lifetimeMs,
    }).then(
      (response) => callback(null, response),
      (err: unknown) => {
        const status = grpcStatusOf(err);
        callback({ code: status.code, details: status.details, metadata: status.metadata });
        try {
          options.onError?.(err, status.code, status.weftCode);
        } catch {
          // an observer's failure must not affect the call
        }
      },
    );
  };
  server.addService(meshGrpc().Identity.service, { Certify: handler as grpc.UntypedHandleCall });
}
