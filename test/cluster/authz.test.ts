// Access control on the real apiserver (the authorization issue, acceptance
// 3): TrafficTarget, HTTPRouteGroup and TCPRoute objects watched by the
// control plane (Kubernetes source), compiled into the web pod's config
// stream, and enforced by a running proxy that applies every config the
// stream brings (as its config client does; only the trust bundle is the
// test PKI's, so that the test's client proxies can reach it). The namespace's
// default policy is deny: every caller is refused until a TrafficTarget
// allows one; applying, editing and deleting the target changes what the
// proxy allows within 1 s; kubelet probes (the admin port's app-health)
// pass throughout; opaque TCP is allowed and denied per TCPRoute port.
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCluster } from './cluster-gate.ts';
import { startCluster, type Cluster } from './harness.ts';
import { installSmiCrds } from './smi-crds.ts';
import { apply, createRunningPod, ensureServiceAccount, service, startKubeControlPlane, subscribeConfig, type ConfigWatch, type KubeControlPlane } from './kube-mesh-fixture.ts';
import type { Proxy } from '../../proxy/proxy.ts';
import { Closer, id, meshedEndpoint, pki, startClientProxy, startProxy, viaProxy } from '../harness/mesh-fixture.ts';
import { codeOfResponse } from '../harness/error-code.ts';
import { opaquePing } from '../harness/opaque-peer.ts';

const NS = 'authz-demo';
const WEB_ID = id(NS, 'web');
const CLIENT_ID = id(NS, 'client');
const OTHER_ID = id(NS, 'other');
const HTTP_PORT = 8080;
const DB_PORT = 5432;

const target = (sources: string[]): object => ({
  apiVersion: 'access.smi-spec.io/v1alpha3',
  kind: 'TrafficTarget',
  metadata: { name: 'web-access', namespace: NS },
  spec: {
    destination: { kind: 'ServiceAccount', name: 'web', namespace: NS },
    sources: sources.map((name) => ({ kind: 'ServiceAccount', name, namespace: NS })),
    rules: [
      { kind: 'HTTPRouteGroup', name: 'web-routes', matches: ['api'] },
      { kind: 'TCPRoute', name: 'db' },
    ],
  },
});

