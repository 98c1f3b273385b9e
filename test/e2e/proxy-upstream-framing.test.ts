// The proxy's own HTTP/1.1 upstream client against a raw `net` upstream that
// writes exact bytes: every way RFC 9112 delimits a response body (chunked
// with extensions and trailers, until close, Content-Length, none for HEAD,
// 204 and 304), interim 1xx responses, Connection: close and Keep-Alive
// hints, upstreams that close kept-alive connections, malformed responses
// (502 WEFT_ERR_UPSTREAM_PROTOCOL, and the proxy keeps serving), and large
// bodies streamed both ways through one hop and through two proxies over mTLS.
// Connection reuse is asserted from the upstream's side (which connection
// carried each request).
import http from 'node:http';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../../proxy/proxy.ts';
import { codeOfResponse } from '../harness/error-code.ts';
import { Closer, id, pki, startApp, startProxy } from '../harness/mesh-fixture.ts';
import { startRawUpstream, writeSlowly, type RawRequest, type RawUpstream } from '../harness/raw-upstream.ts';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The whole response arrived (false: cut, or no response at all). */
  complete: boolean;
}

interface CallOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: Buffer;
  /** Send the body without Content-Length (Node frames it chunked). */
  chunked?: boolean;
  /** Send `Expect: 100-continue` and the body only after 100 Continue. */
  expectContinue?: boolean;
  /** Read the response with pauses (the proxy must hold back). */
  slowReader?: boolean;
  /** Default: a new connection for this request only. */
  agent?: http.Agent;
}

const MiB = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One request through the proxy's outbound port (absolute-form), on a new client connection. */
function call(proxyPort: number, url: string, opts: CallOptions = {}): Promise<Reply> {
  return new Promise((resolve) => {
    const headers: http.OutgoingHttpHeaders = { host: new URL(url).host, ...opts.headers };
    if (opts.body !== undefined && opts.chunked !== true) headers['content-length'] = opts.body.length;
    if (opts.expectContinue === true) headers.expect = '100-continue';
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: opts.method ?? 'GET', path: url, headers, agent: opts.agent ?? false });
    let settled = false;
    const settle = (r: Reply): void => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    req.on('error', () => settle({ status: 0, headers: {}, body: Buffer.alloc(0), complete: false }));
    req.on('response', (res) => {
      void (async () => {
        const parts: Buffer[] = [];
        let complete = true;
        try {
          let n = 0;
          for await (const chunk of res) {
            parts.push(chunk as Buffer);
            if (opts.slowReader === true && ++n % 8 === 0) await sleep(1);
          }
        } catch {
          complete = false;
        }
        settle({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), complete: complete && res.complete });
      })();
    });
    const body = opts.body;
    if (body === undefined) {
      req.end();
    } else if (opts.expectContinue === true) {
      req.on('continue', () => req.end(body));
    } else {
      void (async () => {
        try {
          for (let i = 0; i < body.length; i += 64 * 1024) {
            if (!req.write(body.subarray(i, i + 64 * 1024))) await once(req, 'drain');
          }
          req.end();
        } catch {
          // The request failed: its 'error' settles the call.
        }
      })();
    }
  });
}

const text = (r: Reply): string => r.body.toString('latin1');

