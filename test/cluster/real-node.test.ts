// The real node alone (real-node.ts), before any Weft: what the mesh tests
// stand on. A Deployment with an init container and httpGet probes on its app
// port becomes Ready (the probes come from the node), is reached from another
// pod by Service name (cluster DNS) through kube-proxy's ClusterIP, pods reach
// the API through the `kubernetes` Service, a Job completes, a deleted pod
// gets SIGTERM and its grace period, and stopping the cluster leaves the
// machine as it was.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCluster } from './cluster-gate.ts';
import { startCluster, type Cluster } from './harness.ts';
import { NODE_NETWORK } from './node-config.ts';
import { HOST_PATHS, TOUCHED_SYSCTLS } from './node-host.ts';
import { waitFor } from './mesh-journey-fixture.ts';
import { NODE_IMAGES, type RealNode } from './real-node.ts';

interface HostSnapshot {
  sysctls: Record<string, string>;
  kubeChains: string[];
  bridge: boolean;
  kubepods: boolean;
  processes: string[];
  mounts: string[];
  /** The host paths the kubelet, shims and CNI use whatever their configured dirs, that exist. */
  hostPaths: string[];
}

function hostSnapshot(): HostSnapshot {
  const sysctls: Record<string, string> = {};
  for (const s of TOUCHED_SYSCTLS) {
    try {
      sysctls[s] = readFileSync(`/proc/sys/${s}`, 'utf8').trim();
    } catch {
      // absent here
    }
  }
  const kubeChains: string[] = [];
  for (const bin of ['iptables', 'ip6tables']) {
    for (const table of ['nat', 'filter', 'mangle']) {
      const out = execFileSync(bin, ['-w', '5', '-t', table, '-S'], { encoding: 'utf8' });
      for (const l of out.split('\n')) if (/KUBE-|weft-real-node/.test(l)) kubeChains.push(`${bin} ${table} ${l}`);
    }
  }
  const processes = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').replaceAll('\0', ' ');
      } catch {
        return '';
      }
    })
    .filter((c) => /(^|\/)(kubelet|kube-proxy|kube-scheduler|containerd|containerd-shim-runc-v2) /.test(c));
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.includes('/kubelet') || m.includes('containerd') || m.startsWith('/run/netns/cni-'));
  return {
    sysctls,
    kubeChains,
    bridge: existsSync(`/sys/class/net/${NODE_NETWORK.bridge}`),
    kubepods: readdirSync('/sys/fs/cgroup').some((c) => existsSync(`/sys/fs/cgroup/${c}/kubepods`)),
    processes,
    mounts,
    hostPaths: HOST_PATHS.filter((p) => existsSync(p)),
  };
}

const APP = `
apiVersion: v1
kind: Namespace
metadata: { name: plain }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: plain }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: plain }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: 7
      initContainers:
        - name: prepare
          image: ${NODE_IMAGES.busybox}
          imagePullPolicy: Never
          command: [sh, -c, 'echo prepared > /work/marker']
          volumeMounts: [{ name: work, mountPath: /work }]
      containers:
        - name: web
          image: ${NODE_IMAGES.weft}
          imagePullPolicy: Never
          command: [node, /weft/cli/demo-app.js, server]
          env:
            - { name: HOST, value: 0.0.0.0 }
            - { name: VERSION, value: v1 }
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe: { httpGet: { path: /ready, port: http }, periodSeconds: 1 }
          livenessProbe: { httpGet: { path: /live, port: http }, periodSeconds: 2 }
          volumeMounts: [{ name: work, mountPath: /work }]
      volumes: [{ name: work, emptyDir: {} }]
---
apiVersion: v1
kind: Pod
metadata: { name: shell, namespace: plain }
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: shell
      image: ${NODE_IMAGES.weft}
      imagePullPolicy: Never
      command: [sleep, '3600']
`;

