// The transparent-proxying cases on real pods (issue 14 acceptance 3): an
// ordinary pod keeps working when it is injected. Every app below is a plain
// program that knows nothing of the mesh; the callers use Service names
// (cluster DNS -> ClusterIP) or pod IPs. A meshed caller's connection is
// redirected by weft-init's rules to its proxy; an unmeshed caller's goes
// through kube-proxy's ClusterIP rules to the meshed pod, whose rules hand it
// to its proxy's inbound side.
//
//   apps (meshed):     echo (TCP, client speaks first, port 7000),
//                      greeter (TCP, server speaks first, 3306: a default opaque port),
//                      grpc (weft.demo.Echo, 2 replicas), web (HTTP), client (the caller)
//                      tls (HTTPS with its own certificate)
//   outside (plain):   tls (the same), caller (an unmeshed client)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { metricValue } from '../harness/mesh-fixture.ts';
import { describeCluster } from './cluster-gate.ts';
import { startInstalledMesh, type InstalledMesh, type PodJson } from './real-mesh-fixture.ts';
import { NODE_IMAGES } from './real-node.ts';

const CLIENT_ID = 'spiffe://cluster.local/ns/apps/sa/client';

const deployment = (o: { ns: string; name: string; replicas?: number; sa?: string; command: readonly string[]; port?: number; probe?: 'tcp' | 'http'; env?: Record<string, string>; volume?: string }): string => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${o.name}, namespace: ${o.ns} }
spec:
  replicas: ${o.replicas ?? 1}
  selector: { matchLabels: { app: ${o.name} } }
  template:
    metadata: { labels: { app: ${o.name} } }
    spec:
      ${o.sa ? `serviceAccountName: ${o.sa}` : ''}
      terminationGracePeriodSeconds: 2
      containers:
        - name: app
          image: ${NODE_IMAGES.weft}
          imagePullPolicy: Never
          command: ${JSON.stringify(o.command)}
          env:
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
${Object.entries(o.env ?? {}).map(([k, v]) => `            - { name: ${k}, value: "${v}" }`).join('\n')}
${o.port !== undefined ? `          ports: [{ name: main, containerPort: ${o.port} }]` : ''}
${o.probe === 'tcp' ? '          readinessProbe: { tcpSocket: { port: main }, periodSeconds: 1 }' : ''}
${o.probe === 'http' ? '          readinessProbe: { httpGet: { path: /, port: main }, periodSeconds: 1 }' : ''}
${o.volume ? `          volumeMounts: [{ name: tls, mountPath: /tls }]
      volumes: [{ name: tls, secret: { secretName: ${o.volume} } }]` : ''}
---
${o.port !== undefined ? `apiVersion: v1
kind: Service
metadata: { name: ${o.name}, namespace: ${o.ns} }
spec:
  selector: { app: ${o.name} }
  ports: [{ name: main, port: ${o.port}, targetPort: main }]` : ''}
