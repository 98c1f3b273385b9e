// namespace-lookup-kube.ts against a small HTTP stand-in for the apiserver:
// answers, 404s, the cache, shared in-flight requests, and the stale answer
// while the API cannot answer. (The real apiserver: test/cluster/injection.test.ts.)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createKubeNamespaceLookup, namespaceMetaOf } from './namespace-lookup-kube.ts';

let server: http.Server;
let url = '';
let hits: string[] = [];
let mode: 'ok' | 'down' = 'ok';
const annotations: Record<string, Record<string, string>> = { demo: { 'weft.dev/inject': 'enabled' } };

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url} ${req.headers['authorization'] ?? ''}`);
    const name = decodeURIComponent((req.url ?? '').replace('/api/v1/namespaces/', ''));
    if (mode === 'down') {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"kind":"Status","code":503}');
      return;
    }
    const ann = annotations[name];
    if (ann === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"kind":"Status","code":404}');
      return;
    }
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Namespace', metadata: { name, labels: { team: 'a', n: 1 }, annotations: ann } }));
    }, 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'test', server: url, skipTLSVerify: true }, { name: 'u', token: 'sekret' });
  return kc;
}

it('reads labels and annotations (strings only), caches them for ttlMs, and shares one request among concurrent reviews', async () => {
  hits = [];
  let t = 0;
  const lookup = createKubeNamespaceLookup({ kubeConfig: kubeConfig(), ttlMs: 1000, now: () => t });
  const [a, b] = await Promise.all([lookup.get('demo'), lookup.get('demo')]);
  expect(a).toEqual({ name: 'demo', labels: { team: 'a' }, annotations: { 'weft.dev/inject': 'enabled' } });
  expect(b).toBe(a);
  expect(hits).toEqual(['GET /api/v1/namespaces/demo Bearer sekret']);
  t = 999;
  await lookup.get('demo');
  expect(lookup.requests).toBe(1);
  t = 1000;
  await lookup.get('demo');
  expect(lookup.requests).toBe(2);
  lookup.close();
});

it('a missing namespace is undefined (not annotated), and cached like an answer', async () => {
  const lookup = createKubeNamespaceLookup({ kubeConfig: kubeConfig(), ttlMs: 1000, now: () => 0 });
  expect(await lookup.get('nowhere')).toBeUndefined();
  expect(await lookup.get('nowhere')).toBeUndefined();
  expect(lookup.requests).toBe(1);
  lookup.close();
});

it('while the API cannot answer, the last answer younger than staleMs stands in; without one the lookup rejects with a code', async () => {
  let t = 0;
  const lookup = createKubeNamespaceLookup({ kubeConfig: kubeConfig(), ttlMs: 10, staleMs: 1000, now: () => t });
  const first = await lookup.get('demo');
  mode = 'down';
  try {
    t = 500;
    expect(await lookup.get('demo')).toEqual(first);
    t = 2000;
    await expect(lookup.get('demo')).rejects.toMatchObject({ code: 'WEFT_ERR_INJECT_NAMESPACE_LOOKUP' });
    await expect(lookup.get('other')).rejects.toThrow(/HTTP 503/);
  } finally {
    mode = 'ok';
    lookup.close();
  }
});

it('an unreachable API rejects within the timeout', async () => {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'x', server: 'http://127.0.0.1:9', skipTLSVerify: true }, { name: 'u' });
  const lookup = createKubeNamespaceLookup({ kubeConfig: kc, timeoutMs: 500 });
  await expect(lookup.get('demo')).rejects.toMatchObject({ code: 'WEFT_ERR_INJECT_NAMESPACE_LOOKUP' });
  lookup.close();
});

it('namespaceMetaOf tolerates odd bodies', () => {
  expect(namespaceMetaOf('x', undefined)).toEqual({ name: 'x', labels: undefined, annotations: undefined });
  expect(namespaceMetaOf('x', { metadata: { labels: [], annotations: 'no' } })).toEqual({ name: 'x', labels: undefined, annotations: undefined });
});
