// One resilient informer per resource: @kubernetes/client-node's ListWatch
// (list, then watch from the list's resourceVersion, relist on 410 Gone)
// plus what it leaves to its user:
//
// - Restart after errors. ListWatch reports a failed list or watch (apiserver
//   down, restarted, RBAC, a network cut) on 'error' and stops; this restarts
//   it with exponential backoff and jitter. The cache survives: a restart
//   re-watches from the last resourceVersion, and only if that is too old
//   (410) relists, which replaces the cache in one synchronous step.
//   Consumers read the cache after a short coalescing delay (see
//   kubernetes-source.ts), so nobody ever sees the half-replaced cache of a
//   relist, and no endpoint disappears because a connection dropped.
// - A stop that really stops: ListWatch can start a watch after stop() when
//   stop() lands during its list or its watch's connect; every watch goes
//   through a guard here that aborts it once stopped.
// - Paged lists (limit 500), items given the list's apiVersion and kind
//   (list responses leave them out for built-in kinds).
import { ListWatch, type KubernetesListObject, type KubernetesObject, type Watch } from '@kubernetes/client-node';
import { WeftError } from '../proto/errors.ts';
import { statusMessage, type KubeClient } from './kube-client.ts';

export interface BackoffOptions {
  /** First delay after an error (default 250 ms). */
  initialMs?: number;
  /** Largest delay (default 10 s). */
  maxMs?: number;
}

export interface ResourceInformerOptions {
  client: KubeClient;
  /** Collection path, e.g. /api/v1/pods or /apis/discovery.k8s.io/v1beta1/endpointslices. */
  path: string;
  /** Called after every change to the cache (many times for one relist: coalesce). */
  onChange: () => void;
  /** A failed list or watch; the informer restarts by itself. */
  onError: (err: WeftError) => void;
  backoff?: BackoffOptions;
  /** Page size of lists (default 500). */
  pageSize?: number;
}

export interface ResourceInformer {
  readonly path: string;
  /** Starts listing and watching; errors go to onError, never a rejection. */
  start(): void;
  /** Resolves after the first successful list. */
  synced(): Promise<void>;
  readonly hasSynced: boolean;
  /** The cached objects (all namespaces). */
  list(): readonly KubernetesObject[];
  get(name: string, namespace?: string): KubernetesObject | undefined;
  /** Complete lists so far (the first, then one per relist) and failed lists or watches. */
  stats(): { lists: number; errors: number };
  /** Stops for good; no onChange or onError afterwards. */
  stop(): Promise<void>;
}

