// A test kubelet: one node's worth of pods, run as processes in network
// namespaces on this machine, for the cluster tests (there are no kubelets
// and no container runtime here).
//
//   const agent = await startNodeAgent({ cluster, accept: (p) => p.metadata.namespace === 'demo' });
//   ... kubectl apply Deployments: the controller manager makes pods, the
//   ... webhook injects them, the agent binds and runs them ...
//   await agent.exec('demo', pod, ['iptables', '-t', 'nat', '-S']);
//   await agent.stop();
//
// What it does, kubelet by kubelet:
//   - Node: creates Node `nodeName` (default weft-test-node) with a Ready
//     condition and the bridge address as InternalIP; deletes it on stop().
//   - Scheduling: every poll (default 250 ms) lists all pods; a pod without
//     spec.nodeName that `accept`s is bound here (Binding subresource).
//     Others stay Pending. hostNetwork pods are never taken.
//   - Network: one Linux bridge per agent (wbr-<tag>) holding 198.18.<S>.1/24
//     on the host, S random in 1..254 (so agents of parallel test files never
//     share a subnet; 198.19.255.0/24 is the Service ClusterIP range and never
//     used). Each pod gets a network namespace weft-<tag>-<n>, a veth pair
//     (eth0 inside, wv<tag><n> on the bridge), 198.18.<S>.<n>/24 and a
//     default route via the bridge. The host can reach every pod and pods
//     each other and the host (control plane, injector, Prometheus run on
//     the host on the bridge address). A host iptables rule drops anything
//     pods send off the bridge (traffic stays on 127/8 and 198.18/15).
//   - DNS: there is no cluster DNS. Each pod's /etc/hosts (ip netns exec
//     bind-mounts /etc/netns/<netns>/hosts) maps every Service's names
//     (name.ns, name.ns.svc, name.ns.svc.cluster.local, and the bare name in
//     the pod's own namespace) to its ClusterIP, refreshed as Services come
//     and go; resolv.conf points at 127.0.0.1 so nothing else resolves.
//     ClusterIPs do not route (no kube-proxy): a meshed app's connection to
//     one is redirected to its proxy by weft-init's iptables rules, and the
//     proxy routes by the Host header. Unmeshed pods cannot call Services.
//   - Volumes: emptyDir; secret, configMap (waits, as the kubelet does, while
//     a non-optional one is missing), downwardAPI, and projected volumes of
//     those plus serviceAccountToken (TokenRequest with the audience and
//     expiry asked for, bound to the pod, rewritten at 80% of its life).
//     Each volume is a directory on the host; containers see it through
//     their env and args: any value that starts with a volumeMount's
//     mountPath is rewritten to the host directory (there is no mount
//     namespace per container).
//   - Containers: init containers one after the other (retried with backoff
//     until they exit 0), then the containers, each as a process in the
//     pod's netns (`ip netns exec`), as securityContext.runAsUser (setpriv;
//     the Weft proxy runs as 2102, which weft-init's rules let through), with
//     the spec's env resolved (value with $(VAR), fieldRef, secretKeyRef,
//     configMapKeyRef, envFrom), HOSTNAME, and a PATH that has this test
//     run's Node and cli/bin (so `node ...` and the demo's `weft-demo` run).
//     A container without a command cannot run (there are no images). Exited
//     containers restart with backoff (restartPolicy Always). Logs go to
//     <dir>/<ns>_<pod>/<container>.log.
//   - Status: podIP, hostIP, phase, PodScheduled/Initialized/ContainersReady/
//     Ready, and container statuses, patched whenever they change. A
//     container is ready while it runs and its readinessProbe (httpGet or
//     tcpSocket) passes, or, without one, while its first TCP port accepts.
//     Probes run from inside the netns on 127.0.0.1 (netns-probe.ts), so they
//     never meet the proxy's strict inbound port.
//   - Deletion: a pod with a deletionTimestamp gets SIGTERM (SIGKILL after
//     its grace period, at most `maxGraceMs`), its netns and veth are
//     removed, and the pod object is deleted with grace 0, as the kubelet
//     confirms a deletion. A pod that vanished is torn down the same way.
//   - Cleanup: stop() tears down every pod, the bridge, the host rule and the
//     Node. A process 'exit' hook does the local part synchronously if stop()
//     never ran; and each agent leaves a state file in /run/weft-node-agent,
//     so the next agent removes what a killed test run left behind.
//
// Needs root, iproute2 (ip), iptables, util-linux (setpriv).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Cluster } from './harness.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PROBE_SCRIPT = join(ROOT, 'test', 'cluster', 'netns-probe.ts');
const STATE_DIR = '/run/weft-node-agent';
const NODE = process.execPath;

// --- the pod shapes the agent reads ------------------------------------------------

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    resourceFieldRef?: unknown;
  };
}

export interface Probe {
  httpGet?: { path?: string; port: number | string };
  tcpSocket?: { port: number | string };
  exec?: unknown;
}

export interface ContainerSpec {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string; optional?: boolean }; prefix?: string }[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  readinessProbe?: Probe;
  securityContext?: { runAsUser?: number; runAsGroup?: number };
  lifecycle?: { postStart?: { exec?: { command?: string[] } } };
}

interface KeyToPath {
  key: string;
  path: string;
}

interface DownwardItem {
  path: string;
  fieldRef?: { fieldPath: string };
}

export interface VolumeSpec {
  name: string;
  emptyDir?: unknown;
  secret?: { secretName: string; items?: KeyToPath[]; optional?: boolean };
  configMap?: { name: string; items?: KeyToPath[]; optional?: boolean };
  downwardAPI?: { items?: DownwardItem[] };
  projected?: {
    sources?: {
      serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string };
      configMap?: { name: string; items?: KeyToPath[]; optional?: boolean };
      secret?: { name: string; items?: KeyToPath[]; optional?: boolean };
      downwardAPI?: { items?: DownwardItem[] };
    }[];
  };
}

export interface PodObject {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
    hostNetwork?: boolean;
    terminationGracePeriodSeconds?: number;
    initContainers?: ContainerSpec[];
    containers: ContainerSpec[];
    volumes?: VolumeSpec[];
  };
  status?: { phase?: string; podIP?: string };
}

// --- options and handle --------------------------------------------------------------

