// Smoke test of the cluster harness against the real kube-apiserver 1.20 +
// etcd + kube-controller-manager: kubectl, TokenRequest/TokenReview with the
// mesh's audience, Deployments down to EndpointSlices with a test pod address,
// and an apiserver restart that keeps the data.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCluster } from './cluster-gate.ts';
import { IDENTITY_AUDIENCE, startCluster, type Cluster } from './harness.ts';

const NS = 'weft-smoke';

interface ObjectMeta {
  name: string;
  uid: string;
  namespace?: string;
}

const service = `
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: ${NS}
spec:
  selector: { app: web }
  ports:
    - { name: http, port: 80, targetPort: 8080 }
`;

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${NS}
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      serviceAccountName: web
      containers:
        - name: web
          image: weft.invalid/web:1
          ports: [{ containerPort: 8080 }]
`;

describeCluster('cluster harness (real kube-apiserver 1.20)', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    const t0 = Date.now();
    cluster = await startCluster();
    process.stderr.write(`[cluster] started in ${Date.now() - t0} ms at ${cluster.server}\n`);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('kubectl creates a namespace and a Service with a ClusterIP from the test range', async () => {
    await cluster.kubectl(['create', 'namespace', NS]);
    await cluster.kubectl(['apply', '-f', '-'], { input: service });
    const svc = JSON.parse((await cluster.kubectl(['-n', NS, 'get', 'service', 'web', '-o', 'json'])).stdout) as {
      spec: { clusterIP: string };
    };
    expect(svc.spec.clusterIP).toMatch(/^198\.19\.255\.\d+$/);
    const version = JSON.parse((await cluster.kubectl(['version', '-o', 'json'])).stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(version.serverVersion.gitVersion).toMatch(/^v1\.20\./);
    expect(version.clientVersion.gitVersion).toMatch(/^v1\.20\./);
  });

  it('TokenRequest with audience identity.weft.dev yields a token that TokenReview authenticates', async () => {
    await cluster.kubectl(['-n', NS, 'create', 'serviceaccount', 'web']);
    await cluster.waitForServiceAccount(NS, 'web');
    const token = await cluster.requestToken(NS, 'web', { audiences: [IDENTITY_AUDIENCE] });

    const review = await cluster.reviewToken(token, [IDENTITY_AUDIENCE]);
    expect(review.error ?? '').toBe('');
    expect(review.authenticated).toBe(true);
    expect(review.user?.username).toBe(`system:serviceaccount:${NS}:web`);
    expect(review.user?.groups).toContain(`system:serviceaccounts:${NS}`);
    expect(review.audiences).toEqual([IDENTITY_AUDIENCE]);

    // The same token is not valid for another audience.
    const other = await cluster.reviewToken(token, ['some-other-audience']);
    expect(other.authenticated).not.toBe(true);
  });

  it('a forged token signed with the cluster key is accepted only while unexpired', async () => {
    const sa = JSON.parse((await cluster.kubectl(['-n', NS, 'get', 'serviceaccount', 'web', '-o', 'json'])).stdout) as {
      metadata: ObjectMeta;
    };
    const now = Date.now();
    const valid = cluster.forgeServiceAccountToken({ namespace: NS, serviceAccount: 'web', uid: sa.metadata.uid });
    expect((await cluster.reviewToken(valid, [IDENTITY_AUDIENCE])).authenticated).toBe(true);

    const expired = cluster.forgeServiceAccountToken({
      namespace: NS,
      serviceAccount: 'web',
      uid: sa.metadata.uid,
      issuedAt: new Date(now - 2 * 3600_000),
      expiresAt: new Date(now - 3600_000),
    });
    const review = await cluster.reviewToken(expired, [IDENTITY_AUDIENCE]);
    expect(review.authenticated).not.toBe(true);
    expect(review.error ?? '').toMatch(/expired/i);
  });

  it('a Deployment becomes a Pod; a pod marked running at a 198.18/15 address lands in the EndpointSlice', async () => {
    const groups = (await cluster.api<{ versions: Array<{ groupVersion: string }> }>('GET', '/apis/discovery.k8s.io')).body;
    const served = groups.versions.map((v) => v.groupVersion);
    expect(served).toContain('discovery.k8s.io/v1beta1');

    await cluster.kubectl(['apply', '-f', '-'], { input: deployment });
    let podName = '';
    await expect
      .poll(
        async () => {
          const pods = JSON.parse((await cluster.kubectl(['-n', NS, 'get', 'pods', '-l', 'app=web', '-o', 'json'])).stdout) as {
            items: Array<{ metadata: ObjectMeta; spec: { serviceAccountName?: string } }>;
          };
          podName = pods.items[0]?.metadata.name ?? '';
          return pods.items.map((p) => p.spec.serviceAccountName);
        },
        { timeout: 30_000, interval: 250 },
      )
      .toEqual(['web']);

    await cluster.markPodRunning(NS, podName, { ip: '198.18.0.10' });

    await expect
      .poll(
        async () => {
          const res = await cluster.api<{
            items: Array<{ endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }>;
          }>('GET', `/apis/discovery.k8s.io/v1beta1/namespaces/${NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb`);
          return res.body.items.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses));
        },
        { timeout: 30_000, interval: 250 },
      )
      .toEqual(['198.18.0.10']);
  });

  it('the apiserver restarts on the same port and keeps its data', async () => {
    await cluster.restartApiserver({ downMs: 500 });
    const ns = await cluster.kubectl(['get', 'namespace', NS, '-o', 'jsonpath={.metadata.name}']);
    expect(ns.stdout).toBe(NS);
    const svc = await cluster.api<{ metadata: ObjectMeta }>('GET', `/api/v1/namespaces/${NS}/services/web`);
    expect(svc.status).toBe(200);
    expect(svc.body.metadata.name).toBe('web');

    // A crash (SIGKILL) loses nothing either.
    await cluster.restartApiserver({ signal: 'SIGKILL' });
    expect((await cluster.api('GET', `/api/v1/namespaces/${NS}`)).status).toBe(200);
  });

  it('RBAC is enforced for a user outside system:masters', async () => {
    const res = await cluster.kubectl(['get', 'pods', '-A', '--as=someone'], { allowFailure: true });
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr).toMatch(/forbidden/i);
  });
});
