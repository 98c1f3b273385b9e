// kube-version-fetch.ts against a small HTTP stand-in for the apiserver's /version.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fetchKubeVersion } from './kube-version-fetch.ts';

let server: http.Server;
let url = '';
let answer: { status: number; body: string; delayMs?: number } = { status: 200, body: '{}' };
const hits: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url} ${req.headers['authorization'] ?? ''}`);
    setTimeout(() => {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    }, answer.delayMs ?? 0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'test', server: `${url}/`, skipTLSVerify: true }, { name: 'u', token: 'sekret' });
  return kc;
}

const codeOf = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: { code?: string }) => e.code ?? 'none');

it('GETs /version with the kubeconfig credentials and reads it', async () => {
  answer = { status: 200, body: JSON.stringify({ major: '1', minor: '29+', gitVersion: 'v1.29.4-gke.1043002', platform: 'linux/amd64' }) };
  expect(await fetchKubeVersion(kubeConfig())).toEqual({ major: 1, minor: 29 });
  expect(hits.at(-1)).toBe('GET /version Bearer sekret');
});

it('an error status, junk or an unreadable version reject with a code', async () => {
  answer = { status: 403, body: '{"kind":"Status"}' };
  expect(await codeOf(fetchKubeVersion(kubeConfig()))).toBe('WEFT_ERR_INJECT_VERSION_FETCH');
  answer = { status: 200, body: 'not json' };
  expect(await codeOf(fetchKubeVersion(kubeConfig()))).toBe('WEFT_ERR_INJECT_VERSION_FETCH');
  answer = { status: 200, body: '{"gitVersion":"dev"}' };
  expect(await codeOf(fetchKubeVersion(kubeConfig()))).toBe('WEFT_ERR_INJECT_VERSION_INVALID');
});

it('gives up after timeoutMs', async () => {
  answer = { status: 200, body: '{"gitVersion":"v1.30.0"}', delayMs: 2_000 };
  const t0 = Date.now();
  expect(await codeOf(fetchKubeVersion(kubeConfig(), 200))).toBe('WEFT_ERR_INJECT_VERSION_FETCH');
  expect(Date.now() - t0).toBeLessThan(1_500);
});
