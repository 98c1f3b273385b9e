// The Weft side of the bench: a test PKI written to files, the proxies'
// static configs, and each proxy as its own process: the build's
// dist/proxy/main.js with the sidecar's Node flags, as an injected container
// runs it (proto/entry-points.ts), with --config/--cert/--key and every
// listener on 127.0.0.1 port 0. Run `npm run build` first (bench/run.ts does).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIST_DIR } from '../deploy/dist-build.ts';
import { nodeArgs } from '../proto/entry-points.ts';
import { createTestPki } from '../identity/test-pki.ts';
import { formatWorkloadId } from '../identity/spiffe-id.ts';
import { spawnChild, waitForLine, type Child } from './proc.ts';

export const CLIENT_ID = formatWorkloadId('cluster.local', 'demo', 'client');
export const SERVER_ID = formatWorkloadId('cluster.local', 'demo', 'web');

const PROXY_ARGS = nodeArgs(DIST_DIR, 'proxy');

export interface PkiFiles {
  trustBundlePem: string[];
  client: { cert: string; key: string };
  server: { cert: string; key: string };
}

/** A test PKI (anchor -> issuer -> leaves), the client and server leaves written to `dir`. */
export function writePki(dir: string): PkiFiles {
  const pki = createTestPki();
  const files = (name: string, spiffeId: string): { cert: string; key: string } => {
    const leaf = pki.issueLeaf({ spiffeId });
    const cert = join(dir, `${name}.crt`);
    const key = join(dir, `${name}.key`);
    writeFileSync(cert, leaf.chainPem.join(''));
    writeFileSync(key, leaf.keyPem, { mode: 0o600 });
    return { cert, key };
  };
  return { trustBundlePem: pki.trustBundlePem, client: files('client', CLIENT_ID), server: files('server', SERVER_ID) };
}

/** One plaintext hop: service upstream.bench, an unmeshed endpoint (identity ''). */
export function plainHopConfig(upstreamPort: number): object {
  return {
    version: 'bench-plain',
    services: [
      {
        name: 'upstream',
        namespace: 'bench',
        ports: [{ port: 80, targetPort: upstreamPort }],
        endpoints: [{ address: '127.0.0.1', port: upstreamPort, identity: '', pod: 'upstream-0', deployment: 'upstream' }],
      },
    ],
  };
}

/** The server sidecar: strict mTLS inbound, only the client identity, app on upstreamPort. */
export function serverSidecarConfig(upstreamPort: number, trustBundlePem: string[]): object {
  return {
    version: 'bench-server',
    trustBundlePem,
    inbound: { mode: 'strict', appPorts: [upstreamPort], allowedIdentities: [CLIENT_ID] },
  };
}

/** The client sidecar: service web.demo, one meshed endpoint behind the server sidecar's inbound port. */
export function clientSidecarConfig(upstreamPort: number, serverInboundPort: number, trustBundlePem: string[]): object {
  return {
    version: 'bench-client',
    trustBundlePem,
    services: [
      {
        name: 'web',
        namespace: 'demo',
        ports: [{ port: 80, targetPort: upstreamPort }],
        endpoints: [
          {
            address: '127.0.0.1',
            port: upstreamPort,
            proxyPort: serverInboundPort,
            identity: SERVER_ID,
            pod: 'web-0',
            deployment: 'web',
            serviceAccount: 'web',
          },
        ],
      },
    ],
  };
}

export interface ProxyProcess {
  child: Child;
  ports: { outbound: number; inbound: number; admin: number };
}

/** Starts dist/proxy/main.js in its own process; `nodeFlags` e.g. ['--cpu-prof', ...] go before the sidecar's own. */
export async function startProxyProcess(o: {
  name: string;
  dir: string;
  config: object;
  namespace: string;
  identity?: { cert: string; key: string };
  nodeFlags?: string[];
}): Promise<ProxyProcess> {
  const configPath = join(o.dir, `${o.name}.json`);
  writeFileSync(configPath, JSON.stringify(o.config, null, 2));
  const args = [
    ...(o.nodeFlags ?? []),
    ...PROXY_ARGS,
    '--config', configPath,
    '--namespace', o.namespace,
    '--outbound-addr', '127.0.0.1:0',
    '--inbound-addr', '127.0.0.1:0',
    '--admin-addr', '127.0.0.1:0',
    '--log-level', 'warn',
  ];
  if (o.identity) args.push('--cert', o.identity.cert, '--key', o.identity.key);
  const child = spawnChild(o.name, process.execPath, args);
  const line = await waitForLine(child, (l) => l.startsWith('{"listening"'));
  const ports = (JSON.parse(line) as { listening: ProxyProcess['ports'] }).listening;
  return { child, ports };
}

/** Scrapes a proxy's admin /metrics. */
export async function scrape(adminPort: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  return res.text();
}

/** Sum of the samples of `name` whose labels include all of `labels`. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const close = line.lastIndexOf('}');
    const labelText = line.startsWith(`${name}{`) ? line.slice(name.length + 1, close) : '';
    const have = new Map<string, string>();
    for (const m of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(m[1] ?? '', m[2] ?? '');
    const ok = Object.entries(labels).every(([k, v]) => have.get(k) === v);
    if (ok) sum += Number(line.slice(close === -1 ? name.length : close + 1).trim().split(' ')[0]);
  }
  return sum;
}
