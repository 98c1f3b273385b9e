// Fixtures for the Kubernetes-side cluster tests: an in-process control plane
// (control-plane.ts start()) on the Kubernetes source, the TokenReview
// validator, the CA in a Secret and the split status writer, all against the
// harness's apiserver; pods that the harness marks Running with addresses in
// 198.18.0.0/15; and a config-stream client that records every update with
// its arrival time.
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../proto/log.ts';
import { meshGrpc } from '../../proto/mesh-grpc.ts';
import type { ConfigUpdate, ProxyConfig, ProxyMessage } from '../../proto/mesh.ts';
import { start, type ControlPlane } from '../../control-plane/control-plane.ts';
import type { WeftError } from '../../proto/errors.ts';
import { createKubeClient, loadKubeConfig, type KubeClient } from '../../control-plane/kube-client.ts';
import { createKubernetesSource, type KubernetesSource } from '../../control-plane/kubernetes-source.ts';
import { createTokenReviewValidator } from '../../control-plane/token-review-validator.ts';
import { loadOrCreateKubeCa } from '../../control-plane/kube-ca-store.ts';
import { createSplitStatusWriter, type SplitStatusWriter } from '../../control-plane/split-status-writer.ts';
import type { LoadedCa } from '../../control-plane/ca-store.ts';
import type { Cluster } from './harness.ts';

export const quiet = createLogger('off');

export async function ensureNamespace(cluster: Cluster, ns: string): Promise<void> {
  const res = await cluster.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  if (res.status !== 201 && res.status !== 409) throw new Error(`creating namespace ${ns}: HTTP ${res.status} ${res.text}`);
}

export async function ensureServiceAccount(cluster: Cluster, ns: string, sa: string): Promise<void> {
  const res = await cluster.api('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa } });
  if (res.status !== 201 && res.status !== 409) throw new Error(`creating ServiceAccount ${ns}/${sa}: HTTP ${res.status} ${res.text}`);
  await cluster.waitForServiceAccount(ns, sa);
}

export interface TestPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  serviceAccount: string;
  /** In 198.18.0.0/15, outside 198.19.255.0/24. */
  ip: string;
  /** With a weft-proxy container (default true). */
  meshed?: boolean;
  ports?: Array<{ name?: string; containerPort: number }>;
  ready?: boolean;
}

