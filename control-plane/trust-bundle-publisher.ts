// Copies the trust bundle (ConfigMap weft-trust-bundle, key ca-bundle.crt)
// into every meshed namespace: an injected pod mounts it from its own
// namespace (a ConfigMap volume cannot reach across namespaces; see
// injector/patch.ts), and the kubelet holds the pod until it exists.
//
// Meshed: the namespace says `weft.dev/inject: enabled` (annotation or
// label), or one of its pods runs a Weft proxy or opts in itself. Each
// namespace is ensured once (create, or rewrite when it lacks the anchor),
// and again after `recheckMs` (default 5 min) in case someone deleted it.
import { WeftError } from '../proto/errors.ts';
import type { ClusterSource } from './cluster-source.ts';
import type { ClusterState } from './cluster-state.ts';
import { ensureTrustBundle } from './kube-ca-store.ts';
import type { KubeClient } from './kube-client.ts';

export const INJECT_KEY = 'weft.dev/inject';

/** Pure: the namespaces that need the trust bundle, sorted. */
export function meshedNamespaces(state: ClusterState): string[] {
  const out = new Set<string>();
  const enabled = (m: Readonly<Record<string, string>>): boolean => m[INJECT_KEY] === 'enabled';
  for (const ns of state.namespaces) if (enabled(ns.annotations) || enabled(ns.labels)) out.add(ns.name);
  for (const p of state.pods) if (p.meshed || enabled(p.annotations) || enabled(p.labels)) out.add(p.namespace);
  return [...out].sort();
}

export interface TrustBundlePublisherOptions {
  client: KubeClient;
  anchorPem: string;
  /** Namespaces never written to (e.g. the control plane's own, where the CA store keeps it). */
  skip?: readonly string[];
  recheckMs?: number;
  onError?: (err: WeftError) => void;
}

export interface TrustBundlePublisher {
  update(state: ClusterState): void;
  /** Resolves when the current pass is done. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export function createTrustBundlePublisher(o: TrustBundlePublisherOptions): TrustBundlePublisher {
  const recheckMs = o.recheckMs ?? 300_000;
  const done = new Map<string, number>(); // namespace -> when ensured
  const skip = new Set(o.skip ?? []);
  let wanted: string[] = [];
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;

  async function pass(): Promise<void> {
    do {
      again = false;
      const now = Date.now();
      for (const ns of wanted) {
        if (closed) return;
        if (skip.has(ns)) continue;
        const at = done.get(ns);
        if (at !== undefined && now - at < recheckMs) continue;
        try {
          await ensureTrustBundle({ client: o.client, namespace: ns }, o.anchorPem);
          done.set(ns, Date.now());
        } catch (err) {
          if (!closed) {
            o.onError?.(
              err instanceof WeftError ? err : new WeftError('WEFT_ERR_KUBE_API', `trust bundle in ${ns}: ${String(err)}`, { cause: err }),
            );
          }
        }
      }
    } while (again && !closed);
  }

  return {
    update(state) {
      if (closed) return;
      wanted = meshedNamespaces(state);
      for (const ns of [...done.keys()]) if (!wanted.includes(ns)) done.delete(ns);
      if (running !== undefined) {
        again = true;
        return;
      }
      running = pass().finally(() => {
        running = undefined;
      });
    },
    async idle() {
      while (running !== undefined) await running;
    },
    async close() {
      closed = true;
      await running;
    },
  };
}

/** The same source, also telling `listener` of every state it emits. */
export function withStateListener<S extends ClusterSource>(source: S, listener: (state: ClusterState) => void): S {
  return Object.assign(Object.create(source) as S, {
    start: (onChange: (state: ClusterState) => void) =>
      source.start((state) => {
        onChange(state);
        listener(state);
      }),
  });
}
