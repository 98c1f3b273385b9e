// A GET of the apiserver as the kubeconfig's user, for the webhook's two
// questions (namespace-lookup-kube.ts per review, kube-version-fetch.ts once
// at start): credentials and TLS settings from @kubernetes/client-node's
// KubeConfig (a file, $KUBECONFIG, ~/.kube/config or the in-cluster
// ServiceAccount), the answer as status and text.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface KubeAuth {
  /** accept: application/json, plus the kubeconfig's Authorization (token or basic). */
  headers: Record<string, string>;
  /** CA, client certificate and key, verification and server name: for a request or an https.Agent. */
  tls: Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;
}

export async function kubeAuth(kc: KubeConfig): Promise<KubeAuth> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const headers: Record<string, string> = { accept: 'application/json' };
  for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k] = v;
  if (typeof opts.auth === 'string' && opts.auth !== '') headers['authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
  return {
    headers,
    tls: {
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
      ...(opts.key !== undefined ? { key: opts.key } : {}),
      ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
      ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
    },
  };
}

/** GET `url`; rejects on a transport error or no answer within timeoutMs. With `agent`, its TLS settings apply; else `tls`'s (https only). */
export function kubeGet(
  url: string,
  o: { headers: Record<string, string>; timeoutMs: number; agent?: http.Agent; tls?: KubeAuth['tls'] },
): Promise<{ status: number; text: string }> {
  const secure = new URL(url).protocol === 'https:';
  const options: https.RequestOptions = { method: 'GET', headers: o.headers, ...(o.agent !== undefined ? { agent: o.agent } : { agent: false, ...(secure ? (o.tls ?? {}) : {}) }) };
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(o.timeoutMs, () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
