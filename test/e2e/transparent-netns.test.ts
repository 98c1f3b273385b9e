// Ordinary pods keep working when injected (issue: "Any pod keeps working
// when injected"), in real network namespaces with weft-init's real iptables
// rules and the proxy started as the injected container starts it (the
// real injector's patch gives weft-init's args and weft-proxy's environment:
// test/harness/injected-pod.ts; proxy/main.ts runs as uid 2102), config and
// certificates from a control plane (control-plane/main.ts in local mode, on
// the host, watching a folder of manifests and a pods file):
//   client pod (meshed) --- host (unmeshed)
//        \                  /
//         server pod (meshed)
// From the client pod's app: client-first TCP (PING/PONG) and server-first TCP
// (a banner first) to the unmeshed host and to the meshed server over mTLS;
// HTTPS to the host with the app's own certificate checks; HTTP by pod IP to
// the meshed server over mTLS; HTTP to the host's IP with an unrelated Host
// header reaches that IP. From the host: plaintext to two app ports of the
// (permissive) server pod reaches each port.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki } from '../../identity/test-pki.ts';
import { PORTS } from '../../proto/mesh.ts';
import { rewriteProbes } from '../../injector/probe-rewrite.ts';
import { newBootstrapToken, writeTokenFile } from '../../control-plane/bootstrap-token-file.ts';
import { CA_FILES } from '../../control-plane/ca-store.ts';
import type { Pod } from '../../control-plane/cluster-state.ts';
import { id, metricValue } from '../harness/mesh-fixture.ts';
import { injectedPod } from '../harness/injected-pod.ts';
import { NetLab, netnsMissing, waitForLine, type Link } from '../harness/netns.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NODE = process.execPath;
const missing = [...netnsMissing(), ...(spawnSync('setpriv', ['--version']).status === 0 ? [] : ['setpriv (util-linux)'])];
const inCi = process.env.CI === 'true';
if (missing.length > 0 && !inCi) process.stderr.write(`\ntransparent netns test NOT RUN: needs ${missing.join(', ')}\n`);

const CLIENT_ID = id('demo', 'client');
const SERVER_ID = id('demo', 'db');
/** The server pod's containers as the kubelet knows them: their probes, rewritten by the real injector code. */
const PROBED_CONTAINERS = [
  {
    name: 'app',
    ports: [{ name: 'http', containerPort: 8080 }],
    readinessProbe: { httpGet: { path: '/', port: 'http' } },
    livenessProbe: { tcpSocket: { port: 6379 } },
    startupProbe: { grpc: { port: 50051 } },
  },
  {
    name: 'broken',
    readinessProbe: { httpGet: { path: '/fail', port: 8080 } },
    livenessProbe: { tcpSocket: { port: 7777 } },
    startupProbe: { grpc: { port: 50051, service: 'down' } },
  },
];

/** A Service's ClusterIP: routed nowhere, only the client pod's proxy knows it. */
const CLUSTER_IP = '198.18.250.10';
/** The ClusterIP of a Service whose port is opaque. */
const OPAQUE_CLUSTER_IP = '198.18.250.11';

