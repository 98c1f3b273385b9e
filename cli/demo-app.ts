#!/usr/bin/env node
// The bundled demo's workloads (used by `npm start`):
//   server  answers every request with its VERSION after LATENCY_MS (+- jitter),
//           failing FAILURE_RATE of them with a 500;
//   client  calls TARGET at RPS requests per second through the mesh
//           (HTTP_PROXY, the Weft proxy's outbound port), forever;
//   grpc-server  serves the gRPC service weft.demo.Echo (demo-grpc.ts),
//           answering with VERSION and its pod name.
// Listens on HOST:PORT (the local mesh gives every replica its own address).
import http from 'node:http';
import { runDemoGrpcServer } from './demo-grpc.ts';

const env = process.env;
const mode = process.argv[2] ?? env.DEMO_MODE ?? 'server';

function server(): void {
  const version = env.VERSION ?? 'v1';
  const latency = Number(env.LATENCY_MS ?? '2');
  const failureRate = Number(env.FAILURE_RATE ?? '0');
  const srv = http.createServer((req, res) => {
    req.resume();
    const delay = latency * (0.5 + Math.random());
    setTimeout(() => {
      const fail = Math.random() < failureRate;
      const body = `${JSON.stringify({ version, pod: env.POD_NAME ?? '', ok: !fail })}\n`;
      res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }, delay);
  });
  srv.listen(Number(env.PORT ?? '8080'), env.HOST ?? '127.0.0.1');
  process.on('SIGTERM', () => srv.close(() => process.exit(0)));
}

function client(): void {
  const target = new URL(env.TARGET ?? 'http://web.demo/');
  const proxy = env.HTTP_PROXY ?? env.http_proxy;
  const via = proxy === undefined ? undefined : new URL(proxy);
  const rps = Number(env.RPS ?? '50');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  let ok = 0;
  let failed = 0;
  const tick = (): void => {
    const req = http.request(
      {
        host: via?.hostname ?? target.hostname,
        port: Number(via?.port || target.port || 80),
        path: via === undefined ? target.pathname : target.href,
        headers: { host: target.host },
        agent,
      },
      (res) => {
        res.resume();
        if ((res.statusCode ?? 500) < 500) ok++;
        else failed++;
      },
    );
    req.on('error', () => failed++);
    req.end();
  };
  const timer = setInterval(tick, 1000 / rps);
  // Its own port answers with the counts (and tells the local mesh it is up).
  const status = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify({ ok, failed })}\n`);
  });
  status.listen(Number(env.PORT ?? '8080'), env.HOST ?? '127.0.0.1');
  const report = setInterval(() => {
    process.stdout.write(`${JSON.stringify({ ok, failed })}\n`);
  }, 5000);
  process.on('SIGTERM', () => {
    clearInterval(timer);
    clearInterval(report);
    status.close();
    agent.destroy();
    process.exit(0);
  });
}

if (mode === 'client') client();
else if (mode === 'grpc-server') runDemoGrpcServer(env.HOST ?? '127.0.0.1', Number(env.PORT ?? '8080'), env.VERSION ?? 'v1', env.POD_NAME ?? '');
else server();
