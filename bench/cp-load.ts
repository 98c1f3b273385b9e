// Load process of the split-propagation bench (forked with IPC): N raw gRPC
// clients, each on its own channel (own TLS connection, as N proxies would
// have), speaking Config.Stream as proxy/clients/config-client.ts does: Subscribe with
// a bootstrap token, then ack every snapshot. Nothing is applied.
import * as grpc from '@grpc/grpc-js';
import { meshGrpc } from '../proto/mesh-grpc.ts';
import type { ConfigUpdate, ProxyMessage } from '../proto/mesh.ts';
import { channelCredentials, CHANNEL_OPTIONS } from '../proxy/clients/control-plane-channel.ts';

export interface LoadRequest {
  cmd: 'connect';
  address: string;
  trustBundlePem: string[];
  serverId: string;
  tokens: string[];
  /** Index of the first new client (pod names client-<i>). */
  from: number;
}

const clients: Array<{ client: grpc.Client; call: grpc.ClientDuplexStream<ProxyMessage, ConfigUpdate> }> = [];
let snapshots = 0;

function connect(m: LoadRequest, i: number, token: string): Promise<void> {
  const Config = meshGrpc().Config;
  const client = new Config(m.address, channelCredentials(m), { ...CHANNEL_OPTIONS, 'grpc.use_local_subchannel_pool': 1 });
  const call = (client as unknown as { Stream(): grpc.ClientDuplexStream<ProxyMessage, ConfigUpdate> }).Stream();
  clients.push({ client, call });
  return new Promise((resolve, reject) => {
    let first = true;
    call.on('data', (u: ConfigUpdate) => {
      snapshots++;
      call.write({ ack: { version: u.config.version, ok: true, error: '' } });
      if (first) {
        first = false;
        resolve();
      }
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (first) reject(err);
    });
    call.write({ subscribe: { namespace: 'demo', pod: `client-${i}`, serviceAccount: 'client', version: '', token } });
  });
}

process.on('message', (raw) => {
  const m = raw as LoadRequest;
  void (async () => {
    try {
      // In batches, as pods start: 50 handshakes at a time.
      for (let k = 0; k < m.tokens.length; k += 50) {
        await Promise.all(m.tokens.slice(k, k + 50).map((t, j) => connect(m, m.from + k + j, t)));
      }
      process.send?.({ ok: true, clients: clients.length, snapshots });
    } catch (err) {
      process.send?.({ ok: false, error: String(err) });
    }
  })();
});
process.on('SIGTERM', () => {
  for (const c of clients) {
    c.call.cancel();
    c.client.close();
  }
  process.exit(0);
});
process.send?.({ ready: true });
