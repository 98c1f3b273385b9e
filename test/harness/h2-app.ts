// A plain HTTP/2 (h2c, prior knowledge) app for the HTTP/2 tests: answers
// with what it saw (method, path, authority, HTTP version, body length) and a
// trailer, sends a 103 first when asked (x-early-hints), and resets the
// stream mid-body, its request still open, when asked (x-reset: an
// RST_STREAM code), or streams a large body with backpressure
// (x-stream-bytes).
import http2 from 'node:http2';
import { once } from 'node:events';

export interface H2App {
  readonly port: number;
  readonly name: string;
  /** The HTTP versions of the requests that reached it (headers at least). */
  readonly versions: string[];
  /** The paths of the requests that arrived whole (ended, not reset). */
  readonly completed: string[];
  /** x-stream-bytes (the latest such stream): the bytes written so far, and the code the stream closed with. */
  readonly written: { bytes: number; rstCode: number | undefined };
  close(): Promise<void>;
}

export async function startH2App(name: string, host = '127.0.0.1'): Promise<H2App> {
  const versions: string[] = [];
  const completed: string[] = [];
  const written: { bytes: number; rstCode: number | undefined } = { bytes: 0, rstCode: undefined };
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    versions.push('2.0');
    stream.on('error', () => {});
    let length = 0;
    stream.on('data', (c: Buffer) => (length += c.length));
    const stream_ = headers['x-stream-bytes'];
    if (typeof stream_ === 'string') {
      // Streams that many bytes as fast as the reader takes them (backpressure respected), counting what was written.
      let left = Number(stream_);
      written.bytes = 0;
      written.rstCode = undefined;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      stream.respond({ ':status': 200 });
      const pump = (): void => {
        while (left > 0 && !stream.destroyed) {
          const n = Math.min(left, chunk.length);
          left -= n;
          written.bytes += n;
          if (!stream.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            stream.once('drain', pump);
            return;
          }
        }
        if (!stream.destroyed) stream.end();
      };
      stream.on('close', () => (written.rstCode = stream.rstCode));
      pump();
      return;
    }
    const reset = headers['x-reset'];
    if (typeof reset === 'string') {
      // While the request is still open (a reset after both ends finished is no reset at all).
      stream.respond({ ':status': 200 });
      stream.write('partial');
      setTimeout(() => stream.close(Number(reset)), 20);
      return;
    }
    stream.on('end', () => {
      // Node ends the readable side of a reset stream too: a reset request is no request.
      if ((stream.rstCode ?? 0) !== 0 || stream.destroyed) return;
      completed.push(String(headers[':path']));
      if (headers['x-early-hints'] !== undefined) stream.additionalHeaders({ ':status': 103, link: '</style.css>; rel=preload' });
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-app': name }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'x-body-length': String(length) }));
      stream.end(
        JSON.stringify({
          app: name,
          method: headers[':method'],
          path: headers[':path'],
          authority: headers[':authority'],
          length,
          clientId: headers['weft-client-id'] ?? '',
        }),
      );
    });
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    name,
    versions,
    completed,
    written,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}
