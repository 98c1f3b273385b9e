// An upstream HTTP/2 response (stages see it as any UpstreamResponse): status
// and headers from its HEADERS frame, whether the stream ended with them (a
// trailers-only gRPC response), and its trailers once they arrive. pipeTo
// sends DATA through to the caller's stream with backpressure; trailers and a
// reset go to the caller by h2-respond.ts.
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientHttp2Stream, IncomingHttpHeaders as H2Headers } from 'node:http2';
import type { Writable } from 'node:stream';
import type { UpstreamResponse } from '../http1/upstream-response.ts';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const { constants } = process.getBuiltinModule('node:http2');

/** Headers without the pseudo-headers. */
export function regularHeaders(raw: H2Headers): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const name in raw) {
    if (name.charCodeAt(0) === 0x3a) continue;
    out[name] = raw[name];
  }
  return out;
}

export class H2Response implements UpstreamResponse {
  readonly statusCode: number;
  readonly statusMessage = '';
  readonly headers: IncomingHttpHeaders;
  /** END_STREAM came with the headers: no body, no trailers (gRPC trailers-only). */
  readonly endStream: boolean;
  readonly stream: ClientHttp2Stream;
  /** The trailers, once received. */
  trailers: IncomingHttpHeaders | undefined;

  constructor(stream: ClientHttp2Stream, raw: H2Headers, flags: number) {
    this.stream = stream;
    this.statusCode = Number(raw[':status'] ?? 502);
    this.headers = regularHeaders(raw);
    this.endStream = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    stream.once('trailers', (t: H2Headers) => {
      this.trailers = regularHeaders(t);
    });
  }

  /** The upstream reset the stream (a code other than NO_ERROR), or it was destroyed before its end. */
  get aborted(): boolean {
    return this.stream.rstCode !== undefined && this.stream.rstCode !== constants.NGHTTP2_NO_ERROR;
  }

  pipeTo(dest: Writable): Promise<void> {
    return new Promise<void>((resolve) => {
      const up = this.stream;
      if (this.endStream) {
        dest.end();
        resolve();
        return;
      }
      const finish = (): void => {
        up.removeListener('close', finish);
        dest.removeListener('close', finish);
        resolve();
      };
      up.once('close', finish);
      dest.once('close', finish);
      // Node ends the readable side of a reset stream too (rstCode already
      // set by then): only a clean end ends the caller's stream; a reset is
      // passed on by h2-respond.ts with its code.
      up.once('end', () => {
        if (!this.aborted) dest.end();
      });
      up.pipe(dest, { end: false });
    });
  }

  discard(): void {
    if (!this.stream.closed) this.stream.close(constants.NGHTTP2_CANCEL);
  }
}
