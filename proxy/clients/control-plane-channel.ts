// gRPC channel credentials to the control plane: TLS verified against the
// mesh trust bundle, and the server must present the control plane's SPIFFE
// ID (not a DNS name: the check is the same as for any mesh peer).
import * as grpc from '@grpc/grpc-js';
import { MAX_MESSAGE_BYTES } from '../../proto/mesh-grpc.ts';
import { parseSpiffeId } from '../../identity/spiffe-id.ts';
import { checkPeerIdentity } from '../http1/upstream-pool.ts';

export interface ControlPlaneTarget {
  /** host:port of the control plane gRPC listener (8086). */
  address: string;
  /** PEM trust anchors, to verify the control plane's certificate. */
  trustBundlePem: string[];
  /** SPIFFE ID the control plane must present. */
  serverId: string;
}

export function channelCredentials(t: ControlPlaneTarget): grpc.ChannelCredentials {
  const trustDomain = parseSpiffeId(t.serverId).trustDomain;
  return grpc.credentials.createSsl(Buffer.from(t.trustBundlePem.join('\n')), null, null, {
    checkServerIdentity: (_host, cert) => checkPeerIdentity(t.serverId, trustDomain, cert),
  });
}

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 5_000,
  // The control plane is usually dialled by IP (local mesh) and Node warns
  // (DEP0123) when an IP becomes the TLS ServerName: send a name instead. It
  // decides nothing: the server's SPIFFE ID is what is checked.
  'grpc.ssl_target_name_override': 'weft-control-plane',
};

/** Exponential backoff with full jitter: a delay in [base, min(max, base * 2^attempt)]. Pure. */
export function backoffDelay(attempt: number, random: () => number, baseMs = 250, maxMs = 5_000): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return baseMs + random() * (cap - baseMs);
}
