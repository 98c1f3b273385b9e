// `weft up` as a user runs it (the command behind `npm start`): it prints the
// pods, then a live stat table with the demo's split over mTLS; Ctrl-C stops
// every process it started. The mesh's own problems reach the terminal: a
// split edited to all-zero or an invalid weight, and a manifest of an unknown
// kind, each print one line naming it within 2 s, while the mesh keeps
// serving the last good state.
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

  it('prints split conditions and refused manifests as they happen (one line each, within 2 s)', async () => {
    const dir2 = mkdtempSync(join(tmpdir(), 'weft-cli-status-'));
    try {
      cpSync(DEMO_DIR, dir2, { recursive: true, filter: (s) => !s.includes('.weft') });
      const base = `127.${20 + Math.floor(Math.random() * 70)}`;
      const child = spawn(process.execPath, [join(REPO_ROOT, 'cli', 'main.ts'), 'up', dir2, '--address-base', base, '--no-stat'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (c: string) => (out += c));
      child.stderr.on('data', () => undefined);
      const waitFor = (re: RegExp, ms: number, what: string): Promise<number> => {
        const t0 = Date.now();
        return new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms:\n${out}`)), ms);
          const check = setInterval(() => {
            if (re.test(out)) {
              clearInterval(check);
              clearTimeout(timer);
              resolve(Date.now() - t0);
            }
          }, 50);
        });
      };
      try {
        await waitFor(/all pods ready/, 60_000, 'the mesh');
        const split = (w1: string, w2: string) =>
          `apiVersion: split.smi-spec.io/v1alpha4\nkind: TrafficSplit\nmetadata: { name: web, namespace: demo }\nspec:\n  service: web\n  backends:\n    - { service: web-v1, weight: ${w1} }\n    - { service: web-v2, weight: ${w2} }\n`;
        writeFileSync(join(dir2, 'split.yaml'), split('0', '0'));
        await waitFor(/^weft up: TrafficSplit demo\/web: AllWeightsZero: .+$/m, 2_000, 'all-zero split');
        writeFileSync(join(dir2, 'split.yaml'), split('-5', '10'));
        await waitFor(/^weft up: (TrafficSplit demo\/web: InvalidWeight: .+|manifest refused \(WEFT_ERR_MANIFEST_INVALID\): .*split\.yaml.*)$/m, 2_000, 'invalid weight');
        writeFileSync(join(dir2, 'extra.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm, namespace: demo }\n');
        await waitFor(/^weft up: manifest refused \(WEFT_ERR_MANIFEST_INVALID\): .*extra\.yaml.*$/m, 2_000, 'unknown kind');
        // The mesh keeps serving the last good state: the client's proxy still reaches web.
        const clientIp = /demo\/client-1\s+(127\.\d+\.\d+\.\d+)/.exec(out)?.[1];
        expect(clientIp).toBeDefined();
        const status = await new Promise<number>((resolve, reject) => {
          http
            .get({ host: clientIp, port: 4140, path: 'http://web.demo/', headers: { host: 'web.demo' }, agent: false }, (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            })
            .on('error', reject);
        });
        expect(status).toBe(200);
      } finally {
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGINT');
        expect(await exited).toBe(0);
      }
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  }, 90_000);

  it('an app whose command does not exist: one line naming the workload, at once, and nothing left running', async () => {
    const dir3 = mkdtempSync(join(tmpdir(), 'weft-cli-broken-'));
    try {
      writeFileSync(
        join(dir3, 'broken.yaml'),
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: broken, namespace: demo }\nspec:\n  replicas: 1\n  selector: { matchLabels: { app: broken } }\n  template:\n    metadata: { labels: { app: broken } }\n    spec:\n      containers:\n        - name: app\n          command: [no-such-command-weft]\n          ports: [{ name: http, containerPort: 8080 }]\n',
      );
      const base = `127.${20 + Math.floor(Math.random() * 70)}`;
      const t0 = Date.now();
      const child = spawn(process.execPath, [join(REPO_ROOT, 'cli', 'main.ts'), 'up', dir3, '--address-base', base, '--no-stat'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (c: string) => (err += c));
      child.stdout.on('data', () => undefined);
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(code).toBe(1);
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(err.trim().split('\n')).toEqual([expect.stringMatching(/^weft up: demo\/broken: cannot run its command "no-such-command-weft": not found/)]);
      // Its proxy and control plane are gone too.
      const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
      expect(ps.split('\n').filter((l) => l.includes(dir3))).toEqual([]);
    } finally {
      rmSync(dir3, { recursive: true, force: true });
    }
  }, 60_000);

  it('Ctrl-C while it is still starting stops everything it started', async () => {
    const dir4 = mkdtempSync(join(tmpdir(), 'weft-cli-int-'));
    try {
      cpSync(DEMO_DIR, dir4, { recursive: true, filter: (s) => !s.includes('.weft') });
      const base = `127.${20 + Math.floor(Math.random() * 70)}`;
      const child = spawn(process.execPath, [join(REPO_ROOT, 'cli', 'main.ts'), 'up', dir4, '--address-base', base, '--no-stat'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (c: string) => (err += c));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      while (!out.includes('starting the mesh')) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGINT');
      const code = await exited;
      // Interrupted during the start (one line, exit 1), or just after it (a normal stop, exit 0).
      if (code !== 0) expect(err.trim().split('\n')).toEqual(['weft up: interrupted while starting; everything it started is stopped']);
      const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
      expect(ps.split('\n').filter((l) => l.includes(dir4))).toEqual([]);
    } finally {
      rmSync(dir4, { recursive: true, force: true });
    }
  }, 60_000);
});
