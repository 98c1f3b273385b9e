// Weft installed on a real node, as a user installs it: a cluster with a
// real node (harness.ts, real-node.ts), `weft install --image
// weft.dev/weft:test --image-pull-policy Never | kubectl apply -f -`, and the
// control plane and the injector rolled out in weft-system. Helpers for the
// tests that run on it: meshed namespaces, Ready pods, scripts run in a pod's
// app container, diagnostics for a failed wait.
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, type Cluster } from './harness.ts';
import { waitFor } from './mesh-journey-fixture.ts';
import { NODE_IMAGES, type RealNode } from './real-node.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface PodJson {
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec: { initContainers?: { name: string }[]; containers: { name: string }[]; restartPolicy?: string };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    initContainerStatuses?: { name: string; state: { terminated?: { exitCode: number } } }[];
    containerStatuses?: { name: string; ready: boolean; restartCount: number; state: { running?: unknown; terminated?: { exitCode: number; finishedAt?: string; reason?: string } } }[];
  };
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** `weft <args>` from this checkout (cli/main.ts), as a user runs it. */
export function runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'cli', 'main.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

export const isReady = (p: PodJson): boolean => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

export interface InstalledMesh {
  cluster: Cluster;
  node: RealNode;
  apply(yaml: string): Promise<void>;
  /** Creates a namespace annotated weft.dev/inject=enabled (plus `annotations`) and waits until the webhook injects a dry-run pod there. */
  meshedNamespace(name: string, annotations?: Record<string, string>): Promise<void>;
  pods(namespace: string, selector?: string): Promise<PodJson[]>;
  /** Waits until `n` pods match `selector` and are Ready (and not being deleted); diagnostics in the error. */
  readyPods(namespace: string, selector: string, n: number, timeoutMs?: number): Promise<PodJson[]>;
  /** Runs a TypeScript module (source text, read from stdin by `node -`) in a pod's container (default: its first non-proxy container) with argv. */
  script(namespace: string, pod: string, source: string, args?: readonly string[], opts?: { container?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** Pods, recent events and proxy log tails of the namespaces. */
  diagnostics(namespaces: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startInstalledMesh(): Promise<InstalledMesh> {
  const cluster = await startCluster({ node: true });
  const node = cluster.node;
  if (!node) throw new Error('startCluster({ node: true }) returned no node');
  try {
    const install = await runCli(['install', '--image', NODE_IMAGES.weft, '--image-pull-policy', 'Never']);
    if (install.code !== 0) throw new Error(`weft install exited ${install.code}: ${install.stderr}`);
    await cluster.kubectl(['apply', '-f', '-'], { input: install.stdout });
  } catch (err) {
    await cluster.stop();
    throw err;
  }

  const pods = async (namespace: string, selector?: string): Promise<PodJson[]> => {
    const q = selector ? `?labelSelector=${encodeURIComponent(selector)}` : '';
    return (await cluster.api<{ items: PodJson[] }>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods${q}`)).body.items ?? [];
  };
  const diagnostics = async (namespaces: readonly string[]): Promise<string> => {
    const out: string[] = [];
    for (const ns of namespaces) {
      out.push((await cluster.kubectl(['-n', ns, 'get', 'pods', '-o', 'wide'], { allowFailure: true })).stdout);
      out.push((await cluster.kubectl(['-n', ns, 'get', 'events', '--sort-by=.lastTimestamp'], { allowFailure: true })).stdout.split('\n').slice(-12).join('\n'));
      for (const p of await pods(ns)) {
        if (!p.spec.containers.some((c) => c.name === 'weft-proxy')) continue;
        const logs = await cluster.kubectl(['-n', ns, 'logs', p.metadata.name, '-c', 'weft-proxy', '--tail=10'], { allowFailure: true });
        out.push(`--- ${ns}/${p.metadata.name} weft-proxy:\n${logs.stdout}${logs.stderr}`);
      }
    }
    return out.join('\n');
  };
  const mesh: InstalledMesh = {
    cluster,
    node,
    async apply(yaml) {
      await cluster.kubectl(['apply', '-f', '-'], { input: yaml });
    },
    async meshedNamespace(name, annotations = {}) {
      await cluster.kubectl(['create', 'namespace', name]);
      await cluster.kubectl(['annotate', 'namespace', name, 'weft.dev/inject=enabled', ...Object.entries(annotations).map(([k, v]) => `${k}=${v}`)]);
      await cluster.waitForServiceAccount(name);
      await waitFor(`the webhook injecting pods in ${name}`, async () => {
        const r = await cluster.api<PodJson>('POST', `/api/v1/namespaces/${name}/pods?dryRun=All`, {
          apiVersion: 'v1', kind: 'Pod', metadata: { name: 'probe' }, spec: { containers: [{ name: 'app', image: 'x', command: ['true'] }] },
        });
        return r.status === 201 && r.body.spec.containers.some((c) => c.name === 'weft-proxy') ? true : undefined;
      }, 120_000, 250);
    },
    pods,
    async readyPods(namespace, selector, n, timeoutMs = 120_000) {
      return waitFor(`${n} Ready pods ${selector} in ${namespace}`, async () => {
        const ready = (await pods(namespace, selector)).filter((p) => isReady(p) && p.metadata.deletionTimestamp === undefined);
        return ready.length === n ? ready : undefined;
      }, timeoutMs, 300).catch(async (err: unknown) => {
        throw new Error(`${(err as Error).message}\n${await diagnostics([namespace, 'weft-system'])}`);
      });
    },
    async script(namespace, pod, source, args = [], sopts = {}) {
      let container = sopts.container;
      if (container === undefined) {
        const p = (await cluster.api<PodJson>('GET', `/api/v1/namespaces/${namespace}/pods/${pod}`)).body;
        container = p.spec.containers.find((c) => c.name !== 'weft-proxy')?.name ?? '';
      }
      return node.exec(namespace, pod, ['node', '--input-type=module-typescript', '-', ...args], { container, input: source, timeoutMs: sopts.timeoutMs ?? 120_000 });
    },
    diagnostics,
    stop: () => cluster.stop(),
  };
  for (const d of ['weft-control-plane', 'weft-injector']) {
    const r = await cluster.kubectl(['-n', 'weft-system', 'rollout', 'status', `deployment/${d}`, '--timeout=120s'], { allowFailure: true, timeoutMs: 130_000 });
    if (r.exitCode !== 0) {
      const why = await diagnostics(['weft-system']);
      await cluster.stop();
      throw new Error(`${d} did not roll out: ${r.stderr}\n${why}`);
    }
  }
  return mesh;
}
