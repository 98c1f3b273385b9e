// The demo's gRPC service, weft.demo.Echo: Say (unary) and Chat
// (bidirectional), each answer naming the version and pod that gave it. Run
// by `weft-demo grpc-server` in a manifest, called through the mesh like any
// gRPC service (the tests' long-lived streams use it too).
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';

export const DEMO_ECHO = loader.fromJSON({
  nested: {
    weft: {
      nested: {
        demo: {
          nested: {
            EchoMsg: { fields: { text: { type: 'string', id: 1 }, from: { type: 'string', id: 2 } } },
            Echo: {
              methods: {
                Say: { requestType: 'EchoMsg', responseType: 'EchoMsg', comment: '' },
                Chat: { requestType: 'EchoMsg', responseType: 'EchoMsg', requestStream: true, responseStream: true, comment: '' },
              },
            },
          },
        },
      },
    },
  },
});

export interface EchoMsg {
  text: string;
  /** "version/pod" of the server that answered. */
  from: string;
}

/** The Echo service's client constructor. */
export const EchoClient = (grpc.loadPackageDefinition(DEMO_ECHO) as unknown as { weft: { demo: { Echo: grpc.ServiceClientConstructor } } }).weft.demo
  .Echo;

/** Serves Echo on host:port until SIGTERM, then lets open calls finish (at most 25 s). */
export function runDemoGrpcServer(host: string, port: number, version: string, pod: string): void {
  const from = `${version}/${pod}`;
  const server = new grpc.Server();
  server.addService(EchoClient.service, {
    Say: (call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>) => cb(null, { text: call.request.text, from }),
    Chat: (call: grpc.ServerDuplexStream<EchoMsg, EchoMsg>) => {
      call.on('data', (m: EchoMsg) => call.write({ text: m.text, from }));
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  });
  server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err !== null) {
      process.stderr.write(`weft-demo grpc-server: cannot listen on ${host}:${port}: ${err.message}\n`);
      process.exit(1);
    }
  });
  process.on('SIGTERM', () => {
    const force = setTimeout(() => process.exit(0), 25_000);
    server.tryShutdown(() => {
      clearTimeout(force);
      process.exit(0);
    });
  });
}
