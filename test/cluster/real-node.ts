// A real Kubernetes node for the cluster tests: Debian's containerd 1.6 and
// runc, and kubelet, kube-proxy (iptables mode) and kube-scheduler 1.20.2
// built from the same source tree as the apiserver (provision.sh). Pods are
// real containers from images assembled on this machine (node-images.ts,
// imported into containerd; pods use imagePullPolicy: Never), on a CNI
// bridge in 198.18.240.0/24 whose host side (.1) is the node's InternalIP.
//
// What the node also provides, because the cluster listens on loopback and
// has no add-ons:
//   - a forwarder on <host ip>:<apiserver port> to the apiserver, and the
//     `kubernetes` Service's Endpoints pointing at it, so that pods reach the
//     API through its ClusterIP (in-cluster config) as in any cluster;
//   - a cluster DNS (test/harness/cluster-dns.ts) on <host ip>:53 answering
//     <svc>.<ns>.svc.cluster.local with the Service's ClusterIP.
//
// Host-wide state (node-host.ts): one real node per machine (a lock in
// /run/weft-real-node), a state file, and a sweep at stop (and at the next
// start after a killed run) that leaves the machine as it was.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { issueClientCert, issueServingCert, type CertAndKey, type ClusterPki } from './cluster-pki.ts';
import {
  acquireNodeLock,
  NODE_RULE_COMMENT,
  NODE_RUN_DIR,
  recordHostBaseline,
  releaseNodeLock,
  sweepHost,
  writeHostState,
  type NodeHostState,
} from './node-host.ts';
import {
  CLUSTER_DOMAIN,
  clientKubeconfig,
  cniConflist,
  containerdConfig,
  kubeletConfig,
  NODE_NAME,
  NODE_NETWORK,
} from './node-config.ts';
import { buildNodeImages, importNodeImages, type NodeImage } from './node-images.ts';
import { startClusterDns } from '../harness/cluster-dns.ts';

const execFileAsync = promisify(execFile);

/** Images every test can use (pods must say imagePullPolicy: Never). */
export const NODE_IMAGES = {
  /** Node 24, the project's build in /weft (as deploy/Dockerfile's image), iptables, busybox. */
  weft: 'weft.dev/weft:test',
  /** busybox only (Jobs, shells). */
  busybox: 'weft.dev/busybox:test',
  pause: 'weft.dev/pause:test',
} as const;

export interface NodeBinaries {
  kubelet: string;
  kubeProxy: string;
  kubeScheduler: string;
  containerd: string;
  ctr: string;
}

