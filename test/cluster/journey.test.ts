// The user's journey on a real node (real-node.ts: kubelet, containerd,
// kube-proxy) against a real kube-apiserver 1.20 + controller manager
// (issue 5 acceptance 4 and 5, issue 14 acceptance 2):
//
//   weft install --image weft.dev/weft:test --image-pull-policy Never | kubectl apply -f -
//   kubectl annotate namespace demo weft.dev/inject=enabled config.weft.dev/inbound-mode=strict
//     (the cluster default is permissive; the namespace asks for strict)
//   kubectl apply (a client, web-v1 and web-v2 Deployments whose containers
//     have httpGet readiness and liveness probes on their app ports; Services)
//   kubectl apply (TrafficSplit web: web-v1 80, web-v2 20)
//   Prometheus: sum by (deployment) (rate(response_total{namespace="demo", direction="inbound"}[30s]))
//
// What runs where:
//   - apiserver, etcd, controller manager: loopback (harness.ts); the node's
//     kubelet, containerd, kube-proxy and scheduler on the host.
//   - Everything `weft install` prints runs as it would anywhere: the control
//     plane and the injector are Deployments in weft-system running the image
//     built from this checkout (node-images.ts); the apiserver calls the
//     webhook through its Service (a ClusterIP, kube-proxy's rules on the
//     host); the proxies dial weft-control-plane.weft-system.svc:8086 (the
//     harness's cluster DNS, then the ClusterIP).
//   - Pods of demo: real containers; weft-init's iptables rules, the proxy
//     (uid 2102) and the app share the pod's network namespace; the kubelet
//     probes from the node, through those rules.
//   - Prometheus (Debian's 2.42, no Kubernetes discovery): on 127.0.0.1,
//     deploy/'s scrape config with HTTP discovery from
//     deploy/prometheus-pod-sd.ts, scraping the proxies' :4191 over the bridge.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { prometheusConfig } from '../../deploy/prometheus.ts';
import { startPodSdServer, type PodSdServer } from '../../deploy/prometheus-pod-sd.ts';
import { metricValue } from '../harness/mesh-fixture.ts';
import { describeCluster } from './cluster-gate.ts';
import { freePort, startCluster, type Cluster } from './harness.ts';
import { startPrometheus, waitFor, type PrometheusServer } from './mesh-journey-fixture.ts';
import { NODE_IMAGES, type RealNode } from './real-node.ts';
import { runCli } from './real-mesh-fixture.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const IMAGE = NODE_IMAGES.weft;
const BURST = join(ROOT, 'test', 'cluster', 'http-burst.ts');
const CLIENT_ID = 'spiffe://cluster.local/ns/demo/sa/client';
const WEB_ID = 'spiffe://cluster.local/ns/demo/sa/web';

/** The demo's workloads, as a user would write them (cli/demo/, one replica each). */
const WORKLOADS = `
apiVersion: v1
kind: ServiceAccount
metadata: { name: web, namespace: demo }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: client, namespace: demo }
`;
const server = (version: string, latency: number): string => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: web-${version}, namespace: demo }
spec:
  replicas: 1
  selector: { matchLabels: { app: web, version: ${version} } }
  template:
    metadata: { labels: { app: web, version: ${version} } }
    spec:
      serviceAccountName: web
      terminationGracePeriodSeconds: 2
      containers:
        - name: web
          image: ${NODE_IMAGES.weft}
          imagePullPolicy: Never
          command: [node, /weft/cli/demo-app.js, server]
          env:
            - { name: VERSION, value: ${version} }
            - { name: LATENCY_MS, value: "${latency}" }
            - { name: HOST, value: 0.0.0.0 }
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe: { httpGet: { path: /ready, port: http }, periodSeconds: 2 }
          livenessProbe: { httpGet: { path: /live, port: http }, periodSeconds: 5 }
