// Acceptance 4 of the Kubernetes issue: Identity.Certify with a real
// projected ServiceAccount token (TokenRequest API, audience
// identity.weft.dev, bound to a pod as the kubelet binds it) succeeds for its
// own ServiceAccount, and fails for another identity, a wrong audience and an
// expired token; the CA lives in the Secret weft-system/weft-identity and its
// trust bundle in the ConfigMap weft-system/weft-trust-bundle.
//
// "Expired": the apiserver will not mint a token that expires in less than
// 600 s, so the expired tokens are (1) one signed with the cluster's own
// ServiceAccount key with an `exp` in the past (harness
// forgeServiceAccountToken: a token the apiserver itself would have issued,
// but older), (2) a token whose ServiceAccount was deleted, (3) a token bound
// to a pod that was deleted: the apiserver invalidates both. For (1) both
// layers are shown: the validator refuses it at `now` before asking, and
// asked at a `now` before its exp, TokenReview refuses it.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCluster } from './cluster-gate.ts';
import { IDENTITY_AUDIENCE, SERVICE_ACCOUNT_ISSUER, startCluster, type Cluster } from './harness.ts';
import { ensureNamespace, ensureServiceAccount, startKubeControlPlane, subscribeConfig, type KubeControlPlane } from './kube-mesh-fixture.ts';
import { meshGrpc, GRPC_ERROR_CODE_KEY } from '../../proto/mesh-grpc.ts';
import type { CertifyRequest, CertifyResponse } from '../../proto/mesh.ts';
import { createKeyAndCsr } from '../../identity/csr-create.ts';
import { verifySvid } from '../../identity/svid-verify.ts';
import { formatWorkloadId } from '../../identity/spiffe-id.ts';
import { createTokenReviewValidator } from '../../control-plane/token-review-validator.ts';
import { loadOrCreateKubeCa, TRUST_BUNDLE_KEY } from '../../control-plane/kube-ca-store.ts';
import { CA_FILES } from '../../control-plane/ca-store.ts';

const NS = 'id-demo';
const id = (sa: string): string => formatWorkloadId('cluster.local', NS, sa);

interface CertifyOutcome {
  ok: boolean;
  res?: CertifyResponse;
  grpcCode?: grpc.status;
  weftCode?: string;
}