/** What the node needs from the cluster it joins. */
export interface NodeCluster {
  host: string;
  port: number;
  server: string;
  dir: string;
  kubeconfigPath: string;
  pki: ClusterPki;
  binDir: string;
  api<T = unknown>(method: string, apiPath: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T; text: string }>;
  kubectl(args: readonly string[], opts?: { input?: string; allowFailure?: boolean; timeoutMs?: number }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

export interface RealNode {
  name: string;
  /** The node's InternalIP, the pods' gateway and DNS server. */
  hostIp: string;
  podCidr: string;
  images: typeof NODE_IMAGES;
  /** containerd's socket (for `ctr --address`). */
  containerdAddress: string;
  logs: { containerd: string; kubelet: string; kubeProxy: string; kubeScheduler: string };
  /** Times of the start-up steps, in ms. */
  timings: Record<string, number>;
  /** `kubectl exec` into a pod's container; resolves with the result (never throws on the command's exit code). */
  exec(namespace: string, pod: string, argv: readonly string[], opts?: { container?: string; input?: string; timeoutMs?: number }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /**
   * Runs a host command inside a pod's network namespace (nsenter; the host's
   * files and binaries, e.g. this checkout's Node and test scripts), as `uid`
   * if given: what `ip netns exec` was to the test kubelet. Never throws on the
   * command's exit code.
   */
  netnsExec(namespace: string, pod: string, argv: readonly string[], opts?: { uid?: number; timeoutMs?: number }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** The host pid of a pod's first running container (its network namespace is /proc/<pid>/ns/net). */
  podPid(namespace: string, pod: string): Promise<number>;
  /** Deletes every pod, stops the node's processes and sweeps the host (node-host.ts). Idempotent. */
  stop(): Promise<void>;
}

/** Flags the apiserver needs to talk to this node's kubelet (logs, exec) and names it serves under. */
export interface NodeApiserverSetup {
  extraIpSans: string[];
  apiserverArgs: string[];
}

/** The first address of the service range: the `kubernetes` Service's ClusterIP. */
export function kubernetesServiceIp(serviceRange: string): string {
  const base = serviceRange.split('/')[0] ?? '';
  const parts = base.split('.').map(Number);
  parts[3] = (parts[3] ?? 0) + 1;
  return parts.join('.');
}

/** Writes the apiserver's kubelet-client certificate into `dir` and returns the flags and SANs. */
export async function prepareApiserverForNode(dir: string, pki: ClusterPki, serviceRange: string): Promise<NodeApiserverSetup> {
  const client = issueClientCert(pki.ca, 'kube-apiserver-kubelet-client', ['system:masters']);
  await writeFile(path.join(dir, 'kubelet-client.crt'), client.certPem);
  await writeFile(path.join(dir, 'kubelet-client.key'), client.keyPem, { mode: 0o600 });
  return {
    extraIpSans: [kubernetesServiceIp(serviceRange), NODE_NETWORK.hostIp],
    apiserverArgs: [
      `--kubelet-client-certificate=${path.join(dir, 'kubelet-client.crt')}`,
      `--kubelet-client-key=${path.join(dir, 'kubelet-client.key')}`,
      '--kubelet-preferred-address-types=InternalIP',
    ],
  };
}

export function nodeBinaries(binDir: string): NodeBinaries {
  return {
    kubelet: path.join(binDir, 'kubelet'),
    kubeProxy: path.join(binDir, 'kube-proxy'),
    kubeScheduler: path.join(binDir, 'kube-scheduler'),
    containerd: '/usr/bin/containerd',
    ctr: '/usr/bin/ctr',
  };
}

class NodeProcess {
  readonly name: string;
  readonly logPath: string;
  child: ChildProcess | undefined;
  exitInfo: string | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(name: string, logPath: string) {
    this.name = name;
    this.logPath = logPath;
  }

  async start(bin: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
    const log = createWriteStream(this.logPath, { flags: 'a' });
    await once(log, 'open');
    log.write(`=== ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
    // detached: its own process group, so that a test process's Ctrl-C does not kill it mid-sweep.
    const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    this.#exited = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        this.exitInfo = `failed to spawn: ${err.message}`;
        log.end();
        resolve();
      });
      child.once('exit', (code, signal) => {
        this.exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        setImmediate(() => log.end());
        resolve();
      });
    });
    if (child.pid === undefined) {
      await this.#exited;
      throw new Error(`${this.name}: ${this.exitInfo}`);
    }
    return child.pid;
  }

  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || this.exitInfo !== undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  tail(lines = 30): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

async function sh(cmd: string, args: readonly string[], allowFailure = false): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, [...args], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    if (allowFailure) return '';
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, procs: readonly NodeProcess[] = []): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    for (const p of procs) {
      if (p.exitInfo !== undefined) throw new Error(`${p.name} ${p.exitInfo} while waiting for ${what}; log ${p.logPath}:\n${p.tail()}`);
    }
    try {
      if (await check()) return;
      last = '';
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      const tails = procs.map((p) => `--- ${p.name} (${p.logPath}):\n${p.tail(15)}`).join('\n');
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}\n${tails}`);
    }
    await sleep(250);
  }
}

/** A TCP forwarder host:port -> the apiserver on loopback. */
async function startApiForwarder(listenHost: string, port: number, target: { host: string; port: number }): Promise<net.Server> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(port, listenHost);
  await once(server, 'listening');
  const close = server.close.bind(server);
  server.close = (cb?: (err?: Error) => void) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  };
  return server;
}

const TAINTS_TO_LIFT = ['node.kubernetes.io/not-ready'];

/**
 * Starts the node against `cluster` (whose apiserver was started with
 * prepareApiserverForNode's flags). Waits until the Node is Ready and
 * schedulable, kube-proxy has synced, and the images are imported.
 */
export async function startRealNode(cluster: NodeCluster, opts: { log?: (line: string) => void } = {}): Promise<RealNode> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`[real-node] ${line}\n`));
  const timings: Record<string, number> = {};
  let t = Date.now();
  const mark = (step: string): void => {
    timings[step] = Date.now() - t;
    t = Date.now();
  };
  const bins = nodeBinaries(cluster.binDir);
  for (const b of Object.values(bins)) {
    if (!existsSync(b)) throw new Error(`real node: ${b} is missing; provision with \`npm run cluster:provision\``);
  }

  await acquireNodeLock(log);
  mark('lock');
  const dir = path.join(cluster.dir, 'node');
  const containerdAddress = path.join(NODE_RUN_DIR, 'containerd.sock');
  const state: NodeHostState = recordHostBaseline(process.pid, dir, containerdAddress);
  writeHostState(state);

  const procs: NodeProcess[] = [];
  const logFile = (n: string): string => path.join(dir, `${n}.log`);
  const containerd = new NodeProcess('containerd', logFile('containerd'));
  const kubelet = new NodeProcess('kubelet', logFile('kubelet'));
  const kubeProxy = new NodeProcess('kube-proxy', logFile('kube-proxy'));
  const scheduler = new NodeProcess('kube-scheduler', logFile('kube-scheduler'));
  let dns: Awaited<ReturnType<typeof startClusterDns>> | undefined;
  let forwarder: net.Server | undefined;
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const t0 = Date.now();
      await scheduler.stop();
      if (kubelet.exitInfo === undefined && kubelet.child) {
        // Pods go through the API first, so that the kubelet unmounts their
        // volumes and tears their sandboxes down itself.
        await cluster.kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=0', '--force', '--wait=false'], { allowFailure: true, timeoutMs: 30_000 });
        await waitUntil('every container stopped', async () => !(await runningTasks(bins.ctr, containerdAddress)), 45_000).catch((err: Error) => log(err.message.split('\n')[0] ?? ''));
      }
      await kubelet.stop();
      await kubeProxy.stop();
      await containerd.stop();
      await new Promise<void>((r) => (forwarder ? forwarder.close(() => r()) : r()));
      await dns?.close();
      await sh(bins.kubeProxy, ['--cleanup'], true);
      await sweepHost(log, state, { keepDir: true }); // the cluster's stop() removes it, or keeps it with WEFT_CLUSTER_KEEP=1
      releaseNodeLock();
      process.off('exit', killOnExit);
      log(`stopped and swept in ${Date.now() - t0} ms`);
    })();
    return stopping;
  };

  // If the test process dies without stop(), its node processes die with it;
  // the next start sweeps the rest (the lock's owner is gone).
  const killOnExit = (): void => {
    for (const p of procs) p.child?.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  try {
    await mkdir(dir, { recursive: true });
    for (const d of ['kubelet', 'containerd', 'cni/net.d', 'cni/ipam', 'certs', 'volume-plugins']) await mkdir(path.join(dir, d), { recursive: true });
    const file = (n: string): string => path.join(dir, n);

    // --- network: the bridge first (the kubelet's --node-ip must exist), and the rule that keeps pods' traffic on the machine.
    await sh('ip', ['link', 'add', NODE_NETWORK.bridge, 'type', 'bridge']);
    await sh('ip', ['addr', 'add', `${NODE_NETWORK.hostIp}/${NODE_NETWORK.prefixLength}`, 'dev', NODE_NETWORK.bridge]);
    await sh('ip', ['link', 'set', NODE_NETWORK.bridge, 'up']);
    await insertForwardRules();
    mark('network');

    // --- certificates and kubeconfigs
    const ca = cluster.pki.ca;
    const writeKubeconfig = async (name: string, cert: CertAndKey, user: string): Promise<string> => {
      const p = file(`certs/${name}.kubeconfig`);
      await writeFile(p, clientKubeconfig(cluster.server, ca.certPem, cert.certPem, cert.keyPem, user), { mode: 0o600 });
      return p;
    };
    const kubeletClient = issueClientCert(ca, `system:node:${NODE_NAME}`, ['system:nodes']);
    const kubeletServing = issueServingCert(ca, NODE_NAME, [NODE_NETWORK.hostIp], [NODE_NAME]);
    const proxyClient = issueClientCert(ca, 'system:kube-proxy');
    const schedulerClient = issueClientCert(ca, 'system:kube-scheduler');
    await writeFile(file('certs/ca.crt'), ca.certPem);
    await writeFile(file('certs/kubelet.crt'), kubeletServing.certPem);
    await writeFile(file('certs/kubelet.key'), kubeletServing.keyPem, { mode: 0o600 });
    const kubeletKubeconfig = await writeKubeconfig('kubelet', kubeletClient, `system:node:${NODE_NAME}`);
    const proxyKubeconfig = await writeKubeconfig('kube-proxy', proxyClient, 'system:kube-proxy');
    const schedulerKubeconfig = await writeKubeconfig('kube-scheduler', schedulerClient, 'system:kube-scheduler');
    // Pods' resolver: the harness DNS only (otherwise containerd copies the host's).
    await writeFile(file('resolv.conf'), `nameserver ${NODE_NETWORK.hostIp}\n`);

    // --- images (built or taken from the cache while containerd starts)
    const imagesBuilt: Promise<NodeImage[]> = buildNodeImages();
    imagesBuilt.catch(() => {});

    // --- containerd
    await writeFile(file('containerd.toml'), containerdConfig({
      root: file('containerd'),
      state: path.join(NODE_RUN_DIR, 'containerd-state'),
      address: containerdAddress,
      cniConfDir: file('cni/net.d'),
      sandboxImage: NODE_IMAGES.pause,
    }));
    await writeFile(file('cni/net.d/10-weft-test-node.conflist'), cniConflist(file('cni/ipam')));
    const env: NodeJS.ProcessEnv = { PATH: `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: dir, LANG: 'C' };
    procs.push(containerd);
    state.pids['containerd'] = await containerd.start(bins.containerd, ['--config', file('containerd.toml')], env);
    writeHostState(state);
    await waitUntil('containerd', async () => {
      await sh(bins.ctr, ['--address', containerdAddress, 'version']);
      return true;
    }, 30_000, [containerd]);
    mark('containerd');
    const images = await imagesBuilt;
    mark('images built');
    await importNodeImages(images, { bin: bins.ctr, address: containerdAddress });
    mark('images imported');

    // --- DNS and the API's in-cluster address
    dns = await startClusterDns({
      host: NODE_NETWORK.hostIp,
      port: 53,
      domain: CLUSTER_DOMAIN,
      resolveService: async (namespace, name) => {
        const res = await cluster.api<{ spec?: { clusterIP?: string } }>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`);
        if (res.status === 404) return undefined;
        if (res.status !== 200) throw new Error(`GET service ${namespace}/${name}: ${res.status}`);
        const ip = res.body.spec?.clusterIP;
        return ip && ip !== 'None' ? [ip] : [];
      },
    });
    forwarder = await startApiForwarder(NODE_NETWORK.hostIp, cluster.port, { host: cluster.host, port: cluster.port });
    const endpoints = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'kubernetes', namespace: 'default' },
      subsets: [{ addresses: [{ ip: NODE_NETWORK.hostIp }], ports: [{ name: 'https', port: cluster.port, protocol: 'TCP' }] }],
    };
    const put = await cluster.api('PUT', '/api/v1/namespaces/default/endpoints/kubernetes', endpoints);
    if (put.status === 404) await cluster.api('POST', '/api/v1/namespaces/default/endpoints', endpoints);
    mark('dns and api forwarder');

    // --- kubelet, kube-scheduler, kube-proxy
    const [kubeletPort, kubeletHealthz, proxyHealthz, proxyMetrics, schedulerPort] = await freePorts(5);
    await writeFile(file('kubelet.yaml'), kubeletConfig({
      port: kubeletPort ?? 10250,
      healthzPort: kubeletHealthz ?? 0,
      clientCaFile: file('certs/ca.crt'),
      tlsCertFile: file('certs/kubelet.crt'),
      tlsKeyFile: file('certs/kubelet.key'),
      resolvConf: file('resolv.conf'),
    }));
    procs.push(kubelet, scheduler, kubeProxy);
    state.pids['kubelet'] = await kubelet.start(bins.kubelet, [
      `--config=${file('kubelet.yaml')}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      '--container-runtime=remote',
      `--container-runtime-endpoint=unix://${containerdAddress}`,
      `--root-dir=${file('kubelet')}`,
      `--cert-dir=${file('certs')}`,
      `--node-ip=${NODE_NETWORK.hostIp}`,
      `--hostname-override=${NODE_NAME}`,
      `--volume-plugin-dir=${file('volume-plugins')}`,
      `--pod-infra-container-image=${NODE_IMAGES.pause}`,
      '--v=1',
    ], env);
    state.pids['kube-scheduler'] = await scheduler.start(bins.kubeScheduler, [
      `--kubeconfig=${schedulerKubeconfig}`,
      `--authentication-kubeconfig=${schedulerKubeconfig}`,
      `--authorization-kubeconfig=${schedulerKubeconfig}`,
      '--leader-elect=false',
      '--port=0',
      `--secure-port=${schedulerPort}`,
      '--bind-address=127.0.0.1',
      `--cert-dir=${file('certs/scheduler')}`,
      '--v=1',
    ], env);
    state.pids['kube-proxy'] = await kubeProxy.start(bins.kubeProxy, [
      `--kubeconfig=${proxyKubeconfig}`,
      '--proxy-mode=iptables',
      `--cluster-cidr=${NODE_NETWORK.podCidr}`,
      `--hostname-override=${NODE_NAME}`,
      `--bind-address=${NODE_NETWORK.hostIp}`,
      `--healthz-bind-address=127.0.0.1:${proxyHealthz}`,
      `--metrics-bind-address=127.0.0.1:${proxyMetrics}`,
      `--nodeport-addresses=${NODE_NETWORK.podCidr}`,
      // Leave the host's conntrack sysctls alone.
      '--conntrack-max-per-core=0',
      '--conntrack-tcp-timeout-established=0',
      '--conntrack-tcp-timeout-close-wait=0',
      '--iptables-min-sync-period=0s',
      '--v=1',
    ], env);
    writeHostState(state);

    await waitUntil(`Node ${NODE_NAME} Ready`, async () => {
      const res = await cluster.api<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', `/api/v1/nodes/${NODE_NAME}`);
      return res.status === 200 && (res.body.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    }, 90_000, procs);
    mark('node ready');
    // No nodelifecycle controller runs: lift the taint it would lift.
    for (const taint of TAINTS_TO_LIFT) await cluster.kubectl(['taint', 'nodes', NODE_NAME, `${taint}-`], { allowFailure: true });
    await waitUntil('kube-proxy synced', async () => (await fetch(`http://127.0.0.1:${proxyHealthz}/healthz`)).status === 200, 60_000, procs);
    await waitUntil('kube-proxy KUBE-SERVICES', async () => (await sh('iptables', ['-w', '5', '-t', 'nat', '-S', 'KUBE-SERVICES'], true)).includes('default/kubernetes'), 60_000, procs);
    // kube-proxy puts its FORWARD rules first: ours go back on top.
    await insertForwardRules();
    mark('kube-proxy synced');
    log(`node ${NODE_NAME} ready: ${Object.entries(timings).map(([k, v]) => `${k} ${v} ms`).join(', ')}`);
  } catch (err) {
    await stop().catch((e: Error) => log(`stop after a failed start: ${e.message}`));
    throw err;
  }

  return {
    name: NODE_NAME,
    hostIp: NODE_NETWORK.hostIp,
    podCidr: NODE_NETWORK.podCidr,
    images: NODE_IMAGES,
    containerdAddress,
    logs: { containerd: containerd.logPath, kubelet: kubelet.logPath, kubeProxy: kubeProxy.logPath, kubeScheduler: scheduler.logPath },
    timings,
    async exec(namespace, pod, argv, eopts = {}) {
      return cluster.kubectl(
        ['exec', '-n', namespace, ...(eopts.input !== undefined ? ['-i'] : []), pod, ...(eopts.container ? ['-c', eopts.container] : []), '--', ...argv],
        { allowFailure: true, timeoutMs: eopts.timeoutMs ?? 60_000, ...(eopts.input !== undefined ? { input: eopts.input } : {}) },
      );
    },
    podPid,
    async netnsExec(namespace, pod, argv, nopts = {}) {
      const pid = await podPid(namespace, pod);
      const cmd = ['--net=' + `/proc/${pid}/ns/net`, '--', ...(nopts.uid !== undefined ? ['setpriv', `--reuid=${nopts.uid}`, `--regid=${nopts.uid}`, '--clear-groups'] : []), ...argv];
      try {
        const { stdout, stderr } = await execFileAsync('nsenter', cmd, { timeout: nopts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
        return { exitCode: 0, stdout, stderr };
      } catch (err) {
        const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
        return { exitCode: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
      }
    },
    stop,
  };

  async function podPid(namespace: string, pod: string): Promise<number> {
    const res = await cluster.api<{ status?: { containerStatuses?: { containerID?: string; state?: { running?: unknown } }[] } }>(
      'GET',
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}`,
    );
    const ids = (res.body.status?.containerStatuses ?? []).filter((c) => c.state?.running !== undefined && c.containerID).map((c) => (c.containerID ?? '').replace(/^containerd:\/\//, ''));
    const tasks = await sh(bins.ctr, ['--address', containerdAddress, '-n', 'k8s.io', 'tasks', 'ls']);
    for (const line of tasks.split('\n').slice(1)) {
      const [id, pid, status] = line.trim().split(/\s+/);
      if (id !== undefined && ids.includes(id) && status === 'RUNNING') return Number(pid);
    }
    throw new Error(`pod ${namespace}/${pod} has no running container (containers ${ids.join(', ') || 'none'})`);
  }
}

/** Pods' traffic stays on the machine: anything leaving the bridge for another interface is dropped; traffic within it is accepted. */
async function insertForwardRules(): Promise<void> {
  const rules = [
    ['-i', NODE_NETWORK.bridge, '-o', NODE_NETWORK.bridge, '-m', 'comment', '--comment', NODE_RULE_COMMENT, '-j', 'ACCEPT'],
    ['-i', NODE_NETWORK.bridge, '!', '-o', NODE_NETWORK.bridge, '-m', 'comment', '--comment', NODE_RULE_COMMENT, '-j', 'DROP'],
  ];
  for (const r of rules) {
    while (await ruleExists(r)) await sh('iptables', ['-w', '5', '-D', 'FORWARD', ...r], true);
  }
  // Inserted in reverse so that the DROP ends up first.
  for (const r of rules) await sh('iptables', ['-w', '5', '-I', 'FORWARD', '1', ...r]);
}

async function ruleExists(rule: readonly string[]): Promise<boolean> {
  try {
    await execFileAsync('iptables', ['-w', '5', '-C', 'FORWARD', ...rule]);
    return true;
  } catch {
    return false;
  }
}

async function runningTasks(ctr: string, address: string): Promise<boolean> {
  const out = await sh(ctr, ['--address', address, '-n', 'k8s.io', 'tasks', 'ls'], true);
  return out.split('\n').slice(1).some((l) => /\bRUNNING\b/.test(l));
}

async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) {
    const s = net.createServer();
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    ports.add((s.address() as net.AddressInfo).port);
    await new Promise<void>((r) => s.close(() => r()));
  }
  return [...ports];
}