// The apps: "kind:port[:arg]" each. pingpong answers +PONG to PING (client
// first); banner greets first, then answers each line; http answers with what
// it saw; https is http over TLS with the cert/key files given.
const APPS = `
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const [name, ...specs] = process.argv.slice(2);
let pending = specs.length;
const ready = () => { if (--pending === 0) process.stdout.write('ready\\n'); };
for (const spec of specs) {
  const [kind, port, cert, key] = spec.split(':');
  const handler = (req, res) => {
    req.resume();
    if (req.url === '/fail') { res.statusCode = 500; res.end('failing'); return; }
    req.on('end', () => res.end(JSON.stringify({ app: name, port: Number(port), host: req.headers.host, clientId: req.headers['weft-client-id'] ?? '' })));
  };
  if (kind === 'pingpong') net.createServer((s) => { let buf = ''; s.on('data', (d) => { buf += d; while (buf.includes('PING\\r\\n')) { buf = buf.slice(buf.indexOf('PING\\r\\n') + 6); s.write('+PONG\\r\\n'); } }); s.on('end', () => s.end()); s.on('error', () => {}); }).listen(Number(port), '::', ready);
  else if (kind === 'banner') net.createServer((s) => { s.write('220 ' + name + ' ready\\r\\n'); s.on('data', (d) => s.write('250 ' + String(d).trim() + '\\r\\n')); s.on('end', () => s.end()); s.on('error', () => {}); }).listen(Number(port), '::', ready);
  else if (kind === 'http') http.createServer(handler).listen(Number(port), '::', ready);
  else if (kind === 'grpc-health') {
    const require = createRequire(${JSON.stringify(join(ROOT, 'package.json'))});
    const grpc = require('@grpc/grpc-js');
    const loader = require('@grpc/proto-loader');
    const def = loader.fromJSON({ nested: { grpc: { nested: { health: { nested: { v1: { nested: {
      HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
      HealthCheckResponse: { fields: { status: { type: 'int32', id: 1 } } },
      Health: { methods: { Check: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse' } } },
    } } } } } } } });
    const server = new grpc.Server();
    const svc = grpc.loadPackageDefinition(def).grpc.health.v1.Health.service;
    server.addService(svc, { Check: (call, cb) => cb(null, { status: call.request.service === 'down' ? 2 : 1 }) });
    server.bindAsync('0.0.0.0:' + port, grpc.ServerCredentials.createInsecure(), (err) => { if (err) throw err; ready(); });
  }
  else if (kind === 'grpc-echo') {
    const require = createRequire(${JSON.stringify(join(ROOT, 'package.json'))});
    const grpc = require('@grpc/grpc-js');
    const loader = require('@grpc/proto-loader');
    const def = loader.fromJSON({ nested: { echo: { nested: {
      Msg: { fields: { text: { type: 'string', id: 1 } } },
      Echo: { methods: { Say: { requestType: 'Msg', responseType: 'Msg' }, Chat: { requestType: 'Msg', responseType: 'Msg', requestStream: true, responseStream: true } } },
    } } } });
    const server = new grpc.Server();
    server.addService(grpc.loadPackageDefinition(def).echo.Echo.service, {
      Say: (call, cb) => cb(null, { text: name + ':' + call.request.text }),
      Chat: (call) => { call.on('data', (m) => call.write({ text: name + ':' + m.text })); call.on('end', () => call.end()); },
    });
    server.bindAsync('[::]:' + port, grpc.ServerCredentials.createInsecure(), (err) => { if (err) throw err; ready(); });
  }
  else if (kind === 'https') https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, handler).listen(Number(port), '::', ready);
}
`;

