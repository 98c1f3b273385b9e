// No request lost, acceptance 5: SIGTERM of a server proxy (the real process,
// proxy/main.ts) under load, while the control plane removes its endpoint
// from the client's config a moment later (here: the client proxy's config
// is replaced 300 ms after the SIGTERM, as a config stream would). The
// server proxy turns /ready 503 at once, keeps accepting for its grace, then
// drains; the client sees zero failed requests.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProxyConfig } from '../../proto/mesh.ts';
import { Closer, id, pki, startApp, startProxy, viaProxy } from '../harness/mesh-fixture.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLIENT_ID = id('demo', 'client');
const SERVER_ID = id('demo', 'web');
const GRACE_MS = 1_000;

describe('draining a server proxy', () => {
  const closer = new Closer();
  const dir = mkdtempSync(join(tmpdir(), 'weft-drain-'));
  afterAll(async () => {
    await closer.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGTERM under load while the endpoint is removed: zero failed requests; /ready is 503 during the drain', async () => {
    const app = (name: string) =>
      startApp(name, (req, res) => {
        req.resume();
        req.on('end', () => setTimeout(() => res.end(name), 20));
      });
    const app1 = closer.add(await app('one'));
    const app2 = closer.add(await app('two'));

    // Server pod 1: its proxy as a real process, with a certificate and a config file.
    const leaf = pki().issueLeaf({ spiffeId: SERVER_ID });
    writeFileSync(join(dir, 'cert.pem'), leaf.chainPem.join(''));
    writeFileSync(join(dir, 'key.pem'), leaf.keyPem);
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ version: 'b1', trustBundlePem: pki().trustBundlePem, inbound: { mode: 'strict', appPorts: [app1.port], allowedIdentities: [CLIENT_ID] } }),
    );
    const b1 = spawn(
      process.execPath,
      ['proxy/main.ts', '--config', join(dir, 'config.json'), '--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem'),
        '--outbound-addr', '127.0.0.1:0', '--inbound-addr', '127.0.0.1:0', '--admin-addr', '127.0.0.1:0', '--log-level', 'off',
        '--shutdown-grace-ms', String(GRACE_MS)],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    closer.add({ close: () => void (b1.exitCode === null && b1.signalCode === null && b1.kill('SIGKILL')) });
    const exited = once(b1, 'exit');
    const [line] = (await once(b1.stdout, 'data')) as [Buffer];
    const ports = (JSON.parse(line.toString().split('\n')[0] as string) as { listening: { inbound: number; admin: number } }).listening;
    const ready = async (): Promise<number> => (await fetch(`http://127.0.0.1:${ports.admin}/ready`).catch(() => ({ status: 0 }))).status;
    await expect.poll(ready).toBe(200);

    // Server pod 2, in process.
    const b2 = closer.add(
      await startProxy({
        spiffeId: SERVER_ID,
        namespace: 'demo',
        config: { version: 'b2', trustBundlePem: pki().trustBundlePem, inbound: { mode: 'strict', appPorts: [app2.port], allowedIdentities: [CLIENT_ID] } },
      }),
    );
    const ep = (pod: string, port: number, proxyPort: number) => ({ address: '127.0.0.1', port, proxyPort, identity: SERVER_ID, pod, deployment: 'web', serviceAccount: 'web' });
    const config = (version: string, endpoints: ReturnType<typeof ep>[]): ProxyConfig =>
      ({ version, trustBundlePem: pki().trustBundlePem, services: [{ name: 'web', namespace: 'demo', endpoints }] }) as unknown as ProxyConfig;
    const a = closer.add(
      await startProxy({ spiffeId: CLIENT_ID, namespace: 'demo', config: config('a1', [ep('web-1', app1.port, ports.inbound), ep('web-2', app2.port, b2.ports.inbound)]) }),
    );

    // 200 requests/s, GETs and POSTs, for the whole test.
    const outcomes: Array<Promise<string>> = [];
    let sending = true;
    const load = (async () => {
      for (let i = 0; sending; i++) {
        outcomes.push(
          viaProxy(a.ports.outbound, `http://web.demo/r${i}`, i % 2 === 0 ? {} : { method: 'POST', body: `b${i}` }).then(
            (r) => (r.status === 200 ? 'ok' : `${r.status} ${r.headers['weft-error'] ?? ''}`),
            (err: Error) => `error ${err.message}`,
          ),
        );
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    await new Promise((r) => setTimeout(r, 700));
    expect(app1.seen.length).toBeGreaterThan(10);
    b1.kill('SIGTERM');
    // Not ready at once, and for the whole drain.
    await expect.poll(ready, { timeout: 500, interval: 20 }).toBe(503);
    // The control plane's update reaches the client a moment later.
    await new Promise((r) => setTimeout(r, 300));
    expect(a.applyConfig(config('a2', [ep('web-2', app2.port, b2.ports.inbound)])).ok).toBe(true);
    expect(await ready()).toBe(503);
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    sending = false;
    await load;
    const all = await Promise.all(outcomes);
    expect(all.length).toBeGreaterThan(200);
    expect(all.filter((o) => o !== 'ok')).toEqual([]);
  }, 30_000);
});