`;
const APPS = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: demo }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: v1
kind: Service
metadata: { name: web-v1, namespace: demo }
spec:
  selector: { app: web, version: v1 }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: v1
kind: Service
metadata: { name: web-v2, namespace: demo }
spec:
  selector: { app: web, version: v2 }
  ports: [{ name: http, port: 80, targetPort: http }]
---
${server('v1', 1)}
---
${server('v2', 1)}
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: client, namespace: demo }
spec:
  replicas: 1
  selector: { matchLabels: { app: client } }
  template:
    metadata: { labels: { app: client } }
    spec:
      serviceAccountName: client
      terminationGracePeriodSeconds: 2
      containers:
        - name: client
          image: ${NODE_IMAGES.weft}
          imagePullPolicy: Never
          command: [node, /weft/cli/demo-app.js, client]
          env:
            - { name: TARGET, value: "http://web.demo/" }
            - { name: RPS, value: "50" }
            - { name: HOST, value: 0.0.0.0 }
          ports: [{ name: admin, containerPort: 8080 }]
          readinessProbe: { httpGet: { path: /, port: admin }, periodSeconds: 2 }
          livenessProbe: { httpGet: { path: /, port: admin }, periodSeconds: 5 }
`;
const SPLIT = `
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: { name: web, namespace: demo }
spec:
  service: web
  backends:
    - { service: web-v1, weight: 80 }
    - { service: web-v2, weight: 20 }
`;

interface DemoPod {
  metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> };
  spec: { initContainers?: { name: string }[]; containers: { name: string }[] };
  status: {
    podIP?: string;
    phase?: string;
    conditions?: { type: string; status: string }[];
    initContainerStatuses?: { name: string; state: { terminated?: { exitCode: number } } }[];
  };
}

interface Burst {
  sent: number;
  statuses: Record<string, number>;
  versions: Record<string, number>;
  errorCodes: Record<string, number>;
  failures: number;
  firstFailure?: string;
}

