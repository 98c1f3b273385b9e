// A raw HTTP/1.1 upstream on a plain `net` server, for tests that need an
// upstream to send exact bytes (odd framing, interim responses, garbage) and
// to see exactly what the proxy sent: the request head as written, the body
// decoded, and which connection carried each request.
import net from 'node:net';
import { once } from 'node:events';
import { ChunkedDecoder } from '../../proxy/http1/http1-chunked-body.ts';

export interface RawRequest {
  method: string;
  path: string;
  /** Header lines as sent (names lower-cased), in order. */
  headers: Array<[string, string]>;
  /** The value of a header, joined with ', ' if repeated; undefined if absent. */
  header(name: string): string | undefined;
  body: Buffer;
  /** Index of the connection it came on, 0 for the first the upstream accepted. */
  conn: number;
  socket: net.Socket;
}

/** Answers one request by writing to its socket (anything at all). */
export type RawHandler = (req: RawRequest) => void;

export interface RawUpstream {
  port: number;
  requests: RawRequest[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections closed so far. */
  readonly closed: number;
  close(): Promise<void>;
}

const HEAD_END = Buffer.from('\r\n\r\n');

export async function startRawUpstream(handler: RawHandler): Promise<RawUpstream> {
  const requests: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let closed = 0;
  const server = net.createServer((socket) => {
    const conn = connections++;
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      closed++;
      sockets.delete(socket);
    });
    let buf: Buffer = Buffer.alloc(0);
    let pending: { req: RawRequest; length: number; parts: Buffer[]; got: number; decoder?: ChunkedDecoder } | undefined;

    const feed = (data: Buffer): void => {
      buf = buf.length === 0 ? data : Buffer.concat([buf, data]);
      for (;;) {
        if (pending === undefined) {
          const end = buf.indexOf(HEAD_END);
          if (end === -1) return;
          const lines = buf.toString('latin1', 0, end).split('\r\n');
          buf = buf.subarray(end + 4);
          const [method = '', path = ''] = (lines[0] ?? '').split(' ');
          const headers: Array<[string, string]> = lines.slice(1).map((l) => {
            const i = l.indexOf(':');
            return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
          });
          const header = (name: string): string | undefined => {
            const values = headers.filter(([n]) => n === name).map(([, v]) => v);
            return values.length === 0 ? undefined : values.join(', ');
          };
          const req: RawRequest = { method, path, headers, header, body: Buffer.alloc(0), conn, socket };
          const te = header('transfer-encoding');
          const cl = Number(header('content-length') ?? '0');
          pending = { req, length: te !== undefined ? -1 : cl, parts: [], got: 0 };
          if (te !== undefined) pending.decoder = new ChunkedDecoder();
        }
        const p = pending;
        if (p.decoder !== undefined) {
          const end = p.decoder.decode(buf, 0, { onBodyChunk: (c) => p.parts.push(Buffer.from(c)) });
          if (end === -1) {
            buf = Buffer.alloc(0);
            return;
          }
          buf = buf.subarray(end);
        } else {
          const take = Math.min(p.length - p.got, buf.length);
          if (take > 0) p.parts.push(buf.subarray(0, take));
          p.got += take;
          buf = buf.subarray(take);
          if (p.got < p.length) return;
        }
        p.req.body = Buffer.concat(p.parts);
        pending = undefined;
        requests.push(p.req);
        handler(p.req);
        if (buf.length === 0) return;
      }
    };
    socket.on('data', feed);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    get connections() {
      return connections;
    },
    get closed() {
      return closed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Writes `body` to `socket` in pieces, waiting for 'drain' when the socket is full. */
export async function writeSlowly(socket: net.Socket, body: Buffer, piece = 64 * 1024, frame?: (part: Buffer) => Buffer[]): Promise<void> {
  for (let i = 0; i < body.length; i += piece) {
    const part = body.subarray(i, i + piece);
    let ok = true;
    for (const b of frame === undefined ? [part] : frame(part)) ok = socket.write(b) && ok;
    if (!ok) await once(socket, 'drain');
  }
}
