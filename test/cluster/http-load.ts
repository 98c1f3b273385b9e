// Run inside a pod's app container (`kubectl exec -i <pod> -- node
// --input-type=module-typescript - '<spec>'`, this file on stdin): GETs to a
// URL at a fixed rate for a while, over keep-alive connections, the way a
// busy client calls a service. Prints one JSON summary:
//   { sent, statuses: { "200": n }, errorCodes: { WEFT_ERR_...: n }, failures, failureSamples: [...], pods: { name: n } }
// A failure is a transport error, a timeout or a status >= 500. `pods` counts
// the `pod` field of the demo server's JSON bodies.
// Usage: node http-load.ts '{"url":"http://web/","rps":200,"seconds":30}'
import http from 'node:http';

interface LoadSpec {
  url: string;
  rps: number;
  seconds: number;
  timeoutMs?: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const url = new URL(spec.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const statuses: Record<string, number> = {};
const errorCodes: Record<string, number> = {};
const pods: Record<string, number> = {};
const failureSamples: string[] = [];
const started = Date.now();
let sent = 0;
let failures = 0;

function fail(what: string): void {
  failures++;
  if (failureSamples.length < 10) failureSamples.push(`${((Date.now() - started) / 1000).toFixed(2)}s ${what}`);
}

function one(): Promise<void> {
  sent++;
  return new Promise<void>((resolve) => {
    const req = http.request(
      { host: url.hostname, port: Number(url.port || 80), path: `${url.pathname}${url.search}`, agent, timeout: spec.timeoutMs ?? 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          statuses[String(code)] = (statuses[String(code)] ?? 0) + 1;
          const weftError = res.headers['weft-error'];
          if (typeof weftError === 'string') errorCodes[weftError] = (errorCodes[weftError] ?? 0) + 1;
          if (code >= 500) fail(`${code} ${typeof weftError === 'string' ? weftError : ''}`);
          try {
            const pod = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { pod?: unknown }).pod;
            if (typeof pod === 'string') pods[pod] = (pods[pod] ?? 0) + 1;
          } catch {
            // not the demo server's JSON
          }
          resolve();
        });
        res.on('error', (e) => {
          fail(`response ${e.message}`);
          resolve();
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      fail(`${e.code ?? ''} ${e.message}`);
      resolve();
    });
    req.end();
  });
}

const total = Math.round(spec.rps * spec.seconds);
const pending: Promise<void>[] = [];
// A fixed schedule (not one request after another): a slow answer does not slow the sender down.
for (let i = 0; i < total; i++) {
  const due = started + (i * 1000) / spec.rps;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  pending.push(one());
}
await Promise.all(pending);
agent.destroy();
process.stdout.write(
  `${JSON.stringify({ sent, statuses, errorCodes, failures, failureSamples, pods, seconds: (Date.now() - started) / 1000 })}\n`,
);