export interface NodeAgentOptions {
  cluster: Cluster;
  /** Default weft-test-node. */
  nodeName?: string;
  /** Which unscheduled pods this node takes (default: every pod outside kube-system). */
  accept?: (pod: PodObject) => boolean;
  /** Default 250 ms. */
  pollMs?: number;
  /** Longest wait for a pod's processes to exit after SIGTERM (default 5 s). */
  maxGraceMs?: number;
  /** Where pods' volumes and logs live (default a temp dir, removed by stop() unless WEFT_CLUSTER_KEEP=1). */
  dir?: string;
  /** Third octet of the node's subnet 198.18.<S>.0/24 (default: a random free one). */
  subnet?: number;
  /** Told of what the agent does (default: nothing; stderr with WEFT_NODE_AGENT_LOG=1). */
  log?: (line: string) => void;
}

export interface PodInfo {
  namespace: string;
  name: string;
  uid: string;
  ip: string;
  netns: string;
  /** Directory with the pod's volumes and container logs. */
  dir: string;
  phase: 'Pending' | 'Running';
  ready: boolean;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface NodeAgent {
  readonly nodeName: string;
  /** The host's address on the pods' bridge (pods reach the host there). */
  readonly hostIp: string;
  /** e.g. 198.18.37.0/24 */
  readonly subnet: string;
  readonly bridge: string;
  readonly dir: string;
  pods(): PodInfo[];
  pod(namespace: string, name: string): PodInfo | undefined;
  /** Runs argv inside the pod's network namespace (like kubectl exec), as root or `uid`. */
  exec(namespace: string, name: string, argv: readonly string[], opts?: { uid?: number; timeoutMs?: number; env?: Record<string, string> }): Promise<ExecResult>;
  /** A container's log so far. */
  logs(namespace: string, name: string, container: string): string;
  /** Errors the agent met (API failures, containers that could not start). */
  readonly errors: string[];
  stop(): Promise<void>;
}

export class NodeAgentError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'NodeAgentError';
    this.code = code;
  }
}

/** A volume source that is not there yet (the kubelet waits and retries). */
class NotYet extends Error {}

// --- shell helpers ---------------------------------------------------------------

function sh(argv: readonly string[], allowFailure = false): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
  if (!allowFailure && (r.error !== undefined || r.status !== 0)) {
    throw new NodeAgentError('ERR_NODE_AGENT_COMMAND', `${argv.join(' ')} failed (${r.status}): ${r.stderr}${r.error?.message ?? ''}`);
  }
  return r.stdout ?? '';
}

function shAsync(argv: readonly string[], allowFailure = false): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', (e) => (allowFailure ? resolvePromise('') : reject(e)));
    child.once('close', (code) => {
      if (code === 0 || allowFailure) resolvePromise(out);
      else reject(new NodeAgentError('ERR_NODE_AGENT_COMMAND', `${argv.join(' ')} failed (${code}): ${err}`));
    });
  });
}

function missingTools(): string[] {
  const has = (cmd: string, args: string[]): boolean => {
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    return r.error === undefined && r.status === 0;
  };
  return [
    process.getuid?.() !== 0 ? 'root' : undefined,
    has('ip', ['-V']) ? undefined : 'ip (iproute2)',
    has('iptables', ['--version']) ? undefined : 'iptables',
    has('setpriv', ['--version']) ? undefined : 'setpriv (util-linux)',
  ].filter((x): x is string => x !== undefined);
}

/** What the node agent needs that this machine lacks ([] when it can run). */
export function nodeAgentMissing(): string[] {
  return missingTools();
}

function killTree(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// --- leftover sweeping --------------------------------------------------------------

interface AgentState {
  pid: number;
  tag: string;
  bridge: string;
  forwardRule: string[];
  /** The agent's own temp dir (removed with the rest), if it made one. */
  dir?: string;
}

function forwardRule(bridge: string, tag: string): string[] {
  return ['FORWARD', '-i', bridge, '!', '-o', bridge, '-m', 'comment', '--comment', `weft-node-agent ${tag}`, '-j', 'DROP'];
}

/** Removes one agent's network leftovers, synchronously (for 'exit' hooks and sweeps). */
function teardownAgentSync(tag: string, bridge: string, rule: readonly string[]): void {
  const netnsList = sh(['ip', 'netns', 'list'], true)
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`weft-${tag}-`));
  for (const ns of netnsList) {
    for (const pid of sh(['ip', 'netns', 'pids', ns], true).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    sh(['ip', 'netns', 'del', ns], true);
    rmSync(join('/etc/netns', ns), { recursive: true, force: true });
  }
  sh(['ip', 'link', 'del', bridge], true);
  while (spawnSync('iptables', ['-w', '-D', ...rule], { stdio: 'ignore' }).status === 0) {
    // a rule added twice is removed twice
  }
}

/** Removes what agents whose process is gone left behind. */
function sweepStale(log: (l: string) => void): void {
  if (!existsSync(STATE_DIR)) return;
  for (const f of readdirSync(STATE_DIR)) {
    if (!f.endsWith('.json')) continue;
    let st: AgentState;
    try {
      st = JSON.parse(readFileSync(join(STATE_DIR, f), 'utf8')) as AgentState;
    } catch {
      rmSync(join(STATE_DIR, f), { force: true });
      continue;
    }
    if (pidAlive(st.pid)) continue;
    log(`sweeping leftovers of node agent ${st.tag} (pid ${st.pid} is gone)`);
    teardownAgentSync(st.tag, st.bridge, st.forwardRule);
    if (st.dir !== undefined) rmSync(st.dir, { recursive: true, force: true });
    rmSync(join(STATE_DIR, f), { force: true });
  }
}

// --- small pure helpers -----------------------------------------------------------

/** Kubernetes' $(VAR) expansion: defined variables are replaced, $$ escapes, anything else stays. */
export function expandVars(s: string, env: Readonly<Record<string, string>>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && env[name] !== undefined ? env[name] : m;
  });
}

/** A fieldRef's value for `pod` (the paths the downward API supports). */
export function fieldValue(pod: PodObject, path: string, ip: string, hostIp: string, nodeName: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m !== null) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2] as string] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace;
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'metadata.labels':
      return Object.entries(pod.metadata.labels ?? {}).map(([k, v]) => `${k}="${v}"`).join('\n');
    case 'metadata.annotations':
      return Object.entries(pod.metadata.annotations ?? {}).map(([k, v]) => `${k}="${v}"`).join('\n');
    case 'spec.nodeName':
      return nodeName;
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.podIPs':
      return ip;
    case 'status.hostIP':
      return hostIp;
    default:
      throw new NodeAgentError('ERR_NODE_AGENT_FIELD', `fieldRef ${path} is not supported by the test kubelet`);
  }
}

