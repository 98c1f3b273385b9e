// Acceptance of the proxy issue: "The bad HTTP inputs get 400 / 431 / a
// timeout; the app sees none of them; the proxy keeps serving", hop-by-hop
// headers stop at the proxy, x-forwarded-for / forwarded are appended, and a
// WebSocket-style upgrade crosses both proxies (mTLS between them).
// Also "No request lost", acceptance 6: the bad-framing corpus (invalid chunk
// size, in the first segment or after the head, CL+TE, duplicate CL, obs-fold,
// bad characters, an oversized chunk extension, HTTP/1.0 without Host): the
// app sees nothing of any bad request and the client gets 400.
//
// Setup as in proxy-mtls.test.ts: client -> outbound proxy A -> mTLS ->
// inbound proxy B (permissive, so it also takes plaintext) -> app. Bad inputs
// are raw bytes on a `net` socket, sent both to A's outbound listener and to
// B's inbound listener in plaintext.
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '../../proxy/proxy.ts';
import { Closer, id, pki, startApp, startProxy, type TestApp } from '../harness/mesh-fixture.ts';

const CLIENT_ID = id('demo', 'client');
const SERVER_ID = id('demo', 'web');
const MAX_HEADER_BYTES = 4096;
const HEADERS_TIMEOUT_MS = 500;

interface RawResponse {
  /** 0 when the proxy sent nothing before closing. */
  status: number;
  headers: Map<string, string>;
  body: string;
  /** Whether the proxy closed the connection (vs. the wait running out). */
  closed: boolean;
}

function parseHead(text: string): { status: number; headers: Map<string, string>; headEnd: number } | undefined {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) return undefined;
  const lines = text.slice(0, headEnd).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return { status, headers, headEnd: headEnd + 4 };
}

/**
 * Writes `bytes` on a fresh connection (without half-closing it, as a real
 * client would not) and collects what comes back until the proxy closes the
 * connection, or (unless `untilClose`) a complete Content-Length response has
 * arrived, or `waitMs` passes. The socket is destroyed before returning.
 */
async function rawRequest(
  port: number,
  bytes: string | Buffer,
  { waitMs = 5_000, untilClose = false }: { waitMs?: number; untilClose?: boolean } = {},
): Promise<RawResponse> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await once(socket, 'connect');
  let buf = Buffer.alloc(0);
  let closed = false;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    const finish = (): void => {
      clearTimeout(timer);
      resolve();
    };
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const head = parseHead(buf.toString('latin1'));
      const len = head?.headers.get('content-length');
      if (untilClose) return;
      if (head !== undefined && len !== undefined && buf.length - head.headEnd >= Number(len)) finish();
    });
    // A reset after the response is fine: the proxy closes after an error.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.write(bytes);
  });
  socket.destroy();
  const text = buf.toString('latin1');
  const head = parseHead(text);
  if (head === undefined) return { status: 0, headers: new Map(), body: '', closed };
  return { status: head.status, headers: head.headers, body: text.slice(head.headEnd), closed };
}

/** The bytes of one request: absolute-form target on the outbound listener, origin-form on the inbound one. */
type Target = { name: string; port: () => number; requestLine: (method: string, path: string) => string; host: string };

