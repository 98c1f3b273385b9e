// `weft up [dir]`: the whole mesh on this machine, no cluster. The control
// plane runs with the file source on `dir`; every replica of every Deployment
// in `dir` runs as an app process plus a Weft proxy process on its own
// loopback address (DESIGN.md, Local mesh). Each proxy gets a bootstrap
// token; its certificate and config come from the control plane over gRPC.
import { mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { parseManifests } from '../control-plane/manifest-parse.ts';
import { selectorMatches, type ClusterService, type Pod, type Workload } from '../control-plane/cluster-state.ts';
import { newBootstrapToken, writeTokenFile } from '../control-plane/bootstrap-token-file.ts';
import { CA_FILES } from '../control-plane/ca-store.ts';
import { DEFAULT_INBOUND_MODE, PORTS } from '../proto/mesh.ts';
import { nodeArgs, RUNNING_EXTENSION, RUNNING_INSTALL_DIR } from '../proto/entry-points.ts';
import { controlPlaneAddress, localPods, type LocalPod } from './local-pods.ts';
import { ProcessSupervisor, type Supervised } from './process-supervisor.ts';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEMO_DIR = join(REPO_ROOT, 'cli', 'demo');

export interface UpOptions {
  dir: string;
  /** Where CA files, tokens, pods.json and logs go. Default <dir>/.weft */
  stateDir?: string;
  /** First two octets of every address, e.g. "127.0" (the default). */
  addressBase?: string;
  leafLifetimeMs?: number;
  /** Log level of the children (default warn). */
  logLevel?: string;
  inboundMode?: 'STRICT' | 'PERMISSIVE';
  /** Restart the control plane when it dies (default true; tests restart it by hand). */
  restartControlPlane?: boolean;
  /** Aborting it while starting stops what was started and rejects (Ctrl-C during the start). */
  signal?: AbortSignal;
}

export interface RunningPod extends LocalPod {
  proxy: Supervised;
  /** Started once its proxy is ready (and, for pods no Service selects, once every serving pod is ready). */
  app: Supervised | undefined;
  serving: boolean;
}

export interface LocalMesh {
  readonly stateDir: string;
  readonly controlPlane: Supervised;
  readonly controlPlaneIp: string;
  readonly pods: readonly RunningPod[];
  /** Resolves once the control plane and every pod are ready. */
  ready(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Reads the Deployments and Services of a manifest folder (errors are the control plane's to report). */
export function readManifests(dir: string): { workloads: Workload[]; services: ClusterService[] } {
  const workloads: Workload[] = [];
  const services: ClusterService[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!/\.(ya?ml|json)$/.test(f) || f.startsWith('.')) continue;
    const parsed = parseManifests(readFileSync(join(dir, f), 'utf8'), f);
    for (const o of parsed.objects) {
      if (o.kind === 'Deployment') workloads.push(o.object);
      if (o.kind === 'Service') services.push(o.object);
    }
  }
  return { workloads, services };
}

/** Whether any Service selects the pod (it serves traffic, so its clients should start after it). */
function isServing(pod: Pod, services: readonly ClusterService[]): boolean {
  return services.some(
    (s) => s.namespace === pod.namespace && Object.keys(s.selector).length > 0 && selectorMatches(s.selector, pod.labels),
  );
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolveConn) => {
    const s = net.connect({ host, port });
    s.setTimeout(500);
    s.once('connect', () => {
      s.destroy();
      resolveConn(true);
    });
    s.once('error', () => resolveConn(false));
    s.once('timeout', () => {
      s.destroy();
      resolveConn(false);
    });
  });
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

export async function up(o: UpOptions): Promise<LocalMesh> {
  const dir = resolve(o.dir);
  const stateDir = resolve(o.stateDir ?? join(dir, '.weft'));
  const base = o.addressBase ?? '127.0';
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // missing: said below
  }
  if (!isDir) throw new Error(`${dir} is not a folder of manifests (give a folder of Kubernetes YAML, or nothing for the demo)`);
  const cpAddress = controlPlaneAddress(base);
  if (await httpOk(`http://${cpAddress}:${PORTS.controlPlaneAdmin}/ready`)) {
    throw new Error(
      `a mesh is already running on ${base}.x.y (its control plane answers on ${cpAddress}:${PORTS.controlPlaneAdmin}); stop it first (Ctrl-C in its terminal), or give this one --address-base`,
    );
  }
  const logLevel = o.logLevel ?? 'warn';
  mkdirSync(join(stateDir, 'tokens'), { recursive: true, mode: 0o700 });
  const node = process.execPath;
  // Children find `node` (this Node) and the demo's `weft-demo` on PATH.
  const path = [join(REPO_ROOT, 'cli', 'bin'), dirname(node), process.env.PATH ?? ''].join(delimiter);
  // An app whose command cannot run stops the start at once, with its name (not 60 s of waiting).
  let startFailure: string | undefined;
  const commands = new Map<string, { workload: string; command: string }>();
  const supervisor = new ProcessSupervisor(join(stateDir, 'logs'), undefined, (name, err) => {
    const app = commands.get(name);
    if (app === undefined || startFailure !== undefined) return;
    const why = err.code === 'ENOENT' ? 'not found' : err.code === 'EACCES' ? 'not executable' : err.message;
    startFailure = `${app.workload}: cannot run its command ${JSON.stringify(app.command)}: ${why} (spec.template.spec.containers[0].command)`;
  });

  const manifests = readManifests(dir);
  const pods = localPods(manifests.workloads, base);
  const tokens = pods.map((p) => ({ token: newBootstrapToken(), namespace: p.pod.namespace, serviceAccount: p.pod.serviceAccount }));
  const tokensFile = join(stateDir, 'tokens.json');
  writeTokenFile(tokensFile, tokens);
  const podsFile = join(stateDir, 'pods.json');
  const podState: Pod[] = pods.map((p) => p.pod);
  writeJsonAtomic(podsFile, { pods: podState });

  const cpIp = controlPlaneAddress(base);
  const caDir = join(stateDir, 'ca');
  const controlPlane = supervisor.start({
    name: 'control-plane',
    command: node,
    args: [
      ...nodeArgs(RUNNING_INSTALL_DIR, 'controlPlane', RUNNING_EXTENSION),
      '--source-dir', dir,
      '--pods-file', podsFile,
      '--tokens-file', tokensFile,
      '--status-file', join(stateDir, 'status.json'),
      '--ca-dir', caDir,
      '--grpc-addr', `${cpIp}:${PORTS.controlPlaneGrpc}`,
      '--admin-addr', `${cpIp}:${PORTS.controlPlaneAdmin}`,
      '--inbound-mode', o.inboundMode ?? DEFAULT_INBOUND_MODE,
      '--log-level', logLevel,
      ...(o.leafLifetimeMs !== undefined ? ['--leaf-lifetime-ms', String(o.leafLifetimeMs)] : []),
    ],
    env: { ...process.env, PATH: path },
    cwd: dir,
    restart: o.restartControlPlane ?? true,
  });

  // Proxies need the trust bundle, which exists once the control plane is ready.
  const deadline = Date.now() + 30_000;
  while (!(await httpOk(`http://${cpIp}:${PORTS.controlPlaneAdmin}/ready`))) {
    if (o.signal?.aborted === true) {
      await supervisor.stopAll();
      throw new Error('interrupted while starting; everything it started is stopped');
    }
    if (Date.now() > deadline) {
      await supervisor.stopAll();
      throw new Error(`the control plane did not become ready; see ${join(stateDir, 'logs', 'control-plane.log')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const trustBundle = join(caDir, CA_FILES.anchor);

  const running: RunningPod[] = pods.map((p, i) => {
    const { pod, workload, appPort } = p;
    const tokenFile = join(stateDir, 'tokens', `${pod.namespace}.${pod.name}.token`);
    writeFileSync(tokenFile, tokens[i]?.token ?? '', { mode: 0o600 });
    const proxy = supervisor.start({
      name: `${pod.namespace}.${pod.name}.proxy`,
      command: node,
      args: [
        ...nodeArgs(RUNNING_INSTALL_DIR, 'proxy', RUNNING_EXTENSION),
        '--control-plane', `${cpIp}:${PORTS.controlPlaneGrpc}`,
        '--trust-bundle', trustBundle,
        '--token-file', tokenFile,
        '--namespace', pod.namespace,
        '--pod', pod.name,
        '--service-account', pod.serviceAccount,
        '--outbound-addr', `${pod.ip}:${PORTS.proxyOutbound}`,
        '--inbound-addr', `${pod.ip}:${PORTS.proxyInbound}`,
        '--admin-addr', `${pod.ip}:${PORTS.proxyAdmin}`,
        '--app-address', pod.ip,
        '--log-level', logLevel,
        // The whole local mesh stops at once on Ctrl-C: no caller is left to drain for.
        '--shutdown-grace-ms', '0',
      ],
      env: { ...process.env, PATH: path },
      cwd: dir,
    });
    return { ...p, proxy, app: undefined, serving: isServing(p.pod, manifests.services) };
  });

  function startApp(p: RunningPod): void {
    const { pod, workload, appPort } = p;
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: path };
    for (const e of workload.env) env[e.name] = e.value;
    Object.assign(env, {
      HOST: pod.ip,
      PORT: String(appPort),
      POD_NAME: pod.name,
      POD_NAMESPACE: pod.namespace,
      POD_IP: pod.ip,
      HTTP_PROXY: pod.meshed ? `http://${pod.ip}:${PORTS.proxyOutbound}` : '',
      http_proxy: pod.meshed ? `http://${pod.ip}:${PORTS.proxyOutbound}` : '',
    });
    const [command, ...args] = [...workload.command, ...workload.args];
    commands.set(`${pod.namespace}.${pod.name}.app`, { workload: `${workload.namespace}/${workload.name}`, command: command ?? 'true' });
    p.app = supervisor.start({
      name: `${pod.namespace}.${pod.name}.app`,
      command: command ?? 'true',
      args,
      env,
      cwd: dir,
    });
  }

  // Startup order, as in a pod with a proxy-await: an app starts once its proxy
  // is ready; apps that no Service selects (pure clients) start once every
  // serving pod is ready, so their first requests find endpoints.
  // Readiness: a pod is ready when its app accepts connections and its proxy
  // answers /ready; pods.json tells the control plane (endpoints follow).
  const ready = new Set<string>();
  let stopped = false;
  const poll = async (): Promise<void> => {
    while (!stopped) {
      let changed = false;
      const servingReady = running.every((p) => !p.serving || ready.has(p.pod.name + p.pod.namespace));
      await Promise.all(
        running.map(async (p, i) => {
          if (p.app === undefined) {
            const proxyReady = !p.pod.meshed || (await httpOk(`http://${p.pod.ip}:${PORTS.proxyAdmin}/ready`));
            if (proxyReady && (p.serving || servingReady) && !stopped) startApp(p);
            return;
          }
          const isReady =
            (await canConnect(p.pod.ip, p.appPort)) &&
            (!p.pod.meshed || (await httpOk(`http://${p.pod.ip}:${PORTS.proxyAdmin}/ready`)));
          const was = ready.has(p.pod.name + p.pod.namespace);
          if (isReady !== was) {
            changed = true;
            if (isReady) ready.add(p.pod.name + p.pod.namespace);
            else ready.delete(p.pod.name + p.pod.namespace);
            podState[i] = { ...p.pod, ready: isReady };
          }
        }),
      );
      if (changed && !stopped) writeJsonAtomic(podsFile, { pods: podState });
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const polling = poll();

  return {
    stateDir,
    controlPlane,
    controlPlaneIp: cpIp,
    pods: running,
    async ready(timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      while (ready.size < running.length) {
        if (startFailure !== undefined) throw new Error(startFailure);
        if (Date.now() > until) {
          const waiting = running.filter((p) => !ready.has(p.pod.name + p.pod.namespace)).map((p) => p.pod.name);
          throw new Error(`pods not ready after ${timeoutMs} ms: ${waiting.join(', ')} (logs in ${join(stateDir, 'logs')})`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      stopped = true;
      await polling;
      await supervisor.stopAll();
    },
  };
}
