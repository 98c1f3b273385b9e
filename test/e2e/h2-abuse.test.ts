// HTTP/2 abuse against the real proxy process (the HTTP/2 issue, acceptance
// 6): rapid reset (CVE-2023-44487), CONTINUATION floods, a header list over
// the limit, more concurrent streams than advertised, a content-length its
// DATA frames disagree with, connection-specific headers. Each time the
// attacker's connection (or stream) is refused, nothing malformed reaches
// the app whole, a well-behaved client on its own connection sees no failed
// request meanwhile, the failure is counted, and the proxy's memory stays
// bounded.
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, scrape } from '../harness/mesh-fixture.ts';
import { startH2App, type H2App } from '../harness/h2-app.ts';
import { startProxyProcess, type ProxyProcess } from '../harness/proxy-process.ts';
import { FLAG, FRAME, PREFACE, RawH2, frame, headerBlock, requestFields } from '../harness/h2-raw.ts';

const AUTHORITY = 'web:80';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Requests from a well-behaved client, 4 at a time, until stopped. */
function goodTraffic(port: number): { stop(): Promise<{ ok: number; failed: string[] }> } {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  let running = true;
  let ok = 0;
  const failed: string[] = [];
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = session.request({ ':path': '/good', ':authority': AUTHORITY });
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('error', (e: Error) => failed.push(e.message));
      req.resume();
      req.on('close', () => {
        if (status === 200) ok++;
        else failed.push(`status ${status} rst ${req.rstCode}`);
        resolve();
      });
    });
  const worker = async (): Promise<void> => {
    while (running) {
      // A dead session fails every request at once: record it and stop, never spin.
      if (session.closed || session.destroyed) {
        failed.push('the good client\'s connection was closed');
        return;
      }
      await one().catch((err: unknown) => failed.push(String(err)));
      // Yield to timers and I/O between requests.
      await new Promise((r) => setImmediate(r));
    }
  };
  const workers = Promise.all([worker(), worker(), worker(), worker()]);
  return {
    async stop() {
      running = false;
      await workers;
      session.close();
      return { ok, failed };
    },
  };
}

/**
 * A raw HTTP/2 upstream that answers every request with `:status` 999 (which
 * nghttp2 passes on and no Node server can send): what a broken upstream does.
 */
async function startBadStatusUpstream(): Promise<{ port: number; close(): void }> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    let prefaced = false;
    s.write(frame(FRAME.SETTINGS, 0, 0));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!prefaced) {
        if (buf.length < PREFACE.length) return;
        buf = buf.subarray(PREFACE.length);
        prefaced = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) return;
        const type = buf[3];
        const flags = buf[4] ?? 0;
        const id = buf.readUInt32BE(5) & 0x7fffffff;
        buf = buf.subarray(9 + len);
        if (type === FRAME.SETTINGS && (flags & FLAG.ACK) === 0) s.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
        if (type === FRAME.HEADERS) s.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, headerBlock([[':status', '999']])));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