// One client action, its result on stdout.
const CLIENT = `
import net from 'node:net';
import { createRequire } from 'node:module';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
const [mode, host, port, extra, extra2] = process.argv.slice(2);
const out = (s) => { process.stdout.write(String(s)); process.exit(0); };
setTimeout(() => out('timeout'), 8000);
if (mode === 'ping') {
  const s = net.connect(Number(port), host, () => s.write('PING\\r\\n'));
  s.on('data', (d) => { out(String(d).trim()); });
  s.on('error', (e) => out('error:' + e.code));
} else if (mode === 'banner') {
  const s = net.connect(Number(port), host);
  let got = '';
  s.on('data', (d) => { got += d; if (!got.includes('250')) s.write('HELO weft\\r\\n'); else out(got.trim().replace(/\\r\\n/g, '|')); });
  s.on('error', (e) => out('error:' + e.code));
} else if (mode === 'grpc') {
  const require = createRequire(${JSON.stringify(join(ROOT, 'package.json'))});
  const grpc = require('@grpc/grpc-js');
  const loader = require('@grpc/proto-loader');
  const def = loader.fromJSON({ nested: { echo: { nested: {
    Msg: { fields: { text: { type: 'string', id: 1 } } },
    Echo: { methods: { Say: { requestType: 'Msg', responseType: 'Msg' }, Chat: { requestType: 'Msg', responseType: 'Msg', requestStream: true, responseStream: true } } },
  } } } });
  const Echo = grpc.loadPackageDefinition(def).echo.Echo;
  const c = new Echo((host.includes(':') ? '[' + host + ']' : host) + ':' + port, grpc.credentials.createInsecure());
  c.Say({ text: 'one' }, (err, res) => {
    if (err) out('error:' + err.code + ' ' + err.details);
    const got = [res.text];
    const chat = c.Chat();
    chat.on('data', (m) => { got.push(m.text); if (got.length === 4) chat.end(); });
    chat.on('end', () => out(got.join(',')));
    chat.on('error', (e) => out('error:' + e.code + ' ' + e.details));
    for (const t of ['a', 'b', 'c']) chat.write({ text: t });
  });
} else if (mode === 'status') {
  http.get({ host, port: Number(port), path: extra, agent: false, headers: { 'user-agent': 'kube-probe/1.20' } }, (res) => { res.resume(); out(res.statusCode); })
    .on('error', (e) => out('error:' + e.code));
} else if (mode === 'http' || mode === 'https') {
  const lib = mode === 'http' ? http : https;
  const req = lib.get({ host, port: Number(port), path: '/', agent: false, headers: extra && mode === 'http' ? { host: extra } : {},
    ...(mode === 'https' ? { ca: readFileSync(extra), servername: extra2 } : {}) }, (res) => {
    let body = ''; res.on('data', (d) => (body += d)); res.on('end', () => out(res.statusCode + ' ' + body));
  });
  req.on('error', (e) => out('error:' + (e.code ?? e.message)));
}
`;