/** Rewrites a value that points into a volume mount to the volume's directory on the host. */
export function mapMountPath(value: string, mounts: readonly { mountPath: string; hostDir: string }[]): string {
  const sorted = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  for (const m of sorted) {
    const mp = m.mountPath.replace(/\/+$/, '');
    if (value === mp) return m.hostDir;
    if (value.startsWith(`${mp}/`)) return m.hostDir + value.slice(mp.length);
  }
  return value;
}

/** The /etc/hosts of a pod in `namespace`: every Service's names to its ClusterIP. */
export function hostsFile(
  pod: { name: string; namespace: string; ip: string },
  services: readonly { name: string; namespace: string; clusterIP?: string }[],
): string {
  const lines = ['127.0.0.1 localhost', `${pod.ip} ${pod.name}`];
  for (const s of services) {
    if (s.clusterIP === undefined || s.clusterIP === '' || s.clusterIP === 'None') continue;
    const names = [`${s.name}.${s.namespace}`, `${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}.svc.cluster.local`];
    if (s.namespace === pod.namespace) names.unshift(s.name);
    lines.push(`${s.clusterIP} ${names.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

// --- per-pod runtime -------------------------------------------------------------------

type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: { exitCode: number; reason: string; startedAt?: string; finishedAt: string; signal?: number } };

interface ContainerRun {
  spec: ContainerSpec;
  init: boolean;
  child: ChildProcess | undefined;
  restartCount: number;
  state: ContainerState;
  lastState: ContainerState | undefined;
  ready: boolean;
  startedAt: string | undefined;
}

interface Probes {
  probe(port: number, path?: string): Promise<boolean>;
  close(): void;
}

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

class PodRuntime {
  readonly pod: PodObject;
  readonly netns: string;
  readonly hostVeth: string;
  readonly ip: string;
  readonly dir: string;
  phase: 'Pending' | 'Running' = 'Pending';
  initialized = false;
  stopping = false;
  readonly inits: ContainerRun[];
  readonly mains: ContainerRun[];
  readonly volumeDirs = new Map<string, string>();
  readonly timers = new Set<NodeJS.Timeout>();
  readonly startTime = now();
  probes: Probes | undefined;
  sandbox: ChildProcess | undefined;
  readonly transitions = new Map<string, { status: boolean; at: string }>();
  lastReported = '';
  reporting: Promise<void> = Promise.resolve();
  reportAgain = false;
  hostsText = '';
  done: Promise<void> = Promise.resolve();

  constructor(pod: PodObject, netns: string, hostVeth: string, ip: string, dir: string) {
    this.pod = pod;
    this.netns = netns;
    this.hostVeth = hostVeth;
    this.ip = ip;
    this.dir = dir;
    const run = (spec: ContainerSpec, init: boolean): ContainerRun => ({
      spec,
      init,
      child: undefined,
      restartCount: 0,
      state: { waiting: { reason: init ? 'PodInitializing' : 'ContainerCreating' } },
      lastState: undefined,
      ready: false,
      startedAt: undefined,
    });
    this.inits = (pod.spec.initContainers ?? []).map((c) => run(c, true));
    this.mains = pod.spec.containers.map((c) => run(c, false));
  }

  get key(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  get ready(): boolean {
    return this.phase === 'Running' && this.mains.every((c) => c.ready);
  }
}

function containerStatus(c: ContainerRun, image: string): Record<string, unknown> {
  return {
    name: c.spec.name,
    image,
    imageID: '',
    ready: c.ready,
    started: 'running' in c.state,
    restartCount: c.restartCount,
    state: c.state,
    ...(c.lastState !== undefined ? { lastState: c.lastState } : {}),
    ...(c.child?.pid !== undefined && 'running' in c.state ? { containerID: `weft-test://${c.child.pid}` } : {}),
  };
}

// --- the agent ---------------------------------------------------------------------

export async function startNodeAgent(o: NodeAgentOptions): Promise<NodeAgent> {
  const missing = missingTools();
  if (missing.length > 0) throw new NodeAgentError('ERR_NODE_AGENT_UNSUPPORTED', `the test kubelet needs ${missing.join(', ')}`);
  const { cluster } = o;
  const log =
    o.log ?? (process.env['WEFT_NODE_AGENT_LOG'] === '1' ? (l: string): void => void process.stderr.write(`[node-agent] ${l}\n`) : (): void => {});
  const nodeName = o.nodeName ?? 'weft-test-node';
  const pollMs = o.pollMs ?? 250;
  const maxGraceMs = o.maxGraceMs ?? 5000;
  const accept = o.accept ?? ((p: PodObject): boolean => p.metadata.namespace !== 'kube-system');
  const tag = randomBytes(3).toString('hex');
  const bridge = `wbr-${tag}`;
  const errors: string[] = [];
  const note = (msg: string): void => {
    errors.push(msg);
    log(msg);
  };

  sweepStale(log);

  // A /24 of 198.18.0.0/16 that nothing on this machine routes yet.
  const routes = sh(['ip', '-4', 'route', 'show']);
  const taken = (s: number): boolean => routes.includes(`198.18.${s}.`);
  let third = o.subnet;
  if (third === undefined) {
    for (let i = 0; i < 50 && (third === undefined || taken(third)); i++) third = 1 + ((randomBytes(1)[0] as number) % 254);
  }
  if (third === undefined || taken(third) || third < 1 || third > 254) {
    throw new NodeAgentError('ERR_NODE_AGENT_SUBNET', 'no free 198.18.<S>.0/24 for the pods');
  }
  const hostIp = `198.18.${third}.1`;
  const subnet = `198.18.${third}.0/24`;
  const rule = forwardRule(bridge, tag);

  const dir = o.dir ?? join(tmpdir(), `weft-node-agent-${tag}`);
  mkdirSync(dir, { recursive: true });
  await chmod(dir, 0o755);
  mkdirSync(STATE_DIR, { recursive: true });
  const stateFile = join(STATE_DIR, `${tag}.json`);
  const ownDir = o.dir === undefined && process.env['WEFT_CLUSTER_KEEP'] !== '1';
  writeFileSync(stateFile, JSON.stringify({ pid: process.pid, tag, bridge, forwardRule: rule, ...(ownDir ? { dir } : {}) } satisfies AgentState));

  const runtimes = new Map<string, PodRuntime>(); // by pod uid
  let nextIp = 2;
  let stopped = false;

  const exitHook = (): void => {
    for (const rt of runtimes.values()) {
      for (const c of [...rt.inits, ...rt.mains]) killTree(c.child?.pid, 'SIGKILL');
      killTree(rt.sandbox?.pid, 'SIGKILL');
    }
    teardownAgentSync(tag, bridge, rule);
    rmSync(stateFile, { force: true });
  };
  process.once('exit', exitHook);

  try {
    sh(['ip', 'link', 'add', bridge, 'type', 'bridge']);
    sh(['ip', 'addr', 'add', `${hostIp}/24`, 'dev', bridge]);
    sh(['ip', 'link', 'set', bridge, 'up']);
    sh(['iptables', '-w', '-I', ...rule]);
  } catch (err) {
    exitHook();
    process.off('exit', exitHook);
    throw err;
  }
  log(`node ${nodeName}: bridge ${bridge} ${hostIp}/24, pods in ${subnet}, state in ${dir}`);

  // The Node object (Ready, so that nothing treats the node as gone).
  const nodePath = `/api/v1/nodes/${encodeURIComponent(nodeName)}`;
  const created = await cluster.api('POST', '/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'weft.dev/test-kubelet': tag } },
  });
  if (created.status !== 201 && created.status !== 409) note(`creating Node ${nodeName}: HTTP ${created.status} ${created.text}`);
  const nodeStatus = async (): Promise<void> => {
    const t = now();
    await cluster.api(
      'PATCH',
      `${nodePath}/status`,
      {
        status: {
          conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'weft test kubelet', lastHeartbeatTime: t, lastTransitionTime: t }],
          addresses: [{ type: 'InternalIP', address: hostIp }, { type: 'Hostname', address: nodeName }],
          capacity: { cpu: '8', memory: '16Gi', pods: '250' },
          allocatable: { cpu: '8', memory: '16Gi', pods: '250' },
        },
      },
      { 'content-type': 'application/merge-patch+json' },
    );
  };
  await nodeStatus().catch((e: unknown) => note(`Node status: ${(e as Error).message}`));

  // --- API helpers

  const podPath = (p: PodObject): string =>
    `/api/v1/namespaces/${encodeURIComponent(p.metadata.namespace)}/pods/${encodeURIComponent(p.metadata.name)}`;

  async function getObject(kind: 'secrets' | 'configmaps', ns: string, name: string): Promise<Record<string, string> | undefined> {
    const res = await cluster.api<{ data?: Record<string, string>; binaryData?: Record<string, string> }>(
      'GET',
      `/api/v1/namespaces/${encodeURIComponent(ns)}/${kind}/${encodeURIComponent(name)}`,
    );
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`GET ${kind} ${ns}/${name}: HTTP ${res.status}`);
    if (kind === 'secrets') {
      return Object.fromEntries(Object.entries(res.body.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    }
    return {
      ...(res.body.data ?? {}),
      ...Object.fromEntries(Object.entries(res.body.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])),
    };
  }

  // --- files

  async function writeAtomic(file: string, content: string): Promise<void> {
    await mkdir(dirname(file), { recursive: true, mode: 0o755 });
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, content, { mode: 0o644 });
    await rename(tmp, file);
  }

  async function writeKeys(
    dirPath: string,
    data: Record<string, string> | undefined,
    items: KeyToPath[] | undefined,
    what: string,
    optional: boolean | undefined,
  ): Promise<void> {
    if (data === undefined) {
      if (optional === true) return;
      throw new NotYet(`${what} does not exist yet`);
    }
    const pairs = items === undefined ? Object.keys(data).map((k) => ({ key: k, path: k })) : items;
    for (const { key, path } of pairs) {
      const v = data[key];
      if (v === undefined) {
        if (optional === true) continue;
        throw new NotYet(`${what} has no key ${key}`);
      }
      await writeAtomic(join(dirPath, path), v);
    }
  }

  async function writeToken(rt: PodRuntime, file: string, audience: string | undefined, expirationSeconds: number): Promise<void> {
    const p = rt.pod;
    const seconds = Math.max(600, expirationSeconds);
    const token = await cluster.requestToken(p.metadata.namespace, p.spec.serviceAccountName ?? 'default', {
      audiences: audience !== undefined ? [audience] : [cluster.serviceAccountIssuer],
      expirationSeconds: seconds,
      boundObjectRef: { kind: 'Pod', name: p.metadata.name, uid: p.metadata.uid },
    });
    await writeAtomic(file, token);
    // The kubelet renews a projected token at 80% of its life.
    const timer = setTimeout(() => {
      rt.timers.delete(timer);
      if (rt.stopping || stopped) return;
      writeToken(rt, file, audience, expirationSeconds).catch((e: unknown) => note(`${rt.key}: token refresh: ${(e as Error).message}`));
    }, seconds * 800);
    timer.unref();
    rt.timers.add(timer);
  }

  async function writeDownward(rt: PodRuntime, dirPath: string, items: DownwardItem[] | undefined): Promise<void> {
    for (const item of items ?? []) {
      if (item.fieldRef === undefined) continue;
      await writeAtomic(join(dirPath, item.path), fieldValue(rt.pod, item.fieldRef.fieldPath, rt.ip, hostIp, nodeName));
    }
  }

  async function prepareVolumes(rt: PodRuntime): Promise<void> {
    const ns = rt.pod.metadata.namespace;
    for (const v of rt.pod.spec.volumes ?? []) {
      const vdir = join(rt.dir, 'volumes', v.name);
      await mkdir(vdir, { recursive: true, mode: 0o755 });
      if (v.emptyDir !== undefined) {
        await chmod(vdir, 0o777);
      } else if (v.secret !== undefined) {
        await writeKeys(vdir, await getObject('secrets', ns, v.secret.secretName), v.secret.items, `Secret ${ns}/${v.secret.secretName}`, v.secret.optional);
      } else if (v.configMap !== undefined) {
        await writeKeys(vdir, await getObject('configmaps', ns, v.configMap.name), v.configMap.items, `ConfigMap ${ns}/${v.configMap.name}`, v.configMap.optional);
      } else if (v.downwardAPI !== undefined) {
        await writeDownward(rt, vdir, v.downwardAPI.items);
      } else if (v.projected !== undefined) {
        for (const s of v.projected.sources ?? []) {
          if (s.serviceAccountToken !== undefined) {
            await writeToken(rt, join(vdir, s.serviceAccountToken.path), s.serviceAccountToken.audience, s.serviceAccountToken.expirationSeconds ?? 3600);
          } else if (s.configMap !== undefined) {
            await writeKeys(vdir, await getObject('configmaps', ns, s.configMap.name), s.configMap.items, `ConfigMap ${ns}/${s.configMap.name}`, s.configMap.optional);
          } else if (s.secret !== undefined) {
            await writeKeys(vdir, await getObject('secrets', ns, s.secret.name), s.secret.items, `Secret ${ns}/${s.secret.name}`, s.secret.optional);
          } else if (s.downwardAPI !== undefined) {
            await writeDownward(rt, vdir, s.downwardAPI.items);
          }
        }
      } else {
        throw new NodeAgentError('ERR_NODE_AGENT_VOLUME', `volume ${v.name}: only emptyDir, secret, configMap, downwardAPI and projected volumes are supported`);
      }
      rt.volumeDirs.set(v.name, vdir);
    }
  }

  // --- DNS stand-in

  let services: { name: string; namespace: string; clusterIP?: string }[] = [];
  async function refreshServices(): Promise<void> {
    const res = await cluster.api<{ items?: { metadata: { name: string; namespace: string }; spec?: { clusterIP?: string } }[] }>('GET', '/api/v1/services');
    if (res.status !== 200) return;
    services = (res.body.items ?? [])
      .map((s) => ({ name: s.metadata.name, namespace: s.metadata.namespace, ...(s.spec?.clusterIP !== undefined ? { clusterIP: s.spec.clusterIP } : {}) }))
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }
  function writeHosts(rt: PodRuntime): void {
    const text = hostsFile({ name: rt.pod.metadata.name, namespace: rt.pod.metadata.namespace, ip: rt.ip }, services);
    if (text === rt.hostsText) return;
    rt.hostsText = text;
    // In place (same inode): `ip netns exec` bind-mounted this very file into running containers.
    writeFileSync(join('/etc/netns', rt.netns, 'hosts'), text);
  }

  // --- status

  function report(rt: PodRuntime): void {
    if (rt.stopping || stopped) return;
    if (rt.reportAgain) return;
    rt.reportAgain = true;
    rt.reporting = rt.reporting.then(async () => {
      rt.reportAgain = false;
      if (rt.stopping || stopped) return;
      const imageOf = (c: ContainerSpec): string => c.image ?? '';
      const cond = (type: string, status: boolean): Record<string, unknown> => {
        const prev = rt.transitions.get(type);
        if (prev === undefined || prev.status !== status) rt.transitions.set(type, { status, at: now() });
        return { type, status: status ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: rt.transitions.get(type)?.at };
      };
      const containersReady = rt.phase === 'Running' && rt.mains.every((c) => c.ready);
      const status = {
        phase: rt.phase,
        hostIP: hostIp,
        podIP: rt.ip,
        podIPs: [{ ip: rt.ip }],
        startTime: rt.startTime,
        conditions: [
          cond('Initialized', rt.initialized),
          cond('Ready', containersReady),
          cond('ContainersReady', containersReady),
          cond('PodScheduled', true),
        ],
        ...(rt.inits.length > 0 ? { initContainerStatuses: rt.inits.map((c) => containerStatus(c, imageOf(c.spec))) } : {}),
        containerStatuses: rt.mains.map((c) => containerStatus(c, imageOf(c.spec))),
      };
      const text = JSON.stringify(status);
      if (text === rt.lastReported) return;
      const res = await cluster.api('PATCH', `${podPath(rt.pod)}/status`, { status }, { 'content-type': 'application/merge-patch+json' }).catch(
        (e: unknown) => ({ status: 0, text: (e as Error).message }),
      );
      if (res.status === 200) rt.lastReported = text;
      else if (res.status !== 404 && !rt.stopping) {
        note(`${rt.key}: status patch: HTTP ${res.status} ${res.text.slice(0, 300)}`);
        // try again on the next change or readiness round
      }
    });
  }

  // --- processes

  function containerEnvAndArgv(rt: PodRuntime, c: ContainerSpec, resolvedEnv: Record<string, string>): { env: Record<string, string>; argv: string[]; cwd: string } {
    const mounts = (c.volumeMounts ?? []).flatMap((m) => {
      const hostDir = rt.volumeDirs.get(m.name);
      return hostDir === undefined ? [] : [{ mountPath: m.mountPath, hostDir: m.subPath !== undefined ? join(hostDir, m.subPath) : hostDir }];
    });
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(resolvedEnv)) env[k] = mapMountPath(v, mounts);
    const command = c.command ?? [];
    if (command.length === 0) {
      throw new NodeAgentError('ERR_NODE_AGENT_NO_COMMAND', `container ${c.name} has no command (the test kubelet has no images to take an entrypoint from)`);
    }
    const argv = [...command, ...(c.args ?? [])].map((a) => mapMountPath(expandVars(a, env), mounts));
    const cwd = c.workingDir !== undefined ? mapMountPath(c.workingDir, mounts) : ROOT;
    return { env, argv, cwd: existsSync(cwd) ? cwd : ROOT };
  }

  async function resolveEnv(rt: PodRuntime, c: ContainerSpec): Promise<Record<string, string>> {
    const p = rt.pod;
    const ns = p.metadata.namespace;
    const env: Record<string, string> = {
      PATH: [dirname(NODE), join(ROOT, 'cli', 'bin'), join(ROOT, 'node_modules', '.bin'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':'),
      HOSTNAME: p.metadata.name,
      HOME: '/tmp',
    };
    for (const from of c.envFrom ?? []) {
      const ref = from.configMapRef ?? from.secretRef;
      if (ref === undefined) continue;
      const data = await getObject(from.configMapRef !== undefined ? 'configmaps' : 'secrets', ns, ref.name);
      if (data === undefined) {
        if (ref.optional === true) continue;
        throw new NotYet(`envFrom ${ref.name} does not exist yet`);
      }
      for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
    }
    for (const e of c.env ?? []) {
      if (e.value !== undefined) {
        env[e.name] = expandVars(e.value, env);
      } else if (e.valueFrom?.fieldRef !== undefined) {
        env[e.name] = fieldValue(p, e.valueFrom.fieldRef.fieldPath, rt.ip, hostIp, nodeName);
      } else if (e.valueFrom?.secretKeyRef !== undefined || e.valueFrom?.configMapKeyRef !== undefined) {
        const ref = (e.valueFrom.secretKeyRef ?? e.valueFrom.configMapKeyRef) as { name: string; key: string; optional?: boolean };
        const data = await getObject(e.valueFrom.secretKeyRef !== undefined ? 'secrets' : 'configmaps', ns, ref.name);
        const v = data?.[ref.key];
        if (v === undefined) {
          if (ref.optional === true) continue;
          throw new NotYet(`env ${e.name}: ${ref.name}/${ref.key} does not exist yet`);
        }
        env[e.name] = v;
      } else {
        env[e.name] = '';
      }
    }
    return env;
  }

  function spawnContainer(rt: PodRuntime, run: ContainerRun, env: Record<string, string>, argv: string[], cwd: string): ChildProcess {
    const uid = run.spec.securityContext?.runAsUser;
    const gid = run.spec.securityContext?.runAsGroup ?? uid;
    const asUser = uid !== undefined && uid !== 0 ? ['setpriv', `--reuid=${uid}`, `--regid=${gid ?? uid}`, '--clear-groups', '--'] : [];
    const logFile = join(rt.dir, `${run.spec.name}.log`);
    const fd = openSync(logFile, 'a', 0o644);
    writeFileSync(fd, `=== ${new Date().toISOString()} ${argv.join(' ')}${uid !== undefined ? ` (uid ${uid})` : ''}\n`);
    try {
      return spawn('ip', ['netns', 'exec', rt.netns, ...asUser, ...argv], { env, cwd, stdio: ['ignore', fd, fd], detached: true });
    } finally {
      closeSync(fd);
    }
  }

  function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return new Promise((resolvePromise) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolvePromise({ code: child.exitCode, signal: child.signalCode });
        return;
      }
      child.once('exit', (code, signal) => resolvePromise({ code, signal }));
      child.once('error', () => resolvePromise({ code: 127, signal: null }));
    });
  }

  async function backoff(rt: PodRuntime, attempt: number): Promise<void> {
    const ms = Math.min(10_000, 500 * 2 ** Math.min(attempt, 5));
    const until = Date.now() + ms;
    while (Date.now() < until && !rt.stopping && !stopped) await sleep(100);
  }

  /**
   * Starts the container once and waits for it to exit. Undefined when it could
   * not be started (its waiting state says why; the caller backs off).
   */
  async function runOnce(
    rt: PodRuntime,
    run: ContainerRun,
    what: string,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    let child: ChildProcess;
    try {
      const { env, argv, cwd } = containerEnvAndArgv(rt, run.spec, await resolveEnv(rt, run.spec));
      child = spawnContainer(rt, run, env, argv, cwd);
    } catch (err) {
      run.state = { waiting: { reason: err instanceof NotYet ? 'CreateContainerConfigError' : 'CreateContainerError', message: (err as Error).message } };
      if (!(err instanceof NotYet)) note(`${rt.key}: ${what} ${run.spec.name}: ${(err as Error).message}`);
      report(rt);
      return undefined;
    }
    run.child = child;
    run.startedAt = now();
    run.state = { running: { startedAt: run.startedAt } };
    report(rt);
    const exit = await waitExit(child);
    run.child = undefined;
    return exit;
  }

  async function runInit(rt: PodRuntime, run: ContainerRun): Promise<void> {
    for (let attempt = 0; !rt.stopping && !stopped; attempt++) {
      const exit = await runOnce(rt, run, 'init container');
      if (exit === undefined) {
        await backoff(rt, attempt);
        continue;
      }
      const { code, signal } = exit;
      const exitCode = code ?? 128;
      run.state = {
        terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: run.startedAt, finishedAt: now(), ...(signal !== null ? { signal: 9 } : {}) },
      };
      if (exitCode === 0) {
        report(rt);
        return;
      }
      run.restartCount++;
      note(`${rt.key}: init container ${run.spec.name} exited ${exitCode}; see ${join(rt.dir, `${run.spec.name}.log`)}`);
      run.lastState = run.state;
      run.state = { waiting: { reason: 'CrashLoopBackOff' } };
      report(rt);
      await backoff(rt, attempt);
    }
  }

  async function runPostStart(rt: PodRuntime, run: ContainerRun, command: string[]): Promise<void> {
    try {
      const spec: ContainerSpec = { ...run.spec, command, args: [] };
      const { env, argv, cwd } = containerEnvAndArgv(rt, spec, await resolveEnv(rt, spec));
      const hookRun: ContainerRun = { ...run, spec: { ...spec, name: `${run.spec.name}-poststart` } };
      const { code } = await waitExit(spawnContainer(rt, hookRun, env, argv, cwd));
      if (code !== 0) note(`${rt.key}: postStart of ${run.spec.name} exited ${code}`);
    } catch (err) {
      note(`${rt.key}: postStart of ${run.spec.name}: ${(err as Error).message}`);
    }
  }

  async function superviseMain(rt: PodRuntime, run: ContainerRun): Promise<void> {
    for (let attempt = 0; !rt.stopping && !stopped; attempt++) {
      const exit = await runOnce(rt, run, 'container');
      if (exit === undefined) {
        await backoff(rt, attempt);
        continue;
      }
      const { code, signal } = exit;
      run.ready = false;
      const finished: ContainerState = {
        terminated: { exitCode: code ?? 137, reason: code === 0 ? 'Completed' : 'Error', startedAt: run.startedAt, finishedAt: now(), ...(signal !== null ? { signal: 9 } : {}) },
      };
      if (rt.stopping || stopped) {
        run.state = finished;
        return;
      }
      note(`${rt.key}: container ${run.spec.name} exited (${code ?? signal}); restarting; see ${join(rt.dir, `${run.spec.name}.log`)}`);
      run.lastState = finished;
      run.restartCount++;
      run.state = { waiting: { reason: 'CrashLoopBackOff' } };
      report(rt);
      await backoff(rt, attempt);
    }
  }

  async function startProbes(rt: PodRuntime): Promise<Probes> {
    const child = spawn('ip', ['netns', 'exec', rt.netns, NODE, PROBE_SCRIPT], { stdio: ['pipe', 'pipe', 'ignore'], detached: true });
    rt.sandbox = child;
    const waiting = new Map<number, (ok: boolean) => void>();
    let id = 0;
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const ready = new Promise<void>((resolvePromise, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new NodeAgentError('ERR_NODE_AGENT_SANDBOX', `sandbox of ${rt.key} exited ${code}`)));
      lines.on('line', (line) => {
        let m: { id?: number; ok?: boolean; ready?: boolean };
        try {
          m = JSON.parse(line) as typeof m;
        } catch {
          return;
        }
        if (m.ready === true) resolvePromise();
        if (m.id !== undefined) {
          waiting.get(m.id)?.(m.ok === true);
          waiting.delete(m.id);
        }
      });
    });
    child.once('exit', () => {
      for (const w of waiting.values()) w(false);
      waiting.clear();
    });
    await ready;
    child.stdin?.on('error', () => {});
    return {
      probe(port, path) {
        if (child.exitCode !== null || child.stdin === null) return Promise.resolve(false);
        const n = ++id;
        return new Promise<boolean>((resolvePromise) => {
          const timer = setTimeout(() => {
            waiting.delete(n);
            resolvePromise(false);
          }, 3000);
          waiting.set(n, (ok) => {
            clearTimeout(timer);
            resolvePromise(ok);
          });
          child.stdin?.write(`${JSON.stringify({ id: n, port, ...(path !== undefined ? { path } : {}) })}\n`);
        });
      },
      close() {
        child.stdin?.end();
        killTree(child.pid, 'SIGKILL');
      },
    };
  }

  function probePort(c: ContainerSpec, port: number | string): number | undefined {
    if (typeof port === 'number') return port;
    if (/^\d+$/.test(port)) return Number(port);
    return c.ports?.find((p) => p.name === port)?.containerPort;
  }

  async function probeReady(rt: PodRuntime, run: ContainerRun): Promise<boolean> {
    if (run.child === undefined || !('running' in run.state) || rt.probes === undefined) return false;
    const p = run.spec.readinessProbe;
    if (p?.httpGet !== undefined) {
      const port = probePort(run.spec, p.httpGet.port);
      return port !== undefined && rt.probes.probe(port, p.httpGet.path ?? '/');
    }
    if (p?.tcpSocket !== undefined) {
      const port = probePort(run.spec, p.tcpSocket.port);
      return port !== undefined && rt.probes.probe(port);
    }
    if (p?.exec !== undefined) return true;
    const first = run.spec.ports?.find((x) => (x.protocol ?? 'TCP') === 'TCP');
    return first === undefined ? true : rt.probes.probe(first.containerPort);
  }

  async function readinessLoop(rt: PodRuntime): Promise<void> {
    while (!rt.stopping && !stopped) {
      await Promise.all(
        rt.mains.map(async (run) => {
          run.ready = await probeReady(rt, run);
        }),
      );
      // Every round: a no-op when nothing changed, a retry when the last patch failed.
      report(rt);
      await sleep(rt.ready ? 1000 : 250);
    }
  }

  // --- sandbox (network namespace)

  async function setupNetwork(rt: PodRuntime): Promise<void> {
    await shAsync(['ip', 'netns', 'add', rt.netns]);
    await shAsync(['ip', 'link', 'add', rt.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', rt.netns]);
    await shAsync(['ip', 'link', 'set', rt.hostVeth, 'master', bridge]);
    await shAsync(['ip', 'link', 'set', rt.hostVeth, 'up']);
    await shAsync(['ip', '-n', rt.netns, 'addr', 'add', `${rt.ip}/24`, 'dev', 'eth0']);
    await shAsync(['ip', '-n', rt.netns, 'link', 'set', 'lo', 'up']);
    await shAsync(['ip', '-n', rt.netns, 'link', 'set', 'eth0', 'up']);
    await shAsync(['ip', '-n', rt.netns, 'route', 'add', 'default', 'via', hostIp]);
    mkdirSync(join('/etc/netns', rt.netns), { recursive: true });
    writeFileSync(join('/etc/netns', rt.netns, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    writeHosts(rt);
  }

  async function teardown(rt: PodRuntime): Promise<void> {
    rt.stopping = true;
    for (const t of rt.timers) clearTimeout(t);
    rt.timers.clear();
    const grace = Math.min(maxGraceMs, (rt.pod.spec.terminationGracePeriodSeconds ?? 30) * 1000);
    const running = [...rt.inits, ...rt.mains].map((c) => c.child).filter((c): c is ChildProcess => c !== undefined);
    for (const c of running) killTree(c.pid, 'SIGTERM');
    await Promise.race([Promise.all(running.map((c) => waitExit(c))), sleep(grace)]);
    for (const c of running) killTree(c.pid, 'SIGKILL');
    await Promise.all(running.map((c) => waitExit(c)));
    rt.probes?.close();
    // Anything else still in the namespace (exec'd commands).
    const pids = (await shAsync(['ip', 'netns', 'pids', rt.netns], true)).split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    await shAsync(['ip', 'netns', 'del', rt.netns], true);
    await shAsync(['ip', 'link', 'del', rt.hostVeth], true);
    rmSync(join('/etc/netns', rt.netns), { recursive: true, force: true });
    log(`${rt.key}: torn down`);
  }

  async function runPod(rt: PodRuntime): Promise<void> {
    try {
      await mkdir(rt.dir, { recursive: true, mode: 0o755 });
      await setupNetwork(rt);
      rt.probes = await startProbes(rt);
      report(rt);
      // Volumes first (a missing ConfigMap holds the pod, as with the kubelet).
      for (let attempt = 0; !rt.stopping && !stopped; attempt++) {
        try {
          await prepareVolumes(rt);
          break;
        } catch (err) {
          if (!(err instanceof NotYet)) note(`${rt.key}: volumes: ${(err as Error).message}`);
          for (const c of [...rt.inits, ...rt.mains]) c.state = { waiting: { reason: 'ContainerCreating', message: (err as Error).message } };
          report(rt);
          await backoff(rt, Math.min(attempt, 1));
        }
      }
      for (const run of rt.inits) {
        if (rt.stopping || stopped) return;
        await runInit(rt, run);
      }
      if (rt.stopping || stopped) return;
      rt.initialized = true;
      rt.phase = 'Running';
      report(rt);
      void readinessLoop(rt);
      // As the kubelet does: containers start in order, and a postStart hook
      // must return before the next container starts (weft-proxy's holds the
      // app until the proxy is ready).
      const supervised: Promise<void>[] = [];
      for (const run of rt.mains) {
        supervised.push(superviseMain(rt, run));
        const hook = run.spec.lifecycle?.postStart?.exec?.command;
        if (hook !== undefined && hook.length > 0) await runPostStart(rt, run, hook);
      }
      await Promise.all(supervised);
    } catch (err) {
      note(`${rt.key}: ${(err as Error).message}`);
    }
  }

  function admit(pod: PodObject): void {
    if (nextIp > 254) {
      note(`${pod.metadata.namespace}/${pod.metadata.name}: node ${nodeName} has no address left`);
      return;
    }
    const n = nextIp++;
    const rt = new PodRuntime(
      pod,
      `weft-${tag}-${n}`,
      `wv${tag}${n.toString(36)}`,
      `198.18.${third}.${n}`,
      join(dir, `${pod.metadata.namespace}_${pod.metadata.name}`),
    );
    runtimes.set(pod.metadata.uid, rt);
    log(`${rt.key}: starting in ${rt.netns} at ${rt.ip}`);
    rt.done = runPod(rt);
  }

  async function finish(rt: PodRuntime, confirmDeletion: boolean): Promise<void> {
    if (rt.stopping) return;
    await teardown(rt);
    log(`${rt.key}: waiting for its runner`);
    await rt.done.catch(() => {});
    runtimes.delete(rt.pod.metadata.uid);
    if (confirmDeletion && !stopped) {
      const res = await cluster.api('DELETE', `${podPath(rt.pod)}?gracePeriodSeconds=0`, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        gracePeriodSeconds: 0,
        preconditions: { uid: rt.pod.metadata.uid },
      });
      if (res.status !== 200 && res.status !== 404 && res.status !== 409) note(`${rt.key}: confirming deletion: HTTP ${res.status} ${res.text}`);
      else log(`${rt.key}: deletion confirmed (HTTP ${res.status}): ${res.text.slice(0, 300)}`);
    }
  }

  // --- the loop

  let servicesAt = 0;
  async function reconcile(): Promise<void> {
    const res = await cluster.api<{ items?: PodObject[] }>('GET', '/api/v1/pods');
    if (res.status !== 200) return;
    const pods = res.body.items ?? [];
    if (Date.now() - servicesAt > 1000) {
      servicesAt = Date.now();
      await refreshServices();
      for (const rt of runtimes.values()) if (!rt.stopping) writeHosts(rt);
    }
    const seen = new Set<string>();
    for (const pod of pods) {
      if (stopped) return;
      const uid = pod.metadata.uid;
      if (pod.spec.nodeName === undefined || pod.spec.nodeName === '') {
        if (pod.metadata.deletionTimestamp !== undefined || pod.spec.hostNetwork === true || !accept(pod)) continue;
        const bound = await cluster.api('POST', `${podPath(pod)}/binding`, {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace },
          target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
        });
        if (bound.status === 201) log(`${pod.metadata.namespace}/${pod.metadata.name}: bound to ${nodeName}`);
        else if (bound.status !== 409 && bound.status !== 404) note(`binding ${pod.metadata.namespace}/${pod.metadata.name}: HTTP ${bound.status} ${bound.text}`);
        continue; // run it once the next list shows it bound
      }
      if (pod.spec.nodeName !== nodeName) continue;
      seen.add(uid);
      const rt = runtimes.get(uid);
      if (pod.metadata.deletionTimestamp !== undefined) {
        if (rt !== undefined) void finish(rt, true);
        else if (pod.status?.phase !== 'Succeeded') {
          // never run here (or already torn down): confirm the deletion
          void cluster.api('DELETE', `${podPath(pod)}?gracePeriodSeconds=0`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid } });
        }
        continue;
      }
      if (rt === undefined && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed') admit(pod);
    }
    for (const rt of [...runtimes.values()]) {
      if (!seen.has(rt.pod.metadata.uid)) void finish(rt, false);
    }
  }

  const loop = (async () => {
    let heartbeat = Date.now();
    while (!stopped) {
      try {
        await reconcile();
      } catch (err) {
        if (!stopped) log(`reconcile: ${(err as Error).message}`);
      }
      if (Date.now() - heartbeat > 10_000) {
        heartbeat = Date.now();
        await nodeStatus().catch(() => {});
      }
      await sleep(pollMs);
    }
  })();

  const info = (rt: PodRuntime): PodInfo => ({
    namespace: rt.pod.metadata.namespace,
    name: rt.pod.metadata.name,
    uid: rt.pod.metadata.uid,
    ip: rt.ip,
    netns: rt.netns,
    dir: rt.dir,
    phase: rt.phase,
    ready: rt.ready,
  });
  const find = (ns: string, name: string): PodRuntime | undefined =>
    [...runtimes.values()].find((r) => r.pod.metadata.namespace === ns && r.pod.metadata.name === name && !r.stopping);

  return {
    nodeName,
    hostIp,
    subnet,
    bridge,
    dir,
    errors,
    pods: () => [...runtimes.values()].filter((r) => !r.stopping).map(info),
    pod(ns, name) {
      const rt = find(ns, name);
      return rt === undefined ? undefined : info(rt);
    },
    exec(ns, name, argv, eo = {}) {
      const rt = find(ns, name);
      if (rt === undefined) return Promise.reject(new NodeAgentError('ERR_NODE_AGENT_NO_POD', `pod ${ns}/${name} does not run on ${nodeName}`));
      const asUser = eo.uid !== undefined && eo.uid !== 0 ? ['setpriv', `--reuid=${eo.uid}`, `--regid=${eo.uid}`, '--clear-groups', '--'] : [];
      return new Promise<ExecResult>((resolvePromise, reject) => {
        const child = spawn('ip', ['netns', 'exec', rt.netns, ...asUser, ...argv], {
          env: { PATH: `${dirname(NODE)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: '/tmp', ...(eo.env ?? {}) },
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), eo.timeoutMs ?? 60_000);
        child.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        child.once('close', (code) => {
          clearTimeout(timer);
          resolvePromise({ code, stdout, stderr });
        });
      });
    },
    logs(ns, name, container) {
      const rt = find(ns, name);
      if (rt === undefined) return '';
      try {
        return readFileSync(join(rt.dir, `${container}.log`), 'utf8');
      } catch {
        return '';
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await loop;
      await Promise.all([...runtimes.values()].map((rt) => teardown(rt).catch((e: unknown) => log(`teardown ${rt.key}: ${(e as Error).message}`))));
      await Promise.all([...runtimes.values()].map((rt) => rt.done.catch(() => {})));
      runtimes.clear();
      teardownAgentSync(tag, bridge, rule);
      await cluster.api('DELETE', nodePath).catch(() => {});
      rmSync(stateFile, { force: true });
      process.off('exit', exitHook);
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