`;

const node = (source: string): string[] => ['node', '--input-type=module', '-e', source];
// (Each survives a peer that resets: the kubelet's tcpSocket probes, which the proxy runs for it, connect and close at once.)
const ECHO_SERVER = node("import net from 'node:net'; net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(7000);");
const GREETER = node("import net from 'node:net'; net.createServer((s) => { s.on('error', () => {}); s.write('220 greeter ready\\r\\n'); s.pipe(s); }).listen(3306);");
const TLS_SERVER = node("import https from 'node:https'; import fs from 'node:fs'; https.createServer({ cert: fs.readFileSync('/tls/tls.crt'), key: fs.readFileSync('/tls/tls.key') }, (q, r) => r.end('hello over tls')).listen(8443);");
const SLEEP = ['sleep', '100000'];

/** A TCP exchange: connect, (read a greeting first when serverFirst), send `msg`, read it echoed. */
const TCP_EXCHANGE = `
import net from 'node:net';
const [host, port, serverFirst, msg] = process.argv.slice(2) as [string, string, string, string];
const s = net.connect(Number(port), host);
let got = '';
let sent = false;
const finish = (extra: object): void => { console.log(JSON.stringify({ got, ...extra })); s.destroy(); };
s.setTimeout(8000, () => finish({ error: 'timeout' }));
s.on('connect', () => { if (serverFirst !== 'true') { s.write(msg); sent = true; } });
s.on('data', (d: Buffer) => {
  got += d.toString();
  if (!sent && got.includes('\\r\\n')) { s.write(msg); sent = true; }
  if (sent && got.endsWith(msg)) finish({});
});
s.on('error', (e: Error) => finish({ error: e.message }));
`;

const HTTPS_GET = `
import https from 'node:https';
const [url, ca] = process.argv.slice(2) as [string, string];
const req = https.get(url, ca === '' ? {} : { ca }, (res) => {
  const subject = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN;
  let body = '';
  res.on('data', (c: Buffer) => (body += c.toString()));
  res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body, subject })));
});
req.on('error', (e: NodeJS.ErrnoException) => console.log(JSON.stringify({ error: e.code ?? e.message })));
`;

const GRPC_CALLS = `
import * as grpc from '@grpc/grpc-js';
import { EchoClient } from '/weft/cli/demo-grpc.js';
const [target] = process.argv.slice(2) as [string];
const c = new EchoClient(target, grpc.credentials.createInsecure()) as any;
const froms: string[] = [];
for (let i = 0; i < 20; i++) {
  froms.push(await new Promise<string>((res, rej) => c.Say({ text: 'hi ' + i }, (e: Error | null, r: { from: string }) => (e ? rej(e) : res(r.from)))));
}
const chat = c.Chat();
const echoed: string[] = [];
const ended = new Promise<void>((res, rej) => { chat.on('end', res); chat.on('error', rej); });
chat.on('data', (m: { text: string; from: string }) => echoed.push(m.text + '@' + m.from));
for (let i = 0; i < 5; i++) chat.write({ text: 'm' + i });
chat.end();
await ended;
console.log(JSON.stringify({ froms, echoed }));
c.close();
`;

const HTTP_GET = `
const [url] = process.argv.slice(2) as [string];
const res = await fetch(url);
console.log(JSON.stringify({ status: res.status, body: await res.text() }));
`;

describeCluster('transparent proxying on real pods: TCP both ways, TLS egress, gRPC, pod IPs (through kube-proxy ClusterIPs)', () => {
  let mesh: InstalledMesh;
  let client: PodJson;
  let caller: PodJson;
  let certPem = '';
  const work = mkdtempSync(join(tmpdir(), 'weft-transparent-node-'));

  const run = async <T>(from: PodJson, source: string, args: readonly string[]): Promise<T> => {
    const r = await mesh.script(from.metadata.namespace, from.metadata.name, source, args);
    if (r.exitCode !== 0 || r.stdout.trim() === '') throw new Error(`script in ${from.metadata.name} exited ${r.exitCode}: ${r.stderr}${r.stdout}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as T;
  };
  const metricsOf = async (ns: string, app: string): Promise<string[]> =>
    Promise.all((await mesh.pods(ns, `app=${app}`)).map(async (p) => (await fetch(`http://${p.status.podIP}:4191/metrics`)).text()));

  beforeAll(async () => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
      '-keyout', join(work, 'tls.key'), '-out', join(work, 'tls.crt'),
      '-subj', '/CN=tls.outside.svc.cluster.local',
      '-addext', 'subjectAltName=DNS:tls.outside.svc.cluster.local,DNS:tls.apps.svc.cluster.local',
    ], { stdio: 'ignore' });
    certPem = readFileSync(join(work, 'tls.crt'), 'utf8');

    mesh = await startInstalledMesh();
    await mesh.meshedNamespace('apps');
    await mesh.cluster.kubectl(['create', 'namespace', 'outside']);
    await mesh.cluster.waitForServiceAccount('outside');
    for (const ns of ['outside', 'apps']) {
      await mesh.cluster.kubectl(['-n', ns, 'create', 'secret', 'tls', 'tls', `--cert=${join(work, 'tls.crt')}`, `--key=${join(work, 'tls.key')}`]);
    }
    await mesh.cluster.kubectl(['-n', 'apps', 'create', 'serviceaccount', 'client']);
    await mesh.apply([
      deployment({ ns: 'apps', name: 'echo', command: ECHO_SERVER, port: 7000, probe: 'tcp' }),
      deployment({ ns: 'apps', name: 'greeter', command: GREETER, port: 3306, probe: 'tcp' }),
      deployment({ ns: 'apps', name: 'grpc', replicas: 2, command: ['node', '/weft/cli/demo-app.js', 'grpc-server'], port: 9090, probe: 'tcp', env: { HOST: '0.0.0.0', PORT: '9090', VERSION: 'v1' } }),
      deployment({ ns: 'apps', name: 'web', command: ['node', '/weft/cli/demo-app.js', 'server'], port: 8080, probe: 'http', env: { HOST: '0.0.0.0' } }),
      deployment({ ns: 'apps', name: 'client', sa: 'client', command: SLEEP }),
      deployment({ ns: 'outside', name: 'tls', command: TLS_SERVER, port: 8443, volume: 'tls' }),
      deployment({ ns: 'apps', name: 'tls', command: TLS_SERVER, port: 8443, volume: 'tls' }),
      deployment({ ns: 'outside', name: 'caller', command: SLEEP }),
    ].join('\n---\n'));
    for (const [ns, app, n] of [['apps', 'echo', 1], ['apps', 'greeter', 1], ['apps', 'grpc', 2], ['apps', 'web', 1], ['apps', 'client', 1], ['outside', 'tls', 1], ['apps', 'tls', 1], ['outside', 'caller', 1]] as const) {
      await mesh.readyPods(ns, `app=${app}`, n, 180_000);
    }
    [client] = (await mesh.readyPods('apps', 'app=client', 1)) as [PodJson];
    [caller] = (await mesh.readyPods('outside', 'app=caller', 1)) as [PodJson];
    expect(client.spec.containers.map((c) => c.name)).toEqual(['weft-proxy', 'app']);
    expect(caller.spec.containers.map((c) => c.name)).toEqual(['app']);
  }, 500_000);

  afterAll(async () => {
    await mesh?.stop();
    rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('TCP, client speaks first: a meshed and an unmeshed caller reach echo by name; the meshed one over mTLS', async () => {
    for (const from of [client, caller]) {
      const r = await run<{ got: string; error?: string }>(from, TCP_EXCHANGE, ['echo.apps.svc.cluster.local', '7000', 'false', 'ping from a plain program\n']);
      expect(r, from.metadata.namespace).toEqual({ got: 'ping from a plain program\n' });
    }
    const [m] = await metricsOf('apps', 'echo');
    expect(metricValue(m ?? '', 'tcp_open_total', { direction: 'inbound', tls: 'true', client_id: CLIENT_ID })).toBeGreaterThan(0);
  });

  it('TCP, server speaks first (3306, opaque by default): both callers get the greeting, then their echo', async () => {
    for (const from of [client, caller]) {
      const r = await run<{ got: string; error?: string }>(from, TCP_EXCHANGE, ['greeter.apps', '3306', 'true', 'select 1;\n']);
      expect(r, `${from.metadata.namespace}: ${r.error === undefined ? '' : await mesh.diagnostics(['apps'])}`).toEqual({ got: '220 greeter ready\r\nselect 1;\n' });
    }
    const [m] = await metricsOf('apps', 'greeter');
    expect(metricValue(m ?? '', 'tcp_open_total', { direction: 'inbound', tls: 'true', client_id: CLIENT_ID })).toBeGreaterThan(0);
  });

  it("TLS to an unmeshed pod: the meshed app's own certificate checks hold end to end (its CA: 200; without it: refused)", async () => {
    const ok = await run<{ status?: number; body?: string; subject?: string; error?: string }>(client, HTTPS_GET, ['https://tls.outside.svc.cluster.local:8443/', certPem]);
    expect(ok).toEqual({ status: 200, body: 'hello over tls', subject: 'tls.outside.svc.cluster.local' });
    const refused = await run<{ error?: string }>(client, HTTPS_GET, ['https://tls.outside.svc.cluster.local:8443/', '']);
    expect(refused.error).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it("TLS into a meshed pod from an unmeshed caller: the app's own TLS is passed through its proxy, certificate checks and all", async () => {
    const ok = await run<{ status?: number; body?: string; subject?: string; error?: string }>(caller, HTTPS_GET, ['https://tls.apps.svc.cluster.local:8443/', certPem]);
    expect(ok).toEqual({ status: 200, body: 'hello over tls', subject: 'tls.outside.svc.cluster.local' });
    const refused = await run<{ error?: string }>(caller, HTTPS_GET, ['https://tls.apps.svc.cluster.local:8443/', '']);
    expect(refused.error).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('gRPC between meshed pods by Service name: unary calls balanced over both replicas, a bidi stream; over mTLS', async () => {
    const r = await run<{ froms: string[]; echoed: string[] }>(client, GRPC_CALLS, ['grpc.apps.svc.cluster.local:9090']);
    expect(r.froms).toHaveLength(20);
    expect(new Set(r.froms).size).toBe(2);
    expect(r.echoed).toHaveLength(5);
    expect(r.echoed.map((e) => e.split('@')[0])).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    const inbound = (await metricsOf('apps', 'grpc')).map((m) => metricValue(m, 'response_total', { direction: 'inbound', tls: 'true', client_id: CLIENT_ID, grpc_status: '0' }));
    expect(inbound.every((n) => n > 0), JSON.stringify(inbound)).toBe(true);
  });

  it('calls by pod IP: gRPC and HTTP to a meshed pod address go through both proxies over mTLS', async () => {
    const grpcPods = await mesh.pods('apps', 'app=grpc');
    const target = grpcPods[0] as PodJson;
    const r = await run<{ froms: string[]; echoed: string[] }>(client, GRPC_CALLS, [`${target.status.podIP}:9090`]);
    expect(new Set(r.froms)).toEqual(new Set([`v1/${target.metadata.name}`]));
    const [web] = await mesh.pods('apps', 'app=web');
    const before = metricValue(await (await fetch(`http://${web?.status.podIP}:4191/metrics`)).text(), 'response_total', { direction: 'inbound', tls: 'true', client_id: CLIENT_ID });
    const h = await run<{ status: number; body: string }>(client, HTTP_GET, [`http://${web?.status.podIP}:8080/`]);
    expect(h.status).toBe(200);
    const after = metricValue(await (await fetch(`http://${web?.status.podIP}:4191/metrics`)).text(), 'response_total', { direction: 'inbound', tls: 'true', client_id: CLIENT_ID });
    expect(after - before).toBe(1);
  });

  it('no container restarted along the way', async () => {
    for (const ns of ['apps', 'outside', 'weft-system']) {
      for (const p of await mesh.pods(ns)) {
        for (const c of p.status.containerStatuses ?? []) expect(c.restartCount, `${ns}/${p.metadata.name}/${c.name}`).toBe(0);
      }
    }
  });
});
