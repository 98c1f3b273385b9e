// The user's journey on a real kube-apiserver 1.20 + controller manager,
// with pods run by the test kubelet (node-agent.ts) in network namespaces
// whose traffic weft-init really redirects (issue 5, acceptance 4 and 5):
//
//   weft install | kubectl apply -f -
//   kubectl annotate namespace demo weft.dev/inject=enabled config.weft.dev/inbound-mode=strict
//     (the cluster default is permissive; the namespace asks for strict)
//   kubectl apply (a client, web-v1 and web-v2 Deployments, Services)
//   kubectl apply (TrafficSplit web: web-v1 80, web-v2 20)
//   Prometheus: sum by (deployment) (rate(response_total{namespace="demo", direction="inbound"}[30s]))
//
// What runs where:
//   - apiserver, etcd, controller manager: loopback (harness.ts). The
//     apiserver runs with --enable-aggregator-routing, so that it calls a
//     webhook Service through the Service's Endpoints (pod addresses) rather
//     than its ClusterIP: there is no kube-proxy, ClusterIPs do not route.
//   - Everything `weft install` prints is applied. Its two Deployments in
//     weft-system stay Pending (the test kubelet takes only namespace demo):
//     their pods would need the in-cluster API, which listens on loopback
//     only. Instead the same programs run as processes on the host, on the
//     test kubelet's bridge address, configured as the Deployments configure
//     them but with a kubeconfig:
//       control-plane/main.ts (Kubernetes mode): its CA from the installed
//         Secret weft-identity, the trust bundle copied into demo, TokenReview
//         for the proxies' projected tokens, split status written back;
//       injector/main.ts: the installed serving certificate (Secret
//         weft-injector-tls) and namespaces read from the API; the installed
//         MutatingWebhookConfiguration is used unchanged (its caBundle, its
//         service reference): the weft-injector Service loses its selector
//         and its Endpoints name the host, as a Service fronting something
//         outside the cluster would. The injector tells proxies to dial the
//         control plane at <bridge address>:<port> (--control-plane) and
//         that the Weft files are this checkout's build (dist/, as in the
//         image; --install-dir), so the injected commands run here.
//   - Pods of demo: bound and run by the test kubelet; weft-init's iptables
//     rules, the proxy (uid 2102) and the app are real processes in the
//     pod's network namespace; the projected token comes from TokenRequest.
//   - Prometheus (Debian's 2.42, no Kubernetes discovery): on 127.0.0.1,
//     deploy/'s scrape config with HTTP discovery from
//     deploy/prometheus-pod-sd.ts, scraping the proxies' :4191 over the bridge.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
import { buildDist } from '../harness/dist-build.ts';
import { entryFile } from '../../proto/entry-points.ts';
import { startListeningProcess, startPrometheus, waitFor, type ListeningProcess, type PrometheusServer } from './mesh-journey-fixture.ts';
import { startNodeAgent, type NodeAgent } from './node-agent.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const IMAGE = 'weft.invalid/weft:test';
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
          image: weft.invalid/demo:1
          command: [weft-demo, server]
          env:
            - { name: VERSION, value: ${version} }
            - { name: LATENCY_MS, value: "${latency}" }
            - { name: HOST, value: 0.0.0.0 }
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
          ports: [{ name: http, containerPort: 8080 }]
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
          image: weft.invalid/demo:1
          command: [weft-demo, client]
          env:
            - { name: TARGET, value: "http://web.demo/" }
            - { name: RPS, value: "50" }
            - { name: HOST, value: 0.0.0.0 }
          ports: [{ name: admin, containerPort: 8080 }]
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

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
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

