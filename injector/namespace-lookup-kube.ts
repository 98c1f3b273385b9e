// The webhook's NamespaceLookup in a cluster: a GET of the Namespace per
// admission review, with a short cache. An AdmissionReview carries only the
// pod, so whether its namespace says `weft.dev/inject: enabled` comes from
// the API (RBAC: namespaces get, deploy/rbac.ts).
//
// Why a GET and not an informer: pods are created a few times a second at
// most, a GET costs a couple of milliseconds, and a namespace annotated a
// moment ago is seen as soon as the cache entry ages out (ttlMs, default 1 s)
// rather than whenever a watch delivers it; no watch to keep alive across
// apiserver restarts either.
//
// - Hits (and 404s: "not known", i.e. not annotated) are cached for ttlMs;
//   concurrent reviews of one namespace share one request.
// - When the API cannot answer (unreachable, timeout, 5xx, 403), the last
//   answer seen for the namespace is used if it is younger than staleMs
//   (default 5 min); otherwise the lookup rejects, and the webhook fails open
//   with a warning (admission-errors.ts), as for any internal error.
// Authentication comes from a kubeconfig (@kubernetes/client-node's
// KubeConfig): a file, $KUBECONFIG, ~/.kube/config, or the in-cluster
// ServiceAccount.
import http from 'node:http';
import https from 'node:https';
import { kubeAuth, kubeGet } from './kube-get.ts';
import { KubeConfig } from '@kubernetes/client-node';
import type { NamespaceLookup } from './namespace-lookup.ts';
import type { NamespaceMeta } from './patch.ts';

export interface KubeNamespaceLookupOptions {
  /** A kubeconfig file; else $KUBECONFIG, ~/.kube/config, or the in-cluster ServiceAccount. */
  kubeconfigPath?: string | undefined;
  /** Or a KubeConfig already loaded. */
  kubeConfig?: KubeConfig;
  /** How long an answer is reused (default 1000 ms; 0: a GET per review). */
  ttlMs?: number;
  /** How long an old answer may stand in while the API cannot answer (default 5 min). */
  staleMs?: number;
  /** Per request (default 2000 ms: the apiserver gives the whole webhook 10 s). */
  timeoutMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

export interface KubeNamespaceLookup extends NamespaceLookup {
  /** GETs made so far (cache misses), for tests and metrics. */
  readonly requests: number;
  /** Forgets every cached answer. */
  clear(): void;
  close(): void;
}

export class NamespaceLookupError extends Error {
  readonly code = 'WEFT_ERR_INJECT_NAMESPACE_LOOKUP';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NamespaceLookupError';
  }
}

interface Entry {
  at: number;
  meta: NamespaceMeta | undefined;
}

function stringMap(v: unknown): Record<string, string> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

/** Pure: a Namespace object's metadata as the patch code reads it. */
export function namespaceMetaOf(name: string, body: unknown): NamespaceMeta {
  const meta = (body as { metadata?: { labels?: unknown; annotations?: unknown } } | undefined)?.metadata;
  return { name, labels: stringMap(meta?.labels), annotations: stringMap(meta?.annotations) };
}

export function loadKubeConfigForInjector(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath !== undefined && kubeconfigPath !== '') kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  if (kc.getCurrentCluster() === null) throw new NamespaceLookupError('the kubeconfig has no current cluster (and this is not a pod)');
  return kc;
}

export function createKubeNamespaceLookup(o: KubeNamespaceLookupOptions = {}): KubeNamespaceLookup {
  const kc = o.kubeConfig ?? loadKubeConfigForInjector(o.kubeconfigPath);
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new NamespaceLookupError('the kubeconfig has no current cluster');
  const server = cluster.server.replace(/\/+$/, '');
  const secure = new URL(server).protocol === 'https:';
  const ttlMs = o.ttlMs ?? 1000;
  const staleMs = o.staleMs ?? 300_000;
  const timeoutMs = o.timeoutMs ?? 2000;
  const now = o.now ?? Date.now;
  const cache = new Map<string, Entry>();
  const inflight = new Map<string, Promise<NamespaceMeta | undefined>>();
  let agent: http.Agent | undefined;
  let requests = 0;

  async function fetchNamespace(name: string): Promise<NamespaceMeta | undefined> {
    const auth = await kubeAuth(kc);
    agent ??= secure ? new https.Agent({ keepAlive: true, maxSockets: 8, ...auth.tls }) : new http.Agent({ keepAlive: true, maxSockets: 8 });
    requests++;
    const url = `${server}/api/v1/namespaces/${encodeURIComponent(name)}`;
    const { status, text } = await kubeGet(url, { headers: auth.headers, agent, timeoutMs }).catch((cause: unknown) => {
      throw new NamespaceLookupError(`GET namespace ${name}: ${(cause as Error).message}`, { cause });
    });
    if (status === 404) return undefined;
    if (status !== 200) throw new NamespaceLookupError(`GET namespace ${name}: HTTP ${status} ${text.slice(0, 200)}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (cause) {
      throw new NamespaceLookupError(`GET namespace ${name}: the answer is not JSON`, { cause });
    }
    return namespaceMetaOf(name, body);
  }

  return {
    get requests() {
      return requests;
    },
    get(name) {
      const hit = cache.get(name);
      const t = now();
      if (hit !== undefined && t - hit.at < ttlMs) return Promise.resolve(hit.meta);
      let p = inflight.get(name);
      if (p === undefined) {
        p = fetchNamespace(name)
          .then(
            (meta) => {
              cache.set(name, { at: now(), meta });
              return meta;
            },
            (err: unknown) => {
              const old = cache.get(name);
              if (old !== undefined && now() - old.at < staleMs) return old.meta;
              throw err;
            },
          )
          .finally(() => inflight.delete(name));
        inflight.set(name, p);
      }
      return p;
    },
    clear() {
      cache.clear();
    },
    close() {
      agent?.destroy();
      agent = undefined;
    },
  };
}
