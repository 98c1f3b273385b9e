// The injector against a real kube-apiserver 1.20 (issue 5, acceptance 2 and
// 3): deploy/'s MutatingWebhookConfiguration, with its clientConfig pointed
// at https://127.0.0.1:<port>/mutate (caBundle: a test CA that signed the
// webhook's certificate for 127.0.0.1), calls the webhook (webhook-server.ts
// start(), in this process, reading namespaces from the API through
// namespace-lookup-kube.ts). What the apiserver stores is what counts:
//   - a pod in an annotated namespace is stored with weft-init and weft-proxy;
//   - pods in an unannotated namespace, opted out (annotation, or label: not
//     even sent, objectSelector), or hostNetwork are stored unchanged;
//   - an invalid pod annotation is denied with a message naming it;
//   - `weft inject` output passes `kubectl apply --dry-run=server`, and the
//     webhook leaves the already-injected pod alone.
// failurePolicy is Fail here so that a webhook that is not called fails the
// test instead of passing pods through.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildLeafCert, buildRootCaCert } from '../../identity/cert-builder.ts';
import { generateRsaKeyPair } from '../../identity/key-pair.ts';
import { webhookConfiguration } from '../../deploy/components.ts';
import { createKubeNamespaceLookup, type KubeNamespaceLookup } from '../../injector/namespace-lookup-kube.ts';
import { start as startWebhook, type Webhook } from '../../injector/webhook-server.ts';
import { createLogger } from '../../proto/log.ts';
import { describeCluster } from './cluster-gate.ts';
import { startCluster, type Cluster } from './harness.ts';
import { waitFor } from './mesh-journey-fixture.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PROXY_IMAGE = 'weft.invalid/weft:test';

interface StoredPod {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: {
    initContainers?: { name: string; command?: string[]; args?: string[]; securityContext?: { capabilities?: { add?: string[] } } }[];
    containers: { name: string; env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[]; securityContext?: { runAsUser?: number }; readinessProbe?: { httpGet?: { path?: string; port?: unknown } } }[];
    volumes?: { name: string; projected?: { sources: { serviceAccountToken?: { audience?: string } }[] }; configMap?: { name: string } }[];
    hostNetwork?: boolean;
  };
}

