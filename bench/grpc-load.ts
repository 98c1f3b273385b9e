// A gRPC unary load generator (closed loop): one @grpc/grpc-js channel (one
// HTTP/2 connection) to 127.0.0.1:PORT with :authority AUTHORITY, CONCURRENCY
// calls outstanding, for SECONDS (the first second left out of the figures).
// Prints one JSON line: calls, errors, rps, p50/p90/p99 ms.
// Usage: node bench/grpc-load.ts PORT AUTHORITY CONCURRENCY SECONDS
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { EchoClient, type EchoMsg } from '../cli/demo-grpc.ts';

const [portArg, authority, concArg, secArg] = process.argv.slice(2);
const port = Number(portArg);
const concurrency = Number(concArg ?? '32');
const seconds = Number(secArg ?? '5');
const client = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), authority === undefined || authority === '' ? {} : { 'grpc.default_authority': authority }) as unknown as grpc.Client & {
  Say(req: Partial<EchoMsg>, cb: (err: grpc.ServiceError | null) => void): void;
};
const t0 = performance.now();
const from = t0 + 1000;
const end = t0 + seconds * 1000;
const latencies: number[] = [];
let errors = 0;
let calls = 0;
const worker = async (): Promise<void> => {
  while (performance.now() < end) {
    const s = performance.now();
    const err = await new Promise<grpc.ServiceError | null>((resolve) => client.Say({ text: 'x' }, resolve));
    const e = performance.now();
    if (s < from) continue;
    calls++;
    if (err !== null) errors++;
    else latencies.push(e - s);
  }
};
await Promise.all(Array.from({ length: concurrency }, worker));
latencies.sort((a, b) => a - b);
const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))] ?? NaN;
process.stdout.write(`${JSON.stringify({ calls, errors, rps: calls / (seconds - 1), p50: pct(50), p90: pct(90), p99: pct(99) })}\n`);
client.close();
process.exit(0);
