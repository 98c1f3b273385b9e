// `weft up` as a user runs it (the command behind `npm start`): it prints the
// pods, then a live stat table with the demo's split over mTLS; Ctrl-C stops
// every process it started.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_DIR, REPO_ROOT } from '../../cli/up.ts';

describe('weft up (CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shows the stat table with the split over mTLS, and Ctrl-C stops everything', async () => {
    cpSync(DEMO_DIR, dir, { recursive: true, filter: (s) => !s.includes('.weft') });
    const base = `127.${20 + Math.floor(Math.random() * 70)}`;
    const child = spawn(process.execPath, [join(REPO_ROOT, 'cli', 'main.ts'), 'up', dir, '--address-base', base], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c: string) => (out += c));
    child.stderr.on('data', () => undefined);
    const started = Date.now();
    // A table whose rows both carry traffic over mTLS.
    const tableRow = (name: string) => new RegExp(`^${name}\\s+\\d+\\.\\d\\s+[\\d.]+%\\s+100\\.0%\\s+\\S+\\s+\\S+\\s+100\\.0%$`, 'm');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no stat table after 60 s:\n${out}`)), 60_000);
      const check = setInterval(() => {
        if (tableRow('web-v1').test(out) && tableRow('web-v2').test(out)) {
          clearInterval(check);
          clearTimeout(timer);
          resolve();
        }
      }, 100);
    });
    console.log(`weft up: stat table with traffic after ${Date.now() - started} ms`);
    expect(out).toMatch(/demo\/client-1\s+127\.\d+\.1\.1/);
    expect(out).toMatch(/BACKEND\s+RPS\s+SHARE\s+SUCCESS\s+P50\s+P99\s+MTLS/);

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    // Every proxy it started is gone: their admin ports no longer answer.
    const ips = [...out.matchAll(/demo\/\S+\s+(127\.\d+\.\d+\.\d+)/g)].map((m) => m[1]);
    expect(ips.length).toBe(4);
    for (const ip of ips) {
      await expect(fetch(`http://${ip}:4191/live`, { signal: AbortSignal.timeout(1_000) })).rejects.toThrow();
    }
  }, 90_000);
});
