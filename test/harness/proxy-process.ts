// The real proxy process (proxy/main.ts on this Node) from a config file, port
// 0 everywhere, quiet; its ports read from its first stdout line. For tests
// that need the proxy apart from the test process (its memory, its signals).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { pki } from './mesh-fixture.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface ProxyProcess {
  readonly child: ChildProcess;
  readonly ports: { outbound: number; inbound: number; admin: number };
  /** Resident memory now, bytes (Linux /proc). */
  rss(): number;
  close(): Promise<void>;
}

export async function startProxyProcess(config: object, extraArgs: string[] = []): Promise<ProxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-proxy-'));
  const configPath = join(dir, 'mesh.yaml');
  writeFileSync(configPath, stringify({ version: 'v1', trustBundlePem: pki().trustBundlePem, ...config }));
  const child = spawn(
    process.execPath,
    ['proxy/main.ts', '--config', configPath, '--outbound-addr', '127.0.0.1:0', '--inbound-addr', '127.0.0.1:0', '--admin-addr', '127.0.0.1:0', '--log-level', 'off', '--shutdown-grace-ms', '0', ...extraArgs],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  let closing = false;
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => (err += c));
  // A proxy that dies under a test says why, in the test's output.
  child.once('exit', (code, signal) => {
    if (!closing) process.stderr.write(`proxy process exited unexpectedly (${code ?? signal}):\n${err.slice(-4000)}\n`);
  });
  const first = await new Promise<string>((resolveLine, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (c: string) => {
      out += c;
      const nl = out.indexOf('\n');
      if (nl !== -1) resolveLine(out.slice(0, nl));
    });
    child.once('exit', (code, signal) => reject(new Error(`proxy exited early (${code ?? signal}): ${err}`)));
    setTimeout(() => reject(new Error('the proxy printed no ports within 20 s')), 20_000).unref();
  });
  const ports = (JSON.parse(first) as { listening: ProxyProcess['ports'] }).listening;
  return {
    child,
    ports,
    rss: () => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return Number(m?.[1] ?? 0) * 1024;
    },
    close: async () => {
      closing = true;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
