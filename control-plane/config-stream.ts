// The config stream (mesh.proto, service Config): one bidirectional stream
// per proxy. The first message must be a Subscribe with a valid token; the
// workload's namespace and ServiceAccount come from the token, never from the
// message. The proxy gets a full snapshot at once, then a new one whenever its
// config changes; versions are content hashes, so an unchanged config is never
// resent and a restarted control plane produces the same versions again.
//
// Shutdown (mesh.proto rule 5): when `shutdownReason` names a reason for a
// proxy's pod (its Job's app containers have finished), that proxy gets one
// update with `shutdown` set, carrying its current config as well (a proxy
// that predates the field re-applies it); once per stream, also right after
// the snapshot of a proxy that subscribes when its pod is already done. The
// pod is the one the token is bound to when the validator says (projected
// ServiceAccount tokens), else the one the Subscribe names.
//
// Limits: one token holds at most `maxStreamsPerToken` streams (2: a proxy
// reconnecting may briefly have two); a further one ends the token's oldest
// (UNAVAILABLE: superseded), so a proxy whose old stream is half dead is
// never locked out. One workload identity (namespace/ServiceAccount, shared
// by its replicas) holds at most `maxStreamsPerIdentity` (default 1000); a
// further one is refused with RESOURCE_EXHAUSTED WEFT_ERR_TOO_MANY_STREAMS.
import { createHash } from 'node:crypto';
import * as grpcJs from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import { WeftError } from '../proto/errors.ts';
import type { ConfigUpdate, ProxyConfig, ProxyMessage } from '../proto/mesh.ts';
import type { TokenValidator } from './token-validator.ts';
import type { ControlPlaneMetrics } from './control-plane-metrics.ts';
import type { Logger } from '../proto/log.ts';
import { toGrpcError } from './grpc-status.ts';

export interface ProxyKey {
  namespace: string;
  serviceAccount: string;
  pod: string;
}

/** Content version of a config: the same content always gets the same version. Pure. */
export function configVersion(config: ProxyConfig): string {
  const { version: _ignored, ...content } = config;
  return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16);
}

interface Subscriber {
  key: ProxyKey;
  /** SHA-256 of its token; `identity`: namespace/serviceAccount. */
  token: string;
  identity: string;
  call: grpc.ServerDuplexStream<ProxyMessage, ConfigUpdate>;
  /** Version last sent, and when the change that caused it was seen. */
  sent: string;
  sentAt: number;
  acked: string;
  /** Told to shut down already (rule 5: once per stream). */
  shutdownSent: boolean;
}

export interface ConfigStreamOptions {
  validator: TokenValidator;
  /** The config of one proxy for the current cluster state (version ignored). */
  render: (key: ProxyKey) => ProxyConfig;
  /** Why this proxy must shut down now (its pod's workload has finished: workload-done.ts); undefined: it must not. */
  shutdownReason?: (key: ProxyKey) => string | undefined;
  metrics: ControlPlaneMetrics;
  log: Logger;
  now?: () => number;
  /** Concurrent streams per token (default 2): a further one ends the oldest. */
  maxStreamsPerToken?: number;
  /** Concurrent streams per namespace/ServiceAccount (default 1000): a further one is refused. */
  maxStreamsPerIdentity?: number;
}

export class ConfigStreams {
  readonly #o: ConfigStreamOptions;
  readonly #subs = new Set<Subscriber>();
  readonly #now: () => number;
  #changedAt = 0;

  constructor(o: ConfigStreamOptions) {
    this.#o = o;
    this.#now = o.now ?? (() => performance.now());
  }

  get connected(): number {
    return this.#subs.size;
  }

