// The proxy process does not load the part of Node it never uses but an ESM
// import of node:http would drag in (proto/README.md, Memory): Node's bundled
// undici, behind node:http's WebSocket getters (~14 MB). A real proxy process
// serves a request and a scrape, then reports the internal modules it loaded.
// (WebCrypto is loaded anyway: node-forge reads globalThis.crypto at import.)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Preloaded with --import: on SIGUSR2, prints the internal modules loaded so far.
const REPORTER = `data:text/javascript,${encodeURIComponent(
  "process.on('SIGUSR2', () => process.stdout.write(JSON.stringify({ loaded: process.moduleLoadList }) + '\\n'));",
)}`;

function get(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

describe('the proxy process and Node builtins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-builtins-'));
  let child: ChildProcess | undefined;
  let app: http.Server | undefined;

  afterAll(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves traffic without loading Node's bundled undici", async () => {
    app = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => app?.listen(0, '127.0.0.1', resolve));
    const appPort = (app.address() as { port: number }).port;
    const config = join(dir, 'proxy.json');
    writeFileSync(
      config,
      JSON.stringify({
        version: 'builtins',
        services: [{ name: 'app', namespace: 'default', ports: [{ port: 80, targetPort: appPort }], endpoints: [{ address: '127.0.0.1', port: appPort }] }],
      }),
    );
    child = spawn(
      process.execPath,
      ['--import', REPORTER, 'proxy/main.ts', '--config', config, '--outbound-addr', '127.0.0.1:0', '--inbound-addr', '127.0.0.1:0', '--admin-addr', '127.0.0.1:0', '--log-level', 'off'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: string[] = [];
    let buf = '';
    const waiters: Array<() => void> = [];
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (c: string) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        for (const w of waiters.splice(0)) w();
      }
    });
    const nextLine = async (n: number): Promise<string> => {
      while (lines.length < n) {
        await new Promise<void>((resolve, reject) => {
          waiters.push(resolve);
          child?.once('exit', (code) => reject(new Error(`proxy exited ${code}`)));
        });
      }
      return lines[n - 1] ?? '';
    };
    const { listening } = JSON.parse(await nextLine(1)) as { listening: { outbound: number; admin: number } };
    expect(await get(listening.outbound, '/', 'app.default')).toBe(200);
    expect(await get(listening.admin, '/metrics', 'localhost')).toBe(200);
    child.kill('SIGUSR2');
    const { loaded } = JSON.parse(await nextLine(2)) as { loaded: string[] };
    // The report is real: the proxy's own HTTP server is in it.
    expect(loaded).toContain('NativeModule _http_server');
    expect(loaded.filter((m) => m.includes('deps/undici'))).toEqual([]);
  });
});
