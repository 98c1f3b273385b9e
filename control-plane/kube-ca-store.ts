// The CA's state in the cluster, for the control plane in Kubernetes:
//
//   Secret weft-system/weft-identity (Opaque)   anchor.pem, anchor-key.pem
//                                                (optional), issuer.pem,
//                                                issuer-key.pem: the same
//                                                names as ca-store.ts's files,
//                                                so the Secret also works
//                                                mounted as a --ca-dir
//   ConfigMap weft-system/weft-trust-bundle     ca-bundle.crt: the trust
//                                                anchor(s), public, for
//                                                anything that verifies SVIDs
//
// First start: no Secret -> a new anchor and issuer are created and stored
// (create, not update: when two replicas race, the loser reads the winner's).
// Later: the Secret is read and checked; with the anchor key at hand, an
// issuer that is missing or close to expiry is renewed under the same anchor
// and written back (optimistic concurrency on resourceVersion). A Secret
// written by `weft install` without the anchor key is used as is. The
// ConfigMap is created, or rewritten when it does not hold the anchor.
import { WeftError } from '../proto/errors.ts';
import { CA_FILES, DEFAULT_ISSUER_RENEW_BEFORE_MS, issuerNeedsRenewal, type LoadedCa } from './ca-store.ts';
import { checkCaMaterial, checkTrustDomain, createCaMaterial, renewIssuer, type CaMaterial } from './ca-material.ts';
import { kubeApiError, type KubeClient } from './kube-client.ts';

export const CA_SECRET_NAME = 'weft-identity';
export const TRUST_BUNDLE_CONFIGMAP_NAME = 'weft-trust-bundle';
/** The key the injector mounts (injector/patch.ts, deploy/names.ts). */
export const TRUST_BUNDLE_KEY = 'ca-bundle.crt';
export const DEFAULT_CONTROL_PLANE_NAMESPACE = 'weft-system';

export interface KubeCaStoreOptions {
  client: KubeClient;
  trustDomain: string;
  /** Unix ms. */
  now: number;
  /** Default weft-system. */
  namespace?: string;
  /** Default weft-identity. */
  secretName?: string;
  /** Default weft-trust-bundle. */
  configMapName?: string;
  anchorLifetimeMs?: number;
  issuerLifetimeMs?: number;
  issuerRenewBeforeMs?: number;
}

interface SecretBody {
  metadata?: { resourceVersion?: string };
  data?: Record<string, string>;
}

/** Pure: the Secret's data (base64) for `material`. */
export function caSecretData(material: CaMaterial): Record<string, string> {
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  return {
    [CA_FILES.anchor]: b64(material.anchorPem),
    ...(material.anchorKeyPem !== undefined ? { [CA_FILES.anchorKey]: b64(material.anchorKeyPem) } : {}),
    [CA_FILES.issuer]: b64(material.issuerPem),
    [CA_FILES.issuerKey]: b64(material.issuerKeyPem),
  };
}

/** Pure: the PEM files in a Secret's data (undefined for a missing or empty key). */
export function caFilesFromSecretData(data: Readonly<Record<string, string>> | undefined): {
  anchorPem: string | undefined;
  anchorKeyPem: string | undefined;
  issuerPem: string | undefined;
  issuerKeyPem: string | undefined;
} {
  const get = (k: string): string | undefined => {
    const v = data?.[k];
    if (typeof v !== 'string' || v === '') return undefined;
    const text = Buffer.from(v, 'base64').toString('utf8');
    return text === '' ? undefined : text;
  };
  return {
    anchorPem: get(CA_FILES.anchor),
    anchorKeyPem: get(CA_FILES.anchorKey),
    issuerPem: get(CA_FILES.issuer),
    issuerKeyPem: get(CA_FILES.issuerKey),
  };
}

/** Pure: the certificates of a PEM bundle, normalised (for comparing bundles). */
export function pemCertificates(bundle: string): string[] {
  return [...bundle.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => m[0].replace(/\r/g, '').trim());
}

