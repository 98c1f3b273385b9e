// Runs the pod's original probes for the kubelet (GET /app-health/<container>/<kind>
// on the admin port; see injector/probe-rewrite.ts for why). From inside the
// pod, on loopback (or the probe's own host), as the kubelet would have:
//   httpGet   -> the app's status code is passed back (the kubelet counts
//                200-399 as success), HTTPS without certificate checks as the
//                kubelet does; headers as declared;
//   tcpSocket -> 200 when a connection opens, 503 when it does not;
//   grpc      -> grpc.health.v1.Health/Check over h2c: 200 for SERVING, 503 else.
// A probe that takes longer than `timeoutMs` is 503.
import type net from 'node:net';
import type { AppProbe } from './app-probes.ts';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const nodeNet = process.getBuiltinModule('node:net');

export interface ProbeResult {
  status: number;
  body: string;
}

const USER_AGENT = 'weft-proxy-probe (kube-probe)';

function httpProbe(p: Extract<AppProbe, { httpGet: unknown }>['httpGet'], host: string, timeoutMs: number): Promise<ProbeResult> {
  const lib = process.getBuiltinModule(p.scheme === 'HTTPS' ? 'node:https' : 'node:http');
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: '*/*' };
    for (const h of p.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    const req = lib.request(
      { host: p.host ?? host, port: p.port, path: p.path, method: 'GET', headers, agent: false, timeout: timeoutMs, rejectUnauthorized: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 502, body: `app answered ${res.statusCode}\n` }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 503, body: `probe failed: ${(err as NodeJS.ErrnoException).code ?? err.message}\n` }));
    req.end();
  });
}

function tcpProbe(port: number, host: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s: net.Socket = nodeNet.connect({ host, port });
    const done = (r: ProbeResult): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ status: 503, body: 'probe failed: timeout\n' }), timeoutMs);
    s.once('connect', () => done({ status: 200, body: 'connected\n' }));
    s.once('error', (err: NodeJS.ErrnoException) => done({ status: 503, body: `probe failed: ${err.code ?? err.message}\n` }));
  });
}

/** grpc.health.v1.HealthCheckRequest { service = 1 } as a length-prefixed gRPC message. */
function healthRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const msg = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(msg.length, 1);
  return Buffer.concat([prefix, msg]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** The HealthCheckResponse status (field 1, varint) of a gRPC response body; 0 (UNKNOWN) when absent. */
export function healthStatusOf(body: Buffer): number {
  if (body.length < 5) return 0;
  const msg = body.subarray(5, 5 + body.readUInt32BE(1));
  if (msg.length >= 2 && msg[0] === 0x08) return msg[1] as number;
  return 0;
}

function grpcProbe(p: { port: number; service?: string }, host: string, timeoutMs: number): Promise<ProbeResult> {
  const http2 = process.getBuiltinModule('node:http2');
  return new Promise((resolve) => {
    let settled = false;
    const session = http2.connect(`http://${host.includes(':') ? `[${host}]` : host}:${p.port}`);
    const done = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ status: 503, body: 'probe failed: timeout\n' }), timeoutMs);
    session.on('error', (err: NodeJS.ErrnoException) => done({ status: 503, body: `probe failed: ${err.code ?? err.message}\n` }));
    const stream = session.request({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': USER_AGENT,
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    stream.on('response', (headers) => {
      const s = headers['grpc-status'];
      if (typeof s === 'string') grpcStatus = s;
    });
    stream.on('trailers', (trailers) => {
      const s = trailers['grpc-status'];
      if (typeof s === 'string') grpcStatus = s;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (err: NodeJS.ErrnoException) => done({ status: 503, body: `probe failed: ${err.code ?? err.message}\n` }));
    stream.on('end', () => {
      const serving = grpcStatus === '0' && healthStatusOf(Buffer.concat(chunks)) === 1;
      done(serving ? { status: 200, body: 'SERVING\n' } : { status: 503, body: `not serving (grpc-status ${grpcStatus ?? '?'})\n` });
    });
    stream.end(healthRequest(p.service ?? ''));
  });
}

/** Runs one probe against the app at `host` (the probe's own host wins). */
export function runProbe(probe: AppProbe, host: string, timeoutMs = 10_000): Promise<ProbeResult> {
  if ('httpGet' in probe) return httpProbe(probe.httpGet, host, timeoutMs);
  if ('tcpSocket' in probe) return tcpProbe(probe.tcpSocket.port, probe.tcpSocket.host ?? host, timeoutMs);
  return grpcProbe(probe.grpc, host, timeoutMs);
}
