// Opaque TCP through two Weft sidecars (transparent mode: weft-init's real
// iptables rules in two network namespaces, the proxies built as dist/ and run
// as an injected container runs them, mTLS between them with the opaque
// transport header), beside a direct connection and nginx's stream proxy pair
// with TLS between its two hops, all in the same run on the same veth; iperf3
// measures throughput. Then the latency protocol detection adds: the first
// HTTP request of new connections through the sidecars, against later requests
// on kept-alive connections and against direct connections.
//
// Needs root, ip, iptables, iperf3 and nginx with its stream module
// (apt-get install -y iperf3 nginx-light libnginx-mod-stream). Addresses in
// 198.19.0.0/16 only. Usage: npm run bench:tcp [-- --seconds 8 --connections 300]
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PORTS } from '../proto/mesh.ts';
import { nodeArgs } from '../proto/entry-points.ts';
import { NetLab, waitForLine } from '../test/harness/netns.ts';
import { CLIENT_ID, SERVER_ID, writePki } from './mesh.ts';
import { hasCommand } from './proc.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NODE = process.execPath;
const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '8' }, connections: { type: 'string', default: '300' }, debug: { type: 'boolean', default: false } },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);

// Ports in the server pod: iperf3 behind the proxies, direct, behind nginx; HTTP behind the proxies and direct.
const IPERF_WEFT = 5201;
const IPERF_DIRECT = 5202;
const IPERF_NGINX = 5203;
const NGINX_TLS = 5302;
const NGINX_CLIENT = 5301;
const HTTP_WEFT = 8080;
const HTTP_DIRECT = 5204;

const log = (s: string): void => void process.stderr.write(`[tcp-bench] ${s}\n`);

const missing = ['iperf3', 'nginx', 'iptables', 'ip'].filter((c) => !hasCommand(c));
if (process.getuid?.() !== 0 || missing.length > 0) {
  process.stderr.write(`tcp-bench needs root and: ${missing.join(', ') || '(all present)'}; apt-get install -y iperf3 nginx-light libnginx-mod-stream\n`);
  process.exit(2);
}

const HTTP_APP = `
import http from 'node:http';
for (const port of process.argv.slice(2)) http.createServer((q, s) => { q.resume(); s.end('x'.repeat(64)); }).listen(Number(port), '0.0.0.0');
process.stdout.write('ready\\n');
`;

// N new connections with one GET each (the first request: detection), then one
// connection with N GETs (kept alive: no detection). Prints latencies in ms.
const LATENCY = `
import http from 'node:http';
import { performance } from 'node:perf_hooks';
const [host, port, n] = process.argv.slice(2);
const get = (agent) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  http.get({ host, port: Number(port), path: '/', agent }, (r) => { r.resume(); r.on('end', () => resolve(performance.now() - t0)); }).on('error', reject);
});
const fresh = [];
for (let i = 0; i < Number(n); i++) fresh.push(await get(false));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
await get(agent);
const kept = [];
for (let i = 0; i < Number(n); i++) kept.push(await get(agent));
agent.destroy();
process.stdout.write(JSON.stringify({ fresh, kept }));
`;

