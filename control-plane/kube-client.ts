// JSON requests to the Kubernetes API server, authenticated from a kubeconfig
// (or the in-cluster ServiceAccount) through @kubernetes/client-node's
// KubeConfig, over one keep-alive connection pool. Raw paths rather than the
// typed API classes: the same code then reads discovery.k8s.io/v1beta1 and v1,
// every SMI version and the status subresource, and objects stay plain JSON
// (the typed classes turn timestamps into Dates, the watch stream does not).
import http from 'node:http';
import https from 'node:https';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { WeftError } from '../proto/errors.ts';

export interface KubeResponse<T = unknown> {
  status: number;
  /** Parsed JSON (undefined when the body is not JSON). */
  body: T;
}

export interface KubeRequestOptions {
  /** Default application/json; e.g. application/merge-patch+json for PATCH. */
  contentType?: string;
  /** Default 30 s. */
  timeoutMs?: number;
}

export interface KubeClient {
  /** https://host:port of the current context. */
  readonly server: string;
  readonly kubeConfig: KubeConfig;
  /** client-node's watcher, for informers. */
  readonly watch: Watch;
  /**
   * One request. Resolves with any HTTP status; rejects (WEFT_ERR_KUBE_API)
   * only when no response came (connection refused, reset, timeout).
   */
  request<T = unknown>(method: string, path: string, body?: unknown, opts?: KubeRequestOptions): Promise<KubeResponse<T>>;
  /** Closes idle connections. */
  close(): void;
}

export interface LoadKubeConfigOptions {
  /** A kubeconfig file; else $KUBECONFIG, ~/.kube/config, or the in-cluster ServiceAccount. */
  kubeconfigPath?: string | undefined;
  /** A context of the kubeconfig other than its current one. */
  context?: string | undefined;
}

export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfigPath !== undefined && opts.kubeconfigPath !== '') kc.loadFromFile(opts.kubeconfigPath);
    else kc.loadFromDefault();
    if (opts.context !== undefined && opts.context !== '') kc.setCurrentContext(opts.context);
  } catch (cause) {
    throw new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', `cannot load the kubeconfig: ${(cause as Error).message}`, { cause });
  }
  if (kc.getCurrentCluster() === null) {
    throw new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', 'the kubeconfig has no current cluster (and this is not a pod)');
  }
  return kc;
}

/** A message for humans from a Kubernetes Status body. */
export function statusMessage(res: KubeResponse): string {
  const b = res.body as { message?: unknown; reason?: unknown } | undefined;
  const msg = typeof b?.message === 'string' ? b.message : '';
  return msg === '' ? `HTTP ${res.status}` : `HTTP ${res.status}: ${msg}`;
}

/** WEFT_ERR_KUBE_API for a response that is not what `what` needed. */
export function kubeApiError(what: string, res: KubeResponse): WeftError {
  return new WeftError('WEFT_ERR_KUBE_API', `${what}: ${statusMessage(res)}`);
}

export function createKubeClient(kc: KubeConfig): KubeClient {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', 'the kubeconfig has no current cluster');
  const server = cluster.server.replace(/\/+$/, '');
  const url = new URL(server);
  const secure = url.protocol === 'https:';
  let agent: http.Agent | undefined;

  /** Auth headers (a token file may rotate) and, once, the TLS settings of the pool. */
  async function options(): Promise<{ headers: Record<string, string>; agent: http.Agent }> {
    const o: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(o);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.headers ?? {})) if (typeof v === 'string') headers[k] = v;
    if (typeof o.auth === 'string' && o.auth !== '') headers['authorization'] = `Basic ${Buffer.from(o.auth).toString('base64')}`;
    agent ??= secure
      ? new https.Agent({
          keepAlive: true,
          maxSockets: 16,
          ...(o.ca !== undefined ? { ca: o.ca } : {}),
          ...(o.cert !== undefined ? { cert: o.cert } : {}),
          ...(o.key !== undefined ? { key: o.key } : {}),
          ...(o.rejectUnauthorized !== undefined ? { rejectUnauthorized: o.rejectUnauthorized } : {}),
          ...(o.servername !== undefined ? { servername: o.servername } : {}),
        })
      : new http.Agent({ keepAlive: true, maxSockets: 16 });
    return { headers, agent };
  }

  async function request<T>(method: string, path: string, body?: unknown, ropts: KubeRequestOptions = {}): Promise<KubeResponse<T>> {
    const { headers, agent: a } = await options();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const target = new URL(server + path);
    const timeoutMs = ropts.timeoutMs ?? 30_000;
    return new Promise<KubeResponse<T>>((resolve, reject) => {
      const req = (secure ? https : http).request(
        target,
        {
          method,
          agent: a,
          headers: {
            accept: 'application/json',
            ...headers,
            ...(payload !== undefined ? { 'content-type': ropts.contentType ?? 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (cause) => reject(new WeftError('WEFT_ERR_KUBE_API', `${method} ${path}: ${cause.message}`, { cause })));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            if ((res.headers['content-type'] ?? '').includes('json')) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = undefined;
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response in ${timeoutMs} ms`)));
      req.on('error', (cause) => reject(new WeftError('WEFT_ERR_KUBE_API', `${method} ${server}${path}: ${cause.message}`, { cause })));
      req.end(payload);
    });
  }

  return {
    server,
    kubeConfig: kc,
    watch: new Watch(kc),
    request,
    close() {
      agent?.destroy();
      agent = undefined;
    },
  };
}
