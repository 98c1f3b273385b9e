// The HTTP/2 benchmarks' upstreams, in one process: a plain h2c server
// answering every request with 1 KiB, and a @grpc/grpc-js server with the
// demo's Echo service (cli/demo-grpc.ts), both on 127.0.0.1. Prints
// {"h2":N,"grpc":M} when up.
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { EchoClient, type EchoMsg } from '../cli/demo-grpc.ts';

const BODY = Buffer.alloc(1024, 'x');
const h2 = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
h2.on('stream', (stream) => {
  stream.on('error', () => {});
  stream.resume();
  stream.on('end', () => {
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': BODY.length });
    stream.end(BODY);
  });
});
const g = new grpc.Server();
g.addService(EchoClient.service, {
  Say: (call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>) => cb(null, { text: call.request.text, from: 'bench' }),
  Chat: (call: grpc.ServerDuplexStream<EchoMsg, EchoMsg>) => {
    call.on('data', (m: EchoMsg) => call.write(m));
    call.on('end', () => call.end());
  },
});
h2.listen(0, '127.0.0.1', () => {
  g.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err !== null) throw err;
    process.stdout.write(`${JSON.stringify({ h2: (h2.address() as { port: number }).port, grpc: port })}\n`);
  });
});
process.on('SIGTERM', () => process.exit(0));
