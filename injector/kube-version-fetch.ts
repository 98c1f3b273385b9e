// The webhook's one question to the apiserver at start: GET /version (which
// every authenticated caller may ask; the RBAC role system:public-info-viewer
// grants it), read by kube-version.ts; the request is kube-get.ts's.
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeAuth, kubeGet } from './kube-get.ts';
import { kubeVersionOf, type KubeVersion } from './kube-version.ts';

export class KubeVersionFetchError extends Error {
  readonly code = 'WEFT_ERR_INJECT_VERSION_FETCH';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KubeVersionFetchError';
  }
}

/** The apiserver's version; rejects (KubeVersionFetchError, or WEFT_ERR_INJECT_VERSION_INVALID for an unreadable answer) within timeoutMs. */
export async function fetchKubeVersion(kc: KubeConfig, timeoutMs = 5_000): Promise<KubeVersion> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new KubeVersionFetchError('the kubeconfig has no current cluster');
  const url = `${cluster.server.replace(/\/+$/, '')}/version`;
  const auth = await kubeAuth(kc);
  const { status, text } = await kubeGet(url, { headers: auth.headers, tls: auth.tls, timeoutMs }).catch((cause: unknown) => {
    throw new KubeVersionFetchError(`GET /version: ${(cause as Error).message}`, { cause });
  });
  if (status !== 200) throw new KubeVersionFetchError(`GET /version: HTTP ${status} ${text.slice(0, 200)}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (cause) {
    throw new KubeVersionFetchError('GET /version: the answer is not JSON', { cause });
  }
  return kubeVersionOf(body);
}
