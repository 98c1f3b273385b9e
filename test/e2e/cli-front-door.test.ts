// The front door (issue "The front door tells the truth", acceptance 2 and 4):
// every subcommand has its own --help; `weft up` on a missing folder, `weft
// stat` with no mesh, and a `weft up` over a running mesh each exit non-zero
// with one line and no stack trace, and leave no process behind.
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

function weft(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'cli', 'main.ts'), ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** As weft(), without blocking this process (which may be serving the other side). */
function weftAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'cli', 'main.ts'), ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Processes whose command line mentions `marker`. */
function processesWith(marker: string): string[] {
  const r = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.includes(marker) && !l.includes('ps -eo'));
}

describe('weft: the front door', () => {
  const home = mkdtempSync(join(tmpdir(), 'weft-home-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it.each(['up', 'stat', 'inject', 'install', 'check'])('weft %s --help prints that command\'s usage', (cmd) => {
    const r = weft([cmd, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith(`usage: weft ${cmd}`)).toBe(true);
    expect(r.stderr).toBe('');
  });

  it('weft up on a missing folder: one line, non-zero, nothing created or started', () => {
    const missing = join(home, 'no-such-folder');
    const r = weft(['up', missing, '--no-stat'], { HOME: home });
    expect(r.status).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^weft up: .*no-such-folder.* not a folder/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(spawnSync('test', ['-e', missing]).status).not.toBe(0);
  });

  it('weft stat with no mesh: one line, non-zero', () => {
    const r = weft(['stat', '--state-dir', join(home, 'nothing')], { HOME: home });
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^weft stat: no local mesh in /);
  });

  it('weft up over a running mesh on the same addresses: one line, non-zero, no process of it left', async () => {
    // A control plane answering where this mesh's would be (address base 127.88: 127.88.255.1:9990).
    const server = http.createServer((_req, res) => res.end('ready\n'));
    await new Promise<void>((r) => server.listen(9990, '127.88.255.1', r));
    try {
      const stateDir = join(home, 'second');
      const r = await weftAsync(['up', '--address-base', '127.88', '--state-dir', stateDir, '--no-stat'], { HOME: home });
      expect(r.status).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^weft up: a mesh is already running on 127\.88/);
      expect(processesWith(stateDir)).toEqual([]);
    } finally {
      server.close();
    }
  });
});