describe('HTTP hygiene at the proxy edges', () => {
  const closer = new Closer();
  let app: TestApp;
  let echo: { port: number; seen: http.IncomingMessage[]; close(): Promise<void> };
  let a: Proxy;
  let b: Proxy;
  const limits = { maxHeaderBytes: MAX_HEADER_BYTES, headersTimeoutMs: HEADERS_TIMEOUT_MS };

  beforeAll(async () => {
    app = closer.add(await startApp('web'));
    echo = closer.add(await startEchoApp());
    b = closer.add(
      await startProxy({
        spiffeId: SERVER_ID,
        namespace: 'demo',
        limits,
        config: {
          version: 'b1',
          trustBundlePem: pki().trustBundlePem,
          // Permissive: plaintext is accepted, so the raw-socket cases reach B's HTTP parser.
          inbound: { mode: 'permissive', appPorts: [app.port, echo.port], allowedIdentities: [CLIENT_ID] },
        },
      }),
    );
    const meshed = (name: string, port: number) => ({
      name,
      namespace: 'demo',
      ports: [{ port: 80, targetPort: port }],
      endpoints: [
        {
          address: '127.0.0.1',
          port,
          proxyPort: b.ports.inbound,
          identity: SERVER_ID,
          pod: `${name}-abc`,
          deployment: name,
          serviceAccount: 'web',
        },
      ],
    });
    a = closer.add(
      await startProxy({
        spiffeId: CLIENT_ID,
        namespace: 'demo',
        limits,
        config: {
          version: 'a1',
          trustBundlePem: pki().trustBundlePem,
          services: [meshed('web', app.port), meshed('echo', echo.port)],
        },
      }),
    );
  });
  afterAll(() => closer.closeAll());

  const targets: Target[] = [
    {
      name: 'outbound',
      port: () => a.ports.outbound,
      requestLine: (method, path) => `${method} http://web.demo${path} HTTP/1.1\r\n`,
      host: 'web.demo',
    },
    {
      name: 'inbound (permissive, plaintext)',
      port: () => b.ports.inbound,
      requestLine: (method, path) => `${method} ${path} HTTP/1.1\r\n`,
      host: 'web',
    },
  ];

  describe.each(targets)('$name listener', (t) => {
    /** Sends a request head + body; asserts the reply and that the app saw nothing. */
    async function expectRejected(head: string, body: string, status: number): Promise<RawResponse> {
      const before = app.seen.length;
      const res = await rawRequest(t.port(), `${head}\r\n${body}`, { untilClose: true });
      expect(res.status).toBe(status);
      expect(res.headers.get('weft-error')).toBe('WEFT_ERR_BAD_REQUEST');
      expect(res.closed).toBe(true);
      expect(app.seen.length).toBe(before);
      return res;
    }

    it('answers a normal request (control: the raw-socket path reaches the app)', async () => {
      const before = app.seen.length;
      const res = await rawRequest(t.port(), `${t.requestLine('GET', '/ok')}Host: ${t.host}\r\n\r\n`);
      expect(res.status).toBe(200);
      expect(res.body).toBe('web\n');
      expect(app.seen.length).toBe(before + 1);
    });

    it('400: Content-Length together with Transfer-Encoding: chunked', async () => {
      await expectRejected(
        `${t.requestLine('POST', '/smuggle')}Host: ${t.host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n`,
        '0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
        400,
      );
    });

    it('400: two differing Content-Length headers', async () => {
      await expectRejected(
        `${t.requestLine('POST', '/cl')}Host: ${t.host}\r\nContent-Length: 5\r\nContent-Length: 6\r\n`,
        'hello!',
        400,
      );
    });

    it('400: two identical Content-Length headers (Node 24 rejects any duplicate)', async () => {
      // Checked: Node 24's parser (llhttp, strict) reports HPE_UNEXPECTED_CONTENT_LENGTH
      // "Duplicate Content-Length" even when both values agree, so this is a 400 too.
      await expectRejected(
        `${t.requestLine('POST', '/cl')}Host: ${t.host}\r\nContent-Length: 5\r\nContent-Length: 5\r\n`,
        'hello',
        400,
      );
    });

    it('400: obs-fold (a header line continued on the next line)', async () => {
      await expectRejected(`${t.requestLine('GET', '/fold')}Host: ${t.host}\r\nX-Folded: one\r\n two\r\n`, '', 400);
    });

    it('400: invalid characters in a header value and in a header name', async () => {
      await expectRejected(`${t.requestLine('GET', '/ctl')}Host: ${t.host}\r\nX-Ctl: a\x01b\r\n`, '', 400);
      await expectRejected(`${t.requestLine('GET', '/nul')}Host: ${t.host}\r\nX-Nul: a\x00b\r\n`, '', 400);
      await expectRejected(`${t.requestLine('GET', '/name')}Host: ${t.host}\r\nX Bad Name: v\r\n`, '', 400);
    });

    it('400: an invalid chunk size (the app sees nothing of the request, not even its head)', async () => {
      await expectRejected(`${t.requestLine('POST', '/chunk')}Host: ${t.host}\r\nTransfer-Encoding: chunked\r\n`, 'zz\r\nhello\r\n0\r\n\r\n', 400);
      await expectRejected(`${t.requestLine('POST', '/chunk')}Host: ${t.host}\r\nTransfer-Encoding: chunked\r\n`, '5 x\r\nhello\r\n0\r\n\r\n', 400);
      await expectRejected(`${t.requestLine('POST', '/chunk')}Host: ${t.host}\r\nTransfer-Encoding: chunked\r\n`, '-5\r\nhello\r\n0\r\n\r\n', 400);
    });

    it('400: an invalid chunk size arriving after the head (held until the body begins well): the app sees nothing', async () => {
      const before = app.seen.length;
      const socket = net.connect(t.port(), '127.0.0.1');
      await once(socket, 'connect');
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
      socket.on('error', () => undefined);
      socket.write(`${t.requestLine('POST', '/late')}Host: ${t.host}\r\nTransfer-Encoding: chunked\r\n\r\n`);
      await new Promise((r) => setTimeout(r, 200));
      expect(app.seen.length).toBe(before);
      socket.write('zz\r\nhello\r\n');
      await once(socket, 'close');
      expect(got).toMatch(/^HTTP\/1\.1 400 /);
      expect(got).toContain('weft-error: WEFT_ERR_BAD_REQUEST');
      expect(app.seen.length).toBe(before);
    });

    it('400: an oversized chunk extension', async () => {
      await expectRejected(
        `${t.requestLine('POST', '/ext')}Host: ${t.host}\r\nTransfer-Encoding: chunked\r\n`,
        `5;${'e'.repeat(20_000)}=1\r\nhello\r\n0\r\n\r\n`,
        400,
      );
    });

    it('400: an HTTP/1.0 request without Host', async () => {
      await expectRejected(`GET /no-host HTTP/1.0\r\n`, '', 400);
    });

    it(`431: a header block larger than maxHeaderBytes (${MAX_HEADER_BYTES})`, async () => {
      const big = Array.from({ length: 8 }, (_, i) => `X-Pad-${i}: ${'a'.repeat(1000)}\r\n`).join('');
      await expectRejected(`${t.requestLine('GET', '/big')}Host: ${t.host}\r\n${big}`, '', 431);
    });

    it('a slowloris client (partial head, then silence) gets 408 and is disconnected', async () => {
      const before = app.seen.length;
      // A generous bound on the wait only: the proxy checks header timeouts at
      // an interval, so the close comes some time after headersTimeoutMs.
      const res = await rawRequest(t.port(), `${t.requestLine('GET', '/slow')}Host: ${t.host}\r\nX-Partial: aa`, {
        waitMs: 10_000,
        untilClose: true,
      });
      expect(res.closed).toBe(true);
      expect(res.status).toBe(408);
      expect(res.headers.get('weft-error')).toBe('WEFT_ERR_BAD_REQUEST');
      expect(app.seen.length).toBe(before);
    });

    it('keeps serving after all of the above', async () => {
      const before = app.seen.length;
      const res = await rawRequest(t.port(), `${t.requestLine('GET', '/after')}Host: ${t.host}\r\n\r\n`);
      expect(res.status).toBe(200);
      expect(res.body).toBe('web\n');
      expect(app.seen.length).toBe(before + 1);
      expect(app.seen.at(-1)?.url).toBe('/after');
    });

    it('does not forward hop-by-hop headers (RFC 9110 7.6.1 and those named in Connection)', async () => {
      const before = app.seen.length;
      const res = await rawRequest(
        t.port(),
        `${t.requestLine('GET', '/hop')}Host: ${t.host}\r\n` +
          'Connection: x-secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n' +
          'Proxy-Authorization: Basic dXNlcjpwYXNz\r\nTE: trailers\r\nX-Kept: yes\r\n\r\n',
      );
      expect(res.status).toBe(200);
      expect(app.seen.length).toBe(before + 1);
      const got = app.seen.at(-1)?.headers ?? {};
      expect(got['x-kept']).toBe('yes');
      expect(got['x-secret']).toBeUndefined();
      expect(got['keep-alive']).toBeUndefined();
      expect(got['proxy-authorization']).toBeUndefined();
      expect(got.te).toBeUndefined();
      expect(got.connection ?? '').not.toMatch(/x-secret/i);
    });

    it('appends this hop to x-forwarded-for and forwarded', async () => {
      const before = app.seen.length;
      const res = await rawRequest(
        t.port(),
        `${t.requestLine('GET', '/xff')}Host: ${t.host}\r\nX-Forwarded-For: 1.2.3.4\r\nForwarded: for=1.2.3.4;proto=http\r\n\r\n`,
      );
      expect(res.status).toBe(200);
      expect(app.seen.length).toBe(before + 1);
      const got = app.seen.at(-1)?.headers ?? {};
      if (t.name === 'outbound') {
        // Two hops: A (plaintext from the client) then B (mTLS from A).
        expect(got['x-forwarded-for']).toBe('1.2.3.4, 127.0.0.1, 127.0.0.1');
        expect(got.forwarded).toBe('for=1.2.3.4;proto=http, for=127.0.0.1;proto=http, for=127.0.0.1;proto=https');
      } else {
        expect(got['x-forwarded-for']).toBe('1.2.3.4, 127.0.0.1');
        expect(got.forwarded).toBe('for=1.2.3.4;proto=http, for=127.0.0.1;proto=http');
      }
    });
  });

  it('passes a WebSocket-style upgrade through A, mTLS and B to the app, and echoes bytes both ways', async () => {
    const before = echo.seen.length;
    const socket = net.connect(a.ports.outbound, '127.0.0.1');
    await once(socket, 'connect');
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    const waitFor = (pred: (text: string) => boolean, what: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(buf.toString('latin1'))}`)), 5_000);
        const check = (): void => {
          if (pred(buf.toString('latin1'))) {
            clearTimeout(timer);
            socket.off('data', onData);
            resolve();
          }
        };
        const onData = (chunk: Buffer): void => {
          buf = Buffer.concat([buf, chunk]);
          check();
        };
        socket.on('data', onData);
        check();
      });
    try {
      socket.write(
        'GET http://echo.demo/chat HTTP/1.1\r\nHost: echo.demo\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      await waitFor((s) => s.includes('\r\n\r\n'), 'the 101 head');
      const head = parseHead(buf.toString('latin1'));
      expect(head?.status).toBe(101);
      expect(head?.headers.get('upgrade')?.toLowerCase()).toBe('websocket');
      expect(head?.headers.get('connection')?.toLowerCase()).toBe('upgrade');
      buf = buf.subarray(head?.headEnd ?? 0);

      // The app saw the upgrade request, through both proxies.
      expect(echo.seen.length).toBe(before + 1);
      const got = echo.seen.at(-1);
      expect(got?.url).toBe('/chat');
      expect(got?.headers.upgrade).toBe('websocket');
      expect(got?.headers['weft-client-id']).toBe(CLIENT_ID);

      socket.write('ping-1');
      await waitFor((s) => s === 'echo:ping-1', 'the first echo');
      buf = Buffer.alloc(0);
      const large = 'x'.repeat(256 * 1024);
      socket.write(large);
      await waitFor((s) => s.length >= large.length, 'the large echo');
      expect(buf.toString('latin1')).toBe(large);
    } finally {
      socket.destroy();
    }
  });
});

/**
 * A test app that answers 101 to an Upgrade: websocket request and then echoes
 * every chunk back; the first chunk prefixed with "echo:" so an echo is told
 * apart from a reflection of the request by a proxy.
 */
async function startEchoApp(): Promise<{ port: number; seen: http.IncomingMessage[]; close(): Promise<void> }> {
  const seen: http.IncomingMessage[] = [];
  const sockets = new Set<import('node:stream').Duplex>();
  const server = http.createServer((req, res) => {
    seen.push(req);
    res.writeHead(426, { 'content-length': 0 });
    res.end();
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
    seen.push(req);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    let first = true;
    const onData = (chunk: Buffer): void => {
      socket.write(first ? Buffer.concat([Buffer.from('echo:'), chunk]) : chunk);
      first = false;
    };
    if (head.length > 0) onData(head);
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address() as net.AddressInfo;
  return {
    port: addr.port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