describeCluster('access control: TrafficTargets on the apiserver, enforced by a running proxy', () => {
  const closer = new Closer();
  let cluster: Cluster;
  let kcp: KubeControlPlane;
  let watch: ConfigWatch;
  let web: Proxy;
  let client: Proxy;
  let other: Proxy;
  let appHost: string;

  beforeAll(async () => {
    cluster = await startCluster();
    await installSmiCrds(cluster);
    const res = await cluster.api('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: NS, annotations: { 'config.weft.dev/default-inbound-policy': 'deny' } },
    });
    expect(res.status).toBe(201);
    await cluster.waitForServiceAccount(NS);
    for (const sa of ['web', 'client', 'other']) await ensureServiceAccount(cluster, NS, sa);
    await apply(cluster, [service(NS, 'web', { app: 'web' })]);
    await createRunningPod(cluster, {
      namespace: NS,
      name: 'web-1',
      labels: { app: 'web' },
      serviceAccount: 'web',
      ip: '198.18.7.10',
      ports: [
        { name: 'http', containerPort: HTTP_PORT },
        { name: 'db', containerPort: DB_PORT },
      ],
    });
    kcp = await startKubeControlPlane(cluster);

    // The pod's apps, on a loopback address of their own (its ports as declared).
    appHost = `127.${20 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}.7`;
    const app = http.createServer((req, res) => {
      req.resume();
      res.end('web\n');
    });
    app.listen(HTTP_PORT, appHost);
    await once(app, 'listening');
    closer.add({ close: () => void app.close() });
    const db = net.createServer((s) => s.pipe(s));
    db.listen(DB_PORT, appHost);
    await once(db, 'listening');
    closer.add({ close: () => void db.close() });

    web = closer.add(
      await startProxy({
        spiffeId: WEB_ID,
        namespace: NS,
        appAddress: appHost,
        appProbes: new Map([['app/readyz', { httpGet: { port: HTTP_PORT, path: '/', scheme: 'HTTP' } }]]),
      }),
    );
    watch = subscribeConfig(kcp.cp, await cluster.requestToken(NS, 'web'), { namespace: NS, pod: 'web-1', serviceAccount: 'web' });
    closer.add(watch);
    // The proxy's config client, in short: every config the stream brings is applied.
    let applied = 0;
    const applyNext = (): void => {
      for (; applied < watch.updates.length; applied++) {
        const c = watch.updates[applied]!.config;
        const r = web.applyConfig({ ...c, trustBundlePem: pki().trustBundlePem });
        if (!r.ok) throw r.error ?? new Error('config refused');
      }
    };
    const timer = setInterval(applyNext, 10);
    closer.add({ close: () => clearInterval(timer) });
    await watch.waitFor((c) => c.inbound.defaultPolicy === 'DENY');
    applyNext();

    const services = [{ name: 'web', namespace: NS, ports: [{ port: 80, targetPort: HTTP_PORT }], endpoints: [meshedEndpoint({ proxy: web, appPort: HTTP_PORT, identity: WEB_ID, pod: 'web-1' })] }];
    client = closer.add(await startClientProxy({ spiffeId: CLIENT_ID, services }));
    other = closer.add(await startClientProxy({ spiffeId: OTHER_ID, services }));
  }, 180_000);

  afterAll(async () => {
    await closer.closeAll();
    await kcp?.close();
    await cluster?.stop();
  });

  const get = async (from: Proxy, path: string, method = 'GET'): Promise<string> => {
    const r = await viaProxy(from.ports.outbound, `http://web.${NS}${path}`, { method, ...(method === 'POST' ? { body: 'x' } : {}) });
    return r.status === 200 ? '200' : `${r.status} ${codeOfResponse(r) ?? ''}`;
  };
  const probe = async (): Promise<number> => (await fetch(`http://127.0.0.1:${web.ports.admin}/app-health/app/readyz`)).status;
  const opaque = (spiffeId: string, port: number): Promise<string> => opaquePing(web.ports.inbound, spiffeId, port);
  /** Polls until `check` holds; fails after `ms` from now (the acceptance's bound). */
  async function within(ms: number, check: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = performance.now() + ms;
    for (;;) {
      if (await check()) return;
      if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it('the namespace default (deny) refuses every caller until a TrafficTarget allows one; probes still pass', async () => {
    expect(await get(client, '/api/x')).toBe('403 WEFT_ERR_FORBIDDEN');
    expect(await get(other, '/api/x')).toBe('403 WEFT_ERR_FORBIDDEN');
    expect(await opaque(CLIENT_ID, DB_PORT)).toBe('closed');
    expect(await probe()).toBe(200);
  });

  it('applying a TrafficTarget allows its source what its rules say within 1 s: HTTP GET /api/*, TCP on the TCPRoute port; nothing else', async () => {
    await apply(cluster, [
      { apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', metadata: { name: 'web-routes', namespace: NS }, spec: { matches: [{ name: 'api', pathRegex: '/api/', methods: ['GET'] }] } },
      { apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'TCPRoute', metadata: { name: 'db', namespace: NS }, spec: { matches: { ports: [DB_PORT] } } },
    ]);
    await apply(cluster, [target(['client'])]);
    await within(1_000, async () => (await get(client, '/api/x')) === '200', "client's GET /api/x allowed");
    expect(await get(client, '/api/x', 'POST')).toBe('403 WEFT_ERR_FORBIDDEN');
    expect(await get(client, '/admin')).toBe('403 WEFT_ERR_FORBIDDEN');
    expect(await get(other, '/api/x')).toBe('403 WEFT_ERR_FORBIDDEN');
    expect(await opaque(CLIENT_ID, DB_PORT)).toBe('open');
    expect(await opaque(OTHER_ID, DB_PORT)).toBe('closed');
    // The HTTP port has no TCPRoute: opaque TCP to it stays refused.
    expect(await opaque(CLIENT_ID, HTTP_PORT)).toBe('closed');
    expect(await probe()).toBe(200);
  });

  it('editing it (another source) moves the grant within 1 s', async () => {
    await apply(cluster, [target(['other'])]);
    await within(1_000, async () => (await get(other, '/api/x')) === '200', "other's GET /api/x allowed");
    expect(await get(client, '/api/x')).toBe('403 WEFT_ERR_FORBIDDEN');
    expect(await opaque(OTHER_ID, DB_PORT)).toBe('open');
  });

  it('TrafficTarget status: conditions (accepted; a missing route group; an unknown ServiceAccount) and Warning Events', async () => {
    type Cond = { type: string; status: string; reason: string; message: string };
    const statusOf = async (name: string): Promise<Cond[]> =>
      ((await cluster.api<{ status?: { conditions?: Cond[] } }>('GET', `/apis/access.smi-spec.io/v1alpha3/namespaces/${NS}/traffictargets/${name}`)).body.status?.conditions ?? []);
    await within(5_000, async () => (await statusOf('web-access')).some((c) => c.type === 'ResolvedRefs' && c.status === 'True'), 'web-access resolved');
    // Only web-1 runs in the cluster: no pod runs as its source, `other` (the test's client proxies run outside).
    const web = await statusOf('web-access');
    expect(web.map((c) => [c.type, c.status])).toEqual([
      ['Accepted', 'True'],
      ['ResolvedRefs', 'True'],
      ['ServiceAccountsFound', 'False'],
    ]);
    expect(web[2]?.message).toContain(`${NS}/other`);
    expect(web[2]?.message).not.toContain(`${NS}/web`);
    await apply(cluster, [
      {
        apiVersion: 'access.smi-spec.io/v1alpha3',
        kind: 'TrafficTarget',
        metadata: { name: 'typos', namespace: NS },
        spec: {
          destination: { kind: 'ServiceAccount', name: 'web', namespace: NS },
          sources: [{ kind: 'ServiceAccount', name: 'clent', namespace: NS }],
          rules: [{ kind: 'HTTPRouteGroup', name: 'no-such-group' }],
        },
      },
    ]);
    await within(5_000, async () => (await statusOf('typos')).length === 3, 'typos has its conditions');
    const conds = await statusOf('typos');
    expect(conds.find((c) => c.type === 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'RouteGroupNotFound' });
    expect(conds.find((c) => c.type === 'ServiceAccountsFound')).toMatchObject({ status: 'False', reason: 'ServiceAccountNotFound' });
    expect(conds.find((c) => c.type === 'ServiceAccountsFound')?.message).toContain(`${NS}/clent`);
    await within(5_000, async () => {
      const events = (await cluster.api<{ items: Array<{ reason: string; involvedObject: { kind: string; name: string } }> }>('GET', `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent('involvedObject.name=typos')}`)).body.items;
      const reasons = events.filter((e) => e.involvedObject.kind === 'TrafficTarget').map((e) => e.reason);
      return reasons.includes('RouteGroupNotFound') && reasons.includes('ServiceAccountNotFound');
    }, 'Warning Events for typos');
    await cluster.kubectl(['delete', 'traffictarget.access.smi-spec.io', 'typos', '-n', NS]);
  });

  it('deleting it goes back to the namespace default (deny) within 1 s', async () => {
    await cluster.kubectl(['delete', 'traffictarget.access.smi-spec.io', 'web-access', '-n', NS]);
    await within(1_000, async () => (await get(other, '/api/x')) === '403 WEFT_ERR_FORBIDDEN', 'back to deny');
    expect(await get(client, '/api/x')).toBe('403 WEFT_ERR_FORBIDDEN');
    expect(await probe()).toBe(200);
    expect(kcp.errors.map((e) => e.message)).toEqual([]);
  });
});