const JOB = `
apiVersion: batch/v1
kind: Job
metadata: { name: once, namespace: plain }
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: once
          image: ${NODE_IMAGES.busybox}
          imagePullPolicy: Never
          command: [sh, -c, 'echo done']
`;

/** A Node script for `kubectl exec -i ... node --input-type=module -`: GET url, print status and body. */
const GET = (url: string, extra = ''): string => `
const res = await fetch(${JSON.stringify(url)}${extra});
console.log(JSON.stringify({ status: res.status, body: await res.text() }));
`;

describeCluster('a real node: kubelet, containerd, kube-proxy, kube-scheduler', () => {
  let cluster: Cluster;
  let node: RealNode;
  let before: HostSnapshot;

  let leftover: { pids: Record<string, number>; dir: string } | undefined;

  beforeAll(async () => {
    before = hostSnapshot();
    // A run killed with SIGKILL: its node's processes, mounts, rules and lock stay behind.
    const child = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'real-node-child.ts')], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    const ready = await new Promise<{ dir: string }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n').find((l) => l.includes('"ready"'));
        if (line !== undefined) resolve(JSON.parse(line) as { dir: string });
      });
      child.once('exit', (code) => reject(new Error(`the child run exited (${code}) before its node was ready`)));
    });
    const state = JSON.parse(readFileSync('/run/weft-real-node/state.json', 'utf8')) as { pids: Record<string, number> };
    process.kill(-(child.pid ?? 0), 'SIGKILL'); // its process group: the test process, etcd, the apiserver
    leftover = { pids: state.pids, dir: ready.dir };

    cluster = await startCluster({ node: true });
    if (!cluster.node) throw new Error('startCluster({ node: true }) returned no node');
    node = cluster.node;
  }, 400_000);

  afterAll(async () => {
    await cluster?.stop();
    if (leftover) rmSync(leftover.dir, { recursive: true, force: true });
  }, 120_000);

  it("swept a killed run's node before starting its own: that run's kubelet, containerd and kube-proxy are gone, its lock taken over", () => {
    expect(leftover).toBeDefined();
    for (const [name, pid] of Object.entries(leftover?.pids ?? {})) {
      let alive = true;
      try {
        process.kill(pid, 0);
        alive = readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(name === 'kube-scheduler' ? 'kube-scheduler' : name);
      } catch {
        alive = false;
      }
      expect(alive, `${name} (pid ${pid}) of the killed run`).toBe(false);
    }
    expect(readFileSync('/run/weft-real-node/lock', 'utf8').trim()).toBe(String(process.pid));
  });

  it('runs a Deployment whose init container runs first and whose httpGet probes come from the node', async () => {
    await cluster.kubectl(['apply', '-f', '-'], { input: APP });
    await cluster.kubectl(['-n', 'plain', 'rollout', 'status', 'deployment/web', '--timeout=120s'], { timeoutMs: 130_000 });
    await cluster.kubectl(['-n', 'plain', 'wait', '--for=condition=Ready', 'pod/shell', '--timeout=60s'], { timeoutMs: 70_000 });
    const pods = JSON.parse((await cluster.kubectl(['-n', 'plain', 'get', 'pods', '-l', 'app=web', '-o', 'json'])).stdout) as {
      items: { metadata: { name: string }; status: { podIP: string; hostIP: string; initContainerStatuses: { state: { terminated?: { exitCode: number } } }[] } }[];
    };
    expect(pods.items).toHaveLength(2);
    for (const p of pods.items) {
      expect(p.status.hostIP).toBe(NODE_NETWORK.hostIp);
      expect(p.status.podIP.startsWith('198.18.240.')).toBe(true);
      expect(p.status.initContainerStatuses[0]?.state.terminated?.exitCode).toBe(0);
      const marker = await node.exec('plain', p.metadata.name, ['cat', '/work/marker'], { container: 'web' });
      expect(marker.stdout.trim()).toBe('prepared');
    }
  });

  it('reaches a Service by name (cluster DNS) through its ClusterIP (kube-proxy) from another pod', async () => {
    const svc = JSON.parse((await cluster.kubectl(['-n', 'plain', 'get', 'service', 'web', '-o', 'json'])).stdout) as { spec: { clusterIP: string } };
    expect(svc.spec.clusterIP.startsWith('198.19.255.')).toBe(true);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await node.exec('plain', 'shell', ['node', '--input-type=module', '-'], { input: GET('http://web/') });
      expect(r.exitCode, r.stderr).toBe(0);
      const { status, body } = JSON.parse(r.stdout) as { status: number; body: string };
      expect(status).toBe(200);
      seen.add((JSON.parse(body) as { pod: string }).pod);
    }
    expect(seen.size).toBe(2);
  });

  it('lets pods reach the API through the kubernetes Service with their ServiceAccount token', async () => {
    const script = `
      import { readFileSync } from 'node:fs';
      import https from 'node:https';
      const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
      const req = https.request({
        host: process.env.KUBERNETES_SERVICE_HOST, port: Number(process.env.KUBERNETES_SERVICE_PORT), path: '/version',
        ca: readFileSync(sa + '/ca.crt'), headers: { authorization: 'Bearer ' + readFileSync(sa + '/token', 'utf8') },
      }, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, host: process.env.KUBERNETES_SERVICE_HOST, body: b }))); });
      req.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); });
      req.end();`;
    const r = await node.exec('plain', 'shell', ['node', '--input-type=module', '-'], { input: script });
    const out = JSON.parse(r.stdout) as { status?: number; host?: string; body?: string; error?: string };
    expect(out.error).toBeUndefined();
    expect(out.status).toBe(200);
    expect(out.host).toBe('198.19.255.1');
    expect(JSON.parse(out.body ?? '{}')).toMatchObject({ gitVersion: 'v1.20.2' });
  });

  it('runs a Job to completion', async () => {
    await cluster.kubectl(['apply', '-f', '-'], { input: JOB });
    await cluster.kubectl(['-n', 'plain', 'wait', '--for=condition=complete', 'job/once', '--timeout=60s'], { timeoutMs: 70_000 });
    const logs = await cluster.kubectl(['-n', 'plain', 'logs', 'job/once']);
    expect(logs.stdout.trim()).toBe('done');
  });

  it('gives a deleted pod SIGTERM and its grace period', async () => {
    const pods = JSON.parse((await cluster.kubectl(['-n', 'plain', 'get', 'pods', '-l', 'app=web', '-o', 'json'])).stdout) as { items: { metadata: { name: string } }[] };
    const victim = pods.items[0]?.metadata.name ?? '';
    // The demo server exits 0 on SIGTERM once its listener has closed.
    const started = Date.now();
    await cluster.kubectl(['-n', 'plain', 'delete', 'pod', victim, '--wait=false']);
    const terminated = await waitFor('the deleted pod container terminated', async () => {
      const res = await cluster.api<{ status?: { containerStatuses?: { state: { terminated?: { exitCode: number; reason: string } } }[] } }>('GET', `/api/v1/namespaces/plain/pods/${victim}`);
      if (res.status === 404) return { exitCode: 0, reason: 'gone' };
      return res.body.status?.containerStatuses?.[0]?.state.terminated;
    }, 30_000);
    expect(terminated.exitCode).toBe(0);
    expect(Date.now() - started).toBeLessThan(7000);
  });

  it('stopping the cluster leaves the machine as it was', async () => {
    await cluster.stop();
    const after = hostSnapshot();
    expect(after.processes).toEqual(before.processes);
    expect(after.kubeChains).toEqual(before.kubeChains);
    expect(after.sysctls).toEqual(before.sysctls);
    expect(after.bridge).toBe(false);
    expect(after.kubepods).toBe(before.kubepods);
    expect(after.mounts).toEqual(before.mounts);
    expect(after.hostPaths).toEqual(before.hostPaths);
    expect(existsSync('/run/weft-real-node/lock')).toBe(false);
  }, 120_000);
});
