// The HTTPS webhook on a real socket (port 0, test PKI): reviews, bad bodies,
// the size cap while streaming, ops endpoints, metrics, certificate rotation.
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../identity/test-pki.ts';
import { admissionReview, testPod, TEST_OPTIONS } from './admission-test-fixtures.ts';
import { reviewAdmission, MAX_REVIEW_BYTES } from './admission.ts';
import { StaticNamespaceLookup } from './namespace-lookup.ts';
import { KEEP_ALIVE_MS, start, type Webhook } from './webhook-server.ts';

let pki: TestPki;
let hook: Webhook;
let agent: https.Agent;
const namespaces = new StaticNamespaceLookup([{ name: 'demo', annotations: { 'weft.dev/inject': 'enabled' } }]);

function leaf(dns: string) {
  return pki.issueLeaf({ uris: [], dnsNames: [dns, 'localhost'], ipAddresses: ['127.0.0.1'] });
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: () => any;
  peerCn?: string;
}

function request(method: string, path: string, body?: string | Buffer | ((req: http.ClientRequest) => void), headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: hook.port, method, path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      const peerCn = (res.socket as TLSSocket | null)?.getPeerCertificate().subjectaltname;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json: () => JSON.parse(text),
          ...(peerCn !== undefined ? { peerCn } : {}),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (typeof body === 'function') body(req);
    else req.end(body);
  });
}

beforeAll(async () => {
  pki = createTestPki();
  const cert = leaf('weft-injector.weft-system.svc');
  agent = new https.Agent({ keepAlive: true, ca: pki.anchorPem });
  hook = await start({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: cert.chainPem.join(''), key: cert.keyPem },
    inject: TEST_OPTIONS,
    namespaces,
    admin: { host: '127.0.0.1', port: 0 },
  });
}, 60_000);

afterAll(async () => {
  agent?.destroy();
  await hook?.close();
});

describe('webhook server', () => {
  it('reads no client certificate: a client certificate changes nothing (the apiserver is authenticated by caBundle, callers by nothing)', async () => {
    // The webhook grants nothing by identity: it only computes the patch for the pod it is sent.
    const self = pki.issueLeaf({ spiffeId: 'spiffe://cluster.local/ns/kube-system/sa/admin' });
    const withCert = new https.Agent({ keepAlive: false, ca: pki.anchorPem, cert: self.chainPem.join(''), key: self.keyPem });
    const review = JSON.stringify(admissionReview(testPod(), { uid: 'u-cert' }));
    const plain = await request('POST', '/mutate', review, { 'content-type': 'application/json' });
    const saved = agent;
    agent = withCert;
    try {
      const r = await request('POST', '/mutate', review, { 'content-type': 'application/json' });
      expect(r.status).toBe(200);
      expect(r.json()).toEqual(plain.json());
    } finally {
      agent = saved;
      withCert.destroy();
    }
  });

  it('answers an AdmissionReview POSTed to /mutate with a JSONPatch', async () => {
    const r = await request('POST', '/mutate', JSON.stringify(admissionReview(testPod(), { uid: 'u-1' })), { 'content-type': 'application/json' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    const review = r.json();
    expect(review).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true, patchType: 'JSONPatch' } });
    const ops = JSON.parse(Buffer.from(review.response.patch, 'base64').toString('utf8'));
    expect(ops.some((o: { path: string }) => o.path === '/spec/containers/0')).toBe(true);
  });

  it('keeps idle connections longer than the apiserver does (90 s), so it is the one that closes them', async () => {
    const r = await request('POST', '/mutate', JSON.stringify(admissionReview(testPod())));
    expect(r.headers['keep-alive']).toBe(`timeout=${KEEP_ALIVE_MS / 1000}`);
    expect(KEEP_ALIVE_MS).toBeGreaterThan(90_000);
  });

  it('also accepts POST /', async () => {
    const r = await request('POST', '/', JSON.stringify(admissionReview(testPod(), { namespace: 'other' })));
    expect(r.json().response).toEqual({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  });

  it('answers malformed JSON with 400 and a clear message', async () => {
    const r = await request('POST', '/mutate', '{"apiVersion": "admission.k8s.io/v1", ');
    expect(r.status).toBe(400);
    expect(r.json().error.code).toBe('WEFT_ERR_INJECT_REVIEW_INVALID');
    expect(r.json().error.message).toMatch(/not valid JSON/);
  });

  it('refuses a body declared larger than 3 MiB with 413 before reading it', async () => {
    const r = await request('POST', '/mutate', (req) => {
      req.setHeader('content-length', String(MAX_REVIEW_BYTES + 1));
      req.on('error', () => undefined);
      req.write('{');
    });
    expect(r.status).toBe(413);
    expect(r.json().error.code).toBe('WEFT_ERR_INJECT_BODY_TOO_LARGE');
  });

  it('refuses a chunked body that grows past 3 MiB with 413', async () => {
    const r = await request('POST', '/mutate', (req) => {
      req.on('error', () => undefined);
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      let sent = 0;
      const pump = (): void => {
        while (sent <= MAX_REVIEW_BYTES + chunk.length) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    expect(r.status).toBe(413);
  });

  it('still serves after oversized and malformed requests', async () => {
    const r = await request('POST', '/mutate', JSON.stringify(admissionReview(testPod())));
    expect(r.json().response.allowed).toBe(true);
  });

  it('serves /ready, /live, 404 elsewhere and 405 for GET /mutate', async () => {
    expect((await request('GET', '/ready')).status).toBe(200);
    expect((await request('GET', '/live')).status).toBe(200);
    expect((await request('GET', '/nope')).status).toBe(404);
    const r = await request('GET', '/mutate');
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('POST');
  });

  it('exports weft_injector_ metrics with an admission latency histogram by outcome, on both listeners', async () => {
    const r = await request('GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/weft_injector_admission_duration_seconds_bucket\{le="0.01",outcome="injected"\} \d+/);
    expect(r.text).toMatch(/weft_injector_admission_requests_total\{outcome="bad-request"\} \d+/);
    expect(r.text).toContain('weft_injector_process_cpu_seconds_total');
    const admin = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: hook.adminPort, path: '/metrics' }, (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => resolve(t));
      }).on('error', reject);
    });
    expect(admin).toContain('weft_injector_admission_duration_seconds_count');
  });

  it('answers 50 concurrent reviews', async () => {
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => request('POST', '/mutate', JSON.stringify(admissionReview(testPod(), { uid: `c-${i}` })))),
    );
    expect(replies.map((r) => r.json().response.uid)).toEqual(Array.from({ length: 50 }, (_, i) => `c-${i}`));
  });

  it('rotates its serving certificate for new connections (setTls)', async () => {
    const next = leaf('rotated.weft-system.svc');
    hook.setTls({ cert: next.chainPem.join(''), key: next.keyPem });
    agent.destroy();
    agent = new https.Agent({ keepAlive: true, ca: pki.anchorPem });
    const r = await request('GET', '/live');
    expect(r.peerCn).toContain('rotated.weft-system.svc');
  });
});

describe('admission latency', () => {
  it('decides in well under the 10 ms p99 budget (in process, 1000 reviews)', async () => {
    const deps = { namespaces, inject: TEST_OPTIONS };
    const body = JSON.stringify(admissionReview(testPod()));
    const times: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t0 = performance.now();
      await reviewAdmission(body, deps);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    expect(times[989]).toBeLessThan(10);
  });
});