/** A plain HTTP/1.1 GET over a fresh TCP connection from the host: status line, weft-error header (or the socket error). */
function plaintextGet(host: string, port: number): Promise<string> {
  return new Promise((resolvePromise) => {
    const s = net.connect({ host, port });
    let got = '';
    s.setTimeout(3000, () => s.destroy(new Error('timeout')));
    s.on('connect', () => s.write(`GET / HTTP/1.1\r\nHost: web.demo\r\nConnection: close\r\n\r\n`));
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('close', () => {
      const status = got.split('\r\n')[0] ?? '';
      const weftError = /^weft-error: *(.*)$/im.exec(got)?.[1]?.trim() ?? '';
      resolvePromise(`${status} ${weftError}`.trim());
    });
    s.on('error', (e) => resolvePromise(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
  });
}

describeCluster('the journey on a real node: weft install, annotate, deploy with probes, split 80/20, Prometheus', () => {
  let cluster: Cluster;
  let node: RealNode;
  let work: string;
  let sd: PodSdServer | undefined;
  let prometheus: PrometheusServer | undefined;
  let splitActiveAt = 0;
  let readyAt = 0;

  const demoPods = async (): Promise<DemoPod[]> =>
    (await cluster.api<{ items: DemoPod[] }>('GET', '/api/v1/namespaces/demo/pods')).body.items;
  const podOf = async (deployment: string): Promise<DemoPod> => {
    const pods = (await demoPods()).filter((p) => p.metadata.name.startsWith(`${deployment}-`) && p.status.podIP !== undefined);
    const [p] = pods;
    if (p === undefined || pods.length !== 1) throw new Error(`expected one running pod of ${deployment}, got ${pods.length}`);
    return p;
  };
  const metrics = async (p: DemoPod): Promise<string> => (await fetch(`http://${p.status.podIP}:4191/metrics`)).text();
  /** http-burst.ts in the pod's app container (`kubectl exec -i ... node -`): the app's own connections, name resolution and all. */
  const burst = async (from: DemoPod, spec: { url: string; n: number; host?: string; concurrency?: number }): Promise<Burst> => {
    const container = from.spec.containers.find((c) => c.name !== 'weft-proxy')?.name ?? '';
    const r = await node.exec('demo', from.metadata.name, ['node', '--input-type=module-typescript', '-', JSON.stringify(spec)], { container, input: readFileSync(BURST, 'utf8'), timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw new Error(`http-burst in ${from.metadata.name} exited ${r.exitCode}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Burst;
  };
  /** http-burst.ts run from the host inside the pod's network namespace as `uid` (to send as the proxy's uid 2102). */
  const burstAs = async (from: DemoPod, uid: number, spec: { url: string; n: number; host?: string; concurrency?: number }): Promise<Burst> => {
    const r = await node.netnsExec('demo', from.metadata.name, [process.execPath, BURST, JSON.stringify(spec)], { uid });
    if (r.exitCode !== 0) throw new Error(`http-burst as ${uid} in ${from.metadata.name} exited ${r.exitCode}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Burst;
  };
  const diagnostics = async (): Promise<string> => {
    const out: string[] = [];
    for (const ns of ['weft-system', 'demo']) {
      out.push((await cluster.kubectl(['-n', ns, 'get', 'pods', '-o', 'wide'], { allowFailure: true })).stdout);
      out.push((await cluster.kubectl(['-n', ns, 'get', 'events', '--sort-by=.lastTimestamp'], { allowFailure: true })).stdout.split('\n').slice(-15).join('\n'));
    }
    for (const p of await demoPods()) {
      out.push(`--- ${p.metadata.name} weft-proxy:\n${(await cluster.kubectl(['-n', 'demo', 'logs', p.metadata.name, '-c', 'weft-proxy', '--tail=15'], { allowFailure: true })).stdout}`);
    }
    return out.join('\n');
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'weft-journey-'));
    cluster = await startCluster({ node: true });
    if (!cluster.node) throw new Error('no real node');
    node = cluster.node;
  }, 300_000);

  afterAll(async () => {
    await prometheus?.stop();
    await sd?.close();
    await cluster?.stop();
    if (work !== undefined && process.env['WEFT_CLUSTER_KEEP'] !== '1') rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('`weft install | kubectl apply -f -`: the control plane and the injector run as Deployments in weft-system, Running and Ready', async () => {
    const install = await runCli(['install', '--image', IMAGE, '--image-pull-policy', 'Never']);
    expect(install.stderr).toBe('');
    expect(install.code).toBe(0);
    const applied = await cluster.kubectl(['apply', '-f', '-'], { input: install.stdout });
    expect(applied.stdout).toContain('mutatingwebhookconfiguration.admissionregistration.k8s.io/weft-injector created');
    for (const d of ['weft-control-plane', 'weft-injector']) {
      const r = await cluster.kubectl(['-n', 'weft-system', 'rollout', 'status', `deployment/${d}`, '--timeout=120s'], { allowFailure: true, timeoutMs: 130_000 });
      if (r.exitCode !== 0) throw new Error(`${d} did not roll out: ${r.stderr}\n${await diagnostics()}`);
    }
    const pods = (await cluster.api<{ items: DemoPod[] }>('GET', '/api/v1/namespaces/weft-system/pods')).body.items;
    expect(pods.map((p) => p.metadata.name.replace(/-[a-z0-9]+-[a-z0-9]+$/, '')).sort()).toEqual(['weft-control-plane', 'weft-injector']);
    for (const p of pods) {
      expect(p.status.phase, p.metadata.name).toBe('Running');
      expect(p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), p.metadata.name).toBe(true);
    }
  }, 300_000);

  it('namespace demo annotated weft.dev/inject=enabled (and inbound-mode strict): the client, web-v1 and web-v2 come up, every pod with weft-init and weft-proxy, Ready', async () => {
    await cluster.kubectl(['create', 'namespace', 'demo']);
    await cluster.kubectl(['annotate', 'namespace', 'demo', 'weft.dev/inject=enabled', 'config.weft.dev/inbound-mode=strict']);
    await cluster.kubectl(['apply', '-f', '-'], { input: WORKLOADS });
    for (const sa of ['default', 'web', 'client']) await cluster.waitForServiceAccount('demo', sa);
    // The apiserver learns the webhook's Endpoints through an informer: wait until a (dry-run) pod is injected.
    await waitFor('the installed webhook injecting pods in demo', async () => {
      const r = await cluster.api<DemoPod>('POST', '/api/v1/namespaces/demo/pods?dryRun=All', {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'probe' }, spec: { containers: [{ name: 'app', image: 'x', command: ['true'] }] },
      });
      return r.status === 201 && r.body.spec.containers.some((c) => c.name === 'weft-proxy') ? true : undefined;
    }, 30_000, 250);

    await cluster.kubectl(['apply', '-f', '-'], { input: APPS });
    const ready = await waitFor('three Ready pods in demo', async () => {
      const pods = (await demoPods()).filter((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      return pods.length === 3 ? pods : undefined;
    }, 180_000, 500).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}\n${await diagnostics()}`);
    });
    readyAt = Date.now();
    const deployments = ready.map((p) => p.metadata.name.replace(/-[a-z0-9]+-[a-z0-9]+$/, '')).sort();
    expect(deployments).toEqual(['client', 'web-v1', 'web-v2']);
    for (const p of ready) {
      expect(p.spec.initContainers?.map((c) => c.name), p.metadata.name).toEqual(['weft-init']);
      expect(p.spec.containers.map((c) => c.name)[0], p.metadata.name).toBe('weft-proxy');
      expect(p.metadata.annotations?.['weft.dev/proxy-version'], p.metadata.name).toBeDefined();
      expect(p.status.initContainerStatuses?.[0]?.state.terminated?.exitCode, p.metadata.name).toBe(0);
      expect(p.status.podIP?.startsWith(node.podCidr.replace(/0\/24$/, '')), p.metadata.name).toBe(true);
      // weft-init's rules are in the pod's own network namespace.
      const rules = await node.netnsExec('demo', p.metadata.name, ['iptables', '-w', '-t', 'nat', '-S']);
      expect(rules.stdout).toContain('-A OUTPUT -p tcp -j WEFT_OUTBOUND');
      expect(rules.stdout).toContain('-A WEFT_OUTBOUND -m owner --uid-owner 2102 -j RETURN');
      expect(rules.stdout).toContain('-A PREROUTING -p tcp -j WEFT_INBOUND');
      expect((await fetch(`http://${p.status.podIP}:4191/ready`)).status, p.metadata.name).toBe(200);
    }
    // The control plane copied the trust bundle into demo (the pods mounted it).
    expect((await cluster.api('GET', '/api/v1/namespaces/demo/configmaps/weft-trust-bundle')).status).toBe(200);

    // Prometheus starts scraping now, so that it has a history by the time the split is measured.
    sd = await startPodSdServer(async () => (await cluster.api<{ items: unknown[] }>('GET', '/api/v1/pods')).body.items);
    const config = prometheusConfig({ httpSdUrl: sd.url, scrapeInterval: '2s' }) as { global: Record<string, unknown> };
    config.global['scrape_timeout'] = '2s';
    prometheus = await startPrometheus(join(work, 'prometheus'), config, await freePort());
  });

  it("weft-init in the pod's network namespace: the app's traffic to another pod's address goes through its proxy (outbound), and into that pod through the peer's proxy (inbound)", async () => {
    const client = await podOf('client');
    const web = await podOf('web-v1');
    const authority = 'web-v1.demo.svc.cluster.local:80';
    const before = {
      out: metricValue(await metrics(client), 'request_total', { direction: 'outbound', authority, tls: 'true' }),
      in: metricValue(await metrics(web), 'request_total', { direction: 'inbound', authority: 'web-v1.demo', client_id: CLIENT_ID, tls: 'true' }),
    };
    // The app (root, like any container) connects to web-v1's pod address; the Host names the service.
    const r = await burst(client, { url: `http://${web.status.podIP}:8080/`, host: 'web-v1.demo', n: 20, concurrency: 2 });
    expect(r).toMatchObject({ sent: 20, statuses: { '200': 20 }, versions: { v1: 20 }, failures: 0 });
    const after = {
      out: metricValue(await metrics(client), 'request_total', { direction: 'outbound', authority, tls: 'true' }),
      in: metricValue(await metrics(web), 'request_total', { direction: 'inbound', authority: 'web-v1.demo', client_id: CLIENT_ID, tls: 'true' }),
    };
    // Counted by the client's proxy as outbound, and by web-v1's proxy as inbound from the client's identity,
    // under the Host the app used (the demo client's own traffic says web.demo).
    expect(after.out - before.out).toBe(20);
    expect(after.in - before.in).toBe(20);

    // Inbound interception holds even for a connection that skips the sender's proxy
    // (uid 2102 is exempt from weft-init's OUTPUT rules): web-v1's rules hand it to
    // its proxy's inbound port, which refuses plaintext in strict mode.
    const bypass = await burstAs(client, 2102, { url: `http://${web.status.podIP}:8080/`, n: 3, concurrency: 1 });
    expect(bypass.statuses).toEqual({ '403': 3 });
    expect(bypass.errorCodes).toEqual({ WEFT_ERR_TLS_REQUIRED: 3 });
  });

  it('a TrafficSplit 80/20: 1000 requests from the client pod split 80/20 (±5 points), over mTLS on both sides', async () => {
    const client = await podOf('client');
    await cluster.kubectl(['apply', '-f', '-'], { input: SPLIT });
    // The split reaches the client's proxy.
    let seen = '';
    await waitFor('the 80/20 split in the client proxy\'s config', async () => {
      const cfg = (await (await fetch(`http://${client.status.podIP}:4191/config`)).json()) as {
        config?: { services?: { name: string; routes?: { backends?: { service: string; weight: number }[] }[] }[] };
      };
      const services = cfg.config?.services ?? [];
      seen = JSON.stringify(services.find((s) => s.name === 'web')?.routes);
      const backends = services.find((s) => s.name === 'web')?.routes?.flatMap((r) => r.backends ?? []) ?? [];
      const w = Object.fromEntries(backends.map((b) => [b.service.replace(/\.demo$/, ''), b.weight])); // "web-v1.demo"
      // Weights are relative (the control plane may reduce 80/20 to 4/1).
      const [a, b] = [w['web-v1'] ?? 0, w['web-v2'] ?? 0];
      return a > 0 && b > 0 && a * 20 === b * 80 ? true : undefined;
    }, 20_000, 200).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; web's routes: ${seen}`);
    });
    splitActiveAt = Date.now();

    const r = await burst(client, { url: 'http://web.demo/', n: 1000, concurrency: 8 });
    expect(r.statuses).toEqual({ '200': 1000 });
    const v1 = r.versions['v1'] ?? 0;
    const v2 = r.versions['v2'] ?? 0;
    expect(v1 + v2).toBe(1000);
    process.stdout.write(`journey: 1000 requests through the client's proxy: web-v1 ${v1}, web-v2 ${v2} (${(v1 / 10).toFixed(1)}% / ${(v2 / 10).toFixed(1)}%)\n`);
    expect(v1 / 1000).toBeGreaterThanOrEqual(0.75);
    expect(v1 / 1000).toBeLessThanOrEqual(0.85);

    // mTLS on both sides: the client's proxy saw the web identity; the web proxies saw the client's.
    const out = await metrics(client);
    for (const d of ['web-v1', 'web-v2']) {
      expect(metricValue(out, 'response_total', { direction: 'outbound', dst_deployment: d, tls: 'true', server_id: WEB_ID }), d).toBeGreaterThan(0);
    }
    // No response came from an upstream in plaintext. (Answers the proxy made itself carry a
    // non-empty `error` label, and tls="false" when no peer was involved: e.g. WEFT_ERR_NO_ENDPOINTS
    // while web's pods were starting.)
    const outbound = out.split('\n').filter((l) => l.startsWith('response_total{') && l.includes('direction="outbound"'));
    const proxyMade = outbound.filter((l) => /error="[^"]/.test(l));
    expect(outbound.filter((l) => l.includes('tls="false"') && !proxyMade.includes(l)), outbound.join('\n')).toEqual([]);
    if (proxyMade.length > 0) process.stdout.write(`journey: answers the client's proxy made itself: ${proxyMade.join('; ')}\n`);
    for (const d of ['web-v1', 'web-v2']) {
      const m = await metrics(await podOf(d));
      expect(metricValue(m, 'response_total', { direction: 'inbound', tls: 'true', client_id: CLIENT_ID }), d).toBeGreaterThan(0);
      expect(metricValue(m, 'response_total', { direction: 'inbound', tls: 'false' }), d).toBe(0);
    }
  });

  it("strict mode (namespace annotation over the permissive cluster default): a plaintext connection to a pod's inbound port 4143 (or its app port) is refused", async () => {
    for (const d of ['web-v1', 'web-v2', 'client']) {
      const ip = (await podOf(d)).status.podIP ?? '';
      expect(await plaintextGet(ip, 4143), d).toBe('HTTP/1.1 403 Forbidden WEFT_ERR_TLS_REQUIRED');
      expect(await plaintextGet(ip, 8080), d).toBe('HTTP/1.1 403 Forbidden WEFT_ERR_TLS_REQUIRED');
    }
  });

  it("Debian's Prometheus scrapes every proxy with deploy/'s relabelling; sum by (deployment) (rate(response_total{namespace=\"demo\", direction=\"inbound\"}[30s])) shows the split", async () => {
    const prom = prometheus;
    if (prom === undefined) throw new Error('Prometheus did not start');
    const targets = await waitFor('three healthy weft-proxy targets', async () => {
      const t = (await prom.targets()).activeTargets.filter((x) => x.labels['job'] === 'weft-proxy');
      return t.length === 3 && t.every((x) => x.health === 'up') ? t : undefined;
    }, 30_000, 500);
    expect(targets.map((t) => t.labels['deployment']).sort()).toEqual(['client', 'web-v1', 'web-v2']);
    for (const t of targets) expect(t.labels).toMatchObject({ namespace: 'demo', job: 'weft-proxy' });

    // The window must hold only traffic sent after the split took effect.
    const wait = splitActiveAt + 33_000 - Date.now();
    if (wait > 0) await sleep(wait);
    const query = 'sum by (deployment) (rate(response_total{namespace="demo", direction="inbound"}[30s]))';
    const result = await prom.query(query);
    const rate = Object.fromEntries(result.map((s) => [s.metric['deployment'] ?? '', Number(s.value[1])]));
    const v1 = rate['web-v1'] ?? 0;
    const v2 = rate['web-v2'] ?? 0;
    process.stdout.write(`journey: ${query} -> web-v1 ${v1.toFixed(2)}/s, web-v2 ${v2.toFixed(2)}/s (web-v1 ${((100 * v1) / (v1 + v2)).toFixed(1)}%)\n`);
    expect(v1 + v2).toBeGreaterThan(10);
    expect(v1 / (v1 + v2)).toBeGreaterThanOrEqual(0.75);
    expect(v1 / (v1 + v2)).toBeLessThanOrEqual(0.85);
    expect(rate['client'] ?? 0).toBe(0);
  }, 90_000);

  it('no pod restarted in the 2 minutes since they became Ready, and all are still Ready (the probes pass through weft-init\'s rules)', async () => {
    const wait = readyAt + 120_000 - Date.now();
    if (wait > 0) await sleep(wait);
    for (const ns of ['weft-system', 'demo']) {
      const pods = (await cluster.api<{ items: (DemoPod & { status: { containerStatuses?: { name: string; restartCount: number; ready: boolean }[] } })[] }>('GET', `/api/v1/namespaces/${ns}/pods`)).body.items;
      expect(pods.length).toBeGreaterThan(0);
      for (const p of pods) {
        for (const c of p.status.containerStatuses ?? []) {
          expect(c.restartCount, `${p.metadata.name}/${c.name}`).toBe(0);
          expect(c.ready, `${p.metadata.name}/${c.name}`).toBe(true);
        }
      }
    }
  }, 180_000);
});