  /** Versions each connected proxy has acked (for tests and /status). */
  acked(): Array<ProxyKey & { version: string }> {
    return [...this.#subs].map((s) => ({ ...s.key, version: s.acked }));
  }

  /** The gRPC handler for Config.Stream. */
  readonly handle = (call: grpc.ServerDuplexStream<ProxyMessage, ConfigUpdate>): void => {
    let sub: Subscriber | undefined;
    const fail = (err: unknown): void => {
      const status = toGrpcError(err);
      this.#o.metrics.errors.inc({ code: status.weftCode });
      call.emit('error', status);
    };
    call.on('data', (msg: ProxyMessage) => {
      if (sub === undefined) {
        if (!('subscribe' in msg) || msg.subscribe === null || msg.subscribe === undefined) {
          fail(new WeftError('WEFT_ERR_STREAM_PROTOCOL', 'the first message must be a Subscribe'));
          return;
        }
        const s = msg.subscribe;
        call.pause();
        this.#o.validator.validate(s.token, Date.now()).then(
          (who) => {
            call.resume();
            if (call.cancelled) return;
            const token = createHash('sha256').update(s.token).digest('hex');
            const identity = `${who.namespace}/${who.serviceAccount}`;
            const mine = [...this.#subs].filter((x) => x.identity === identity);
            const sameToken = mine.filter((x) => x.token === token);
            const perToken = this.#o.maxStreamsPerToken ?? 2;
            const perIdentity = this.#o.maxStreamsPerIdentity ?? 1000;
            if (sameToken.length >= perToken) {
              // The oldest (insertion order) makes room: a reconnecting proxy wins over its own stale stream.
              const oldest = sameToken[0] as Subscriber;
              this.#subs.delete(oldest);
              this.#o.log.info('config stream superseded by a newer one with the same token', { ...oldest.key });
              oldest.call.emit('error', Object.assign(new Error('superseded by a newer stream with the same token'), {
                code: grpcJs.status.UNAVAILABLE,
                details: 'superseded by a newer stream with the same token',
                metadata: new grpcJs.Metadata(),
              }));
            } else if (mine.length >= perIdentity) {
              this.#o.log.warn('config stream refused: too many for one identity', { identity, limit: perIdentity, code: 'WEFT_ERR_TOO_MANY_STREAMS' });
              fail(new WeftError('WEFT_ERR_TOO_MANY_STREAMS', `${identity} already holds ${perIdentity} config streams`));
              return;
            }
            // The token's own pod (projected tokens are bound to one) wins over the one the message names.
            if (who.pod !== undefined && s.pod !== '' && s.pod !== who.pod) {
              this.#o.log.warn('Subscribe names another pod than its token is bound to; the token\'s is used', { namespace: who.namespace, pod: who.pod, claimed: s.pod });
            }
            const pod = who.pod ?? s.pod;
            sub = { key: { namespace: who.namespace, serviceAccount: who.serviceAccount, pod }, token, identity, call, sent: '', sentAt: 0, acked: '', shutdownSent: false };
            this.#subs.add(sub);
            this.#o.metrics.connectedProxies.set(this.#subs.size);
            this.#o.log.info('proxy subscribed', { ...sub.key, had: s.version });
            this.#push(sub, this.#now());
          },
          (err: unknown) => fail(err),
        );
        return;
      }
      if ('ack' in msg && msg.ack !== null && msg.ack !== undefined) {
        const a = msg.ack;
        this.#o.metrics.configAcks.inc({ result: a.ok ? 'ack' : 'nack' });
        if (a.ok) {
          if (a.version === sub.sent && sub.acked !== a.version) {
            this.#o.metrics.pushLatency.observe((this.#now() - sub.sentAt) / 1000);
          }
          sub.acked = a.version;
        } else {
          // Rule 3: the proxy keeps its last good version; the server does not resend.
          this.#o.log.warn('proxy nacked config', { ...sub.key, version: a.version, error: a.error });
        }
        return;
      }
      fail(new WeftError('WEFT_ERR_STREAM_PROTOCOL', 'expected an Ack'));
    });
    const drop = (): void => {
      if (sub !== undefined && this.#subs.delete(sub)) {
        this.#o.metrics.connectedProxies.set(this.#subs.size);
      }
    };
    call.on('cancelled', drop);
    call.on('close', drop);
    call.on('error', drop);
    call.on('end', () => {
      drop();
      call.end();
    });
  };

  /** The cluster changed: push to every proxy whose config changed. */
  refresh(): void {
    this.#changedAt = this.#now();
    for (const sub of this.#subs) this.#push(sub, this.#changedAt);
  }

  #push(sub: Subscriber, changedAt: number): void {
    let config: ProxyConfig;
    try {
      config = this.#o.render(sub.key);
    } catch (err) {
      // A translation failure must never take a proxy's config away: keep the last one.
      this.#o.log.error('cannot render config', { ...sub.key, error: (err as Error).message });
      this.#o.metrics.errors.inc({ code: 'WEFT_ERR_INTERNAL' });
      return;
    }
    const version = configVersion(config);
    const shutdown = sub.shutdownSent ? undefined : this.#o.shutdownReason?.(sub.key);
    if (version === sub.sent && shutdown === undefined) return;
    if (version !== sub.sent) {
      sub.sent = version;
      sub.sentAt = changedAt;
      this.#o.metrics.configPushes.inc();
    }
    if (shutdown === undefined) {
      sub.call.write({ config: { ...config, version } });
      return;
    }
    sub.shutdownSent = true;
    this.#o.metrics.proxyShutdowns.inc({ reason: shutdown });
    this.#o.log.debug('proxy told to shut down', { ...sub.key, reason: shutdown });
    sub.call.write({ config: { ...config, version }, shutdown: { reason: shutdown } });
  }

  /** Ends every stream (proxies reconnect elsewhere / later). */
  close(): void {
    for (const sub of this.#subs) sub.call.end();
    this.#subs.clear();
    this.#o.metrics.connectedProxies.set(0);
  }
}
