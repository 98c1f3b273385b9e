// The control-plane process: `start(config)` loads (or creates) the CA,
// starts the cluster source, and serves Config.Stream and Identity.Certify
// over TLS on 8086 plus the admin listener on 9990. Watcher -> translator ->
// stream: every source change re-renders the connected proxies' configs and
// pushes those that changed, and tells the proxies of finished Job pods to
// shut down (workload-done.ts).
import { targetStatuses, type TargetStatus } from './authz-compile.ts';
import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { formatWorkloadId, DEFAULT_TRUST_DOMAIN } from '../identity/spiffe-id.ts';
import { generateRsaKeyPair } from '../identity/key-pair.ts';
import { createLogger, type Logger } from '../proto/log.ts';
import { DEFAULT_INBOUND_MODE, PORTS, type DefaultInboundPolicy, type InboundMode, type ProxyConfig } from '../proto/mesh.ts';
import { MAX_MESSAGE_BYTES, meshGrpc } from '../proto/mesh-grpc.ts';
import type { WeftError } from '../proto/errors.ts';
import { loadOrCreateCa } from './ca-store.ts';
import type { CaMaterial } from './ca-material.ts';
import { createCaAuthority } from './ca-authority.ts';
import type { ClusterSource } from './cluster-source.ts';
import type { ClusterState } from './cluster-state.ts';
import { translate, translateCluster, type SplitStatus } from './config-translator.ts';
import { ConfigStreams, type ProxyKey } from './config-stream.ts';
import { ControlPlaneMetrics } from './control-plane-metrics.ts';
import { addIdentityService } from './identity-grpc.ts';
import { createAdminServer } from './admin-server.ts';
import { finishedPods, podKey, shutdownReasonOf } from './workload-done.ts';
import type { TokenValidator } from './token-validator.ts';

export interface Listen {
  host?: string;
  port?: number;
}

export interface ControlPlaneConfig {
  grpc?: Listen;
  admin?: Listen;
  source: ClusterSource;
  /** CA files in a directory (created on first start), or material handed in. */
  ca: { dir: string } | { provided: CaMaterial };
  trustDomain?: string;
  validator: TokenValidator;
  /** Leaf SVID lifetime, ms (default 24 h). */
  leafLifetimeMs?: number;
  /** The cluster's default inbound mode (DEFAULT_INBOUND_MODE, PERMISSIVE, when unset); annotations override it per namespace and pod. */
  inboundMode?: InboundMode;
  /** What a workload no TrafficTarget names admits (default ALL_UNAUTHENTICATED); annotations override it per namespace and pod. */
  defaultInboundPolicy?: DefaultInboundPolicy;
  logger?: Logger;
  /** Told of each TrafficSplit's status after every change (the Kubernetes source writes them back). */
  onSplitStatus?: (status: SplitStatus[]) => void;
  /** Told of each TrafficTarget's status after every change (the Kubernetes source writes them back). */
  onTargetStatus?: (status: TargetStatus[]) => void;
  /** Told of source problems (malformed manifests, watch errors). */
  onSourceError?: (err: WeftError) => void;
  /** A connection to the gRPC port must complete its TLS handshake within this, ms (default 10 000). */
  handshakeTimeoutMs?: number;
  /** After its TLS handshake, a connection must send the HTTP/2 preface within this, ms (default 30 000). */
  idleTimeoutMs?: number;
  /** Config streams per token and per workload identity (config-stream.ts; defaults 2 and 1000). */
  maxStreamsPerToken?: number;
  maxStreamsPerIdentity?: number;
}

export interface ControlPlane {
  readonly ports: { grpc: number; admin: number };
  readonly trustBundlePem: readonly string[];
  /** SPIFFE ID the control plane presents on 8086. */
  readonly identity: string;
  readonly metrics: ControlPlaneMetrics;
  readonly streams: ConfigStreams;
  /** The config a proxy would get now (for tests and `weft check`). */
  render(key: ProxyKey): ProxyConfig;
  close(): Promise<void>;
}