export async function loadOrCreateKubeCa(opts: KubeCaStoreOptions): Promise<LoadedCa> {
  checkTrustDomain(opts.trustDomain);
  const ns = encodeURIComponent(opts.namespace ?? DEFAULT_CONTROL_PLANE_NAMESPACE);
  const name = opts.secretName ?? CA_SECRET_NAME;
  const secretPath = `/api/v1/namespaces/${ns}/secrets/${encodeURIComponent(name)}`;
  const where = `Secret ${opts.namespace ?? DEFAULT_CONTROL_PLANE_NAMESPACE}/${name}`;
  const secretBody = (material: CaMaterial, resourceVersion?: string): unknown => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: opts.namespace ?? DEFAULT_CONTROL_PLANE_NAMESPACE,
      labels: { 'app.kubernetes.io/part-of': 'weft', 'app.kubernetes.io/component': 'identity' },
      ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    },
    type: 'Opaque',
    data: caSecretData(material),
  });

  let loaded: LoadedCa | undefined;
  for (let attempt = 0; loaded === undefined; attempt++) {
    if (attempt >= 3) throw new WeftError('WEFT_ERR_CA_INVALID', `${where} keeps changing under us; giving up`);
    const got = await opts.client.request<SecretBody>('GET', secretPath);
    if (got.status === 404) {
      const material = createCaMaterial({
        trustDomain: opts.trustDomain,
        now: opts.now,
        ...(opts.anchorLifetimeMs !== undefined ? { anchorLifetimeMs: opts.anchorLifetimeMs } : {}),
        ...(opts.issuerLifetimeMs !== undefined ? { issuerLifetimeMs: opts.issuerLifetimeMs } : {}),
      });
      const created = await opts.client.request('POST', `/api/v1/namespaces/${ns}/secrets`, secretBody(material));
      if (created.status === 409) continue; // another replica was first: read its CA
      if (created.status !== 201) throw kubeApiError(`creating ${where}`, created);
      loaded = { ...checkCaMaterial(material, opts.now), source: 'created' };
      break;
    }
    if (got.status !== 200) throw kubeApiError(`reading ${where}`, got);
    const files = caFilesFromSecretData(got.body?.data);
    if (files.anchorPem === undefined) throw new WeftError('WEFT_ERR_CA_INVALID', `${where} has no ${CA_FILES.anchor}`);
    if (files.issuerPem !== undefined && files.issuerKeyPem === undefined) {
      throw new WeftError('WEFT_ERR_CA_INVALID', `${where} has ${CA_FILES.issuer} without ${CA_FILES.issuerKey}`);
    }
    const renew =
      files.anchorKeyPem !== undefined &&
      issuerNeedsRenewal(files.issuerPem, opts.now, opts.issuerRenewBeforeMs ?? DEFAULT_ISSUER_RENEW_BEFORE_MS);
    if (renew) {
      const material = renewIssuer(
        { anchorPem: files.anchorPem, anchorKeyPem: files.anchorKeyPem },
        {
          trustDomain: opts.trustDomain,
          now: opts.now,
          ...(opts.issuerLifetimeMs !== undefined ? { issuerLifetimeMs: opts.issuerLifetimeMs } : {}),
        },
      );
      const checked = checkCaMaterial(material, opts.now);
      const put = await opts.client.request('PUT', secretPath, secretBody(material, got.body?.metadata?.resourceVersion));
      if (put.status === 409) continue; // changed meanwhile: start over
      if (put.status !== 200) throw kubeApiError(`updating ${where}`, put);
      loaded = { ...checked, source: 'issuer-renewed' };
      break;
    }
    if (files.issuerPem === undefined || files.issuerKeyPem === undefined) {
      throw new WeftError('WEFT_ERR_CA_INVALID', `${where} has a trust anchor but no issuer, and no anchor key to create one`);
    }
    const material: CaMaterial = {
      anchorPem: files.anchorPem,
      anchorKeyPem: files.anchorKeyPem,
      issuerPem: files.issuerPem,
      issuerKeyPem: files.issuerKeyPem,
    };
    loaded = { ...checkCaMaterial(material, opts.now), source: 'loaded' };
  }
  await ensureTrustBundle(opts, loaded.material.anchorPem);
  return loaded;
}

/** Creates or rewrites the trust bundle ConfigMap so that it holds `anchorPem`. */
export async function ensureTrustBundle(
  opts: Pick<KubeCaStoreOptions, 'client' | 'namespace' | 'configMapName'>,
  anchorPem: string,
): Promise<void> {
  const nsName = opts.namespace ?? DEFAULT_CONTROL_PLANE_NAMESPACE;
  const ns = encodeURIComponent(nsName);
  const name = opts.configMapName ?? TRUST_BUNDLE_CONFIGMAP_NAME;
  const path = `/api/v1/namespaces/${ns}/configmaps/${encodeURIComponent(name)}`;
  const where = `ConfigMap ${nsName}/${name}`;
  const anchor = pemCertificates(anchorPem)[0];
  const body = (resourceVersion?: string): unknown => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: nsName,
      labels: { 'app.kubernetes.io/part-of': 'weft', 'app.kubernetes.io/component': 'identity' },
      ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    },
    data: { [TRUST_BUNDLE_KEY]: anchorPem.endsWith('\n') ? anchorPem : `${anchorPem}\n` },
  });
  for (let attempt = 0; attempt < 3; attempt++) {
    const got = await opts.client.request<{ metadata?: { resourceVersion?: string }; data?: Record<string, string> }>('GET', path);
    if (got.status === 404) {
      const created = await opts.client.request('POST', `/api/v1/namespaces/${ns}/configmaps`, body());
      if (created.status === 409) continue;
      if (created.status !== 201) throw kubeApiError(`creating ${where}`, created);
      return;
    }
    if (got.status !== 200) throw kubeApiError(`reading ${where}`, got);
    const have = pemCertificates(got.body?.data?.[TRUST_BUNDLE_KEY] ?? '');
    if (anchor !== undefined && have.includes(anchor)) return; // holds it (maybe with others, mid-rotation)
    const put = await opts.client.request('PUT', path, body(got.body?.metadata?.resourceVersion));
    if (put.status === 409) continue;
    if (put.status !== 200) throw kubeApiError(`updating ${where}`, put);
    return;
  }
  throw new WeftError('WEFT_ERR_KUBE_API', `${where} keeps changing under us; giving up`);
}