describe.skipIf(missing.length > 0 && !inCi)('an injected pod keeps working (real iptables, transparent proxy)', () => {
  if (missing.length > 0) {
    it('has its prerequisites', () => expect.fail(`needs ${missing.join(', ')}`));
    return;
  }
  const lab = new NetLab();
  const dir = mkdtempSync(join(tmpdir(), 'weft-transparent-'));
  let client: string;
  let server: string;
  let host: string;
  let ch: Link; // client pod (a) - host (b)
  let sh_: Link; // server pod (a) - host (b)
  let cs: Link; // client pod (a) - server pod (b)

  function file(name: string, content: string): string {
    const path = join(dir, name);
    writeFileSync(path, content);
    chmodSync(path, 0o644);
    return path;
  }

  async function startApps(ns: string, name: string, specs: string[]): Promise<void> {
    await waitForLine(lab.spawn(ns, [NODE, join(dir, 'apps.mjs'), name, ...specs]), /^ready$/);
  }

  /** The control plane's view of the pods (its --pods-file), rewritten to change their annotations. */
  const pods = new Map<string, Pod>();
  function writePods(): void {
    const tmp = join(dir, 'pods.json.tmp');
    writeFileSync(tmp, JSON.stringify({ pods: [...pods.values()] }));
    renameSync(tmp, join(dir, 'pods.json'));
  }
  /** Sets (or with undefined removes) an annotation of the server pod, as `kubectl annotate pod` would. */
  function annotateServerPod(key: string, value: string | undefined): void {
    const pod = pods.get('db-0') as Pod;
    const annotations = { ...pod.annotations };
    if (value === undefined) delete annotations[key];
    else annotations[key] = value;
    pods.set('db-0', { ...pod, annotations });
    writePods();
  }
  /** The demo namespace's manifest, rewritten to change its annotations (`kubectl annotate namespace`). */
  function writeNamespace(annotations: Record<string, string>): void {
    const doc = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo', annotations: { 'weft.dev/inject': 'enabled', ...annotations } } };
    writeFileSync(join(dir, 'manifests', 'namespace.yaml'), JSON.stringify(doc));
  }

  /**
   * A pod of the control plane's view and the pod spec the injector sees:
   * weft-init's rules, then the proxy as the injected container runs it,
   * with its token and the trust bundle where the kubelet would mount them.
   */
  async function injectAndStartProxy(ns: string, pod: Pod, containers: Array<{ name: string }>, controlPlane: string): Promise<void> {
    const tokenFile = file(`${pod.name}.token`, tokens.get(pod.name) as string);
    const spec = { metadata: { name: pod.name, namespace: pod.namespace }, spec: { serviceAccountName: pod.serviceAccount, containers } };
    const injected = injectedPod(spec, { name: 'demo', annotations: { 'weft.dev/inject': 'enabled' } }, {
      controlPlaneAddress: controlPlane,
      tokenFile,
      trustBundleFile: join(dir, 'trust-bundle.pem'),
    });
    lab.exec(ns, NODE, join(ROOT, 'injector', 'init-main.ts'), ...injected.initArgs);
    const env = { ...process.env, ...injected.proxyEnv, WEFT_LOG_LEVEL: 'warn' };
    proxyLogs.set(ns, '');
    const proxy = lab.spawn(ns, ['setpriv', '--reuid', String(PORTS.proxyUid), '--regid', String(PORTS.proxyUid), '--clear-groups', NODE, join(ROOT, 'proxy', 'main.ts')], env);
    proxy.stderr?.on('data', (d: Buffer) => proxyLogs.set(ns, (proxyLogs.get(ns) ?? '') + d.toString()));
    await waitForLine(proxy, /"listening"/);
  }

  /** Each proxy's log (stderr, JSON lines), by namespace. */
  const proxyLogs = new Map<string, string>();
  const warned = (ns: string, code: string): boolean =>
    (proxyLogs.get(ns) ?? '').split('\n').some((l) => l.includes('"level":"warn"') && l.includes(`"code":"${code}"`));

  function run(ns: string, ...args: string[]): string {
    const r = spawnSync('ip', ['netns', 'exec', ns, NODE, join(dir, 'client.mjs'), ...args], { encoding: 'utf8', timeout: 15_000 });
    return r.stdout;
  }

  async function metrics(ns: string, ip: string): Promise<string> {
    const r = spawnSync('ip', ['netns', 'exec', ns, NODE, '-e', `fetch('http://${ip}:${PORTS.proxyAdmin}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`], {
      encoding: 'utf8',
    });
    return r.stdout;
  }

  /** Waits until plaintext from the host to the server pod's app port answers `status` (the proxy applied a new inbound mode). */
  async function untilPlaintextAnswers(status: string): Promise<string> {
    const deadline = Date.now() + 10_000;
    let r = run(host, 'http', sh_.a.v4, '8080');
    while (!r.startsWith(status) && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 200));
      r = run(host, 'http', sh_.a.v4, '8080');
    }
    return r;
  }

  /** A kubelet-style probe from the host (as from the node) of the rewritten probe URL: the HTTP status, or an error. */
  function kubeletProbe(container: string, kind: string): string {
    return run(host, 'status', sh_.a.v4, String(PORTS.proxyAdmin), `/app-health/${container}/${kind}`);
  }

  const tokens = new Map<string, string>();
  let controlPlaneLog = '';

  beforeAll(async () => {
    file('apps.mjs', APPS);
    file('client.mjs', CLIENT);
    chmodSync(dir, 0o755);
    client = lab.ns('client');
    server = lab.ns('server');
    host = lab.ns('host');
    ch = lab.link(client, host);
    sh_ = lab.link(server, host);
    cs = lab.link(client, server);
    // The ClusterIP is routed like any off-pod address (it never leaves: the proxy takes it).
    lab.exec(client, 'ip', 'route', 'add', 'default', 'dev', `w${lab.tag}0a`);

    // The unmeshed host: a PING/PONG server, a banner server, HTTP, HTTPS with its own CA.
    const outside = createTestPki();
    const hostCert = outside.issueLeaf({ uris: [], dnsNames: ['partner.example'] });
    file('outside-ca.pem', outside.anchorPem);
    const certFile = file('host-cert.pem', hostCert.chainPem.join(''));
    const keyFile = file('host-key.pem', hostCert.keyPem);
    await startApps(host, 'host', ['pingpong:7000', 'pingpong:6379', 'banner:2525', 'http:8080', `https:8443:${certFile}:${keyFile}`]);

    // The cluster as the control plane sees it: the demo namespace (no mode:
    // the cluster default, permissive), Services db (ClusterIP), raw (an
    // opaque port, by its Service's annotation) and web (headless), all
    // selecting the meshed server pod db-0, and the meshed client pod.
    mkdirSync(join(dir, 'manifests'));
    writeNamespace({});
    const service = (name: string, clusterIP: string, ports: number[], annotations: Record<string, string> = {}) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'demo', annotations },
      spec: { clusterIP, selector: { app: 'db' }, ports: ports.map((p) => ({ name: `p${p}`, port: p, targetPort: p })) },
    });
    writeFileSync(
      join(dir, 'manifests', 'services.yaml'),
      [
        service('db', CLUSTER_IP, [6379, 2526, 50052]),
        service('raw', OPAQUE_CLUSTER_IP, [8081], { 'config.weft.dev/opaque-ports': '8081' }),
        service('web', 'None', [8080]),
      ]
        .map((d) => JSON.stringify(d))
        .join('\n---\n'),
    );
    const serverPorts = [6379, 2526, 8080, 9090, 8081, 50051, 50052];
    const pod = (name: string, sa: string, ip: string, ports: number[]): Pod => ({
      name,
      namespace: 'demo',
      ip,
      labels: { app: sa },
      annotations: {},
      serviceAccount: sa,
      ownerWorkload: sa,
      meshed: true,
      ready: true,
      ports: ports.map((p) => ({ name: '', containerPort: p, protocol: 'TCP' })),
    });
    // The server pod's address as its Service endpoints have it: the one the client pod reaches.
    pods.set('db-0', pod('db-0', 'db', cs.b.v4, serverPorts));
    pods.set('client-0', pod('client-0', 'client', ch.a.v4, []));
    writePods();
    for (const name of pods.keys()) tokens.set(name, newBootstrapToken());
    writeTokenFile(
      join(dir, 'tokens.json'),
      [...pods.values()].map((p) => ({ token: tokens.get(p.name) as string, namespace: p.namespace, serviceAccount: p.serviceAccount })),
    );
    const cp = lab.spawn(host, [
      NODE, join(ROOT, 'control-plane', 'main.ts'),
      '--source-dir', join(dir, 'manifests'),
      '--pods-file', join(dir, 'pods.json'),
      '--tokens-file', join(dir, 'tokens.json'),
      '--ca-dir', join(dir, 'ca'),
      '--grpc-addr', `0.0.0.0:${PORTS.controlPlaneGrpc}`,
      '--admin-addr', `0.0.0.0:${PORTS.controlPlaneAdmin}`,
      '--inbound-mode', 'permissive',
      '--log-level', 'warn',
    ]);
    cp.stderr?.on('data', (d: Buffer) => (controlPlaneLog += d.toString()));
    await waitForLine(cp, /"listening"/);
    // The trust-bundle ConfigMap as mounted in the pods.
    copyFileSync(join(dir, 'ca', CA_FILES.anchor), join(dir, 'trust-bundle.pem'));
    chmodSync(join(dir, 'trust-bundle.pem'), 0o644);

    // The meshed server pod: PING/PONG, banner and HTTP ports, gRPC; its probes rewritten by the injector.
    await startApps(server, 'server', ['pingpong:6379', 'banner:2526', 'http:8080', 'http:9090', 'http:8081', 'grpc-health:50051', 'grpc-echo:50052']);
    await injectAndStartProxy(server, pods.get('db-0') as Pod, PROBED_CONTAINERS, `${sh_.b.v4}:${PORTS.controlPlaneGrpc}`);
    await injectAndStartProxy(client, pods.get('client-0') as Pod, [{ name: 'app' }], `${ch.b.v4}:${PORTS.controlPlaneGrpc}`);
  }, 120_000);

  afterAll(() => {
    lab.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('client-first TCP to an unmeshed host (a port it must detect, and an opaque port) goes through the proxy', async () => {
    const before = metricValue(await metrics(client, '127.0.0.1'), 'tcp_open_total', { direction: 'outbound', peer: 'dst', tls: 'false' });
    expect(run(client, 'ping', ch.b.v4, '7000')).toBe('+PONG');
    expect(run(client, 'ping', ch.b.v4, '6379')).toBe('+PONG');
    const text = await metrics(client, '127.0.0.1');
    const after = metricValue(text, 'tcp_open_total', { direction: 'outbound', peer: 'dst', tls: 'false' });
    expect(after - before).toBe(2);
    // Counted by what detection decided.
    expect(metricValue(text, 'tcp_open_total', { direction: 'outbound', peer: 'src', protocol: 'opaque' })).toBeGreaterThanOrEqual(2);
  });

  it('server-first TCP (a banner before the client speaks) to an unmeshed host works', () => {
    expect(run(client, 'banner', ch.b.v4, '2525')).toBe('220 host ready|250 HELO weft');
  });

  it('HTTPS to an unmeshed TLS server passes through untouched: the app checks the server itself', async () => {
    expect(run(client, 'https', ch.b.v4, '8443', join(dir, 'outside-ca.pem'), 'partner.example')).toMatch(/^200 /);
    // A wrong expectation still fails in the app: the proxy did not terminate TLS.
    expect(run(client, 'https', ch.b.v4, '8443', join(dir, 'outside-ca.pem'), 'other.example')).toMatch(/^error:ERR_TLS_CERT_ALTNAME_INVALID/);
    expect(metricValue(await metrics(client, '127.0.0.1'), 'tcp_open_total', { direction: 'outbound', peer: 'src', protocol: 'tls' })).toBe(2);
  });

  it("an HTTP call to an unmeshed IP with an unrelated Host header reaches that IP", () => {
    const r = run(client, 'http', ch.b.v4, '8080', 'partner.example');
    expect(r).toMatch(/^200 /);
    expect(JSON.parse(r.slice(4))).toMatchObject({ app: 'host', port: 8080, host: 'partner.example' });
  });

  it('an HTTP call by pod IP goes over mTLS to exactly that pod, with the client identity', () => {
    const r = run(client, 'http', cs.b.v4, '8080');
    expect(r).toMatch(/^200 /);
    expect(JSON.parse(r.slice(4))).toMatchObject({ app: 'server', port: 8080, clientId: CLIENT_ID });
  });

  it('client-first and server-first TCP to a meshed server ride mTLS (by ClusterIP and by pod IP); its proxy counts them', async () => {
    // Counted with the client's verified identity.
    const opened = async (): Promise<number> =>
      metricValue(await metrics(server, '127.0.0.1'), 'tcp_open_total', { direction: 'inbound', peer: 'src', tls: 'true', protocol: 'opaque', client_id: CLIENT_ID });
    const before = await opened();
    expect(run(client, 'ping', CLUSTER_IP, '6379')).toBe('+PONG');
    expect(run(client, 'ping', cs.b.v4, '6379')).toBe('+PONG');
    expect(run(client, 'banner', CLUSTER_IP, '2526')).toBe('220 server ready|250 HELO weft');
    expect((await opened()) - before).toBe(3);
  });

  it('permissive mode: plaintext from an unmeshed host to each of two app ports reaches that port, server-first TCP too', () => {
    for (const port of [8080, 9090]) {
      const r = run(host, 'http', sh_.a.v4, String(port));
      expect(r).toMatch(/^200 /);
      expect(JSON.parse(r.slice(4))).toMatchObject({ app: 'server', port, clientId: '' });
    }
    expect(run(host, 'ping', sh_.a.v4, '6379')).toBe('+PONG');
    // Server speaks first: the inbound side must not wait for the caller's first byte (an unmeshed database client).
    expect(run(host, 'banner', sh_.a.v4, '2526')).toBe('220 server ready|250 HELO weft');
  });

  it('gRPC (h2c from the app): a unary call and a bidirectional stream reach the meshed server over mTLS, by ClusterIP and by pod IP, each call counted', async () => {
    const calls = { direction: 'inbound', tls: 'true', client_id: CLIENT_ID, grpc_status: '0', classification: 'success' };
    const m0 = await metrics(server, '127.0.0.1');
    expect(run(client, 'grpc', CLUSTER_IP, '50052')).toBe('server:one,server:a,server:b,server:c');
    expect(run(client, 'grpc', cs.b.v4, '50052')).toBe('server:one,server:a,server:b,server:c');
    const m1 = await metrics(server, '127.0.0.1');
    // Per call (HTTP/2 is proxied per stream now), over mTLS with ALPN h2:
    // both clients' calls share the client proxy's one connection to this peer.
    expect(metricValue(m1, 'response_total', calls) - metricValue(m0, 'response_total', calls)).toBe(4);
    const h2Conns = { direction: 'inbound', peer: 'src', tls: 'true', protocol: 'h2' };
    expect(metricValue(m1, 'tcp_open_total', h2Conns) - metricValue(m0, 'tcp_open_total', h2Conns)).toBeGreaterThanOrEqual(1);
  });

  it('permissive mode: gRPC (h2c) from an unmeshed host reaches the meshed app, each call counted inbound in plaintext', async () => {
    const calls = { direction: 'inbound', tls: 'false', grpc_status: '0', classification: 'success' };
    const m0 = await metrics(server, '127.0.0.1');
    expect(run(host, 'grpc', sh_.a.v4, '50052')).toBe('server:one,server:a,server:b,server:c');
    const m1 = await metrics(server, '127.0.0.1');
    expect(metricValue(m1, 'response_total', calls) - metricValue(m0, 'response_total', calls)).toBe(2);
  });

  it("a Service port marked opaque skips detection: even HTTP to it is carried byte for byte over mTLS, not parsed", async () => {
    const before = await metrics(client, '127.0.0.1');
    const r = run(client, 'http', OPAQUE_CLUSTER_IP, '8081');
    expect(r).toMatch(/^200 /);
    // Carried as bytes: the server's proxy added no client identity header, the client's proxy counted no request.
    expect(JSON.parse(r.slice(4))).toMatchObject({ app: 'server', port: 8081, clientId: '' });
    const after = await metrics(client, '127.0.0.1');
    expect(metricValue(after, 'request_total', { direction: 'outbound' })).toBe(metricValue(before, 'request_total', { direction: 'outbound' }));
    const opaque = (t: string) => metricValue(t, 'tcp_open_total', { direction: 'outbound', peer: 'dst', tls: 'true', protocol: 'opaque' });
    expect(opaque(after) - opaque(before)).toBe(1);
  });

  it('IPv6 goes through the proxies too: out of the client pod to the host, and into the server pod from the host', async () => {
    const out0 = metricValue(await metrics(client, '127.0.0.1'), 'tcp_open_total', { direction: 'outbound', peer: 'dst', tls: 'false' });
    expect(run(client, 'ping', ch.b.v6, '7000')).toBe('+PONG');
    const out1 = metricValue(await metrics(client, '127.0.0.1'), 'tcp_open_total', { direction: 'outbound', peer: 'dst', tls: 'false' });
    expect(out1 - out0).toBe(1);

    const in0 = metricValue(await metrics(server, '127.0.0.1'), 'request_total', { direction: 'inbound', tls: 'false' });
    const r = run(host, 'http', sh_.a.v6, '9090');
    expect(r).toMatch(/^200 /);
    expect(JSON.parse(r.slice(4))).toMatchObject({ app: 'server', port: 9090 });
    const in1 = metricValue(await metrics(server, '127.0.0.1'), 'request_total', { direction: 'inbound', tls: 'false' });
    expect(in1 - in0).toBe(1);
  });

  it('a failed connection shows in the metrics with its error code and in the proxy log at warn', async () => {
    // Nothing listens on the host's port 7001: the app's connection is reset, the proxy counts and logs why.
    expect(run(client, 'ping', ch.b.v4, '7001')).toMatch(/^error:/);
    expect(metricValue(await metrics(client, '127.0.0.1'), 'outbound_tcp_errors_total', { error: 'WEFT_ERR_UPSTREAM_CONNECT' })).toBeGreaterThanOrEqual(1);
    // The log arrives on the proxy's stderr pipe, read by this process's event loop.
    for (let i = 0; i < 50 && !warned(client, 'WEFT_ERR_UPSTREAM_CONNECT'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(warned(client, 'WEFT_ERR_UPSTREAM_CONNECT')).toBe(true);
    // (Refused certificates: the bad-SVID tables of inbound-mtls-auth and proxy-identity count each code.)
  });

  it('no process printed a deprecation warning (the control plane is dialled by IP)', () => {
    for (const [ns, log] of proxyLogs) expect(log, ns).not.toMatch(/DeprecationWarning|\[DEP\d+\]/);
    expect(controlPlaneLog).not.toMatch(/DeprecationWarning|\[DEP\d+\]/);
  });

  it('the injector points every probe at the admin port (the kubelet sends them there)', () => {
    const paths = rewriteProbes(PROBED_CONTAINERS, PORTS.proxyAdmin).ops.map((o) => (o.value as { httpGet: { port: number; path: string } }).httpGet);
    expect(paths).toEqual([
      { path: '/app-health/app/livez', port: PORTS.proxyAdmin, scheme: 'HTTP' },
      { path: '/app-health/app/readyz', port: PORTS.proxyAdmin, scheme: 'HTTP' },
      { path: '/app-health/app/startupz', port: PORTS.proxyAdmin, scheme: 'HTTP' },
      { path: '/app-health/broken/livez', port: PORTS.proxyAdmin, scheme: 'HTTP' },
      { path: '/app-health/broken/readyz', port: PORTS.proxyAdmin, scheme: 'HTTP' },
      { path: '/app-health/broken/startupz', port: PORTS.proxyAdmin, scheme: 'HTTP' },
    ]);
  });

  it('strict mode per namespace and per pod annotation refuses plaintext while the cluster default (permissive) admits it; meshed callers pass', async () => {
    const MODE = 'config.weft.dev/inbound-mode';
    expect(await untilPlaintextAnswers('200')).toMatch(/^200 /);
    writeNamespace({ [MODE]: 'strict' });
    expect(await untilPlaintextAnswers('403')).toMatch(/^403 /);
    expect(run(client, 'http', cs.b.v4, '8080')).toMatch(/^200 /);
    // The pod's annotation wins over its namespace's, both ways.
    annotateServerPod(MODE, 'permissive');
    expect(await untilPlaintextAnswers('200')).toMatch(/^200 /);
    writeNamespace({});
    annotateServerPod(MODE, 'strict');
    expect(await untilPlaintextAnswers('403')).toMatch(/^403 /);
    expect(run(host, 'ping', sh_.a.v4, '6379')).not.toBe('+PONG');
    expect(run(client, 'ping', cs.b.v4, '6379')).toBe('+PONG');
    // Each refusal is counted with its code and logged at warn.
    expect(metricValue(await metrics(server, '127.0.0.1'), 'inbound_tcp_errors_total', { error: 'WEFT_ERR_TLS_REQUIRED' })).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < 50 && !warned(server, 'WEFT_ERR_TLS_REQUIRED'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(warned(server, 'WEFT_ERR_TLS_REQUIRED')).toBe(true);
    annotateServerPod(MODE, undefined);
    expect(await untilPlaintextAnswers('200')).toMatch(/^200 /);
  });

  for (const mode of ['permissive', 'strict'] as const) {
    it(`${mode} mode: httpGet, tcpSocket and grpc probes from the node succeed for a live app and fail for a dead port or a failing handler`, async () => {
      if (mode === 'strict') {
        annotateServerPod('config.weft.dev/inbound-mode', 'strict');
        expect(await untilPlaintextAnswers('403')).toMatch(/^403 /);
      }
      expect(kubeletProbe('app', 'readyz')).toBe('200');
      expect(kubeletProbe('app', 'livez')).toBe('200');
      expect(kubeletProbe('app', 'startupz')).toBe('200');
      expect(kubeletProbe('broken', 'readyz')).toBe('500');
      expect(kubeletProbe('broken', 'livez')).toBe('503');
      expect(kubeletProbe('broken', 'startupz')).toBe('503');
      expect(kubeletProbe('nobody', 'readyz')).toBe('404');
    });
  }
});
