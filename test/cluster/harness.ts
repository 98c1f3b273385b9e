// A real Kubernetes control plane for tests: etcd (Debian's etcd-server) and
// kube-apiserver 1.20 (built from Debian's `kubernetes` source package by
// provision.sh), optionally kube-controller-manager, all on free loopback
// ports with a temp dir for data, certificates, logs and a kubeconfig.
//
//   const cluster = await startCluster();
//   await cluster.kubectl(['create', 'namespace', 'demo']);
//   await cluster.restartApiserver();
//   await cluster.stop();
//
// What the apiserver is given:
//   - serving cert for 127.0.0.1 / localhost / kubernetes.default.svc..., one CA
//     that also signs client certs (admin: CN=weft-admin, O=system:masters);
//   - ServiceAccount issuer + signing key, so TokenRequest and TokenReview work;
//     --api-audiences = <issuer>, identity.weft.dev;
//   - --authorization-mode=Node,RBAC; the usual admission plugins of 1.20
//     (ServiceAccount admission only when the controller manager runs: it needs
//     the token controller to mint the secrets it mounts);
//   - ClusterIPs from 198.19.255.0/24; no endpoints for the `kubernetes`
//     Service (the apiserver listens on loopback, which Endpoints may not hold).
// Test endpoints (pod IPs) belong in 198.18.0.0/15 outside that /24.
//
// Binaries: $WEFT_K8S_CACHE/bin (default /var/cache/weft-k8s/bin) for
// kube-apiserver, kube-controller-manager and kubectl (Debian's 1.20 client);
// /usr/bin/etcd. `npm run cluster:provision` puts them there.
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { once } from 'node:events';
import { accessSync, constants as fsConstants, createWriteStream, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClusterPki, serviceAccountKeyId, type CertAndKey, type ClusterPki } from './cluster-pki.ts';
import { prepareApiserverForNode, startRealNode, kubernetesServiceIp, type NodeApiserverSetup, type RealNode } from './real-node.ts';
import { NODE_NETWORK } from './node-config.ts';

export const K8S_CACHE_DIR = process.env['WEFT_K8S_CACHE'] || '/var/cache/weft-k8s';
export const PROVISION_HINT =
  'provision them with `npm run cluster:provision` (test/cluster/provision.sh: apt-get installs etcd-server, ' +
  'golang-1.19-go, rsync; builds kube-apiserver and kube-controller-manager 1.20.2 from Debian\'s kubernetes ' +
  `source package in about 5 minutes; needs root; cached in ${K8S_CACHE_DIR})`;

export const IDENTITY_AUDIENCE = 'identity.weft.dev';
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const SERVICE_CLUSTER_IP_RANGE = '198.19.255.0/24';

export interface ClusterBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
}

export function clusterBinaries(): ClusterBinaries {
  const bin = path.join(K8S_CACHE_DIR, 'bin');
  return {
    etcd: process.env['WEFT_ETCD_BIN'] || '/usr/bin/etcd',
    kubeApiserver: path.join(bin, 'kube-apiserver'),
    kubeControllerManager: path.join(bin, 'kube-controller-manager'),
    kubectl: path.join(bin, 'kubectl'),
  };
}