describeCluster('Identity: Certify with projected ServiceAccount tokens checked by TokenReview', () => {
  let cluster: Cluster;
  let kcp: KubeControlPlane;
  let identityClient: grpc.Client & { Certify?: (req: CertifyRequest, cb: (err: grpc.ServiceError | null, res?: CertifyResponse) => void) => void };
  let podUid = '';

  async function certify(token: string, sa: string): Promise<CertifyOutcome> {
    const { csrPem } = await createKeyAndCsr(id(sa));
    return new Promise((resolve) => {
      identityClient.Certify!({ identity: id(sa), token, csrPem }, (err, res) => {
        if (err === null && res !== undefined) return resolve({ ok: true, res });
        resolve({ ok: false, grpcCode: err?.code, weftCode: String(err?.metadata.get(GRPC_ERROR_CODE_KEY)[0] ?? '') });
      });
    });
  }

  /**
   * Certify until refused (at most 20 s): the apiserver caches successful
   * token authentications for 10 s (its token cache), so a revocation
   * (ServiceAccount or bound pod deleted) takes effect up to 10 s later.
   */
  async function certifyUntilRefused(token: string, sa: string): Promise<CertifyOutcome> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const out = await certify(token, sa);
      if (!out.ok || Date.now() > deadline) return out;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function createPod(name: string, sa: string): Promise<string> {
    const res = await cluster.api<{ metadata: { uid: string } }>('POST', `/api/v1/namespaces/${NS}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { serviceAccountName: sa, automountServiceAccountToken: false, containers: [{ name: 'app', image: 'x' }] },
    });
    expect(res.status).toBe(201);
    return res.body.metadata.uid;
  }

  beforeAll(async () => {
    cluster = await startCluster();
    await ensureNamespace(cluster, NS);
    await cluster.waitForServiceAccount(NS);
    for (const sa of ['web', 'other', 'doomed']) await ensureServiceAccount(cluster, NS, sa);
    podUid = await createPod('web-1', 'web');
    kcp = await startKubeControlPlane(cluster);
    identityClient = new (meshGrpc().Identity)(
      `127.0.0.1:${kcp.cp.ports.grpc}`,
      grpc.credentials.createSsl(Buffer.from(kcp.cp.trustBundlePem.join('')), null, null, { checkServerIdentity: () => undefined }),
    ) as typeof identityClient;
  }, 180_000);

  afterAll(async () => {
    identityClient?.close();
    await kcp?.close();
    await cluster?.stop();
  });

  it('keeps the CA in Secret weft-system/weft-identity and the trust bundle in ConfigMap weft-trust-bundle; a restart loads the same CA', async () => {
    expect(kcp.ca.source).toBe('created');
    const secret = await cluster.api<{ type: string; data: Record<string, string> }>('GET', '/api/v1/namespaces/weft-system/secrets/weft-identity');
    expect(secret.status).toBe(200);
    expect(Object.keys(secret.body.data).sort()).toEqual([CA_FILES.anchorKey, CA_FILES.anchor, CA_FILES.issuerKey, CA_FILES.issuer].sort());
    expect(Buffer.from(secret.body.data[CA_FILES.anchor]!, 'base64').toString()).toBe(kcp.ca.material.anchorPem);
    const cm = await cluster.api<{ data: Record<string, string> }>('GET', '/api/v1/namespaces/weft-system/configmaps/weft-trust-bundle');
    expect(cm.status).toBe(200);
    expect(cm.body.data[TRUST_BUNDLE_KEY]!.trim()).toBe(kcp.ca.material.anchorPem.trim());
    expect(kcp.cp.trustBundlePem.join('').trim()).toBe(kcp.ca.material.anchorPem.trim());

    const again = await loadOrCreateKubeCa({ client: kcp.client, trustDomain: 'cluster.local', now: Date.now() });
    expect(again.source).toBe('loaded');
    expect(again.material).toEqual(kcp.ca.material);
  });

  it('succeeds for its own ServiceAccount with a pod-bound projected token (TokenRequest, audience identity.weft.dev)', async () => {
    const token = await cluster.requestToken(NS, 'web', { audiences: [IDENTITY_AUDIENCE], expirationSeconds: 600, boundObjectRef: { kind: 'Pod', name: 'web-1', uid: podUid } });
    const out = await certify(token, 'web');
    expect(out, JSON.stringify(out)).toMatchObject({ ok: true });
    const verified = verifySvid({
      chainPem: [out.res!.leafPem, ...out.res!.intermediatesPem],
      trustBundlePem: kcp.cp.trustBundlePem,
      now: new Date(),
      expectedId: id('web'),
    });
    expect(verified.spiffeId).toBe(`spiffe://cluster.local/ns/${NS}/sa/web`);
    // The identity is the reviewed ServiceAccount's; the pod is the one the token is bound to
    // (what the config stream matches a finished Job's pod against).
    await expect(createTokenReviewValidator({ client: kcp.client }).validate(token, Date.now())).resolves.toEqual({ namespace: NS, serviceAccount: 'web', pod: 'web-1' });
  });

  it('fails for another identity: a token of ServiceAccount web asking for other -> CERTIFY_DENIED', async () => {
    const token = await cluster.requestToken(NS, 'web');
    expect(await certify(token, 'other')).toMatchObject({ ok: false, grpcCode: grpc.status.PERMISSION_DENIED, weftCode: 'WEFT_ERR_CERTIFY_DENIED' });
  });

  it('fails for a wrong audience: the apiserver audience, or another one -> TOKEN_INVALID', async () => {
    for (const audiences of [[SERVICE_ACCOUNT_ISSUER], ['vault.example']]) {
      const token = await cluster.requestToken(NS, 'web', { audiences });
      expect(await certify(token, 'web'), audiences[0]).toMatchObject({ ok: false, grpcCode: grpc.status.UNAUTHENTICATED, weftCode: 'WEFT_ERR_TOKEN_INVALID' });
    }
  });

  it('fails for an expired token (signed by the cluster key, exp in the past): the validator and TokenReview both refuse it', async () => {
    const sa = await cluster.api<{ metadata: { uid: string } }>('GET', `/api/v1/namespaces/${NS}/serviceaccounts/web`);
    const issuedAt = new Date(Date.now() - 2 * 3600_000);
    const expiresAt = new Date(Date.now() - 3600_000);
    const expired = cluster.forgeServiceAccountToken({ namespace: NS, serviceAccount: 'web', uid: sa.body.metadata.uid, issuedAt, expiresAt });
    // Control: the same forge with a future exp is a token the apiserver accepts.
    const fresh = cluster.forgeServiceAccountToken({ namespace: NS, serviceAccount: 'web', uid: sa.body.metadata.uid });
    expect(await certify(fresh, 'web')).toMatchObject({ ok: true });

    expect(await certify(expired, 'web')).toMatchObject({ ok: false, grpcCode: grpc.status.UNAUTHENTICATED, weftCode: 'WEFT_ERR_TOKEN_INVALID' });
    // Asked as if it were still before exp, the validator goes to TokenReview, which refuses it.
    const v = createTokenReviewValidator({ client: kcp.client });
    await expect(v.validate(expired, expiresAt.getTime() - 60_000)).rejects.toMatchObject({
      code: 'WEFT_ERR_TOKEN_INVALID',
      message: expect.stringContaining('not authenticated by the Kubernetes API'),
    });
  });

  it('fails for a token whose ServiceAccount was deleted, and for one bound to a deleted pod', async () => {
    const doomed = await cluster.requestToken(NS, 'doomed');
    expect(await certify(doomed, 'doomed')).toMatchObject({ ok: true });
    await cluster.kubectl(['-n', NS, 'delete', 'serviceaccount', 'doomed']);
    expect(await certifyUntilRefused(doomed, 'doomed')).toMatchObject({ ok: false, weftCode: 'WEFT_ERR_TOKEN_INVALID' });

    const uid = await createPod('web-2', 'web');
    const bound = await cluster.requestToken(NS, 'web', { boundObjectRef: { kind: 'Pod', name: 'web-2', uid } });
    expect(await certify(bound, 'web')).toMatchObject({ ok: true });
    await cluster.kubectl(['-n', NS, 'delete', 'pod', 'web-2', '--grace-period=0', '--force']);
    // Without a kubelet the pod may linger with a deletionTimestamp; the token dies with the object.
    const deadline = Date.now() + 15_000;
    while ((await cluster.api('GET', `/api/v1/namespaces/${NS}/pods/web-2`)).status !== 404 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await certifyUntilRefused(bound, 'web')).toMatchObject({ ok: false, weftCode: 'WEFT_ERR_TOKEN_INVALID' });
  });

  it('fails for a legacy Secret token (no audience, no expiry)', async () => {
    const sa = await cluster.api<{ secrets?: Array<{ name: string }> }>('GET', `/api/v1/namespaces/${NS}/serviceaccounts/web`);
    const secretName = sa.body.secrets?.[0]?.name;
    expect(secretName).toBeDefined();
    const secret = await cluster.api<{ data: { token: string } }>('GET', `/api/v1/namespaces/${NS}/secrets/${secretName}`);
    const legacy = Buffer.from(secret.body.data.token, 'base64').toString();
    // The apiserver itself accepts it for the API ...
    expect((await cluster.reviewToken(legacy)).authenticated).toBe(true);
    // ... Weft does not: it is not a token for identity.weft.dev.
    expect(await certify(legacy, 'web')).toMatchObject({ ok: false, weftCode: 'WEFT_ERR_TOKEN_INVALID' });
  });

  it('the config stream takes the same tokens: a wrong-audience token is refused, a good one subscribes', async () => {
    const bad = subscribeConfig(kcp.cp, await cluster.requestToken(NS, 'web', { audiences: ['vault.example'] }), { namespace: NS, pod: 'web-1', serviceAccount: 'web' });
    const err = await bad.ended;
    expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
    bad.close();
    const good = subscribeConfig(kcp.cp, await cluster.requestToken(NS, 'web'), { namespace: NS, pod: 'web-1', serviceAccount: 'web' });
    const first = await good.waitFor(() => true);
    expect(first.config.inbound.identity).toBe(id('web'));
    good.close();
  });
});
