// Weft's clients of the kube-apiserver (the control plane's KubeClient, the
// injector's namespace lookup) verify the apiserver against the kubeconfig's
// CA: an apiserver whose certificate another CA signed gets no request.
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeClient } from '../../control-plane/kube-client.ts';
import { createKubeNamespaceLookup } from '../../injector/namespace-lookup-kube.ts';
import { createTestPki, type TestPki } from '../../identity/test-pki.ts';
import { codeOfAsync } from '../harness/error-code.ts';

let apiserverPki: TestPki;
let otherPki: TestPki;
let server: https.Server;
let port: number;
let requests = 0;

beforeAll(async () => {
  apiserverPki = createTestPki();
  otherPki = createTestPki();
  const leaf = apiserverPki.issueLeaf({ uris: [], dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  server = https.createServer({ cert: leaf.chainPem.join(''), key: leaf.keyPem }, (_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Namespace', metadata: { name: 'demo', annotations: { 'weft.dev/inject': 'enabled' } } }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function kubeConfig(caPem: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

describe('clients of the kube-apiserver', () => {
  it("the control plane's KubeClient talks to an apiserver the kubeconfig's CA signed, and refuses another", async () => {
    const good = createKubeClient(kubeConfig(apiserverPki.anchorPem));
    const bad = createKubeClient(kubeConfig(otherPki.anchorPem));
    try {
      expect((await good.request('GET', '/api/v1/namespaces/demo')).status).toBe(200);
      const before = requests;
      expect(await codeOfAsync(bad.request('GET', '/api/v1/namespaces/demo'))).toBe('WEFT_ERR_KUBE_API');
      expect(requests).toBe(before);
    } finally {
      good.close();
      bad.close();
    }
  });

  it("the injector's namespace lookup refuses an apiserver another CA signed", async () => {
    const good = createKubeNamespaceLookup({ kubeConfig: kubeConfig(apiserverPki.anchorPem), ttlMs: 0, staleMs: 0 });
    const bad = createKubeNamespaceLookup({ kubeConfig: kubeConfig(otherPki.anchorPem), ttlMs: 0, staleMs: 0 });
    try {
      expect((await good.get('demo'))?.annotations?.['weft.dev/inject']).toBe('enabled');
      const before = requests;
      const err = await bad.get('demo').then(() => undefined, (e: unknown) => e as { code?: string });
      expect(err?.code).toBe('WEFT_ERR_INJECT_NAMESPACE_LOOKUP');
      expect(requests).toBe(before);
    } finally {
      good.close();
      bad.close();
    }
  });
});
