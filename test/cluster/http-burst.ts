// Run inside a pod: by `kubectl exec -i <pod> -- node --input-type=module-typescript - '<spec>'`
// with this file on stdin (the app container's own view: its DNS, its
// iptables rules), or from the host in the pod's network namespace
// (RealNode.netnsExec, e.g. as the proxy's uid 2102): N HTTP GETs to a URL, optionally with
// another Host header (transparent mode: the connection goes wherever the
// URL points, iptables hands it to the proxy, the proxy routes by Host), a
// few at a time over keep-alive connections. Prints one JSON summary:
//   { sent, statuses: { "200": n }, versions: { v1: n }, errorCodes: { WEFT_ERR_...: n }, failures: n, firstFailure? }
// `versions` counts the `version` field of JSON bodies (the demo server's).
// Usage: node http-burst.ts '{"url":"http://web.demo/","n":1000,"concurrency":8,"host":"web.demo"}'
import http from 'node:http';

interface BurstSpec {
  url: string;
  n: number;
  concurrency?: number;
  host?: string;
  timeoutMs?: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as BurstSpec;
const url = new URL(spec.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency ?? 8 });
const statuses: Record<string, number> = {};
const versions: Record<string, number> = {};
const errorCodes: Record<string, number> = {};
let failures = 0;
let firstFailure: string | undefined;
let next = 0;

function one(): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: url.hostname,
        port: Number(url.port || 80),
        path: `${url.pathname}${url.search}`,
        headers: { host: spec.host ?? url.host },
        agent,
        timeout: spec.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const code = String(res.statusCode ?? 0);
          statuses[code] = (statuses[code] ?? 0) + 1;
          const weftError = res.headers['weft-error'];
          if (typeof weftError === 'string') errorCodes[weftError] = (errorCodes[weftError] ?? 0) + 1;
          try {
            const v = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { version?: unknown }).version;
            if (typeof v === 'string') versions[v] = (versions[v] ?? 0) + 1;
          } catch {
            // not the demo server's JSON
          }
          resolve();
        });
        res.on('error', (e) => {
          failures++;
          firstFailure ??= e.message;
          resolve();
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => {
      failures++;
      firstFailure ??= `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`;
      resolve();
    });
    req.end();
  });
}

async function worker(): Promise<void> {
  while (next < spec.n) {
    next++;
    await one();
  }
}

await Promise.all(Array.from({ length: Math.max(1, spec.concurrency ?? 8) }, () => worker()));
agent.destroy();
process.stdout.write(`${JSON.stringify({ sent: spec.n, statuses, versions, errorCodes, failures, ...(firstFailure !== undefined ? { firstFailure } : {}) })}\n`);
