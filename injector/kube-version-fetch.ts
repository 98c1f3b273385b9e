// The webhook's one question to the apiserver at start: GET /version (which
// every authenticated caller may ask; the RBAC role system:public-info-viewer
// grants it), read by kube-version.ts. Authentication as namespace-lookup-kube.ts:
// @kubernetes/client-node's KubeConfig (a file, $KUBECONFIG, ~/.kube/config or
// the in-cluster ServiceAccount).
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
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
  const secure = new URL(url).protocol === 'https:';
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const headers: Record<string, string> = { accept: 'application/json' };
  for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k] = v;
  if (typeof opts.auth === 'string' && opts.auth !== '') headers['authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
  const tlsOptions: https.RequestOptions = secure
    ? {
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
        ...(opts.key !== undefined ? { key: opts.key } : {}),
        ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
        ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
      }
    : {};
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = (secure ? https : http).request(url, { method: 'GET', headers, agent: false, ...tlsOptions }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  }).catch((cause: unknown) => {
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
