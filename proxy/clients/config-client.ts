// The proxy's config client: Config.Stream per mesh.proto's rules. Subscribe,
// apply each snapshot, ack or nack it; on any stream failure keep serving the
// last good config and reconnect with exponential backoff and full jitter. An
// update with `shutdown` set (rule 5: the pod's Job has finished) is neither
// applied nor acked: it goes to onShutdown, and the stream is not resumed.
import * as grpc from '@grpc/grpc-js';
import { meshGrpc } from '../../proto/mesh-grpc.ts';
import type { ConfigUpdate, ProxyMessage, Subscribe } from '../../proto/mesh.ts';
import { backoffDelay, channelCredentials, CHANNEL_OPTIONS, type ControlPlaneTarget } from './control-plane-channel.ts';
import type { ApplyResult } from '../config/apply-result.ts';
import type { Logger } from '../../proto/log.ts';

export interface ConfigClientOptions extends ControlPlaneTarget {
  subscribe: () => Subscribe;
  apply: (raw: unknown) => ApplyResult;
  /** The control plane asks this proxy to shut down (mesh.proto rule 5), with its reason. */
  onShutdown?: (reason: string) => void;
  random?: () => number;
  log: Logger;
}

export function startConfigClient(o: ConfigClientOptions): { close(): void; connected(): boolean } {
  const random = o.random ?? Math.random;
  const client = new (meshGrpc().Config)(o.address, channelCredentials(o), CHANNEL_OPTIONS);
  let call: grpc.ClientDuplexStream<ProxyMessage, ConfigUpdate> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let failures = 0;
  let live = false;

  function connect(): void {
    if (closed) return;
    const stream = client.Stream!() as grpc.ClientDuplexStream<ProxyMessage, ConfigUpdate>;
    call = stream;
    let ended = false;
    const retry = (why: string): void => {
      if (ended) return;
      ended = true;
      live = false;
      if (closed) return;
      const delay = backoffDelay(failures++, random);
      o.log.warn('config stream lost; keeping the last good config', { why, retryInMs: Math.round(delay) });
      timer = setTimeout(connect, delay);
    };
    stream.on('data', (update: ConfigUpdate) => {
      failures = 0;
      live = true;
      if (update.shutdown !== undefined && update.shutdown !== null && o.onShutdown !== undefined) {
        // The end of this proxy: no reconnect once the stream goes (close() follows).
        closed = true;
        o.onShutdown(update.shutdown.reason);
        return;
      }
      const result = o.apply(update.config);
      stream.write({ ack: { version: result.version, ok: result.ok, error: result.error ? `${result.error.code}: ${result.error.message}` : '' } });
    });
    stream.on('error', (err: grpc.ServiceError) => retry(err.details || err.message));
    stream.on('end', () => retry('stream ended'));
    stream.write({ subscribe: o.subscribe() });
  }

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      call?.cancel();
      client.close();
    },
    connected: () => live,
  };
}