describe('HTTP/2 abuse against the proxy', () => {
  let app: H2App;
  let bad: { port: number; close(): void };
  let proxy: ProxyProcess;

  beforeAll(async () => {
    app = await startH2App('web');
    bad = await startBadStatusUpstream();
    proxy = await startProxyProcess({
      services: [
        { name: 'web', namespace: 'default', ports: [{ port: 80, targetPort: app.port }], endpoints: [{ address: '127.0.0.1', port: app.port }] },
        { name: 'bad', namespace: 'default', ports: [{ port: 80, targetPort: bad.port }], endpoints: [{ address: '127.0.0.1', port: bad.port }] },
      ],
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await app?.close();
    bad?.close();
  });

  it('an upstream answering with an invalid :status: the caller gets 502 WEFT_ERR_UPSTREAM_PROTOCOL, nothing is left hanging', async () => {
    const session = http2.connect(`http://127.0.0.1:${proxy.ports.outbound}`);
    try {
      for (let i = 0; i < 3; i++) {
        const req = session.request({ ':path': '/x', ':authority': 'bad:80' });
        req.resume();
        const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => req.once('response', resolve));
        expect(headers[':status']).toBe(502);
        expect(headers['weft-error']).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
        await new Promise((r) => req.once('close', r));
      }
    } finally {
      session.close();
    }
  });

  it('rapid reset: each attacking connection gets GOAWAY and is closed, 10 in a row; a good client sees no failure; memory stays bounded', async () => {
    const good = goodTraffic(proxy.ports.outbound);
    await sleep(200);
    const before = await scrape(proxy.ports.admin);
    const rss0 = proxy.rss();
    for (let round = 0; round < 10; round++) {
      const c = new RawH2(proxy.ports.outbound);
      await sleep(20);
      let id = 1;
      // HEADERS then RST_STREAM(CANCEL) at once, in batches, until the proxy hangs up (at most 100,000 streams).
      while (!c.closed && id < 200_000) {
        const batch: Buffer[] = [];
        for (let i = 0; i < 100; i++, id += 2) {
          batch.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, headerBlock(requestFields(AUTHORITY, '/attack'))));
          batch.push(frame(FRAME.RST_STREAM, 0, id, Buffer.from([0, 0, 0, http2.constants.NGHTTP2_CANCEL])));
        }
        c.write(Buffer.concat(batch));
        await sleep(1);
      }
      // Closed (nghttp2 sends GOAWAY first, but the attacker may not read it before the reset).
      expect(await c.waitClosed(5_000), `round ${round}: the attacker's connection is closed`).toBe(true);
      expect(id, `round ${round}: cut off before 100,000 streams`).toBeLessThan(200_000);
      c.close();
    }
    const { ok, failed } = await good.stop();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    const growth = proxy.rss() - rss0;
    expect(growth, `RSS grew ${growth >> 20} MiB`).toBeLessThan(100 * 1024 * 1024);
    const after = await scrape(proxy.ports.admin);
    expect(metricValue(after, 'http2_session_errors_total', { direction: 'outbound' }) - metricValue(before, 'http2_session_errors_total', { direction: 'outbound' })).toBeGreaterThanOrEqual(10);
  });

  it('CONTINUATION flood: a header block that never ends closes the connection', async () => {
    const good = goodTraffic(proxy.ports.outbound);
    const c = new RawH2(proxy.ports.outbound);
    await sleep(50);
    c.write(frame(FRAME.HEADERS, 0, 1, headerBlock(requestFields(AUTHORITY, '/flood'))));
    let n = 0;
    while (!c.closed && n < 100_000) {
      c.write(frame(FRAME.CONTINUATION, 0, 1, headerBlock([[`x-h${n}`, 'a'.repeat(100)]])));
      if (++n % 100 === 0) await sleep(1);
    }
    expect(await c.waitClosed(5_000)).toBe(true);
    expect(n).toBeLessThan(100_000);
    const { ok, failed } = await good.stop();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    expect(app.versions.length).toBeGreaterThan(0);
    expect(app.completed).not.toContain('/flood');
  });

  it('a header list over the 64 KiB limit closes the connection; the request never reaches the app', async () => {
    const c = new RawH2(proxy.ports.outbound);
    await sleep(50);
    const block = headerBlock(requestFields(AUTHORITY, '/big', 'GET', [['x-big', 'a'.repeat(100_000)]]));
    const chunks: Buffer[] = [];
    for (let i = 0; i < block.length; i += 16_000) chunks.push(block.subarray(i, i + 16_000));
    chunks.forEach((chunk, i) =>
      c.write(frame(i === 0 ? FRAME.HEADERS : FRAME.CONTINUATION, (i === 0 ? FLAG.END_STREAM : 0) | (i === chunks.length - 1 ? FLAG.END_HEADERS : 0), 1, chunk)),
    );
    expect(await c.waitClosed(5_000)).toBe(true);
    expect(c.answered(1)).toBe(false);
    expect(app.completed).not.toContain('/big');
  });

  it('more concurrent streams than the advertised 512: the connection is closed, others are served', async () => {
    const good = goodTraffic(proxy.ports.outbound);
    const c = new RawH2(proxy.ports.outbound);
    await sleep(100);
    // SETTINGS_MAX_CONCURRENT_STREAMS (0x3) = 512 in the proxy's SETTINGS.
    const settings = c.frames.find((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0);
    const advertised = new Map<number, number>();
    for (let i = 0; settings !== undefined && i + 6 <= settings.payload.length; i += 6) advertised.set(settings.payload.readUInt16BE(i), settings.payload.readUInt32BE(i + 2));
    expect(advertised.get(0x3)).toBe(512);
    expect(advertised.get(0x6)).toBe(64 * 1024);
    const batch: Buffer[] = [];
    // Requests whose bodies never come: each stream stays open.
    for (let i = 0; i < 800; i++) batch.push(frame(FRAME.HEADERS, FLAG.END_HEADERS, 1 + 2 * i, headerBlock(requestFields(AUTHORITY, '/hold', 'POST'))));
    c.write(Buffer.concat(batch));
    expect(await c.waitClosed(5_000)).toBe(true);
    const { ok, failed } = await good.stop();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(0);
  });

  it('a content-length that the DATA frames disagree with (more or less): refused, never forwarded whole', async () => {
    for (const [declared, sent] of [
      [10, 20],
      [30, 20],
    ] as const) {
      const c = new RawH2(proxy.ports.outbound);
      await sleep(50);
      const path = `/cl-${declared}-${sent}`;
      c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, headerBlock(requestFields(AUTHORITY, path, 'POST', [['content-length', String(declared)]]))));
      c.write(frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.alloc(sent, 1)));
      await sleep(300);
      // A stream reset (PROTOCOL_ERROR) or the connection closed: either way no answer and nothing whole upstream.
      expect(c.resets().has(1) || c.goaway !== undefined || c.closed).toBe(true);
      expect(c.answered(1)).toBe(false);
      expect(app.completed).not.toContain(path);
      c.close();
    }
  });

  it('connection-specific headers (connection, transfer-encoding) in an HTTP/2 request: the stream is reset, never forwarded; the connection serves on', async () => {
    const c = new RawH2(proxy.ports.outbound);
    await sleep(50);
    c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, headerBlock(requestFields(AUTHORITY, '/conn-1', 'GET', [['connection', 'keep-alive']]))));
    c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 3, headerBlock(requestFields(AUTHORITY, '/conn-2', 'GET', [['transfer-encoding', 'chunked']]))));
    c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 5, headerBlock(requestFields(AUTHORITY, '/conn-ok'))));
    // http2-settings (the h2c Upgrade's header) passes nghttp2; it is dropped, never forwarded (nor a failure).
    c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 7, headerBlock(requestFields(AUTHORITY, '/conn-settings', 'GET', [['http2-settings', 'AAMAAABkAAQAAP__']]))));
    await sleep(500);
    expect(c.resets().get(1)).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    expect(c.resets().get(3)).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    expect(c.answered(5)).toBe(true);
    expect(app.versions.length).toBeGreaterThan(0);
    expect(app.completed).toContain('/conn-ok');
    expect(c.answered(7)).toBe(true);
    expect(app.completed).toContain('/conn-settings');
    expect(app.completed).not.toContain('/conn-1');
    expect(app.completed).not.toContain('/conn-2');
    c.close();
  });
});
