// Acceptance of the proxy issue: "SIGTERM during a slow request: that request
// completes, new connections are refused, the process exits 0", and the admin
// /shutdown endpoint (off unless --enable-shutdown; POST only).
//
// Runs the real proxy process (proxy/main.ts on this Node, port 0 everywhere)
// with a static config file naming one plaintext service, `slow`.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Closer, id, pki, startApp, viaProxy, type TestApp } from '../harness/mesh-fixture.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const SLOW_MS = 1_500;
// The body arrives in two parts, the second a while after the first, so a
// proxy that cut connections as soon as response headers were relayed would
// deliver a truncated body.
const PART1 = 'a'.repeat(32 * 1024);
const PART2 = 'b'.repeat(32 * 1024);

interface Running {
  child: ChildProcess;
  ports: { outbound: number; inbound: number; admin: number };
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves `p`, or rejects after `ms` naming `what`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A TCP connect attempt: 'connected' or the error code. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
  });
}

async function adminRequest(port: number, method: string, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: res.status, body: await res.text() };
}

describe('proxy process shutdown', () => {
  const closer = new Closer();
  let dir: string | undefined;
  const children: ChildProcess[] = [];

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
    await closer.closeAll();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function startSlowApp(): Promise<TestApp> {
    return closer.add(
      await startApp('slow', (req, res) => {
        req.resume();
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': PART1.length + PART2.length });
          res.write(PART1);
          setTimeout(() => res.end(PART2), 300);
        }, SLOW_MS);
      }),
    );
  }

  async function startProxyProcess(app: TestApp, extraArgs: string[] = []): Promise<Running> {
    dir = mkdtempSync(join(tmpdir(), 'weft-shutdown-'));
    const configPath = join(dir, 'proxy.yaml');
    writeFileSync(
      configPath,
      stringify({
        version: 'v1',
        services: [
          {
            name: 'slow',
            namespace: 'default',
            ports: [{ port: 80, targetPort: app.port }],
            // No identity: a plaintext (unmeshed) endpoint.
            endpoints: [{ address: '127.0.0.1', port: app.port }],
          },
        ],
        defaults: { timeoutMs: 30_000 },
        trustBundlePem: pki().trustBundlePem,
      }),
    );
    const leaf = pki().issueLeaf({ spiffeId: id('default', 'client') });
    writeFileSync(join(dir, 'cert.pem'), leaf.chainPem.join(''));
    writeFileSync(join(dir, 'key.pem'), leaf.keyPem);
    const child = spawn(
      process.execPath,
      [
        'proxy/main.ts',
        '--config',
        configPath,
        '--outbound-addr',
        '127.0.0.1:0',
        '--inbound-addr',
        '127.0.0.1:0',
        '--admin-addr',
        '127.0.0.1:0',
        '--log-level',
        'off',
        '--cert',
        join(dir, 'cert.pem'),
        '--key',
        join(dir, 'key.pem'),
        // No grace unless a test asks for one (the process default is 5 s).
        '--shutdown-grace-ms',
        '0',
        ...extraArgs,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    let err = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (c: string) => (err += c));
    let out = '';
    child.stdout?.setEncoding('utf8');
    const line = new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (c: string) => {
        out += c;
        const nl = out.indexOf('\n');
        if (nl !== -1) resolve(out.slice(0, nl));
      });
      void exit.then(({ code, signal }) => reject(new Error(`proxy exited early (${code ?? signal}): ${err}`)));
    });
    const first = await within(line, 20_000, 'the proxy printing its ports');
    const parsed = JSON.parse(first) as { listening: Running['ports'] };
    expect(parsed.listening.outbound).toBeGreaterThan(0);
    expect(parsed.listening.admin).toBeGreaterThan(0);
    return { child, ports: parsed.listening, exit, stderr: () => err };
  }

  it('SIGTERM during a slow request: not ready at once, still accepting for the grace, then new connections are refused; the request completes, exit code 0', async () => {
    const app = await startSlowApp();
    const GRACE_MS = 600;
    const p = await startProxyProcess(app, ['--shutdown-grace-ms', String(GRACE_MS)]);
    expect((await adminRequest(p.ports.admin, 'GET', '/ready')).status).toBe(200);

    const pending = viaProxy(p.ports.outbound, 'http://slow/work');
    // Wait until the app holds the request (so it is truly in flight).
    const t0 = Date.now();
    while (app.seen.length === 0) {
      if (Date.now() - t0 > 5_000) throw new Error('the request never reached the app');
      await sleep(10);
    }
    const killedAt = Date.now();
    p.child.kill('SIGTERM');

    // /ready turns 503 at once, while new connections are still taken (callers' configs have not dropped it yet).
    let ready = 200;
    while (ready === 200 && Date.now() - killedAt < 2_000) {
      ready = (await adminRequest(p.ports.admin, 'GET', '/ready')).status;
      if (ready === 200) await sleep(10);
    }
    expect(ready).toBe(503);
    expect(Date.now() - killedAt).toBeLessThan(GRACE_MS);
    expect(await tryConnect(p.ports.outbound)).toBe('connected');

    // New connections are refused shortly after, while the slow request is still running.
    let result = '';
    const t1 = Date.now();
    while (Date.now() - t1 < 3_000) {
      result = await tryConnect(p.ports.outbound);
      if (result === 'ECONNREFUSED') break;
      await sleep(20);
    }
    expect(result).toBe('ECONNREFUSED');
    expect(p.child.exitCode).toBeNull();

    const res = await within(pending, 10_000, 'the slow request');
    expect(res.status).toBe(200);
    expect(res.headers['weft-error']).toBeUndefined();
    expect(res.body.length).toBe(PART1.length + PART2.length);
    expect(res.body).toBe(PART1 + PART2);

    const exit = await within(p.exit, 10_000, 'the proxy exiting');
    expect(exit, p.stderr()).toEqual({ code: 0, signal: null });
    expect(app.seen.length).toBe(1);
  });

  it('admin /shutdown is 404 unless enabled, and the proxy keeps running', async () => {
    const app = await startSlowApp();
    const p = await startProxyProcess(app);
    expect((await adminRequest(p.ports.admin, 'POST', '/shutdown')).status).toBe(404);
    expect((await adminRequest(p.ports.admin, 'GET', '/shutdown')).status).toBe(404);
    await sleep(200);
    expect(p.child.exitCode).toBeNull();
    expect((await adminRequest(p.ports.admin, 'GET', '/live')).status).toBe(200);
    expect(await tryConnect(p.ports.outbound)).toBe('connected');

    p.child.kill('SIGTERM');
    const exit = await within(p.exit, 10_000, 'the proxy exiting');
    expect(exit, p.stderr()).toEqual({ code: 0, signal: null });
  });

  it('with --enable-shutdown: GET /shutdown is 405, POST /shutdown is 202 and the process exits 0', async () => {
    const app = await startSlowApp();
    const p = await startProxyProcess(app, ['--enable-shutdown']);
    expect((await adminRequest(p.ports.admin, 'GET', '/shutdown')).status).toBe(405);
    await sleep(200);
    expect(p.child.exitCode).toBeNull();

    const res = await adminRequest(p.ports.admin, 'POST', '/shutdown');
    expect(res.status).toBe(202);
    const exit = await within(p.exit, 10_000, 'the proxy exiting');
    expect(exit, p.stderr()).toEqual({ code: 0, signal: null });
    expect(await tryConnect(p.ports.outbound)).toBe('ECONNREFUSED');
  });
});