describeCluster('the journey: weft install, annotate, deploy, split 80/20, Prometheus (acceptance 4 and 5)', () => {
  let cluster: Cluster;
  let agent: NodeAgent;
  let work: string;
  let dist = '';
  let controlPlane: ListeningProcess<{ grpc: number; admin: number }> | undefined;
  let injector: ListeningProcess<{ webhook: number; admin?: number }> | undefined;
  let sd: PodSdServer | undefined;
  let prometheus: PrometheusServer | undefined;
  let splitActiveAt = 0;

  const demoPods = async (): Promise<DemoPod[]> =>
    (await cluster.api<{ items: DemoPod[] }>('GET', '/api/v1/namespaces/demo/pods')).body.items;
  const podOf = async (deployment: string): Promise<DemoPod> => {
    const pods = (await demoPods()).filter((p) => p.metadata.name.startsWith(`${deployment}-`) && p.status.podIP !== undefined);
    const [p] = pods;
    if (p === undefined || pods.length !== 1) throw new Error(`expected one running pod of ${deployment}, got ${pods.length}`);
    return p;
  };
  const metrics = async (p: DemoPod): Promise<string> => (await fetch(`http://${p.status.podIP}:4191/metrics`)).text();
  const burst = async (from: DemoPod, spec: { url: string; n: number; host?: string; concurrency?: number }, uid?: number): Promise<Burst> => {
    const r = await agent.exec('demo', from.metadata.name, ['node', BURST, JSON.stringify(spec)], { ...(uid !== undefined ? { uid } : {}), timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`http-burst in ${from.metadata.name} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Burst;
  };
  const diagnostics = (): string =>
    [
      `agent errors: ${agent?.errors.join('\n') ?? ''}`,
      controlPlane ? `control plane log:\n${controlPlane.logTail(30)}` : '',
      injector ? `injector log:\n${injector.logTail(30)}` : '',
      ...(agent?.pods() ?? []).flatMap((p) => [`--- ${p.name} weft-proxy:\n${agent.logs('demo', p.name, 'weft-proxy').split('\n').slice(-15).join('\n')}`]),
    ].join('\n');

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'weft-journey-'));
    dist = await buildDist();
    cluster = await startCluster({ extraApiserverArgs: ['--enable-aggregator-routing=true'] });
    agent = await startNodeAgent({ cluster, accept: (p) => p.metadata.namespace === 'demo' });
  });

  afterAll(async () => {
    await prometheus?.stop();
    await sd?.close();
    await agent?.stop();
    await injector?.stop();
    await controlPlane?.stop();
    await cluster?.stop();
    if (work !== undefined && process.env['WEFT_CLUSTER_KEEP'] !== '1') rmSync(work, { recursive: true, force: true });
  });

  it('`weft install | kubectl apply -f -`; the control plane and the injector serve with what it installed', async () => {
    const install = await runCli(['install', '--image', IMAGE]);
    expect(install.stderr).toBe('');
    expect(install.code).toBe(0);
    const applied = await cluster.kubectl(['apply', '-f', '-'], { input: install.stdout });
    expect(applied.stdout).toContain('mutatingwebhookconfiguration.admissionregistration.k8s.io/weft-injector created');

    // The injector's serving certificate, as its Deployment would mount it.
    const tls = await cluster.api<{ data: Record<string, string> }>('GET', '/api/v1/namespaces/weft-system/secrets/weft-injector-tls');
    expect(tls.status).toBe(200);
    for (const k of ['tls.crt', 'tls.key']) writeFileSync(join(work, k), Buffer.from(tls.body.data[k] ?? '', 'base64'), { mode: 0o600 });

    const env = { ...process.env, WEFT_LOG_LEVEL: 'info' };
    controlPlane = await startListeningProcess<{ grpc: number; admin: number }>(entryFile(dist, 'controlPlane'), [
      '--kubeconfig', cluster.kubeconfigPath,
      '--grpc-addr', `${agent.hostIp}:0`,
      '--admin-addr', '127.0.0.1:0',
    ], { logPath: join(work, 'control-plane.log'), env });
    injector = await startListeningProcess<{ webhook: number; admin?: number }>(entryFile(dist, 'injector'), [
      '--kubeconfig', cluster.kubeconfigPath,
      '--tls-cert', join(work, 'tls.crt'),
      '--tls-key', join(work, 'tls.key'),
      '--proxy-image', IMAGE,
      '--addr', `${agent.hostIp}:0`,
      '--admin-addr', '127.0.0.1:0',
      '--install-dir', dist,
      '--control-plane', `${agent.hostIp}:${controlPlane.listening.grpc}`,
    ], { logPath: join(work, 'injector.log'), env });

    // The installed Services now front the host: no selector, Endpoints by hand.
    const endpoints = (name: string, ports: { name: string; port: number }[]): object => ({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name, namespace: 'weft-system' },
      subsets: [{ addresses: [{ ip: agent.hostIp }], ports }],
    });
    for (const svc of ['weft-injector', 'weft-control-plane']) {
      await cluster.kubectl(['-n', 'weft-system', 'patch', 'service', svc, '--type=json', '-p', '[{"op":"remove","path":"/spec/selector"}]']);
    }
    await cluster.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          endpoints('weft-injector', [{ name: 'webhook', port: injector.listening.webhook }]),
          endpoints('weft-control-plane', [{ name: 'grpc', port: controlPlane.listening.grpc }, { name: 'admin-http', port: controlPlane.listening.admin }]),
        ],
      }),
    });
    expect((await fetch(`http://127.0.0.1:${controlPlane.listening.admin}/ready`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${injector.listening.admin ?? 0}/ready`)).status).toBe(200);
  });

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
    }, 120_000, 500).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${diagnostics()}`);
    });
    const deployments = ready.map((p) => p.metadata.name.replace(/-[a-z0-9]+-[a-z0-9]+$/, '')).sort();
    expect(deployments).toEqual(['client', 'web-v1', 'web-v2']);
    for (const p of ready) {
      expect(p.spec.initContainers?.map((c) => c.name), p.metadata.name).toEqual(['weft-init']);
      expect(p.spec.containers.map((c) => c.name)[0], p.metadata.name).toBe('weft-proxy');
      expect(p.metadata.annotations?.['weft.dev/proxy-version'], p.metadata.name).toBeDefined();
      expect(p.status.initContainerStatuses?.[0]?.state.terminated?.exitCode, p.metadata.name).toBe(0);
      expect(p.status.podIP?.startsWith(agent.subnet.replace(/0\/24$/, '')), p.metadata.name).toBe(true);
      // weft-init's rules are in the pod's own network namespace.
      const rules = await agent.exec('demo', p.metadata.name, ['iptables', '-w', '-t', 'nat', '-S']);
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

  it("weft-init in a network namespace: the app's traffic to another pod's address goes through its proxy (outbound), and into that pod through the peer's proxy (inbound)", async () => {
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
    const bypass = await burst(client, { url: `http://${web.status.podIP}:8080/`, n: 3, concurrency: 1 }, 2102);
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
});
