// `weft install`, the SMI CRDs, RBAC, `weft check` and the Prometheus scrape
// config against a real kube-apiserver 1.20 (+ etcd + controller manager),
// with Debian's kubectl and Debian's Prometheus. There are no kubelets, so the
// Weft Deployments never become available: `weft check` reports that as a
// warning (no nodes) unless told to --wait.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCaMaterial } from '../../control-plane/ca-material.ts';
import { createInjectorTls } from '../../deploy/pki.ts';
import { prometheusConfig } from '../../deploy/prometheus.ts';
import { startPodSdServer, type PodSdServer } from '../../deploy/prometheus-pod-sd.ts';
import { stringify } from 'yaml';
import { describeCluster } from './cluster-gate.ts';
import { freePort, startCluster, type Cluster } from './harness.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'cli', 'main.ts');

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

interface CheckJson {
  results: { group: string; name: string; status: 'ok' | 'warn' | 'fail'; detail?: string }[];
}

const split = (version: string, name: string, weights: [unknown, unknown], matches = ''): string => `
apiVersion: split.smi-spec.io/${version}
kind: TrafficSplit
metadata: { name: ${name}, namespace: demo }
spec:
  service: web
  backends:
    - { service: web-v1, weight: ${JSON.stringify(weights[0])} }
    - { service: web-v2, weight: ${JSON.stringify(weights[1])} }
${matches}`;