/** Writes `s` in pieces of `size` bytes, a macrotask apart, so the proxy reads it across many buffers. */
async function dribble(req: RawRequest, s: string, size = 3): Promise<void> {
  for (let i = 0; i < s.length; i += size) {
    req.socket.write(s.slice(i, i + size), 'latin1');
    await new Promise((r) => setImmediate(r));
  }
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

/** Waits until `cond` holds (the proxy reacts to a close asynchronously); fails after 5 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await sleep(10);
  if (!cond()) throw new Error(`never happened: ${what}`);
}

describe('upstream response framing (raw upstream, one plaintext hop)', () => {
  const closer = new Closer();
  let proxy: Proxy;
  // Each test has its own upstream (so its own pool in the proxy), reached as egress.
  const upstream = async (handler: (req: RawRequest) => void): Promise<{ up: RawUpstream; url: (path: string) => string }> => {
    const up = closer.add(await startRawUpstream(handler));
    return { up, url: (path) => `http://127.0.0.1:${up.port}${path}` };
  };

  beforeAll(async () => {
    proxy = closer.add(await startProxy({ config: { version: 'f1' } }));
  });
  afterAll(() => closer.closeAll());

  it('relays a chunked response with extensions and trailers, read across many small buffers, and reuses the connection', async () => {
    const { up, url } = await upstream((req) => {
      if (req.path === '/chunked') {
        void dribble(
          req,
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n' +
            '5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: abc\r\n\r\n',
        );
      } else {
        req.socket.write(OK);
      }
    });
    const r = await call(proxy.ports.outbound, url('/chunked'));
    expect(r.status).toBe(200);
    expect(r.complete).toBe(true);
    expect(text(r)).toBe('hello world');
    expect(r.headers.trailer).toBeUndefined();
    const next = await call(proxy.ports.outbound, url('/next'));
    expect(text(next)).toBe('ok');
    expect(up.requests.map((q) => q.conn)).toEqual([0, 0]);
  });

  it('relays a body delimited by the upstream closing, and does not reuse that connection', async () => {
    const { up, url } = await upstream((req) => {
      if (req.path === '/until-close') {
        req.socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart1-');
        setImmediate(() => req.socket.end('part2'));
      } else {
        req.socket.write(OK);
      }
    });
    const r = await call(proxy.ports.outbound, url('/until-close'));
    expect(r.status).toBe(200);
    expect(r.complete).toBe(true);
    expect(text(r)).toBe('part1-part2');
    const next = await call(proxy.ports.outbound, url('/next'));
    expect(text(next)).toBe('ok');
    expect(up.requests.map((q) => q.conn)).toEqual([0, 1]);
  });

  it('honours Connection: close from the upstream (even if it keeps the socket open): the next request gets a new connection', async () => {
    const { up, url } = await upstream((req) => {
      req.socket.write(req.path === '/close' ? 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok' : OK);
    });
    const r = await call(proxy.ports.outbound, url('/close'));
    expect(text(r)).toBe('ok');
    expect(text(await call(proxy.ports.outbound, url('/next')))).toBe('ok');
    expect(up.requests.map((q) => q.conn)).toEqual([0, 1]);
  });

  it('a HEAD response with Content-Length and no body, then the same connection serves a GET', async () => {
    const { up, url } = await upstream((req) => {
      req.socket.write(req.method === 'HEAD' ? 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n' : OK);
    });
    const head = await call(proxy.ports.outbound, url('/thing'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('1234');
    expect(head.body.length).toBe(0);
    const get = await call(proxy.ports.outbound, url('/thing'));
    expect(text(get)).toBe('ok');
    expect(up.requests.map((q) => `${q.method} ${q.conn}`)).toEqual(['HEAD 0', 'GET 0']);
  });

  it('204 and 304 carry no body (whatever their headers say); the connection is reused', async () => {
    const { up, url } = await upstream((req) => {
      if (req.path === '/204') req.socket.write('HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n');
      else if (req.path === '/304') req.socket.write('HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 10\r\n\r\n');
      else req.socket.write(OK);
    });
    const noContent = await call(proxy.ports.outbound, url('/204'));
    expect(noContent.status).toBe(204);
    expect(noContent.headers['x-a']).toBe('1');
    const notModified = await call(proxy.ports.outbound, url('/304'), { headers: { 'if-none-match': '"v1"' } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe('"v1"');
    expect(notModified.body.length).toBe(0);
    expect(text(await call(proxy.ports.outbound, url('/next')))).toBe('ok');
    expect(up.requests.map((q) => q.conn)).toEqual([0, 0, 0]);
    expect(up.requests[1]?.header('if-none-match')).toBe('"v1"');
  });

  it('skips 100 Continue and 103 Early Hints before the real response', async () => {
    const { up, url } = await upstream((req) => {
      req.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      setImmediate(() =>
        req.socket.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal'),
      );
    });
    const r = await call(proxy.ports.outbound, url('/interim'));
    expect(r.status).toBe(200);
    expect(text(r)).toBe('final');
    expect(r.headers.link).toBeUndefined();
    expect(text(await call(proxy.ports.outbound, url('/again')))).toBe('final');
    expect(up.requests.map((q) => q.conn)).toEqual([0, 0]);
  });

  it('a malformed response head is 502 WEFT_ERR_UPSTREAM_PROTOCOL, and the proxy keeps serving', async () => {
    const { url } = await upstream((req) => {
      if (req.path === '/bad-header') req.socket.write('HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 2\r\n\r\nok');
      else if (req.path === '/bad-status') req.socket.write('HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok');
      else if (req.path === '/obs-fold') req.socket.write('HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok');
      else if (req.path === '/bare-cr') req.socket.write('HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok');
      else if (req.path === '/two-lengths') req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok');
      else if (req.path === '/not-http') req.socket.write('<html>hello</html>');
      else if (req.path === '/huge-head') req.socket.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
      else if (req.path === '/switch') req.socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n');
      else req.socket.write(OK);
    });
    for (const path of ['/bad-header', '/bad-status', '/obs-fold', '/bare-cr', '/two-lengths', '/not-http', '/huge-head', '/switch']) {
      const r = await call(proxy.ports.outbound, url(path));
      expect(r.status, path).toBe(502);
      expect(codeOfResponse(r), path).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
      const good = await call(proxy.ports.outbound, url('/good'));
      expect(good.status, `after ${path}`).toBe(200);
      expect(text(good)).toBe('ok');
    }
  });

  it('a bad chunk or a close mid-body cuts the response to the caller; the proxy keeps serving', async () => {
    const { url } = await upstream((req) => {
      if (req.path === '/bad-chunk') {
        req.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        setImmediate(() => req.socket.write('ZZ\r\nmore\r\n'));
      } else if (req.path === '/short') {
        req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello');
        setImmediate(() => req.socket.destroy());
      } else {
        req.socket.write(OK);
      }
    });
    for (const path of ['/bad-chunk', '/short']) {
      const r = await call(proxy.ports.outbound, url(path));
      expect(r.complete, path).toBe(false);
      expect(text(await call(proxy.ports.outbound, url('/good')))).toBe('ok');
    }
  });

  it('an upstream that closes an idle kept-alive connection: the next request succeeds on a new one', async () => {
    const { up, url } = await upstream((req) => {
      req.socket.write(OK);
      if (req.path === '/then-close') req.socket.end();
    });
    expect(text(await call(proxy.ports.outbound, url('/then-close')))).toBe('ok');
    // The upstream's socket is fully closed only once the proxy has closed its side.
    await until(() => up.closed === 1, 'the proxy closing the connection the upstream ended');
    const r = await call(proxy.ports.outbound, url('/next'));
    expect(r.status).toBe(200);
    expect(text(r)).toBe('ok');
    expect(up.requests.map((q) => q.conn)).toEqual([0, 1]);
  });

  it('Keep-Alive: timeout=1 leaves too little time to reuse: each request gets a new connection', async () => {
    const { up, url } = await upstream((req) => {
      req.socket.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok');
    });
    for (let i = 0; i < 3; i++) expect(text(await call(proxy.ports.outbound, url(`/${i}`)))).toBe('ok');
    expect(up.requests.map((q) => q.conn)).toEqual([0, 1, 2]);
  });

  it('Keep-Alive: timeout=60 is honoured as a hint only: the connection is reused', async () => {
    const { up, url } = await upstream((req) => {
      req.socket.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=60\r\nContent-Length: 2\r\n\r\nok');
    });
    for (let i = 0; i < 3; i++) expect(text(await call(proxy.ports.outbound, url(`/${i}`)))).toBe('ok');
    expect(up.requests.map((q) => q.conn)).toEqual([0, 0, 0]);
  });

  it('does not forward Expect: 100-continue; the body arrives, framed by its length', async () => {
    const { up, url } = await upstream((req) => req.socket.write(OK));
    const body = Buffer.from('{"hello":"world"}');
    const r = await call(proxy.ports.outbound, url('/upload'), { method: 'PUT', body, expectContinue: true });
    expect(r.status).toBe(200);
    const seen = up.requests[0];
    expect(seen?.header('expect')).toBeUndefined();
    expect(seen?.header('content-length')).toBe(String(body.length));
    expect(seen?.body.equals(body)).toBe(true);
  });

  it('the caller going away before the response head closes the upstream connection', async () => {
    const { up, url } = await upstream(() => undefined); // never answers
    const req = http.request({ host: '127.0.0.1', port: proxy.ports.outbound, path: url('/hang'), headers: { host: `127.0.0.1:${up.port}` }, agent: false });
    req.on('error', () => undefined);
    req.end();
    await until(() => up.requests.length === 1, 'the request reaching the upstream');
    req.destroy();
    await until(() => up.closed === 1, 'the proxy closing the upstream connection');
  });

  it('the caller going away mid-body closes the upstream connection', async () => {
    const { up, url } = await upstream((req) => {
      req.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`);
      req.socket.write(Buffer.alloc(256 * 1024, 'x'));
    });
    const req = http.request({ host: '127.0.0.1', port: proxy.ports.outbound, path: url('/big'), headers: { host: `127.0.0.1:${up.port}` }, agent: false });
    req.on('error', () => undefined);
    req.end();
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    await once(res, 'data');
    req.destroy();
    await until(() => up.closed === 1, 'the proxy closing the upstream connection');
  });

  it('an upstream that answers before the request body is through: the caller gets the answer, the proxy keeps serving', async () => {
    const app = closer.add(
      await startApp('early', (req, res) => {
        res.writeHead(req.method === 'POST' ? 413 : 200, { 'content-length': 0 });
        res.end();
      }),
    );
    const agent = new http.Agent({ keepAlive: true });
    const url = `http://127.0.0.1:${app.port}/upload`;
    const r = await call(proxy.ports.outbound, url, { method: 'POST', body: randomBytes(4 * MiB), agent });
    expect(r.status).toBe(413);
    expect((await call(proxy.ports.outbound, url)).status).toBe(200);
    agent.destroy();
  });

  it('sends a request head exactly once, with the hop-by-hop headers gone and this hop appended', async () => {
    const { up, url } = await upstream((req) => req.socket.write(OK));
    await call(proxy.ports.outbound, url('/h?q=1'), {
      headers: { 'x-one': 'a', connection: 'keep-alive, x-hop', 'x-hop': 'secret', 'keep-alive': 'timeout=5' },
    });
    const seen = up.requests[0];
    expect(seen?.method).toBe('GET');
    expect(seen?.path).toBe('/h?q=1');
    expect(seen?.header('host')).toBe(`127.0.0.1:${up.port}`);
    expect(seen?.header('x-one')).toBe('a');
    expect(seen?.header('x-hop')).toBeUndefined();
    expect(seen?.header('connection')).toBeUndefined();
    expect(seen?.header('keep-alive')).toBeUndefined();
    expect(seen?.header('x-forwarded-for')).toBe('127.0.0.1');
  });
});

describe('a reused connection the upstream drops as the next request arrives', () => {
  const closer = new Closer();
  let proxy: Proxy;
  let up: RawUpstream;
  const served = new Map<number, number>();

  beforeAll(async () => {
    // The first request on each connection is answered; any later one gets the connection closed, unanswered.
    up = closer.add(
      await startRawUpstream((req) => {
        const n = served.get(req.conn) ?? 0;
        served.set(req.conn, n + 1);
        if (n === 0) req.socket.write(OK);
        else req.socket.destroy();
      }),
    );
    proxy = closer.add(
      await startProxy({
        config: { version: 'd1', services: [{ name: 'drop', namespace: 'default', endpoints: [{ address: '127.0.0.1', port: up.port }] }] },
      }),
    );
  });
  afterAll(() => closer.closeAll());

  it('a GET is retried on a new connection (a connect-class failure) and succeeds', async () => {
    expect(text(await call(proxy.ports.outbound, 'http://drop/first'))).toBe('ok');
    const r = await call(proxy.ports.outbound, 'http://drop/second');
    expect(r.status).toBe(200);
    expect(text(r)).toBe('ok');
    expect(up.requests.map((q) => `${q.path} ${q.conn}`)).toEqual(['/first 0', '/second 0', '/second 1']);
  });

  it('a POST is never retried: 502 WEFT_ERR_UPSTREAM_CONNECT', async () => {
    const before = up.requests.length;
    const r = await call(proxy.ports.outbound, 'http://drop/post', { method: 'POST', body: Buffer.from('x') });
    expect(r.status).toBe(502);
    expect(codeOfResponse(r)).toBe('WEFT_ERR_UPSTREAM_CONNECT');
    expect(up.requests.slice(before).map((q) => q.path)).toEqual(['/post']);
  });
});

describe('a 503 that is retried', () => {
  const closer = new Closer();
  afterAll(() => closer.closeAll());

  it('has its small body read and dropped, so the retry goes out on the same connection', async () => {
    let calls = 0;
    const up = closer.add(
      await startRawUpstream((req) => {
        calls++;
        req.socket.write(calls === 1 ? 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy' : OK);
      }),
    );
    const proxy = closer.add(
      await startProxy({
        config: { version: 'r1', services: [{ name: 'busy', namespace: 'default', endpoints: [{ address: '127.0.0.1', port: up.port }] }] },
      }),
    );
    const r = await call(proxy.ports.outbound, 'http://busy/');
    expect(r.status).toBe(200);
    expect(text(r)).toBe('ok');
    expect(up.requests.map((q) => q.conn)).toEqual([0, 0]);
  });

  it('with a large body, the connection is closed instead, and the retry succeeds on another', async () => {
    let calls = 0;
    const up = closer.add(
      await startRawUpstream((req) => {
        calls++;
        if (calls === 1) {
          req.socket.write(`HTTP/1.1 503 Service Unavailable\r\nContent-Length: ${4 * 1024 * 1024}\r\n\r\n`);
          req.socket.write(Buffer.alloc(1024, 'x'));
        } else {
          req.socket.write(OK);
        }
      }),
    );
    const proxy = closer.add(
      await startProxy({
        config: { version: 'r2', services: [{ name: 'busy', namespace: 'default', endpoints: [{ address: '127.0.0.1', port: up.port }] }] },
      }),
    );
    const r = await call(proxy.ports.outbound, 'http://busy/');
    expect(r.status).toBe(200);
    expect(text(r)).toBe('ok');
    expect(up.requests.map((q) => q.conn)).toEqual([0, 1]);
    await until(() => up.closed === 1, 'the proxy closing the connection of the dropped body');
  });
});

const CLIENT_ID = id('demo', 'client');
const SERVER_ID = id('demo', 'web');

/** Echoes the request body: with Content-Length (/length) or chunked (/chunked), in 64 KiB writes. */
function echo(req: RawRequest): void {
  void (async () => {
    const body = req.body;
    if (req.path === '/chunked') {
      req.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      await writeSlowly(req.socket, body, 64 * 1024, (part) => [Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]);
      req.socket.write('0\r\n\r\n');
    } else {
      req.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      await writeSlowly(req.socket, body);
    }
  })();
}

describe.each(['one plaintext hop', 'two proxies over mTLS'])('large bodies streamed both ways (%s)', (setup) => {
  const closer = new Closer();
  let up: RawUpstream;
  let proxyPort: number;
  let url: (path: string) => string;

  beforeAll(async () => {
    up = closer.add(await startRawUpstream(echo));
    if (setup === 'one plaintext hop') {
      const proxy = closer.add(await startProxy({ config: { version: 'l1' } }));
      proxyPort = proxy.ports.outbound;
      url = (path) => `http://127.0.0.1:${up.port}${path}`;
      return;
    }
    const b = closer.add(
      await startProxy({
        spiffeId: SERVER_ID,
        namespace: 'demo',
        config: {
          version: 'b1',
          trustBundlePem: pki().trustBundlePem,
          inbound: { mode: 'strict', appPorts: [up.port], allowedIdentities: [CLIENT_ID] },
        },
      }),
    );
    const a = closer.add(
      await startProxy({
        spiffeId: CLIENT_ID,
        namespace: 'demo',
        config: {
          version: 'a1',
          trustBundlePem: pki().trustBundlePem,
          services: [
            {
              name: 'web',
              namespace: 'demo',
              endpoints: [{ address: '127.0.0.1', port: up.port, proxyPort: b.ports.inbound, identity: SERVER_ID }],
            },
          ],
        },
      }),
    );
    proxyPort = a.ports.outbound;
    url = (path) => `http://web.demo${path}`;
  });
  afterAll(() => closer.closeAll());

  it('8 MiB up with Content-Length, 8 MiB back with Content-Length, byte for byte', async () => {
    const body = randomBytes(8 * MiB);
    const r = await call(proxyPort, url('/length'), { method: 'POST', body });
    expect(r.status).toBe(200);
    expect(r.complete).toBe(true);
    expect(r.headers['content-length']).toBe(String(body.length));
    expect(r.body.length).toBe(body.length);
    expect(r.body.equals(body)).toBe(true);
    const seen = up.requests.at(-1);
    expect(seen?.header('content-length')).toBe(String(body.length));
    expect(seen?.header('transfer-encoding')).toBeUndefined();
    expect(seen?.body.equals(body)).toBe(true);
  });

  it('8 MiB up chunked, 8 MiB back chunked to a slow reader, byte for byte', async () => {
    const body = randomBytes(8 * MiB + 7);
    const r = await call(proxyPort, url('/chunked'), { method: 'POST', body, chunked: true, slowReader: true });
    expect(r.status).toBe(200);
    expect(r.complete).toBe(true);
    expect(r.body.length).toBe(body.length);
    expect(r.body.equals(body)).toBe(true);
    const seen = up.requests.at(-1);
    // Streamed on, so still chunked (a body complete before forwarding would go with its length).
    expect(seen?.header('transfer-encoding') === 'chunked' || seen?.header('content-length') === String(body.length)).toBe(true);
    expect(seen?.body.equals(body)).toBe(true);
  });

  it('a small chunked request body arrives whole', async () => {
    const body = Buffer.from('small body');
    const r = await call(proxyPort, url('/length'), { method: 'POST', body, chunked: true });
    expect(r.body.equals(body)).toBe(true);
    expect(up.requests.at(-1)?.body.equals(body)).toBe(true);
  });
});