/** Delay before restart number `attempt` (0-based): doubling, capped, with +-20% jitter. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = opts.initialMs ?? 250;
  const max = opts.maxMs ?? 10_000;
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.8 + 0.4 * random()));
}

interface HttpError extends Error {
  statusCode?: number;
}

export function createResourceInformer(o: ResourceInformerOptions): ResourceInformer {
  const pageSize = o.pageSize ?? 500;
  let stopped = false;
  let started = false;
  let hasSynced = false;
  let attempt = 0;
  let lastStart = 0;
  let lists = 0;
  let errors = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let resolveSynced!: () => void;
  const syncedPromise = new Promise<void>((resolve) => (resolveSynced = resolve));
  const aborts = new Set<AbortController>();

  async function listAll(): Promise<KubernetesListObject<KubernetesObject>> {
    const items: KubernetesObject[] = [];
    let resourceVersion = '';
    let apiVersion = '';
    let kind = '';
    let cont = '';
    do {
      if (stopped) throw new Error('informer stopped');
      const sep = o.path.includes('?') ? '&' : '?';
      const q = `limit=${pageSize}${cont === '' ? '' : `&continue=${encodeURIComponent(cont)}`}`;
      const res = await o.client.request<KubernetesListObject<KubernetesObject> & { metadata?: { continue?: string } }>(
        'GET',
        `${o.path}${sep}${q}`,
      );
      if (res.status !== 200 || !Array.isArray(res.body?.items)) {
        const err: HttpError = new Error(`list ${o.path}: ${statusMessage(res)}`);
        err.statusCode = res.status;
        throw err;
      }
      if (cont === '') {
        resourceVersion = res.body.metadata?.resourceVersion ?? '';
        apiVersion = res.body.apiVersion ?? '';
        kind = (res.body.kind ?? '').replace(/List$/, '');
      }
      items.push(...res.body.items);
      cont = res.body.metadata?.continue ?? '';
    } while (cont !== '');
    if (stopped) throw new Error('informer stopped');
    for (const item of items) {
      item.apiVersion ??= apiVersion;
      item.kind ??= kind;
    }
    attempt = 0;
    return { apiVersion, kind: `${kind}List`, metadata: { resourceVersion }, items };
  }

  // Every watch ListWatch opens goes through here, so that stop() can abort it.
  const guardedWatch = {
    config: o.client.kubeConfig,
    async watch(
      path: string,
      params: Record<string, string | number | boolean | undefined>,
      callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
      done: (err: unknown) => void,
    ): Promise<AbortController> {
      if (stopped) {
        const c = new AbortController();
        c.abort();
        return c;
      }
      // done() may run before watch() returns (a refused connection): no
      // reference to the controller in it.
      let finished = false;
      const controller = await o.client.watch.watch(
        path,
        { ...params, allowWatchBookmarks: true },
        (phase, obj, raw) => {
          if (stopped) return;
          if (phase !== 'ERROR') attempt = 0;
          callback(phase, obj, raw);
        },
        (err: unknown) => {
          finished = true;
          if (!stopped) done(err);
        },
      );
      if (stopped) controller.abort();
      else if (!finished) {
        aborts.add(controller);
        controller.signal.addEventListener('abort', () => aborts.delete(controller), { once: true });
      }
      return controller;
    },
  } as unknown as Watch;

  // ListWatch fills its cache right after a successful list returns; the
  // first one marks the informer synced once that has happened.
  const listAndMark = async (): Promise<KubernetesListObject<KubernetesObject>> => {
    const l = await listAll();
    lists++;
    setImmediate(() => {
      if (!hasSynced && !stopped) {
        hasSynced = true;
        resolveSynced();
        o.onChange();
      }
    });
    return l;
  };

  const lw = new ListWatch<KubernetesObject>(o.path, guardedWatch, listAndMark, false);

  const changed = (): void => {
    if (!stopped) o.onChange();
  };
  lw.on('add', changed);
  lw.on('update', changed);
  lw.on('delete', changed);
  lw.on('connect', () => {
    lastStart = Date.now();
  });
  lw.on('error', (err: unknown) => {
    if (stopped) return;
    errors++;
    // A watch that lived a while earns a fresh backoff.
    if (Date.now() - lastStart > 60_000) attempt = 0;
    const delay = backoffDelay(attempt++, o.backoff);
    const e = err as HttpError | undefined;
    const what = e?.message ?? String(err);
    o.onError(
      new WeftError(
        'WEFT_ERR_SOURCE_UNAVAILABLE',
        `watching ${o.path} failed${e?.statusCode !== undefined && !what.includes('HTTP') ? ` (HTTP ${e.statusCode})` : ''}: ${what}; retrying in ${delay} ms`,
        { cause: err },
      ),
    );
    if (restartTimer !== undefined) clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (!stopped) void lw.start();
    }, delay);
  });

  return {
    path: o.path,
    start() {
      if (started || stopped) return;
      started = true;
      void lw.start();
    },
    synced: () => syncedPromise,
    get hasSynced() {
      return hasSynced;
    },
    list: () => lw.list(),
    get: (name, namespace) => lw.get(name, namespace),
    stats: () => ({ lists, errors }),
    async stop() {
      stopped = true;
      if (restartTimer !== undefined) clearTimeout(restartTimer);
      restartTimer = undefined;
      for (const c of aborts) c.abort();
      aborts.clear();
      await lw.stop();
    },
  };
}
