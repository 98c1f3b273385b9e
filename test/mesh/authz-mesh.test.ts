// Access control in the local mesh (the authorization issue, acceptance 2):
// weft up with a TrafficTarget and an HTTPRouteGroup in its folder. `client`
// may GET /api/* on `web`; its POST /api/x and GET /admin get 403, another
// identity (`other`) gets 403 too, each denial counted by web's proxy with the
// client identity; removing the TrafficTarget opens web again (its default
// policy) within seconds.
import http from 'node:http';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { up, type LocalMesh } from '../../cli/up.ts';
import { metricValue } from '../harness/mesh-fixture.ts';
import { codeOfResponse } from '../harness/error-code.ts';
import { waitFor } from '../harness/traffic-probe.ts';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const NS = `apiVersion: v1
kind: Namespace
metadata: { name: demo, annotations: { weft.dev/inject: enabled } }
`;
const deployment = (name: string, sa: string): string => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: demo }
spec:
  replicas: 1
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      serviceAccountName: ${sa}
      containers:
        - name: ${name}
          command: [weft-demo, server]
          env: [{ name: VERSION, value: ${name} }]
          ports: [{ name: http, containerPort: 8080 }]
`;
const WEB_SERVICE = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: demo }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }]
`;
const ACCESS = `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: { name: web-routes, namespace: demo }
spec:
  matches:
    - { name: api, pathRegex: /api/, methods: [GET] }
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: web-access, namespace: demo }
spec:
  destination: { kind: ServiceAccount, name: web, namespace: demo }
  sources:
    - { kind: ServiceAccount, name: client, namespace: demo }
  rules:
    - { kind: HTTPRouteGroup, name: web-routes, matches: [api] }
`;

describe('access control in the local mesh (TrafficTarget)', () => {
  let dir: string;
  let mesh: LocalMesh;
  const ip = (prefix: string): string => {
    const p = mesh.pods.find((x) => x.pod.name.startsWith(`${prefix}-`));
    if (p === undefined) throw new Error(`no ${prefix} pod`);
    return p.pod.ip;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-authz-mesh-'));
    writeFileSync(join(dir, 'namespace.yaml'), NS);
    writeFileSync(join(dir, 'web.yaml'), [WEB_SERVICE, deployment('web', 'web')].join('---\n'));
    writeFileSync(join(dir, 'clients.yaml'), [deployment('client', 'client'), deployment('other', 'other')].join('---\n'));
    writeFileSync(join(dir, 'access.yaml'), ACCESS);
    mesh = await up({ dir, addressBase: `127.${100 + Math.floor(Math.random() * 100)}` });
    await mesh.ready(60_000);
  }, 90_000);

  afterAll(async () => {
    await mesh?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** A request from the pod whose name starts with `from`, through its proxy (explicit mode), to web. */
  async function call(from: string, path: string, method = 'GET'): Promise<{ status: number; code: string | undefined }> {
    const res = await viaProxyAt(ip(from), `http://web.demo${path}`, method);
    return { status: res.status, code: codeOfResponse(res) };
  }

  it("client's GET /api/x succeeds; its POST /api/x and GET /admin get 403, another identity gets 403; each denial counted with the client identity", async () => {
    const CLIENT_ID = 'spiffe://cluster.local/ns/demo/sa/client';
    const OTHER_ID = 'spiffe://cluster.local/ns/demo/sa/other';
    expect(await call('client', '/api/x')).toEqual({ status: 200, code: undefined });
    expect(await call('client', '/api/x', 'POST')).toEqual({ status: 403, code: 'WEFT_ERR_FORBIDDEN' });
    expect(await call('client', '/admin')).toEqual({ status: 403, code: 'WEFT_ERR_FORBIDDEN' });
    expect(await call('other', '/api/x')).toEqual({ status: 403, code: 'WEFT_ERR_FORBIDDEN' });
    const m = await (await fetch(`http://${ip('web')}:4191/metrics`)).text();
    expect(metricValue(m, 'inbound_http_authz_deny_total', { client_id: CLIENT_ID })).toBe(2);
    expect(metricValue(m, 'inbound_http_authz_deny_total', { client_id: OTHER_ID })).toBe(1);
    expect(metricValue(m, 'inbound_http_authz_allow_total', { client_id: CLIENT_ID, authz: 'demo/web-access' })).toBe(1);
  });

  it('`weft authz` shows who may call web (its TrafficTarget) and the refused calls by identity; the other workloads their default policy', async () => {
    const { stdout, stderr, code } = await runCli(['authz', '--state-dir', mesh.stateDir]);
    expect(code, stderr).toBe(0);
    const web = stdout.split('\n').find((l) => l.startsWith('demo/web '));
    expect(web).toMatch(/^demo\/web\s+TrafficTargets\s+demo\/client: GET \/api\/\* \(demo\/web-access\)\s+demo\/client 2, demo\/other 1$/);
    expect(stdout).toMatch(/^demo\/client\s+default: all-unauthenticated\s+everyone\s+-$/m);
  });

  it('removing the TrafficTarget opens web to every identity again (its default policy) within seconds', async () => {
    unlinkSync(join(dir, 'access.yaml'));
    await waitFor(async () => (await call('other', '/api/x')).status === 200, 10_000, 200);
    expect((await call('client', '/admin')).status).toBe(200);
  });
});

/** `node cli/main.ts ...`: its stdout and exit code. */
function runCli(args: string[]): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'cli', 'main.ts'), ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1 });
    });
  });
}

/** One request through the proxy on `ip`:4140 (explicit mode, absolute-form target). */
function viaProxyAt(ip: string, url: string, method: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: ip, port: 4140, method, path: url, headers: { host: new URL(url).host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? 'x' : undefined);
  });
}
