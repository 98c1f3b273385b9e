// control-plane/main.ts in Kubernetes mode (no --source-dir), as its own
// process against the real apiserver, with deploy/'s SMI CRDs and running as
// the ServiceAccount weft-system/weft-control-plane with exactly deploy/'s
// least-privilege RBAC (a kubeconfig holding that account's token): it creates
// its CA Secret and trust bundle ConfigMap, copies the bundle into meshed
// namespaces, serves a config built from the cluster to a client holding a
// real projected token, writes TrafficSplit statuses, and stops on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCluster } from './cluster-gate.ts';
import { startCluster, type Cluster } from './harness.ts';
import { apply, createRunningPod, ensureServiceAccount, service, serviceOf, subscribeConfig } from './kube-mesh-fixture.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crds } from '../../deploy/crds.ts';
import { meshNamespace, rbac } from '../../deploy/rbac.ts';
import type { ControlPlane } from '../../control-plane/control-plane.ts';

const NS = 'main-demo';
const MAIN = fileURLToPath(new URL('../../control-plane/main.ts', import.meta.url));

describeCluster('control-plane/main.ts in Kubernetes mode', () => {
  let cluster: Cluster;
  let child: ChildProcess;
  let ports: { grpc: number; admin: number };
  let stderr = '';

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: crds() }) });
    await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/trafficsplits.split.smi-spec.io', 'crd/httproutegroups.specs.smi-spec.io']);
    await apply(cluster, [meshNamespace(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, annotations: { 'weft.dev/inject': 'enabled' } } }]);
    await apply(cluster, rbac());
    await cluster.waitForServiceAccount('weft-system', 'weft-control-plane');
    await cluster.waitForServiceAccount(NS);
    for (const sa of ['web', 'client']) await ensureServiceAccount(cluster, NS, sa);
    await apply(cluster, [
      service(NS, 'web', { app: 'web' }),
      service(NS, 'web-v1', { app: 'web', version: 'v1' }),
      service(NS, 'web-v2', { app: 'web', version: 'v2' }),
      {
        apiVersion: 'split.smi-spec.io/v1alpha1',
        kind: 'TrafficSplit',
        metadata: { name: 'web-split', namespace: NS },
        spec: { service: 'web', backends: [{ service: 'web-v1', weight: '500m' }, { service: 'web-v2', weight: '500m' }, { service: 'web-v3', weight: '1' }] },
      },
    ]);
    await createRunningPod(cluster, { namespace: NS, name: 'web-v1-a', labels: { app: 'web', version: 'v1' }, serviceAccount: 'web', ip: '198.18.4.10' });
    await createRunningPod(cluster, { namespace: NS, name: 'web-v2-a', labels: { app: 'web', version: 'v2' }, serviceAccount: 'web', ip: '198.18.4.20' });

    // The control plane's own identity, as in its pod: a token of its ServiceAccount for the API audience.
    const token = await cluster.requestToken('weft-system', 'weft-control-plane', { audiences: [cluster.serviceAccountIssuer] });
    const kubeconfig = join(cluster.dir, 'weft-control-plane.kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: cluster.server, 'certificate-authority-data': Buffer.from(cluster.caPem).toString('base64') } }],
        users: [{ name: 'weft-control-plane', user: { token } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'weft-control-plane' } }],
        'current-context': 'c',
      }),
    );
    child = spawn(process.execPath, [MAIN, '--kubeconfig', kubeconfig, '--grpc-addr', '127.0.0.1:0', '--admin-addr', '127.0.0.1:0', '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WEFT_') && k !== 'KUBECONFIG')),
    });
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const lines = createInterface(child.stdout!);
    ports = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line in 60 s; stderr: ${stderr}`)), 60_000);
      lines.on('line', (line) => {
        try {
          const msg = JSON.parse(line) as { listening?: { grpc: number; admin: number } };
          if (msg.listening) {
            clearTimeout(timer);
            resolve(msg.listening);
          }
        } catch {
          // not ours
        }
      });
      child.on('exit', (code) => reject(new Error(`main.ts exited ${code}: ${stderr}`)));
    });
  }, 180_000);

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await cluster?.stop();
  });

  it('is ready, with its CA in Secret weft-system/weft-identity and the bundle in weft-system and the meshed namespace', async () => {
    const ready = await fetch(`http://127.0.0.1:${ports.admin}/ready`);
    expect(ready.status).toBe(200);
    const secret = await cluster.api<{ data: Record<string, string> }>('GET', '/api/v1/namespaces/weft-system/secrets/weft-identity');
    expect(secret.status).toBe(200);
    const anchor = Buffer.from(secret.body.data['anchor.pem']!, 'base64').toString();
    for (const ns of ['weft-system', NS]) {
      const deadline = Date.now() + 10_000;
      let cm = await cluster.api<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${ns}/configmaps/weft-trust-bundle`);
      while (cm.status !== 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        cm = await cluster.api('GET', `/api/v1/namespaces/${ns}/configmaps/weft-trust-bundle`);
      }
      expect(cm.status, ns).toBe(200);
      expect(cm.body.data?.['ca-bundle.crt']?.trim()).toBe(anchor.trim());
    }
    // Not copied where nothing is meshed.
    expect((await cluster.api('GET', '/api/v1/namespaces/default/configmaps/weft-trust-bundle')).status).toBe(404);
  });

  it('streams a config built from the cluster (a v1alpha1 split through deploy/ CRDs) to a client with a projected token', async () => {
    const secret = await cluster.api<{ data: Record<string, string> }>('GET', '/api/v1/namespaces/weft-system/secrets/weft-identity');
    const anchor = Buffer.from(secret.body.data['anchor.pem']!, 'base64').toString();
    const cpView = { ports, trustBundlePem: [anchor] } as unknown as ControlPlane;
    const watch = subscribeConfig(cpView, await cluster.requestToken(NS, 'client'), { namespace: NS, pod: 'client-1', serviceAccount: 'client' });
    try {
      const got = await watch.waitFor((c) => (serviceOf(c, NS, 'web')?.routes.at(-1)?.backends.length ?? 0) === 2, 20_000);
      expect(serviceOf(got.config, NS, 'web')!.routes.at(-1)!.backends.map((b) => [b.service, b.weight])).toEqual([
        [`web-v1.${NS}`, 1],
        [`web-v2.${NS}`, 1],
      ]);
    } finally {
      watch.close();
    }
  });

  it('writes the split status (web-v3 is missing) and an Event', async () => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const s = await cluster.api<{ status?: { conditions?: Array<{ type: string; status: string; reason: string }> } }>(
        'GET',
        `/apis/split.smi-spec.io/v1alpha4/namespaces/${NS}/trafficsplits/web-split`,
      );
      const rr = s.body.status?.conditions?.find((c) => c.type === 'ResolvedRefs');
      if (rr?.reason === 'BackendNotFound') break;
      if (Date.now() > deadline) throw new Error(`no status: ${JSON.stringify(s.body.status)}; stderr ${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const events = await cluster.api<{ items: Array<{ reason: string }> }>('GET', `/api/v1/namespaces/${NS}/events?fieldSelector=involvedObject.name%3Dweb-split`);
    expect(events.body.items.map((e) => e.reason)).toContain('BackendNotFound');
  });

  it('needed no permission beyond deploy/rbac.ts (no errors logged)', () => {
    expect(stderr).not.toMatch(/forbidden|HTTP 403|problem|cannot/i);
  });

  it('exits 0 on SIGTERM', async () => {
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code, stderr).toBe(0);
  });
});