function pod(name: string, opts: { annotations?: Record<string, string>; labels?: Record<string, string>; hostNetwork?: boolean } = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, ...(opts.labels ? { labels: opts.labels } : {}), ...(opts.annotations ? { annotations: opts.annotations } : {}) },
    spec: {
      ...(opts.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{ name: 'app', image: 'weft.invalid/app:1', command: ['weft-demo', 'server'], ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  };
}

describeCluster('injector webhook on a real kube-apiserver (acceptance 2 and 3)', () => {
  let cluster: Cluster;
  let webhook: Webhook;
  let namespaces: KubeNamespaceLookup;
  let work: string;

  const requests = async (outcome: string): Promise<number> => {
    const m = await webhook.registry.getSingleMetric('weft_injector_admission_requests_total')?.get();
    return m?.values.find((v) => v.labels['outcome'] === outcome)?.value ?? 0;
  };
  const totalRequests = async (): Promise<number> => {
    const m = await webhook.registry.getSingleMetric('weft_injector_admission_requests_total')?.get();
    return (m?.values ?? []).reduce((a, v) => a + v.value, 0);
  };
  const create = async (ns: string, body: object): Promise<StoredPod> => {
    const r = await cluster.api<StoredPod>('POST', `/api/v1/namespaces/${ns}/pods`, body);
    if (r.status !== 201) throw new Error(`creating a pod in ${ns}: HTTP ${r.status} ${r.text}`);
    // What is stored, read back.
    return (await cluster.api<StoredPod>('GET', `/api/v1/namespaces/${ns}/pods/${r.body.metadata.name}`)).body;
  };
  const names = (p: StoredPod): { init: string[]; containers: string[] } => ({
    init: (p.spec.initContainers ?? []).map((c) => c.name),
    containers: p.spec.containers.map((c) => c.name),
  });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'weft-injection-'));
    cluster = await startCluster();
    // The webhook's serving certificate: a CA of its own (the caBundle) and a leaf for 127.0.0.1.
    const caKey = generateRsaKeyPair();
    const now = Date.now();
    const caPem = buildRootCaCert({
      keyPem: caKey.keyPem,
      subject: { commonName: 'weft injection test CA' },
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 24 * 3600_000),
    });
    const leafKey = generateRsaKeyPair();
    const certPem = buildLeafCert({
      publicKeyPem: leafKey.publicKeyPem,
      signer: { certPem: caPem, keyPem: caKey.keyPem },
      subject: { commonName: '127.0.0.1' },
      ipAddresses: ['127.0.0.1'],
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 24 * 3600_000),
    });
    namespaces = createKubeNamespaceLookup({ kubeconfigPath: cluster.kubeconfigPath });
    webhook = await startWebhook({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: certPem, key: leafKey.keyPem },
      namespaces,
      logger: createLogger('off'),
      inject: { proxyImage: PROXY_IMAGE, proxyVersion: '0.1.0-test' },
    });
    // deploy/'s webhook configuration, pointed at this process.
    const config = webhookConfiguration({ caPem, certPem, keyPem: leafKey.keyPem }, { version: '0.1.0-test', webhookFailurePolicy: 'Fail' }) as unknown as {
      webhooks: { clientConfig: Record<string, unknown> }[];
    };
    const hook = config.webhooks[0];
    if (hook === undefined) throw new Error('deploy/components.ts rendered no webhook');
    hook.clientConfig = { url: `https://127.0.0.1:${webhook.port}/mutate`, caBundle: Buffer.from(caPem).toString('base64') };
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(config) });
    await cluster.kubectl(['apply', '-f', '-'], {
      input: [
        'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: meshed\n  annotations: { weft.dev/inject: enabled }\n',
        'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: labelled\n  labels: { weft.dev/inject: enabled }\n',
        'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n',
      ].join('---\n'),
    });
    for (const ns of ['meshed', 'labelled', 'plain']) await cluster.waitForServiceAccount(ns);
    // The apiserver picks up a new webhook configuration asynchronously: wait until pods are sent to it.
    await waitFor('the apiserver calling the webhook', async () => {
      const r = await cluster.api<StoredPod>('POST', '/api/v1/namespaces/meshed/pods?dryRun=All', pod('probe'));
      return r.status === 201 && names(r.body).containers.includes('weft-proxy') ? true : undefined;
    }, 30_000, 250);
  });

  afterAll(async () => {
    await webhook?.close();
    namespaces?.close();
    await cluster?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('a pod created in an annotated namespace is stored with weft-init and weft-proxy (downward-API env, projected token, trust bundle, readiness on /ready)', async () => {
    const before = await requests('injected');
    const stored = await create('meshed', pod('web'));
    expect(names(stored)).toEqual({ init: ['weft-init'], containers: ['weft-proxy', 'app'] });
    expect(stored.metadata.annotations?.['weft.dev/proxy-version']).toBe('0.1.0-test');
    expect(stored.metadata.annotations?.['kubectl.kubernetes.io/default-container']).toBe('app');
    const init = stored.spec.initContainers?.[0];
    expect(init?.command).toEqual(['node', '/weft/injector/init-main.js']);
    expect(init?.args).toEqual(['--inbound-port', '4143', '--outbound-port', '4140', '--proxy-uid', '2102', '--skip-inbound-ports', '4191']);
    expect(init?.securityContext?.capabilities?.add).toEqual(['NET_ADMIN', 'NET_RAW']);
    const proxy = stored.spec.containers[0];
    const env = Object.fromEntries((proxy?.env ?? []).map((e) => [e.name, e.value ?? `fieldRef:${e.valueFrom?.fieldRef?.fieldPath}`]));
    expect(env).toMatchObject({
      WEFT_POD_NAME: 'fieldRef:metadata.name',
      WEFT_NAMESPACE: 'fieldRef:metadata.namespace',
      WEFT_SERVICE_ACCOUNT: 'fieldRef:spec.serviceAccountName',
      WEFT_TOKEN_FILE: '/var/run/weft/identity/token',
      WEFT_TRUST_BUNDLE: '/var/run/weft/trust-bundle/ca-bundle.crt',
      WEFT_CONTROL_PLANE: 'weft-control-plane.weft-system.svc:8086',
    });
    expect(proxy?.securityContext?.runAsUser).toBe(2102);
    expect(proxy?.readinessProbe?.httpGet).toMatchObject({ path: '/ready', port: 4191 });
    const volumes = Object.fromEntries((stored.spec.volumes ?? []).map((v) => [v.name, v]));
    expect(volumes['weft-identity-token']?.projected?.sources[0]?.serviceAccountToken?.audience).toBe('identity.weft.dev');
    expect(volumes['weft-trust-bundle']?.configMap?.name).toBe('weft-trust-bundle');
    // The ServiceAccount admission plugin's token volume is there too: the webhook ran after it, and did not disturb it.
    expect(Object.keys(volumes).some((n) => n.startsWith('default-token-'))).toBe(true);
    expect(await requests('injected')).toBe(before + 1);
  });

  it('a namespace labelled (not annotated) weft.dev/inject=enabled injects too', async () => {
    expect(names(await create('labelled', pod('web')))).toEqual({ init: ['weft-init'], containers: ['weft-proxy', 'app'] });
  });

  it('pods in an unannotated namespace, opted-out pods and hostNetwork pods are stored unchanged', async () => {
    const unchanged = { init: [], containers: ['app'] };
    const notEnabled = await requests('not-enabled');
    const optedOut = await requests('opted-out');
    const hostNetwork = await requests('host-network');

    const plain = await create('plain', pod('web'));
    expect(names(plain)).toEqual(unchanged);
    expect(plain.metadata.annotations?.['weft.dev/proxy-version']).toBeUndefined();
    expect(await requests('not-enabled')).toBe(notEnabled + 1);

    const byAnnotation = await create('meshed', pod('opted-out', { annotations: { 'weft.dev/inject': 'disabled' } }));
    expect(names(byAnnotation)).toEqual(unchanged);
    expect(byAnnotation.metadata.annotations).toEqual({ 'weft.dev/inject': 'disabled' });
    expect(await requests('opted-out')).toBe(optedOut + 1);

    // Labelled out: deploy/'s objectSelector keeps it away from the webhook altogether.
    const total = await totalRequests();
    const byLabel = await create('meshed', pod('opted-out-label', { labels: { 'weft.dev/inject': 'disabled' } }));
    expect(names(byLabel)).toEqual(unchanged);
    expect(await totalRequests()).toBe(total);

    const host = await create('meshed', pod('host', { hostNetwork: true }));
    expect(names(host)).toEqual(unchanged);
    expect(host.spec.hostNetwork).toBe(true);
    expect(await requests('host-network')).toBe(hostNetwork + 1);
  });

  it('a pod with an invalid config annotation is denied, and kubectl shows which annotation and why', async () => {
    const r = await cluster.kubectl(['-n', 'meshed', 'apply', '-f', '-'], {
      input: JSON.stringify(pod('bad', { annotations: { 'config.weft.dev/skip-inbound-ports': 'http' } })),
      allowFailure: true,
    });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('admission webhook "injector.weft.dev" denied the request');
    expect(r.stderr).toContain('config.weft.dev/skip-inbound-ports');
    expect((await cluster.api('GET', '/api/v1/namespaces/meshed/pods/bad')).status).toBe(404);
  });

  it('annotating a namespace takes effect for its next pod (the namespace is read from the API, cached for 1 s)', async () => {
    await cluster.kubectl(['create', 'namespace', 'later']);
    await cluster.waitForServiceAccount('later');
    expect(names(await create('later', pod('before'))).containers).toEqual(['app']);
    await cluster.kubectl(['annotate', 'namespace', 'later', 'weft.dev/inject=enabled']);
    const stored = await waitFor('a pod in namespace later injected', async () => {
      const p = await create('later', { ...pod('x'), metadata: { generateName: 'after-' } });
      return names(p).containers.includes('weft-proxy') ? p : undefined;
    }, 10_000, 300);
    expect(names(stored)).toEqual({ init: ['weft-init'], containers: ['weft-proxy', 'app'] });
  });

  it('`weft inject` output (Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod) passes `kubectl apply --dry-run=server`, and the webhook leaves the injected pod as it is', async () => {
    const template = (labels: string): string => `
    metadata:
      labels: { ${labels} }
    spec:
      containers:
        - name: app
          image: weft.invalid/app:1
          command: [weft-demo, server]
          ports: [{ name: http, containerPort: 8080 }]`;
    const input = `# workloads for GitOps
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: plain }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:${template('app: web')}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db, namespace: plain }
spec:
  serviceName: db
  selector: { matchLabels: { app: db } }
  template:${template('app: db')}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: { name: agent, namespace: plain }
spec:
  selector: { matchLabels: { app: agent } }
  template:${template('app: agent')}
---
apiVersion: batch/v1
kind: Job
metadata: { name: once, namespace: plain }
spec:
  template:
    metadata:
      labels: { app: once }
    spec:
      restartPolicy: Never
      containers: [{ name: app, image: weft.invalid/app:1, command: [weft-demo, server] }]
---
apiVersion: batch/v1beta1
kind: CronJob
metadata: { name: nightly, namespace: plain }
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{ name: app, image: weft.invalid/app:1, command: [weft-demo, server] }]
---
apiVersion: v1
kind: Pod
metadata: { name: single, namespace: meshed }
spec:
  containers: [{ name: app, image: weft.invalid/app:1, command: [weft-demo, server] }]
`;
    const file = join(work, 'workloads.yaml');
    writeFileSync(file, input);
    const injected = spawnSync(process.execPath, [join(ROOT, 'cli', 'main.ts'), 'inject', file, '--proxy-image', PROXY_IMAGE, '--proxy-version', '0.1.0-test'], { encoding: 'utf8' });
    expect(injected.status, injected.stderr).toBe(0);
    expect(parseAllDocuments(injected.stdout)).toHaveLength(6);

    const dry = await cluster.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: injected.stdout, allowFailure: true });
    expect(dry.stderr).toBe('');
    expect(dry.exitCode).toBe(0);
    const out = JSON.parse(dry.stdout) as { items?: Record<string, unknown>[] } & Record<string, unknown>;
    const objects = out.items ?? [out];
    expect(objects.map((o) => o['kind'])).toEqual(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod']);
    const podSpecOf = (o: Record<string, unknown>): StoredPod['spec'] => {
      const spec = o['spec'] as Record<string, unknown>;
      if (o['kind'] === 'Pod') return spec as unknown as StoredPod['spec'];
      if (o['kind'] === 'CronJob') return ((((spec['jobTemplate'] as Record<string, unknown>)['spec'] as Record<string, unknown>)['template'] as Record<string, unknown>)['spec']) as StoredPod['spec'];
      return (spec['template'] as Record<string, unknown>)['spec'] as StoredPod['spec'];
    };
    for (const o of objects) {
      const spec = podSpecOf(o);
      const what = String(o['kind']);
      expect(spec.containers.map((c) => c.name), what).toEqual(['weft-proxy', 'app']);
      expect((spec.initContainers ?? []).map((c) => c.name), what).toEqual(['weft-init']);
    }
    // Nothing was created by the dry run.
    expect((await cluster.api('GET', '/apis/apps/v1/namespaces/plain/deployments/web')).status).toBe(404);
    expect((await cluster.api('GET', '/api/v1/namespaces/meshed/pods/single')).status).toBe(404);

    // The injected Pod applied for real in an annotated namespace: the webhook sees the marker and leaves it alone.
    const already = await requests('already-injected');
    const single = (await cluster.kubectl(['apply', '-f', '-'], {
      input: parseAllDocuments(injected.stdout)[5]?.toString() ?? '',
    })).stdout;
    expect(single).toContain('pod/single created');
    const stored = (await cluster.api<StoredPod>('GET', '/api/v1/namespaces/meshed/pods/single')).body;
    expect(names(stored)).toEqual({ init: ['weft-init'], containers: ['weft-proxy', 'app'] });
    expect(await requests('already-injected')).toBe(already + 1);
  });
});
