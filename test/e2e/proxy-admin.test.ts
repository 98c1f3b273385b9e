// The proxy's admin listener and egress: /ready turns true only with a config
// and a certificate; /config shows the config in force; /metrics passes
// Prometheus's own linter (promtool); unknown hosts are forwarded as egress
// unless the config refuses it.
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { ERROR_HEADER } from '../../proto/errors.ts';
import { Closer, id, pki, startApp, startProxy, viaProxy } from '../harness/mesh-fixture.ts';

const get = async (port: number, path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
};

describe('proxy admin', () => {
  const closer = new Closer();
  afterAll(() => closer.closeAll());

  it('is ready only once it holds a config and a certificate', async () => {
    const proxy = closer.add(await startProxy({}));
    expect((await get(proxy.ports.admin, '/live')).status).toBe(200);
    expect((await get(proxy.ports.admin, '/ready')).status).toBe(503);
    expect((await get(proxy.ports.admin, '/config')).status).toBe(404);
    proxy.applyConfig({ version: 'v7', trustBundlePem: pki().trustBundlePem });
    expect((await get(proxy.ports.admin, '/ready')).status).toBe(503);
    const leaf = pki().issueLeaf({ spiffeId: id('demo', 'web') });
    proxy.setIdentity({ certChainPem: leaf.chainPem.join(''), keyPem: leaf.keyPem });
    expect((await get(proxy.ports.admin, '/ready')).status).toBe(200);
    const config = JSON.parse((await get(proxy.ports.admin, '/config')).body) as { version: string; config: { inbound: { mode: string } } };
    expect(config.version).toBe('v7');
    expect(config.config.inbound.mode).toBe('PERMISSIVE');
  });

  it('refuses a bad config and keeps the one in force', async () => {
    const proxy = closer.add(await startProxy({ config: { version: 'good' } }));
    const r = proxy.applyConfig({ version: 'bad', services: [{ name: 'x', routes: [{ matches: [{ path: { regex: '(' } }] }] }] });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('WEFT_ERR_CONFIG_INVALID');
    expect(JSON.parse((await get(proxy.ports.admin, '/config')).body).version).toBe('good');
  });

  it('exposes metrics that promtool accepts', async () => {
    const app = closer.add(await startApp('web'));
    const proxy = closer.add(
      await startProxy({ config: { version: '1', services: [{ name: 'web', namespace: 'default', endpoints: [{ address: '127.0.0.1', port: app.port }] }] } }),
    );
    expect((await viaProxy(proxy.ports.outbound, 'http://web/')).status).toBe(200);
    expect((await viaProxy(proxy.ports.outbound, 'http://web.default.svc.cluster.local/')).status).toBe(200);
    const m = await get(proxy.ports.admin, '/metrics');
    expect(m.type).toContain('text/plain');
    expect(m.body).toContain('response_latency_ms_bucket{');
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: m.body, encoding: 'utf8' });
    expect(lint.error).toBeUndefined();
    // The exposition parses; the only findings are naming-style lints on the
    // Linkerd proxy's own names, kept for dashboard compatibility (DESIGN.md).
    const findings = (lint.stdout + lint.stderr).split('\n').filter((l) => l.trim() !== '');
    const linkerdNames = ['identity_cert_refresh_count ', 'response_latency_ms ', 'tcp_connection_duration_ms '];
    expect(findings.filter((f) => !linkerdNames.some((n) => f.startsWith(n)))).toEqual([]);
    expect(findings.length).toBeGreaterThan(0); // promtool did run and lint
  });
});

describe('egress', () => {
  const closer = new Closer();
  afterAll(() => closer.closeAll());

  it('forwards a request for an unknown host as plain HTTP by default', async () => {
    const app = closer.add(await startApp('outside'));
    const proxy = closer.add(await startProxy({ config: { version: '1' } }));
    const r = await viaProxy(proxy.ports.outbound, `http://127.0.0.1:${app.port}/x`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('outside\n');
  });

  it('refuses it with 403 WEFT_ERR_EGRESS_REFUSED when the config says so; nothing is sent', async () => {
    const app = closer.add(await startApp('outside'));
    const proxy = closer.add(await startProxy({ config: { version: '1', egress: { allow: false } } }));
    const r = await viaProxy(proxy.ports.outbound, `http://127.0.0.1:${app.port}/x`);
    expect(r.status).toBe(403);
    expect(r.headers[ERROR_HEADER]).toBe('WEFT_ERR_EGRESS_REFUSED');
    expect(app.seen).toHaveLength(0);
  });
});
