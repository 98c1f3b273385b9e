// Test fixtures for cross-process proxy tests: a test app on a real socket
// that records what reaches it, a PKI, in-process proxies on port 0, and
// helpers to build configs and read metrics. Everything closes after.
import http from 'node:http';
import { once } from 'node:events';
import net from 'node:net';
import { createTestPki, type TestPki } from '../../identity/test-pki.ts';
import { formatWorkloadId } from '../../identity/spiffe-id.ts';
import { start, type Proxy, type ProxyStartConfig } from '../../proxy/proxy.ts';
import { createLogger } from '../../proto/log.ts';

export interface TestApp {
  port: number;
  name: string;
  /** Requests that reached the app, in order. */
  seen: http.IncomingMessage[];
  close(): Promise<void>;
}

export async function startApp(
  name: string,
  handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  host = '127.0.0.1',
): Promise<TestApp> {
  const seen: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req);
    if (handler) return handler(req, res);
    req.resume();
    req.on('end', () => {
      const body = `${name}\n`;
      res.writeHead(200, { 'content-type': 'text/plain', 'x-app': name, 'content-length': body.length });
      res.end(body);
    });
  });
  server.listen(0, host);
  await once(server, 'listening');
  const addr = server.address() as { port: number };
  return {
    port: addr.port,
    name,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

let sharedPki: TestPki | undefined;
/** One PKI per test file process (RSA keygen is the slow part). */
export function pki(): TestPki {
  sharedPki ??= createTestPki();
  return sharedPki;
}

export const id = (ns: string, sa: string): string => formatWorkloadId('cluster.local', ns, sa);

export const quiet = createLogger('off');

/** Starts a proxy on port 0 everywhere, quiet, with the given identity and config. */
export async function startProxy(cfg: ProxyStartConfig & { spiffeId?: string }): Promise<Proxy> {
  const { spiffeId, ...rest } = cfg;
  const leaf = spiffeId === undefined ? undefined : pki().issueLeaf({ spiffeId });
  return start({
    outbound: { host: '127.0.0.1', port: 0 },
    inbound: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    logger: quiet,
    ...(leaf !== undefined ? { identity: { certChainPem: leaf.chainPem.join(''), keyPem: leaf.keyPem } } : {}),
    ...rest,
  });
}

/**
 * A server sidecar in the demo namespace: strict mTLS inbound to the app on
 * `appPort` (at `host`, where its inbound port listens too), only the
 * `allowed` client IDs if given.
 */
export function startServerProxy(o: { spiffeId: string; appPort: number; host?: string; allowed?: string[]; version?: string }): Promise<Proxy> {
  const host = o.host ?? '127.0.0.1';
  return startProxy({
    spiffeId: o.spiffeId,
    namespace: 'demo',
    inbound: { host, port: 0 },
    appAddress: host,
    config: {
      version: o.version ?? 'server',
      trustBundlePem: pki().trustBundlePem,
      inbound: { mode: 'strict', appPorts: [o.appPort], ...(o.allowed !== undefined ? { allowedIdentities: o.allowed } : {}) },
    },
  });
}

/** A client's config entry for the app on `appPort` behind `proxy` (a server sidecar presenting `identity`). */
export function meshedEndpoint(o: { proxy: Proxy; appPort: number; identity: string; pod: string; host?: string }): object {
  return {
    address: o.host ?? '127.0.0.1',
    port: o.appPort,
    proxyPort: o.proxy.ports.inbound,
    identity: o.identity,
    pod: o.pod,
    deployment: o.pod.replace(/-\d+$/, ''),
    serviceAccount: o.identity.slice(o.identity.lastIndexOf('/') + 1),
  };
}

/** A client sidecar in the demo namespace with these services (and `defaults`, if given). */
export function startClientProxy(o: { spiffeId: string; services: object[]; defaults?: object }): Promise<Proxy> {
  return startProxy({
    spiffeId: o.spiffeId,
    namespace: 'demo',
    config: { version: 'client', trustBundlePem: pki().trustBundlePem, services: o.services, ...(o.defaults !== undefined ? { defaults: o.defaults } : {}) },
  });
}

/** Cleanup list: push closers, call `closeAll` in afterEach/afterAll. */
export class Closer {
  #items: Array<() => Promise<void> | void> = [];
  add<T extends { close(): Promise<void> | void }>(x: T): T {
    this.#items.push(() => x.close());
    return x;
  }
  async closeAll(): Promise<void> {
    const items = this.#items.reverse();
    this.#items = [];
    for (const f of items) await f();
  }
}

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request through an explicit HTTP proxy (absolute-form), on a fresh or given agent. */
export function viaProxy(
  proxyPort: number,
  url: string,
  opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string; agent?: http.Agent } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: proxyPort,
        method: opts.method ?? 'GET',
        path: url,
        headers: { host: new URL(url).host, ...opts.headers },
        agent: opts.agent ?? false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Scrapes a proxy's /metrics. */
export async function scrape(adminPort: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  return res.text();
}

/** Sum of the samples of `name` whose labels include all of `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const open = line.indexOf('{');
    const close = line.lastIndexOf('}');
    const labelText = open === -1 ? '' : line.slice(open + 1, close);
    const have = new Map<string, string>();
    for (const m of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(m[1] ?? '', m[2] ?? '');
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) {
      sum += Number(line.slice((close === -1 ? line.indexOf(' ') : close + 1)).trim().split(' ')[0]);
    }
  }
  return sum;
}

/** A port with nothing listening on it (connections are refused). */
export async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