/** The client connection preface of HTTP/2 (RFC 9113 3.4). */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const CONTROL_PLANE_SERVICE_ACCOUNT = 'weft-control-plane';
export const CONTROL_PLANE_NAMESPACE = 'weft-system';

export async function start(cfg: ControlPlaneConfig): Promise<ControlPlane> {
  const log = cfg.logger ?? createLogger('info', 'control-plane');
  const trustDomain = cfg.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const metrics = new ControlPlaneMetrics();
  const loaded = await loadOrCreateCa({ trustDomain, now: Date.now(), ...cfg.ca });
  const ca = createCaAuthority(loaded.material, {
    trustDomain,
    now: Date.now(),
    onIssued: () => metrics.certificatesIssued.inc(),
  });
  log.info('CA ready', { source: loaded.source, trustDomain });
  const trustBundlePem = [...ca.trustBundlePem];

  // Rendering is memoized per cluster state: proxies of one workload share a config.
  let state: ClusterState | undefined;
  let cache = new Map<string, ProxyConfig>();
  const render = (key: ProxyKey): ProxyConfig => {
    if (state === undefined) throw new Error('no cluster state yet');
    const k = `${key.namespace}/${key.serviceAccount}/${key.pod}`;
    let c = cache.get(k);
    if (c === undefined) {
      c = translate(state, { namespace: key.namespace, podName: key.pod, serviceAccount: key.serviceAccount }, {
        trustDomain,
        trustBundlePem,
        version: '',
        inboundMode: cfg.inboundMode ?? DEFAULT_INBOUND_MODE,
        defaultInboundPolicy: cfg.defaultInboundPolicy,
      }).config;
      cache.set(k, c);
    }
    return c;
  };

  // Pods whose Job has finished while a classic proxy sidecar runs
  // (workload-done.ts): their proxies are told to shut down, so the pods complete.
  let finished: ReturnType<typeof finishedPods> = new Map();
  const shutdownReason = (key: ProxyKey): string | undefined => {
    const pod = finished.get(podKey(key.namespace, key.pod));
    // The ServiceAccount comes from the token: a proxy of another workload never matches.
    return pod !== undefined && pod.serviceAccount === key.serviceAccount ? shutdownReasonOf(pod.workloadDone) : undefined;
  };

  const streams = new ConfigStreams({
    validator: cfg.validator,
    render,
    shutdownReason,
    metrics,
    log,
    ...(cfg.maxStreamsPerToken !== undefined ? { maxStreamsPerToken: cfg.maxStreamsPerToken } : {}),
    ...(cfg.maxStreamsPerIdentity !== undefined ? { maxStreamsPerIdentity: cfg.maxStreamsPerIdentity } : {}),
  });

  // The control plane's own serving certificate, from its own CA.
  const identity = formatWorkloadId(trustDomain, CONTROL_PLANE_NAMESPACE, CONTROL_PLANE_SERVICE_ACCOUNT);
  const key = generateRsaKeyPair();
  const serving = ca.issueLeaf({ spiffeId: identity, publicKeyPem: key.publicKeyPem, now: Date.now(), lifetimeMs: 365 * 24 * 3_600_000 });

  const server = new grpc.Server({
    'grpc.max_receive_message_length': 64 * 1024,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
  });
  addIdentityService(server, {
    validator: cfg.validator,
    ca,
    trustDomain,
    ...(cfg.leafLifetimeMs !== undefined ? { lifetimeMs: cfg.leafLifetimeMs } : {}),
    onError: (err, _status, code) => {
      metrics.errors.inc({ code: code ?? 'WEFT_ERR_INTERNAL' });
      log.warn('certify refused', { code, error: (err as Error).message });
    },
  });
  server.addService(meshGrpc().Config.service, { Stream: streams.handle as grpc.UntypedHandleCall });

  const onChange = (next: ClusterState): void => {
    state = next;
    cache = new Map();
    metrics.sourceUpdates.inc();
    const done = finishedPods(next.pods);
    for (const [k, pod] of done) {
      if (!finished.has(k)) {
        log.info('workload finished; its proxy is told to shut down', { namespace: pod.namespace, pod: pod.name, outcome: pod.workloadDone });
      }
    }
    finished = done;
    streams.refresh();
    if (cfg.onSplitStatus !== undefined) {
      cfg.onSplitStatus(translateCluster(next, { trustDomain, trustBundlePem, version: '' }).splitStatus);
    }
    cfg.onTargetStatus?.(targetStatuses(next));
  };
  await cfg.source.start(onChange);

  // The gRPC port is our own listener: TLS is terminated here (so that its
  // limits are ours to set), then the decrypted connection is handed to gRPC
  // (a connection injector, plaintext HTTP/2 inside our TLS):
  //   - the TLS handshake must complete within handshakeTimeoutMs (a
  //     connection that sends nothing, or stalls in the handshake, is closed);
  //   - the client must then send the HTTP/2 connection preface within
  //     idleTimeoutMs (a TLS connection that never speaks HTTP/2 is closed);
  //   - from there grpc-js's keepalive (a ping every 10 s, 5 s to answer)
  //     closes connections whose peer went silent.
  // Callers are authenticated by token, never by TLS client certificate.
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const prefaceMs = cfg.idleTimeoutMs ?? 30_000;
  const tlsFront = tls.createServer({
    key: key.keyPem,
    cert: [serving.leafPem, ...serving.intermediatesPem].join(''),
    ALPNProtocols: ['h2'],
    minVersion: 'TLSv1.2',
    handshakeTimeout: cfg.handshakeTimeoutMs ?? 10_000,
  });
  const refuseConnection = (socket: net.Socket, reason: string): void => {
    metrics.errors.inc({ code: 'WEFT_ERR_STREAM_PROTOCOL' });
    log.debug('gRPC connection closed', { reason, client: socket.remoteAddress });
    socket.destroy();
  };
  tlsFront.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => refuseConnection(socket, `TLS handshake: ${err.message}`));
  tlsFront.on('secureConnection', (secure: tls.TLSSocket) => {
    secure.on('error', () => secure.destroy());
    const timer = setTimeout(() => refuseConnection(secure, 'no HTTP/2 preface'), prefaceMs);
    secure.once('close', () => clearTimeout(timer));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, HTTP2_PREFACE.length);
      if (!head.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n))) {
        secure.removeListener('data', onData);
        refuseConnection(secure, 'not HTTP/2');
        return;
      }
      if (head.length < HTTP2_PREFACE.length) return;
      clearTimeout(timer);
      secure.removeListener('data', onData);
      secure.pause();
      secure.unshift(head);
      injector.injectConnection(secure);
    };
    secure.on('data', onData);
  });
  const sockets = new Set<net.Socket>();
  const front = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => sockets.delete(socket));
    tlsFront.emit('connection', socket);
  });
  const grpcHost = cfg.grpc?.host ?? '0.0.0.0';
  const grpcPort = await new Promise<number>((resolve, reject) => {
    front.once('error', reject);
    front.listen(cfg.grpc?.port ?? PORTS.controlPlaneGrpc, grpcHost, () => {
      front.removeListener('error', reject);
      resolve((front.address() as net.AddressInfo).port);
    });
  });
  const admin = createAdminServer({ registry: metrics.registry, ready: () => state !== undefined });
  const adminPort = await admin.listen(cfg.admin?.port ?? PORTS.controlPlaneAdmin, cfg.admin?.host ?? '0.0.0.0');
  log.info('control plane listening', { grpc: grpcPort, admin: adminPort });

  let closing: Promise<void> | undefined;
  return {
    ports: { grpc: grpcPort, admin: adminPort },
    trustBundlePem,
    identity,
    metrics,
    streams,
    render,
    close() {
      closing ??= (async () => {
        streams.close();
        await cfg.source.close();
        front.close();
        injector.destroy();
        await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
        server.forceShutdown();
        for (const s of sockets) s.destroy();
        await admin.close();
      })();
      return closing;
    },
  };
}
