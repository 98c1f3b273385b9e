// The view of an HTTP/2 request that the stages read (exchange.ts
// ExchangeRequest): method and path from the pseudo-headers, the authority as
// `host` (route matching and the target stage read it there), the connection
// it came on, and the body's progress, read from the stream.
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { IncomingHttpHeaders as H2Headers, ServerHttp2Stream } from 'node:http2';
import type { ExchangeRequest } from '../exchange.ts';

export class H2Request implements ExchangeRequest {
  readonly method: string | undefined;
  readonly url: string | undefined;
  /** The regular headers (no pseudo-headers), with `host` set from :authority when the caller sent none. */
  readonly headers: IncomingHttpHeaders;
  readonly socket: Socket;
  readonly #stream: ServerHttp2Stream;
  /** END_STREAM came with the request headers. */
  readonly #endAfterHeaders: boolean;

  constructor(stream: ServerHttp2Stream, raw: H2Headers, socket: Socket) {
    this.#stream = stream;
    this.socket = socket;
    this.#endAfterHeaders = stream.endAfterHeaders;
    this.method = raw[':method'] as string | undefined;
    this.url = raw[':path'] as string | undefined;
    const headers: IncomingHttpHeaders = {};
    for (const name in raw) {
      if (name.charCodeAt(0) === 0x3a /* : */) continue;
      headers[name] = raw[name];
    }
    const authority = raw[':authority'] as string | undefined;
    if (headers.host === undefined && authority !== undefined) headers.host = authority;
    this.headers = headers;
  }

  get complete(): boolean {
    return this.#endAfterHeaders || this.#stream.readableEnded;
  }

  get readableDidRead(): boolean {
    return this.#stream.readableDidRead;
  }

  /** END_STREAM came with the headers: there is no body. */
  get bodyless(): boolean {
    return this.#endAfterHeaders;
  }

  on(event: 'data', listener: (chunk: Buffer) => void): this {
    this.#stream.on(event, listener);
    return this;
  }

  once(event: 'end' | 'close', listener: () => void): this {
    this.#stream.once(event, listener);
    return this;
  }

  removeListener(event: 'data' | 'end' | 'close', listener: (...args: never[]) => void): this {
    this.#stream.removeListener(event, listener as (...args: unknown[]) => void);
    return this;
  }
}