/** Paths of the binaries that are missing or not executable; [] when all are there. */
export function missingClusterBinaries(): string[] {
  const bin = path.join(K8S_CACHE_DIR, 'bin');
  const node = [
    ...['kubelet', 'kube-proxy', 'kube-scheduler', 'pause'].map((b) => path.join(bin, b)),
    '/usr/bin/containerd',
    '/usr/bin/ctr',
    '/usr/sbin/runc',
    '/usr/lib/cni/bridge',
    '/usr/lib/cni/host-local',
  ];
  return [...Object.values(clusterBinaries()), ...node].filter((p) => {
    try {
      accessSync(p, fsConstants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
}

export class ClusterError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClusterError';
    this.code = code;
  }
}

export class KubectlError extends Error {
  readonly code = 'ERR_KUBECTL';
  readonly result: KubectlResult;
  constructor(args: readonly string[], result: KubectlResult) {
    super(`kubectl ${args.join(' ')} exited ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'KubectlError';
    this.result = result;
  }
}

export interface ClusterOptions {
  /** Start kube-controller-manager (Deployments -> ReplicaSets -> Pods, EndpointSlices, SA tokens). Default true. */
  controllerManager?: boolean;
  /** --api-audiences. Default [SERVICE_ACCOUNT_ISSUER, IDENTITY_AUDIENCE]. */
  apiAudiences?: readonly string[];
  /** Appended to kube-apiserver's arguments (later flags win). */
  extraApiserverArgs?: readonly string[];
  /** Appended to kube-controller-manager's arguments. */
  extraControllerManagerArgs?: readonly string[];
  /** Per component. Default 90 s. */
  startTimeoutMs?: number;
  /**
   * Run a real node (real-node.ts: containerd, kubelet, kube-proxy,
   * kube-scheduler; needs root and `npm run cluster:provision`). Needs the
   * controller manager. Default false.
   */
  node?: boolean;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (e.g. with `apply -f -`). */
  input?: string;
  /** Resolve with a non-zero exit code instead of throwing KubectlError. */
  allowFailure?: boolean;
  /** Default 60 s. */
  timeoutMs?: number;
}

export interface KubectlResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ApiResponse<T = unknown> {
  status: number;
  /** Parsed JSON when the response is JSON, else undefined. */
  body: T;
  text: string;
}

export interface TokenRequestOptions {
  audiences?: readonly string[];
  /** Default 3600; the apiserver's minimum is 600. */
  expirationSeconds?: number;
  /** Bind the token to an object (Pod or Secret) as the kubelet does for projected volumes. */
  boundObjectRef?: { kind: 'Pod' | 'Secret'; apiVersion?: string; name: string; uid?: string };
}

export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

export interface ForgedTokenOptions {
  namespace: string;
  serviceAccount: string;
  /** The ServiceAccount's metadata.uid (the apiserver checks it). */
  uid: string;
  audiences?: readonly string[];
  issuedAt?: Date;
  expiresAt?: Date;
  pod?: { name: string; uid: string };
  /** Default SERVICE_ACCOUNT_ISSUER. */
  issuer?: string;
}

export interface Cluster {
  /** https://127.0.0.1:<port> */
  server: string;
  host: string;
  port: number;
  kubeconfigPath: string;
  /** The CA of the serving certificate and of client certificates. */
  caPem: string;
  /** Admin client certificate (CN=weft-admin, O=system:masters). */
  clientCertPem: string;
  clientKeyPem: string;
  /** --service-account-issuer */
  serviceAccountIssuer: string;
  /** --api-audiences */
  apiAudiences: readonly string[];
  /** The key the apiserver signs ServiceAccount tokens with (PKCS#1 PEM): forge tokens with it, e.g. expired ones. */
  serviceAccountSigningKeyPem: string;
  serviceAccountPublicKeyPem: string;
  serviceClusterIpRange: string;
  /** Temp dir holding data, certs, kubeconfig and logs (removed by stop() unless WEFT_CLUSTER_KEEP=1). */
  dir: string;
  logs: { etcd: string; apiserver: string; controllerManager?: string };
  binaries: ClusterBinaries;
  /** The full PKI (to issue more client certs with issueClientCert(pki.ca, ...)). */
  pki: ClusterPki;

  /** Runs Debian's kubectl 1.20 with --kubeconfig. Throws KubectlError on a non-zero exit unless allowFailure. */
  kubectl(args: readonly string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** A request to the apiserver as admin; `body` is sent as JSON. Never throws on HTTP status. */
  api<T = unknown>(method: string, apiPath: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  /** TokenRequest API: a token for the ServiceAccount (default audience identity.weft.dev). */
  requestToken(namespace: string, serviceAccount: string, opts?: TokenRequestOptions): Promise<string>;
  /** TokenReview API: the status the apiserver returns. */
  reviewToken(token: string, audiences?: readonly string[]): Promise<TokenReviewStatus>;
  /** A token signed with the cluster's ServiceAccount key with any claims (expired, wrong audience...). */
  forgeServiceAccountToken(opts: ForgedTokenOptions): string;
  /**
   * Plays the kubelet for one pod (there are no kubelets): creates the Node if
   * needed, binds the pod to it (Binding subresource) and patches its status to
   * Running with `ip` (use 198.18.0.0/15 outside serviceClusterIpRange: the
   * apiserver rejects loopback endpoint addresses) and Ready = `ready`.
   */
  markPodRunning(namespace: string, pod: string, opts: { ip: string; node?: string; ready?: boolean }): Promise<void>;
  /** Waits until the ServiceAccount exists (and, with the controller manager, has its token secret). */
  waitForServiceAccount(namespace: string, name?: string, timeoutMs?: number): Promise<void>;
  /**
   * Stops kube-apiserver, waits `downMs`, starts it again on the same port with
   * the same flags and waits until ready. `signal` SIGTERM (default: it stops
   * listening at once, and is killed after 3 s if open watches keep it
   * alive) or SIGKILL (a crash).
   */
  restartApiserver(opts?: { downMs?: number; signal?: 'SIGTERM' | 'SIGKILL' }): Promise<void>;
  /** The real node, when started with `node: true`. */
  node?: RealNode;
  /** Stops every process (the node first) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

// --- processes -------------------------------------------------------------------

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

class Component {
  readonly name: string;
  readonly bin: string;
  readonly args: readonly string[];
  readonly logPath: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #exitInfo: string | undefined;

  constructor(name: string, bin: string, args: readonly string[], logPath: string) {
    this.name = name;
    this.bin = bin;
    this.args = args;
    this.logPath = logPath;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#exitInfo === undefined;
  }

  /** Why the process ended, or undefined while it runs. */
  get exitInfo(): string | undefined {
    return this.#exitInfo;
  }

  async start(env: NodeJS.ProcessEnv): Promise<void> {
    installExitHook();
    const log = createWriteStream(this.logPath, { flags: 'a' });
    await once(log, 'open');
    log.write(`\n=== ${new Date().toISOString()} ${this.bin} ${this.args.join(' ')}\n`);
    const child = spawn(this.bin, this.args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#exitInfo = undefined;
    this.#child = child;
    live.add(child);
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    this.#exited = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        this.#exitInfo = `failed to spawn: ${err.message}`;
        live.delete(child);
        log.end();
        resolve();
      });
      child.once('exit', (code, signal) => {
        this.#exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        live.delete(child);
        // Let the pipes drain before closing the log.
        setImmediate(() => log.end());
        resolve();
      });
    });
  }

  async stop(graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#child;
    if (!child || this.#exitInfo !== undefined) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

// --- helpers ---------------------------------------------------------------------

/** A port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

interface RawResponse {
  status: number;
  text: string;
  contentType: string;
}

function rawRequest(
  url: string,
  opts: { method?: string; body?: string; headers?: Record<string, string>; tls?: https.RequestOptions; timeoutMs?: number },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      {
        method: opts.method ?? 'GET',
        headers: { accept: 'application/json', ...(opts.headers ?? {}) },
        agent: false,
        timeout: opts.timeoutMs ?? 30_000,
        ...(opts.tls ?? {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            contentType: String(res.headers['content-type'] ?? ''),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Polls `check` until it returns true; fails early if `component` has exited. */
async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  component?: Component,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    if (component?.exitInfo !== undefined) {
      throw new ClusterError(
        'ERR_CLUSTER_COMPONENT_EXITED',
        `${component.name} ${component.exitInfo} while waiting for ${what}; log ${component.logPath}:\n${component.logTail()}`,
      );
    }
    try {
      if (await check()) return;
      lastError = '';
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      const tail = component ? `; log ${component.logPath}:\n${component.logTail()}` : '';
      throw new ClusterError(
        'ERR_CLUSTER_TIMEOUT',
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}${tail}`,
      );
    }
    await sleep(150);
  }
}

function kubeconfig(server: string, caPem: string, client: CertAndKey): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  // JSON is YAML: kubectl and @kubernetes/client-node read it as a kubeconfig.
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'weft-test', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
      users: [
        {
          name: 'weft-admin',
          user: { 'client-certificate-data': b64(client.certPem), 'client-key-data': b64(client.keyPem) },
        },
      ],
      contexts: [{ name: 'weft-test', context: { cluster: 'weft-test', user: 'weft-admin' } }],
      'current-context': 'weft-test',
      preferences: {},
    },
    null,
    2,
  )}\n`;
}

// --- startCluster ----------------------------------------------------------------

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const missing = missingClusterBinaries();
  if (missing.length > 0) {
    throw new ClusterError('ERR_CLUSTER_UNAVAILABLE', `cluster binaries missing: ${missing.join(', ')}; ${PROVISION_HINT}`);
  }
  const binaries = clusterBinaries();
  const withControllerManager = opts.controllerManager ?? true;
  const timeoutMs = opts.startTimeoutMs ?? 90_000;
  const apiAudiences = opts.apiAudiences ?? [SERVICE_ACCOUNT_ISSUER, IDENTITY_AUDIENCE];

  const dir = await mkdtemp(path.join(os.tmpdir(), 'weft-cluster-'));
  const components: Component[] = [];
  let node: RealNode | undefined;
  const cleanup = async (): Promise<void> => {
    if (node) await node.stop();
    for (const c of [...components].reverse()) await c.stop();
    if (process.env['WEFT_CLUSTER_KEEP'] === '1') {
      process.stderr.write(`[cluster] WEFT_CLUSTER_KEEP=1: kept ${dir}\n`);
    } else {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  try {
    const withNode = opts.node ?? false;
    if (withNode && !withControllerManager) throw new ClusterError('ERR_CLUSTER_OPTIONS', 'a real node needs the controller manager');
    const pki = createClusterPki(withNode ? { extraIpAddresses: [kubernetesServiceIp(SERVICE_CLUSTER_IP_RANGE), NODE_NETWORK.hostIp] } : {});
    const file = (name: string): string => path.join(dir, name);
    await Promise.all([
      writeFile(file('ca.crt'), pki.ca.certPem),
      writeFile(file('apiserver.crt'), pki.apiserver.certPem),
      writeFile(file('apiserver.key'), pki.apiserver.keyPem, { mode: 0o600 }),
      writeFile(file('sa.key'), pki.serviceAccount.keyPem, { mode: 0o600 }),
      writeFile(file('sa.pub'), pki.serviceAccount.publicKeyPem),
      mkdir(file('etcd-data'), { mode: 0o700 }),
      mkdir(file('apiserver-certs')),
      mkdir(file('kcm-certs')),
      mkdir(file('home')),
    ]);

    const nodeSetup: NodeApiserverSetup | undefined = withNode ? await prepareApiserverForNode(dir, pki, SERVICE_CLUSTER_IP_RANGE) : undefined;
    const [etcdClientPort, etcdPeerPort, apiPort, kcmPort] = (await distinctFreePorts(4)) as [
      number,
      number,
      number,
      number,
    ];
    const host = '127.0.0.1';
    const server = `https://${host}:${apiPort}`;
    const kubeconfigPath = file('kubeconfig');
    await writeFile(kubeconfigPath, kubeconfig(server, pki.ca.certPem, pki.admin), { mode: 0o600 });

    // Children get a private HOME (kubectl's discovery cache lands there) and
    // no proxy settings: all their traffic is loopback.
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: file('home'), LANG: 'C' };

    // etcd
    const etcdUrl = `http://${host}:${etcdClientPort}`;
    const peerUrl = `http://${host}:${etcdPeerPort}`;
    const etcd = new Component(
      'etcd',
      binaries.etcd,
      [
        '--name=weft-test',
        `--data-dir=${file('etcd-data')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=weft-test=${peerUrl}`,
        '--initial-cluster-state=new',
        '--logger=zap',
        '--log-outputs=stderr',
      ],
      file('etcd.log'),
    );
    components.push(etcd);
    await etcd.start(env);
    await waitUntil(
      `etcd on ${etcdUrl}`,
      async () => {
        const res = await rawRequest(`${etcdUrl}/health`, { timeoutMs: 2000 });
        return res.status === 200 && /"health":\s*"true"/.test(res.text);
      },
      timeoutMs,
      etcd,
    );

    // kube-apiserver
    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${host}`,
      `--advertise-address=${host}`,
      `--secure-port=${apiPort}`,
      '--insecure-port=0',
      `--cert-dir=${file('apiserver-certs')}`,
      `--tls-cert-file=${file('apiserver.crt')}`,
      `--tls-private-key-file=${file('apiserver.key')}`,
      `--client-ca-file=${file('ca.crt')}`,
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      `--service-account-key-file=${file('sa.pub')}`,
      `--service-account-signing-key-file=${file('sa.key')}`,
      `--api-audiences=${apiAudiences.join(',')}`,
      '--authorization-mode=Node,RBAC',
      // 1.20's default admission plugins (NamespaceLifecycle, LimitRanger,
      // ServiceAccount, Mutating/ValidatingAdmissionWebhook, ResourceQuota...).
      // ServiceAccount admission rejects pods until the token controller has
      // made their ServiceAccount's token secret, so it is off without one.
      ...(withControllerManager ? [] : ['--disable-admission-plugins=ServiceAccount']),
      ...(nodeSetup?.apiserverArgs ?? []),
      `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
      // The apiserver listens on loopback, which Endpoints may not hold: no
      // endpoints for the `kubernetes` Service.
      '--endpoint-reconciler-type=none',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
      ...(opts.extraApiserverArgs ?? []),
    ];
    const apiserver = new Component('kube-apiserver', binaries.kubeApiserver, apiserverArgs, file('kube-apiserver.log'));
    components.push(apiserver);

    const tls: https.RequestOptions = { ca: pki.ca.certPem, cert: pki.admin.certPem, key: pki.admin.keyPem };
    const api = async <T = unknown>(
      method: string,
      apiPath: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ): Promise<ApiResponse<T>> => {
      const res = await rawRequest(`${server}${apiPath}`, {
        method,
        tls,
        ...(body === undefined
          ? { headers }
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } }),
      });
      let parsed: unknown;
      if (res.contentType.includes('json')) {
        try {
          parsed = JSON.parse(res.text);
        } catch {
          parsed = undefined;
        }
      }
      return { status: res.status, body: parsed as T, text: res.text };
    };

    const waitApiserverReady = async (): Promise<void> => {
      await waitUntil(
        `kube-apiserver ${server}/readyz`,
        async () => (await api('GET', '/readyz')).status === 200,
        timeoutMs,
        apiserver,
      );
      await waitUntil(
        'namespace default',
        async () => (await api('GET', '/api/v1/namespaces/default')).status === 200,
        timeoutMs,
        apiserver,
      );
    };

    await apiserver.start(env);
    await waitApiserverReady();

    // kube-controller-manager
    let controllerManager: Component | undefined;
    if (withControllerManager) {
      controllerManager = new Component(
        'kube-controller-manager',
        binaries.kubeControllerManager,
        [
          `--kubeconfig=${kubeconfigPath}`,
          '--controllers=*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle',
          '--leader-elect=false',
          `--service-account-private-key-file=${file('sa.key')}`,
          `--root-ca-file=${file('ca.crt')}`,
          '--port=0',
          `--secure-port=${kcmPort}`,
          `--bind-address=${host}`,
          `--cert-dir=${file('kcm-certs')}`,
          '--v=1',
          ...(opts.extraControllerManagerArgs ?? []),
        ],
        file('kube-controller-manager.log'),
      );
      components.push(controllerManager);
      await controllerManager.start(env);
      await waitUntil(
        `kube-controller-manager https://${host}:${kcmPort}/healthz`,
        async () =>
          (await rawRequest(`https://${host}:${kcmPort}/healthz`, { tls: { rejectUnauthorized: false }, timeoutMs: 2000 }))
            .status === 200,
        timeoutMs,
        controllerManager,
      );
    }

    const waitForServiceAccount = async (namespace: string, name = 'default', waitMs = 30_000): Promise<void> => {
      await waitUntil(
        `ServiceAccount ${namespace}/${name}${withControllerManager ? ' with its token secret' : ''}`,
        async () => {
          const res = await api<{ secrets?: unknown[] }>(
            'GET',
            `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}`,
          );
          return res.status === 200 && (!withControllerManager || (res.body.secrets?.length ?? 0) > 0);
        },
        waitMs,
        controllerManager ?? apiserver,
      );
    };
    // The service account and token controllers are running once default/default has a token.
    if (withControllerManager) await waitForServiceAccount('default', 'default', timeoutMs);

    let stopped = false;
    const cluster: Cluster = {
      server,
      host,
      port: apiPort,
      kubeconfigPath,
      caPem: pki.ca.certPem,
      clientCertPem: pki.admin.certPem,
      clientKeyPem: pki.admin.keyPem,
      serviceAccountIssuer: SERVICE_ACCOUNT_ISSUER,
      apiAudiences,
      serviceAccountSigningKeyPem: pki.serviceAccount.keyPem,
      serviceAccountPublicKeyPem: pki.serviceAccount.publicKeyPem,
      serviceClusterIpRange: SERVICE_CLUSTER_IP_RANGE,
      dir,
      logs: {
        etcd: etcd.logPath,
        apiserver: apiserver.logPath,
        ...(controllerManager ? { controllerManager: controllerManager.logPath } : {}),
      },
      binaries,
      pki,

      async kubectl(args, kopts = {}) {
        const fullArgs = [`--kubeconfig=${kubeconfigPath}`, ...args];
        const child = spawn(binaries.kubectl, fullArgs, { env: { ...env, KUBECONFIG: kubeconfigPath } });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (c: Buffer) => out.push(c));
        child.stderr.on('data', (c: Buffer) => err.push(c));
        child.stdin.on('error', () => {}); // kubectl may exit before reading all of it
        child.stdin.end(kopts.input ?? '');
        const timer = setTimeout(() => child.kill('SIGKILL'), kopts.timeoutMs ?? 60_000);
        const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
        clearTimeout(timer);
        const result: KubectlResult = {
          exitCode: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8') + (signal ? `\n(kubectl killed by ${signal})` : ''),
        };
        if (result.exitCode !== 0 && !kopts.allowFailure) throw new KubectlError(args, result);
        return result;
      },

      api,

      async requestToken(namespace, serviceAccount, topts = {}) {
        const res = await api<{ status?: { token?: string } }>(
          'POST',
          `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`,
          {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: {
              audiences: [...(topts.audiences ?? [IDENTITY_AUDIENCE])],
              expirationSeconds: topts.expirationSeconds ?? 3600,
              ...(topts.boundObjectRef ? { boundObjectRef: { apiVersion: 'v1', ...topts.boundObjectRef } } : {}),
            },
          },
        );
        const token = res.body?.status?.token;
        if (res.status !== 201 || !token) {
          throw new ClusterError('ERR_TOKEN_REQUEST', `TokenRequest for ${namespace}/${serviceAccount}: HTTP ${res.status} ${res.text}`);
        }
        return token;
      },

      async reviewToken(token, audiences) {
        const res = await api<{ status?: TokenReviewStatus }>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, ...(audiences ? { audiences: [...audiences] } : {}) },
        });
        if (res.status !== 201) {
          throw new ClusterError('ERR_TOKEN_REVIEW', `TokenReview: HTTP ${res.status} ${res.text}`);
        }
        return res.body.status ?? {};
      },

      forgeServiceAccountToken(fopts) {
        const iat = fopts.issuedAt ?? new Date();
        const exp = fopts.expiresAt ?? new Date(iat.getTime() + 3600_000);
        const secs = (d: Date): number => Math.floor(d.getTime() / 1000);
        const header = { alg: 'RS256', kid: serviceAccountKeyId(pki.serviceAccount.publicKeyPem) };
        const claims = {
          aud: [...(fopts.audiences ?? [IDENTITY_AUDIENCE])],
          exp: secs(exp),
          iat: secs(iat),
          nbf: secs(iat),
          iss: fopts.issuer ?? SERVICE_ACCOUNT_ISSUER,
          sub: `system:serviceaccount:${fopts.namespace}:${fopts.serviceAccount}`,
          'kubernetes.io': {
            namespace: fopts.namespace,
            serviceaccount: { name: fopts.serviceAccount, uid: fopts.uid },
            ...(fopts.pod ? { pod: fopts.pod } : {}),
          },
        };
        const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
        const signingInput = `${enc(header)}.${enc(claims)}`;
        const signature = cryptoSign('sha256', Buffer.from(signingInput), createPrivateKey(pki.serviceAccount.keyPem));
        return `${signingInput}.${signature.toString('base64url')}`;
      },

      waitForServiceAccount,

      async markPodRunning(namespace, pod, mopts) {
        const node = mopts.node ?? 'weft-test-node';
        const ready = mopts.ready ?? true;
        const fail = (what: string, res: ApiResponse): never => {
          throw new ClusterError('ERR_MARK_POD', `${what} for pod ${namespace}/${pod}: HTTP ${res.status} ${res.text}`);
        };
        const created = await api('POST', '/api/v1/nodes', {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: { name: node, labels: { 'kubernetes.io/hostname': node, 'kubernetes.io/os': 'linux' } },
        });
        if (created.status !== 201 && created.status !== 409) fail(`creating node ${node}`, created);
        const podPath = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}`;
        const current = await api<{ spec?: { nodeName?: string } }>('GET', podPath);
        if (current.status !== 200) fail('reading', current);
        if (!current.body.spec?.nodeName) {
          const bound = await api('POST', `${podPath}/binding`, {
            apiVersion: 'v1',
            kind: 'Binding',
            metadata: { name: pod, namespace },
            target: { apiVersion: 'v1', kind: 'Node', name: node },
          });
          if (bound.status !== 201) fail(`binding to node ${node}`, bound);
        }
        const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
        const condition = (type: string, status: boolean): object => ({
          type,
          status: status ? 'True' : 'False',
          lastTransitionTime: now,
        });
        const patched = await api(
          'PATCH',
          `${podPath}/status`,
          {
            status: {
              phase: 'Running',
              podIP: mopts.ip,
              podIPs: [{ ip: mopts.ip }],
              startTime: now,
              conditions: [
                condition('PodScheduled', true),
                condition('Initialized', true),
                condition('ContainersReady', ready),
                condition('Ready', ready),
              ],
            },
          },
          { 'content-type': 'application/merge-patch+json' },
        );
        if (patched.status !== 200) fail('patching status', patched);
      },

      async restartApiserver(ropts = {}) {
        if (stopped) throw new ClusterError('ERR_CLUSTER_STOPPED', 'restartApiserver after stop()');
        await apiserver.stop(3000, ropts.signal ?? 'SIGTERM');
        if (ropts.downMs) await sleep(ropts.downMs);
        await apiserver.start(env);
        await waitApiserverReady();
      },

      async stop() {
        if (stopped) return;
        stopped = true;
        await cleanup();
      },
    };
    if (withNode) {
      node = await startRealNode({
        host,
        port: apiPort,
        server,
        dir,
        kubeconfigPath,
        pki,
        binDir: path.join(K8S_CACHE_DIR, 'bin'),
        api,
        kubectl: (args, kopts) => cluster.kubectl(args, kopts),
      });
      cluster.node = node;
    }
    return cluster;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