function nginxConf(dir: string, pki: ReturnType<typeof writePki>, bundle: string, side: 'client' | 'server', serverIp: string): string {
  mkdirSync(join(dir, side), { recursive: true });
  const common = `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid ${join(dir, side, 'nginx.pid')};
error_log ${join(dir, side, 'error.log')} warn;
events { worker_connections 1024; }
`;
  const stream =
    side === 'client'
      ? `stream { server { listen 127.0.0.1:${NGINX_CLIENT}; proxy_pass ${serverIp}:${NGINX_TLS};
    proxy_ssl on; proxy_ssl_protocols TLSv1.3; proxy_ssl_certificate ${pki.client.cert}; proxy_ssl_certificate_key ${pki.client.key};
    proxy_ssl_session_reuse on; } }`
      : `stream { server { listen 0.0.0.0:${NGINX_TLS} ssl; ssl_protocols TLSv1.3;
    ssl_certificate ${pki.server.cert}; ssl_certificate_key ${pki.server.key};
    ssl_client_certificate ${bundle}; ssl_verify_client on; ssl_verify_depth 3;
    proxy_pass 127.0.0.1:${IPERF_NGINX}; } }`;
  const file = join(dir, side, 'nginx.conf');
  writeFileSync(file, `${common}${stream}\n`);
  return file;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function main(): Promise<void> {
  log('building dist/ (the proxies run the build, as in the image)');
  const build = spawnSync(NODE, [join(ROOT, 'deploy', 'dist-build.ts')], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');

  const lab = new NetLab();
  const dir = mkdtempSync(join(tmpdir(), 'weft-tcp-bench-'));
  chmodSync(dir, 0o755);
  try {
    const client = lab.ns('client');
    const server = lab.ns('server');
    const link = lab.link(client, server);
    const serverIp = link.b.v4;
    const pki = writePki(dir);
    for (const f of [pki.client.key, pki.server.key]) chmodSync(f, 0o644);
    const bundle = join(dir, 'bundle.pem');
    writeFileSync(bundle, pki.trustBundlePem.join(''));

    // weft-init: the direct and nginx paths skip the proxies (as skip ports would in a pod).
    lab.exec(client, NODE, join(ROOT, 'injector', 'init-main.ts'), '--skip-outbound-ports', `${IPERF_DIRECT},${NGINX_TLS},${HTTP_DIRECT}`);
    lab.exec(server, NODE, join(ROOT, 'injector', 'init-main.ts'), '--skip-inbound-ports', `${PORTS.proxyAdmin},${IPERF_DIRECT},${NGINX_TLS},${HTTP_DIRECT}`);

    const proxy = async (ns: string, id: string, cert: { cert: string; key: string }, config: object): Promise<void> => {
      const cfg = join(dir, `${ns.split('-').pop()}-config.json`);
      writeFileSync(cfg, JSON.stringify(config));
      chmodSync(cfg, 0o644);
      const env = { ...process.env, WEFT_TRANSPARENT: 'true', WEFT_CONFIG: cfg, WEFT_CERT: cert.cert, WEFT_KEY: cert.key, WEFT_NAMESPACE: 'demo', WEFT_LOG_LEVEL: values.debug === true ? 'debug' : 'warn' };
      const p = lab.spawn(ns, ['setpriv', '--reuid', String(PORTS.proxyUid), '--regid', String(PORTS.proxyUid), '--clear-groups', NODE, ...nodeArgs(join(ROOT, 'dist'), 'proxy')], env);
      p.stderr?.on('data', (d: Buffer) => {
        if (values.debug === true) process.stderr.write(`[${id}] ${d.toString()}`);
      });
      await waitForLine(p, /"listening"/);
    };
    const endpoint = (port: number) => ({ address: serverIp, port, identity: SERVER_ID, proxyPort: PORTS.proxyInbound, pod: 'web-0', deployment: 'web', serviceAccount: 'web', namespace: 'demo' });
    await proxy(server, SERVER_ID, pki.server, { version: 's', trustBundlePem: pki.trustBundlePem, inbound: { mode: 'strict', appPorts: [], allowedIdentities: [CLIENT_ID] } });
    await proxy(client, CLIENT_ID, pki.client, {
      version: 'c',
      trustBundlePem: pki.trustBundlePem,
      services: [{ name: 'web', namespace: 'demo', clusterIp: '', ports: [], endpoints: [endpoint(IPERF_WEFT), endpoint(HTTP_WEFT)] }],
      inbound: { mode: 'permissive', appPorts: [], allowedIdentities: [] },
    });

    for (const port of [IPERF_WEFT, IPERF_DIRECT, IPERF_NGINX]) {
      lab.spawn(server, ['iperf3', '-s', '-p', String(port)]);
    }
    const app = join(dir, 'app.mjs');
    writeFileSync(app, HTTP_APP);
    await waitForLine(lab.spawn(server, [NODE, app, String(HTTP_WEFT), String(HTTP_DIRECT)]), /ready/);
    lab.spawn(server, ['nginx', '-c', nginxConf(dir, pki, bundle, 'server', serverIp)]);
    lab.spawn(client, ['nginx', '-c', nginxConf(dir, pki, bundle, 'client', serverIp)]);
    await new Promise((r) => setTimeout(r, 1_000));

    const iperf = (host: string, port: number, streams: number): number => {
      const r = spawnSync('ip', ['netns', 'exec', client, 'iperf3', '-c', host, '-p', String(port), '-t', String(SECONDS), '-P', String(streams), '-J'], {
        encoding: 'utf8',
        timeout: (SECONDS + 30) * 1000,
      });
      const j = JSON.parse(r.stdout || '{}') as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
      if (j.error !== undefined || j.end?.sum_received?.bits_per_second === undefined) throw new Error(`iperf3 ${host}:${port}: ${j.error ?? r.stderr}`);
      return j.end.sum_received.bits_per_second / 1e9;
    };
    const results: Record<string, Record<string, number>> = {};
    for (const streams of [1, 4]) {
      const row: Record<string, number> = {};
      row['direct'] = iperf(serverIp, IPERF_DIRECT, streams);
      row['weft-mtls'] = iperf(serverIp, IPERF_WEFT, streams);
      row['nginx-tls-pair'] = iperf('127.0.0.1', NGINX_CLIENT, streams);
      results[`${streams} stream${streams > 1 ? 's' : ''} (Gbit/s)`] = row;
      log(`${streams} stream(s): ${JSON.stringify(row)}`);
    }

    const latency = join(dir, 'latency.mjs');
    writeFileSync(latency, LATENCY);
    const measure = (port: number): { fresh: number[]; kept: number[] } => {
      const r = spawnSync('ip', ['netns', 'exec', client, NODE, latency, serverIp, String(port), String(CONNECTIONS)], { encoding: 'utf8', timeout: 120_000 });
      return JSON.parse(r.stdout) as { fresh: number[]; kept: number[] };
    };
    const weft = measure(HTTP_WEFT);
    const direct = measure(HTTP_DIRECT);
    const row = (xs: number[]) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99) });
    const lat = {
      'weft, first request of a new connection (detection + mTLS connect)': row(weft.fresh),
      'weft, request on a kept-alive connection': row(weft.kept),
      'direct, first request of a new connection': row(direct.fresh),
      'direct, request on a kept-alive connection': row(direct.kept),
    };
    const out = { when: new Date().toISOString(), seconds: SECONDS, connections: CONNECTIONS, throughput: results, latencyMs: lat };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    lab.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
// nginx workers (children of the killed masters) may still hold our pipes open.
process.exit(0);