/** Creates a pod and plays its kubelet: bound, Running with `ip`, Ready. */
export async function createRunningPod(cluster: Cluster, p: TestPod): Promise<void> {
  const containers: object[] = [{ name: 'app', image: 'weft-test-app', ports: p.ports ?? [{ name: 'http', containerPort: 8080 }] }];
  if (p.meshed ?? true) containers.push({ name: 'weft-proxy', image: 'weft', ports: [{ name: 'weft-inbound', containerPort: 4143 }, { name: 'weft-admin', containerPort: 4191 }] });
  const res = await cluster.api('POST', `/api/v1/namespaces/${p.namespace}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, labels: p.labels, ...((p.meshed ?? true) ? { annotations: { 'weft.dev/proxy-version': 'test' } } : {}) },
    spec: { serviceAccountName: p.serviceAccount, automountServiceAccountToken: false, containers },
  });
  if (res.status !== 201) throw new Error(`creating pod ${p.namespace}/${p.name}: HTTP ${res.status} ${res.text}`);
  await cluster.markPodRunning(p.namespace, p.name, { ip: p.ip, ready: p.ready ?? true });
}

export async function apply(cluster: Cluster, objects: readonly object[]): Promise<void> {
  await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
}

export function service(ns: string, name: string, selector: Record<string, string>, ports: Array<{ name: string; port: number; targetPort: number | string }> = [{ name: 'http', port: 80, targetPort: 8080 }]): object {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector, ports } };
}

export interface KubeControlPlane {
  cp: ControlPlane;
  source: KubernetesSource;
  writer: SplitStatusWriter;
  /** TrafficTarget statuses. */
  targetWriter: SplitStatusWriter;
  client: KubeClient;
  ca: LoadedCa;
  /** Source and writer errors so far. */
  errors: WeftError[];
  close(): Promise<void>;
}

export interface KubeControlPlaneOptions {
  /** Source option (default 1000 ms here, so CRDs created later show up fast). */
  rediscoverMs?: number;
  backoff?: { initialMs?: number; maxMs?: number };
}

/** The control plane as main.ts runs it in Kubernetes mode, in-process, on loopback ports. */
export async function startKubeControlPlane(cluster: Cluster, o: KubeControlPlaneOptions = {}): Promise<KubeControlPlane> {
  const client = createKubeClient(loadKubeConfig({ kubeconfigPath: cluster.kubeconfigPath }));
  const errors: WeftError[] = [];
  await ensureNamespace(cluster, 'weft-system');
  const ca = await loadOrCreateKubeCa({ client, trustDomain: 'cluster.local', now: Date.now() });
  const source = createKubernetesSource({
    client,
    rediscoverMs: o.rediscoverMs ?? 1000,
    ...(o.backoff !== undefined ? { backoff: o.backoff } : {}),
    onError: (e) => errors.push(e),
  });
  const writer = createSplitStatusWriter({
    client,
    lookup: (ns, name) => source.trafficSplit(ns, name),
    onError: (e) => errors.push(e),
    retryInitialMs: 200,
    retryMaxMs: 2000,
  });
  const targetWriter = createSplitStatusWriter({
    client,
    kind: 'TrafficTarget',
    lookup: (ns, name) => source.trafficTarget(ns, name),
    onError: (e) => errors.push(e),
    retryInitialMs: 200,
    retryMaxMs: 2000,
  });
  const cp = await start({
    source,
    ca: { provided: ca.material },
    validator: createTokenReviewValidator({ client }),
    grpc: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    logger: quiet,
    onSplitStatus: (s) => writer.update(s),
    onTargetStatus: (s) => targetWriter.update(s),
  });
  return {
    cp,
    source,
    writer,
    targetWriter,
    client,
    ca,
    errors,
    async close() {
      await cp.close();
      await writer.close();
      await targetWriter.close();
      client.close();
    },
  };
}

export interface ReceivedConfig {
  /** performance.now() at arrival. */
  at: number;
  config: ProxyConfig;
}

export interface ConfigWatch {
  readonly updates: ReceivedConfig[];
  latest(): ProxyConfig | undefined;
  /** The first update (already received or to come) at or after index `from` that satisfies `pred`. */
  waitFor(pred: (c: ProxyConfig) => boolean, timeoutMs?: number, from?: number): Promise<ReceivedConfig>;
  /** The stream's end or error, if any. */
  readonly ended: Promise<grpc.ServiceError | undefined>;
  close(): void;
}

/** A config-stream client like a proxy's: subscribes with `token`, acks every update, records them. */
export function subscribeConfig(cp: ControlPlane, token: string, who: { namespace: string; pod: string; serviceAccount: string }): ConfigWatch {
  const client = new (meshGrpc().Config)(
    `127.0.0.1:${cp.ports.grpc}`,
    grpc.credentials.createSsl(Buffer.from(cp.trustBundlePem.join('')), null, null, { checkServerIdentity: () => undefined }),
  );
  const call = client.Stream!() as grpc.ClientDuplexStream<ProxyMessage, ConfigUpdate>;
  const updates: ReceivedConfig[] = [];
  const waiters = new Set<() => void>();
  call.on('data', (u: ConfigUpdate) => {
    updates.push({ at: performance.now(), config: u.config });
    call.write({ ack: { version: u.config.version, ok: true, error: '' } });
    for (const w of [...waiters]) w();
  });
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    call.on('error', (err: grpc.ServiceError) => resolve(err));
    call.on('end', () => resolve(undefined));
  });
  call.write({ subscribe: { ...who, version: '', token } });
  return {
    updates,
    latest: () => updates.at(-1)?.config,
    ended,
    waitFor(pred, timeoutMs = 10_000, from = 0) {
      return new Promise<ReceivedConfig>((resolve, reject) => {
        const check = (): boolean => {
          for (let i = from; i < updates.length; i++) {
            const u = updates[i]!;
            if (pred(u.config)) {
              cleanup();
              resolve(u);
              return true;
            }
          }
          return false;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching config within ${timeoutMs} ms (${updates.length} updates; latest ${JSON.stringify(updates.at(-1)?.config.services.map((s) => [s.name, s.routes, s.endpoints.map((e) => e.address)]))})`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(w);
        };
        const w = (): void => void check();
        if (!check()) waiters.add(w);
      });
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}

/** A service of a config by name and namespace. */
export function serviceOf(c: ProxyConfig | undefined, ns: string, name: string): ProxyConfig['services'][number] | undefined {
  return c?.services.find((s) => s.namespace === ns && s.name === name);
}
