// A real @grpc/grpc-js server and client for the HTTP/2 tests: echo.Echo with
// the four kinds of call (Say unary, Count server streaming, Sum client
// streaming, Chat bidirectional), each answer naming the server, and what
// each server saw (metadata, deadlines) recorded. A server can be told to
// fail every call with a status, or to answer slowly.
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';

const DEFINITION = loader.fromJSON({
  nested: {
    echo: {
      nested: {
        Msg: { fields: { text: { type: 'string', id: 1 }, n: { type: 'int32', id: 2 } } },
        Echo: {
          methods: {
            Say: { requestType: 'Msg', responseType: 'Msg', comment: '' },
            Count: { requestType: 'Msg', responseType: 'Msg', responseStream: true, comment: '' },
            Sum: { requestType: 'Msg', responseType: 'Msg', requestStream: true, comment: '' },
            Chat: { requestType: 'Msg', responseType: 'Msg', requestStream: true, responseStream: true, comment: '' },
          },
        },
      },
    },
  },
});

export interface Msg {
  text: string;
  n: number;
}

type EchoPackage = { echo: { Echo: grpc.ServiceClientConstructor } };
const pkg = grpc.loadPackageDefinition(DEFINITION) as unknown as EchoPackage;

export interface EchoServer {
  readonly name: string;
  readonly port: number;
  /** Calls per method name. */
  readonly calls: Map<string, number>;
  /** The metadata and deadline of the last call. */
  last: { metadata: grpc.Metadata; deadline: grpc.Deadline } | undefined;
  /** When set, every call fails with this status. */
  failWith: grpc.status | undefined;
  /** Delay before a unary answer, ms. */
  delayMs: number;
  close(): Promise<void>;
}

export async function startEchoServer(name: string, host = '127.0.0.1', wantPort = 0): Promise<EchoServer> {
  const server = new grpc.Server();
  const state: EchoServer = {
    name,
    port: 0,
    calls: new Map(),
    last: undefined,
    failWith: undefined,
    delayMs: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
  const seen = (method: string, call: { metadata: grpc.Metadata; getDeadline(): grpc.Deadline }): grpc.ServiceError | undefined => {
    state.calls.set(method, (state.calls.get(method) ?? 0) + 1);
    state.last = { metadata: call.metadata, deadline: call.getDeadline() };
    if (state.failWith === undefined) return undefined;
    return Object.assign(new Error(`${name} fails`), { code: state.failWith, details: `${name} fails`, metadata: new grpc.Metadata() });
  };
  server.addService(pkg.echo.Echo.service, {
    Say: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const err = seen('Say', call);
      if (err !== undefined) return cb(err);
      const reply = (): void => {
        const md = new grpc.Metadata();
        md.set('x-server', name);
        call.sendMetadata(md);
        cb(null, { text: `${name}:${call.request.text}`, n: call.request.n });
      };
      if (state.delayMs > 0) setTimeout(reply, state.delayMs);
      else reply();
    },
    Count: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      const err = seen('Count', call);
      if (err !== undefined) return call.destroy(err);
      const total = call.request.n;
      let i = 0;
      const pump = (): void => {
        while (i < total) {
          const ok = call.write({ text: name, n: i++ });
          if (!ok) {
            call.once('drain', pump);
            return;
          }
        }
        call.end();
      };
      pump();
    },
    Sum: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const err = seen('Sum', call);
      if (err !== undefined) return cb(err);
      let sum = 0;
      let count = 0;
      call.on('data', (m: Msg) => {
        sum += m.n;
        count++;
      });
      call.on('end', () => cb(null, { text: `${name}:${count}`, n: sum }));
    },
    Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      const err = seen('Chat', call);
      if (err !== undefined) return call.destroy(err);
      call.on('data', (m: Msg) => call.write({ text: `${name}:${m.text}`, n: m.n }));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${wantPort}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  (state as { port: number }).port = port;
  return state;
}

export type EchoClient = grpc.Client & {
  Say(req: Partial<Msg>, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Msg) => void): grpc.ClientUnaryCall;
  Count(req: Partial<Msg>, md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<Msg>;
  Sum(md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Msg) => void): grpc.ClientWritableStream<Partial<Msg>>;
  Chat(md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<Partial<Msg>, Msg>;
};

/**
 * A client on one channel (one HTTP/2 connection) to `target` (host:port),
 * with `authority` as :authority: through a proxy's outbound port, the
 * service it names.
 */
export function echoClient(target: string, authority?: string): EchoClient {
  const options: grpc.ChannelOptions = authority !== undefined ? { 'grpc.default_authority': authority } : {};
  return new pkg.echo.Echo(target, grpc.credentials.createInsecure(), options) as unknown as EchoClient;
}

/** One unary call: resolves with the reply or the error. */
export function say(client: EchoClient, text: string, opts: grpc.CallOptions = {}, md = new grpc.Metadata()): Promise<{ res?: Msg; err?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    client.Say({ text, n: 1 }, md, opts, (err, res) => resolve(err !== null ? { err } : res !== undefined ? { res } : {}));
  });
}

export { grpc };