describeCluster('weft install and weft check (real kube-apiserver 1.20)', () => {
  let cluster: Cluster;
  let installed: string;
  let work: string;

  const check = async (...extra: string[]): Promise<{ code: number | null; json: CheckJson; stderr: string }> => {
    const r = await runCli(['check', '--kubeconfig', cluster.kubeconfigPath, '--output', 'json', ...extra]);
    let json: CheckJson;
    try {
      json = JSON.parse(r.stdout) as CheckJson;
    } catch {
      throw new Error(`weft check printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
    }
    return { code: r.code, json, stderr: r.stderr };
  };
  const failed = (j: CheckJson): string[] => j.results.filter((r) => r.status === 'fail').map((r) => `${r.name}: ${r.detail ?? ''}`);

  beforeAll(async () => {
    cluster = await startCluster();
    work = await mkdtemp(join(tmpdir(), 'weft-install-cluster-'));
  });

  afterAll(async () => {
    await cluster?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('`weft install | kubectl apply -f -` succeeds; the CRDs are Established and structural', async () => {
    const r = await runCli(['install', '--image', 'weft.invalid/weft:test']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    installed = r.stdout;
    const applied = await cluster.kubectl(['apply', '-f', '-'], { input: installed });
    expect(applied.stdout).toContain('customresourcedefinition.apiextensions.k8s.io/trafficsplits.split.smi-spec.io created');
    expect(applied.stdout).toContain('mutatingwebhookconfiguration.admissionregistration.k8s.io/weft-injector created');
    expect(applied.stdout.trim().split('\n')).toHaveLength(21);
    await cluster.kubectl(['wait', '--for', 'condition=Established', '--timeout', '30s',
      'crd/trafficsplits.split.smi-spec.io', 'crd/httproutegroups.specs.smi-spec.io',
      'crd/tcproutes.specs.smi-spec.io', 'crd/traffictargets.access.smi-spec.io']);
    const crds = JSON.parse((await cluster.kubectl(['get', 'crd', '-o', 'json'])).stdout) as {
      items: { metadata: { name: string }; status: { conditions: { type: string; status: string }[] } }[];
    };
    for (const crd of crds.items) {
      const conds = Object.fromEntries(crd.status.conditions.map((c) => [c.type, c.status]));
      expect(conds, crd.metadata.name).toMatchObject({ Established: 'True', NamesAccepted: 'True' });
      expect(conds['NonStructuralSchema'], crd.metadata.name).toBeUndefined();
    }
  });

  it('re-applying the same output changes nothing', async () => {
    const again = await cluster.kubectl(['apply', '-f', '-'], { input: installed });
    const lines = again.stdout.trim().split('\n');
    expect(lines).toHaveLength(21);
    for (const line of lines) expect(line).toMatch(/ unchanged$/);
  });

  it('accepts a TrafficSplit in each of v1alpha1 ("500m" weights), v1alpha2, v1alpha3 and v1alpha4 (with matches) and HTTPRouteGroups of every version', async () => {
    await cluster.kubectl(['create', 'namespace', 'demo']);
    const matches = '  matches:\n    - { kind: HTTPRouteGroup, name: api }\n';
    const docs = [
      split('v1alpha1', 'web-v1alpha1', ['900m', '100m']),
      split('v1alpha2', 'web-v1alpha2', [90, 10]),
      split('v1alpha3', 'web-v1alpha3', [50, 50], matches),
      split('v1alpha4', 'web-v1alpha4', [0, 1], matches),
      // HTTPRouteGroup: top-level matches (v1alpha1/2), spec.matches with header lists (v1alpha3) or maps (v1alpha4).
      'apiVersion: specs.smi-spec.io/v1alpha1\nkind: HTTPRouteGroup\nmetadata: { name: api-v1alpha1, namespace: demo }\nmatches:\n  - { name: api, pathRegex: "/api/.*", methods: [GET] }\n',
      'apiVersion: specs.smi-spec.io/v1alpha2\nkind: HTTPRouteGroup\nmetadata: { name: api-v1alpha2, namespace: demo }\nmatches:\n  - { name: api, pathRegex: "/api/.*", methods: ["*"] }\n',
      'apiVersion: specs.smi-spec.io/v1alpha3\nkind: HTTPRouteGroup\nmetadata: { name: api-v1alpha3, namespace: demo }\nspec:\n  matches:\n    - { name: api, methods: [GET, HEAD], headers: [{ x-canary: "1" }] }\n',
      'apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata: { name: api, namespace: demo }\nspec:\n  matches:\n    - { name: api, pathRegex: "/api/.*", methods: [GET], headers: { x-canary: "1" } }\n',
    ];
    const r = await cluster.kubectl(['apply', '-f', '-'], { input: docs.join('---\n') });
    expect(r.stdout.trim().split('\n')).toHaveLength(docs.length);
    const list = JSON.parse((await cluster.kubectl(['-n', 'demo', 'get', 'trafficsplits.v1alpha4.split.smi-spec.io', '-o', 'json'])).stdout) as {
      items: { metadata: { name: string }; spec: { backends: { weight: unknown }[]; matches?: unknown[] } }[];
    };
    const byName = Object.fromEntries(list.items.map((i) => [i.metadata.name, i.spec]));
    expect(byName['web-v1alpha1']?.backends.map((b) => b.weight)).toEqual(['900m', '100m']);
    expect(byName['web-v1alpha2']?.backends.map((b) => b.weight)).toEqual([90, 10]);
    expect(byName['web-v1alpha3']?.matches).toEqual([{ kind: 'HTTPRouteGroup', name: 'api' }]);
    const hrg = JSON.parse((await cluster.kubectl(['-n', 'demo', 'get', 'httproutegroups.v1alpha4.specs.smi-spec.io', 'api-v1alpha3', '-o', 'json'])).stdout) as {
      spec: { matches: { headers: unknown }[] };
    };
    expect(hrg.spec.matches[0]?.headers).toEqual([{ 'x-canary': '1' }]);
  });

  it('the apiserver rejects invalid SMI objects: negative, fractional or non-quantity weights, missing service, backends or weight, a foreign match kind, route matches without name', async () => {
    const base = (spec: string): string => `apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata: { name: bad, namespace: demo }\nspec: ${spec}\n`;
    const cases: [string, string, RegExp][] = [
      ['negative weight', base('{ service: web, backends: [{ service: a, weight: -1 }] }'), /weight.*greater than or equal to 0/],
      ['negative quantity', base('{ service: web, backends: [{ service: a, weight: "-5" }] }'), /weight.*should match/],
      ['not a quantity', base('{ service: web, backends: [{ service: a, weight: "lots" }] }'), /weight.*should match/],
      ['fractional weight', base('{ service: web, backends: [{ service: a, weight: 0.5 }] }'), /weight.*must be of type integer,string/],
      ['missing spec.service', base('{ backends: [{ service: a, weight: 1 }] }'), /spec\.service: Required value/],
      ['missing spec.backends', base('{ service: web }'), /spec\.backends: Required value/],
      ['backend without weight', base('{ service: web, backends: [{ service: a }] }'), /spec\.backends\.weight: Required value/],
      ['match of another kind', base('{ service: web, backends: [{ service: a, weight: 1 }], matches: [{ kind: TCPRoute, name: x }] }'), /spec\.matches\.kind: Unsupported value/],
      ['HTTPRouteGroup without matches', 'apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata: { name: bad, namespace: demo }\n', /anyOf/],
      ['route match without name', 'apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata: { name: bad, namespace: demo }\nspec: { matches: [{ pathRegex: "/x" }] }\n', /spec\.matches\.name: Required value/],
    ];
    for (const [what, doc, message] of cases) {
      // --validate=false: the apiserver's own validation, not kubectl's.
      const r = await cluster.kubectl(['apply', '--validate=false', '-f', '-'], { input: doc, allowFailure: true });
      expect(r.exitCode, what).not.toBe(0);
      expect(r.stderr, what).toMatch(message);
    }
    const left = await cluster.kubectl(['-n', 'demo', 'get', 'trafficsplits,httproutegroups', '-o', 'name']);
    expect(left.stdout).not.toMatch(/\/bad$/m);
  });

  it('a v1alpha1 TrafficSplit is served as v1alpha4 unchanged, and its status can be written through v1alpha4 (one schema for every version)', async () => {
    const path = '/apis/split.smi-spec.io/v1alpha4/namespaces/demo/trafficsplits/web-v1alpha1';
    const got = await cluster.api<{ apiVersion: string; spec: { backends: { weight: unknown }[] }; status?: unknown }>('GET', path);
    expect(got.status).toBe(200);
    expect(got.body.apiVersion).toBe('split.smi-spec.io/v1alpha4');
    expect(got.body.spec.backends[0]?.weight).toBe('900m');
    const status = {
      conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'written by the test', lastTransitionTime: new Date().toISOString() }],
    };
    const put = await cluster.api('PUT', `${path}/status`, { ...got.body, status });
    expect(put.status, put.text).toBe(200);
    // The status subresource: a spec apply does not clobber it.
    await cluster.kubectl(['apply', '-f', '-'], { input: split('v1alpha1', 'web-v1alpha1', ['800m', '200m']) });
    const after = await cluster.api<{ spec: { backends: { weight: unknown }[] }; status?: typeof status }>('GET', path);
    expect(after.body.spec.backends[0]?.weight).toBe('800m');
    expect(after.body.status?.conditions[0]?.message).toBe('written by the test');
  });

  it('weft check passes: every check ✓ but the Deployments, ‼ not available (no nodes)', async () => {
    const r = await check();
    expect(failed(r.json)).toEqual([]);
    expect(r.code).toBe(0);
    const warns = r.json.results.filter((x) => x.status === 'warn');
    expect(warns.map((w) => w.name).sort()).toEqual(['Deployment weft-control-plane', 'Deployment weft-injector']);
    for (const w of warns) expect(w.detail).toContain('not available (no nodes?)');
    const names = r.json.results.map((x) => x.name);
    for (const want of [
      'can reach the Kubernetes API',
      'CRD trafficsplits.split.smi-spec.io',
      'CRD httproutegroups.specs.smi-spec.io',
      'CRD tcproutes.specs.smi-spec.io',
      'CRD traffictargets.access.smi-spec.io',
      'weft-control-plane may do what it needs',
      'weft-injector may do what it needs',
      'Secret weft-identity holds a valid CA',
      'ConfigMap weft-trust-bundle holds the trust anchor',
      'webhook caBundle verifies the serving certificate',
    ]) expect(names).toContain(want);
    // The text form: a checklist with marks and a summary line.
    const text = await runCli(['check', '--kubeconfig', cluster.kubeconfigPath]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('✓ webhook caBundle verifies the serving certificate');
    expect(text.stdout).toContain('‼ Deployment weft-control-plane');
    expect(text.stdout).toMatch(/Status check results are ✓ \(\d+ checks, 0 failed, 2 warnings\)/);
  });

  it("the control plane's real ServiceAccount token may list TrafficSplits, review tokens and write split status, but not read Secrets elsewhere", async () => {
    const token = await cluster.requestToken('weft-system', 'weft-control-plane', { audiences: [cluster.serviceAccountIssuer] });
    const as = (method: string, path: string, body?: unknown): Promise<number> =>
      new Promise((res, rej) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const type = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
        const req = https.request(`${cluster.server}${path}`, {
          method,
          ca: cluster.caPem,
          headers: { authorization: `Bearer ${token}`, ...(payload !== undefined ? { 'content-type': type } : {}) },
        }, (r) => {
          r.resume();
          r.on('end', () => res(r.statusCode ?? 0));
        });
        req.on('error', rej);
        req.end(payload);
      });
    expect(await as('GET', '/apis/split.smi-spec.io/v1alpha2/trafficsplits')).toBe(200);
    expect(await as('GET', '/apis/specs.smi-spec.io/v1alpha4/namespaces/demo/httproutegroups')).toBe(200);
    expect(await as('GET', '/apis/discovery.k8s.io/v1beta1/endpointslices')).toBe(200);
    expect(await as('GET', '/api/v1/pods')).toBe(200);
    expect(await as('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'x' } })).toBe(201);
    const condition = { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'by the control plane', lastTransitionTime: new Date().toISOString() };
    expect(await as('PATCH', '/apis/split.smi-spec.io/v1alpha4/namespaces/demo/trafficsplits/web-v1alpha2/status', { status: { conditions: [condition] } })).toBe(200);
    expect(await as('PATCH', '/apis/split.smi-spec.io/v1alpha4/namespaces/demo/trafficsplits/web-v1alpha2', { spec: { service: 'other' } })).toBe(403);
    expect(await as('POST', '/api/v1/namespaces/demo/events', {
      apiVersion: 'v1', kind: 'Event', metadata: { generateName: 'web-v1alpha2.' },
      involvedObject: { apiVersion: 'split.smi-spec.io/v1alpha2', kind: 'TrafficSplit', namespace: 'demo', name: 'web-v1alpha2' },
      reason: 'Test', message: 'an event from the control plane', type: 'Normal',
    })).toBe(201);
    expect(await as('GET', '/api/v1/namespaces/weft-system/secrets/weft-identity')).toBe(200);
    expect(await as('GET', '/api/v1/namespaces/weft-system/secrets/weft-injector-tls')).toBe(403);
    expect(await as('GET', '/api/v1/namespaces/demo/secrets')).toBe(403);
    expect(await as('GET', '/api/v1/secrets')).toBe(403);
    expect(await as('DELETE', '/apis/split.smi-spec.io/v1alpha4/namespaces/demo/trafficsplits/web-v1alpha2')).toBe(403);
    expect(await as('GET', '/apis/apps/v1/namespaces/weft-system/deployments')).toBe(200);
    expect(await as('DELETE', '/apis/apps/v1/namespaces/weft-system/deployments/weft-injector')).toBe(403);
  });

  it('weft check --wait fails when the Deployments do not become available in time', async () => {
    const r = await check('--wait', '1');
    expect(r.code).toBe(1);
    expect(failed(r.json).sort()).toEqual([
      expect.stringMatching(/^Deployment weft-control-plane: not available after 1 s/),
      expect.stringMatching(/^Deployment weft-injector: not available after 1 s/),
    ]);
  });

  it('weft check fails, naming it, when the webhook caBundle does not verify the serving certificate or the trust bundle lacks the anchor; re-applying repairs both', async () => {
    const otherCa = createInjectorTls(Date.now()).caPem;
    await cluster.kubectl(['patch', 'mutatingwebhookconfiguration', 'weft-injector', '--type', 'json', '-p',
      JSON.stringify([{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: Buffer.from(otherCa).toString('base64') }])]);
    const otherAnchor = createCaMaterial({ trustDomain: 'cluster.local', now: Date.now() }).anchorPem;
    await cluster.kubectl(['-n', 'weft-system', 'patch', 'configmap', 'weft-trust-bundle', '--type', 'merge', '-p',
      JSON.stringify({ data: { 'ca-bundle.crt': otherAnchor } })]);
    const broken = await check();
    expect(broken.code).toBe(1);
    expect(failed(broken.json)).toEqual([
      expect.stringMatching(/^ConfigMap weft-trust-bundle holds the trust anchor: the trust anchor of Secret weft-identity is not in it/),
      expect.stringMatching(/^webhook caBundle verifies the serving certificate: none of its 1 certificate\(s\) signed it/),
    ]);
    const text = await runCli(['check', '--kubeconfig', cluster.kubeconfigPath]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('✗ webhook caBundle verifies the serving certificate');
    expect(text.stdout).toMatch(/Status check results are ✗ \(\d+ checks, 2 failed, 2 warnings\)/);
    await cluster.kubectl(['apply', '-f', '-'], { input: installed });
    const repaired = await check();
    expect(failed(repaired.json)).toEqual([]);
    expect(repaired.code).toBe(0);
  });

  it('weft check against an unreachable apiserver fails at the first check, and a bad kubeconfig exits 2', async () => {
    const kubeconfig = join(work, 'nowhere.json');
    const port = await freePort();
    await writeFile(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'x',
      clusters: [{ name: 'x', cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
      contexts: [{ name: 'x', context: { cluster: 'x', user: 'x' } }],
      users: [{ name: 'x', user: { token: 'x' } }],
    }));
    const r = await runCli(['check', '--kubeconfig', kubeconfig, '--output', 'json']);
    expect(r.code).toBe(1);
    const json = JSON.parse(r.stdout) as CheckJson;
    expect(json.results).toEqual([expect.objectContaining({ name: 'can reach the Kubernetes API', status: 'fail' })]);
    const bad = await runCli(['check', '--kubeconfig', join(work, 'missing.yaml')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('cannot load the kubeconfig');
  });

  it("Prometheus (Debian's 2.42) with deploy/'s relabelling names a meshed pod's proxy target by namespace, pod and deployment", async () => {
    // A Deployment whose pods look injected (weft-proxy with its weft-admin port).
    await cluster.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: apps/v1
kind: Deployment
metadata: { name: web-v1, namespace: demo }
spec:
  replicas: 1
  selector: { matchLabels: { app: web, version: v1 } }
  template:
    metadata: { labels: { app: web, version: v1 } }
    spec:
      containers:
        - { name: app, image: weft.invalid/demo:1, ports: [{ name: http, containerPort: 8080 }] }
        - { name: weft-proxy, image: weft.invalid/weft:test, ports: [{ name: weft-inbound, containerPort: 4143 }, { name: weft-admin, containerPort: 4191 }] }
`,
    });
    let pod: { metadata: { name: string; labels: Record<string, string> } } | undefined;
    for (let i = 0; i < 100 && pod === undefined; i++) {
      const pods = await cluster.api<{ items: { metadata: { name: string; labels: Record<string, string> } }[] }>('GET', '/api/v1/namespaces/demo/pods?labelSelector=app%3Dweb');
      pod = pods.body.items[0];
      if (pod === undefined) await sleep(200);
    }
    if (pod === undefined) throw new Error('the controller manager made no pod for Deployment demo/web-v1');
    await cluster.markPodRunning('demo', pod.metadata.name, { ip: '198.18.0.21' });

    let sd: PodSdServer | undefined;
    const dir = await mkdtemp(join(work, 'prometheus-'));
    const promPort = await freePort();
    const prom = { child: undefined as ReturnType<typeof spawn> | undefined, log: '' };
    try {
      sd = await startPodSdServer(async () => (await cluster.api<{ items: unknown[] }>('GET', '/api/v1/pods')).body.items);
      const config = prometheusConfig({ httpSdUrl: sd.url, scrapeInterval: '1h' }) as { scrape_configs: { relabel_configs: unknown[] }[] };
      // Test traffic stays on loopback: scrapes go to a closed local port, after every label is computed.
      for (const job of config.scrape_configs) job.relabel_configs.push({ target_label: '__address__', replacement: '127.0.0.1:9' });
      await writeFile(join(dir, 'prometheus.yml'), stringify(config));
      prom.child = spawn('prometheus', [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      prom.child.stderr?.on('data', (c: Buffer) => (prom.log += c.toString()));
      type Target = { labels: Record<string, string>; discoveredLabels: Record<string, string> };
      let targets: { activeTargets: Target[]; droppedTargets: Target[] } | undefined;
      for (let i = 0; i < 150; i++) {
        try {
          const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/targets`);
          const body = (await res.json()) as { data: { activeTargets: Target[]; droppedTargets: Target[] } };
          if (body.data.activeTargets.some((t) => t.labels['job'] === 'weft-proxy')) {
            targets = body.data;
            break;
          }
        } catch {
          // not up yet
        }
        await sleep(200);
      }
      if (targets === undefined) throw new Error(`Prometheus found no weft-proxy target:\n${prom.log.slice(-3000)}`);
      const active = targets.activeTargets.filter((t) => t.labels['job'] === 'weft-proxy');
      expect(active).toHaveLength(1);
      const labels = active[0]?.labels ?? {};
      expect(labels).toMatchObject({ job: 'weft-proxy', namespace: 'demo', pod: pod.metadata.name, deployment: 'web-v1' });
      expect(active[0]?.discoveredLabels['__meta_kubernetes_pod_container_port_number']).toBe('4191');
      expect(Object.keys(labels).filter((k) => !k.startsWith('__')).sort()).toEqual(['deployment', 'instance', 'job', 'namespace', 'pod']);
      // The app's port, the proxy's inbound port: discovered, dropped.
      const dropped = targets.droppedTargets.map((t) => `${t.discoveredLabels['__meta_kubernetes_pod_container_name']}:${t.discoveredLabels['__meta_kubernetes_pod_container_port_name']}`);
      expect(dropped).toEqual(expect.arrayContaining(['app:http', 'weft-proxy:weft-inbound']));
    } finally {
      prom.child?.kill('SIGTERM');
      if (prom.child !== undefined && prom.child.exitCode === null) await new Promise((r) => prom.child?.once('exit', r));
      await sd?.close();
    }
  });
});
