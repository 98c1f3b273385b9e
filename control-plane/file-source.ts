// The file source: a ClusterSource over a folder of Kubernetes-shaped YAML
// (*.yaml, *.yml, *.json; not recursive; dot files ignored), for the local
// mesh. The folder is watched (fs.watch, debounced 100 ms, plus a slow poll
// as a backstop), so an edit is live well within a second.
//
// - Each file is parsed whole. A file with any error keeps its previous good
//   objects (or none, if it never parsed): the errors go to onError
//   (ManifestError, WEFT_ERR_MANIFEST_INVALID, naming file, document and
//   field), once per distinct content, and the last good state stays in force.
//   A file that turns empty counts only if it is still empty after another
//   debounce (editors truncate, then write).
// - Pods are not in the files: `weft up` hands them over with setPods() as it
//   starts replicas on loopback addresses, and the source computes each
//   Service's endpoints from them (endpoints-from-pods.ts).
// - onChange is called only when the state actually changed.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { WeftError } from '../proto/errors.ts';
import type { ClusterSource, ClusterSourceOptions } from './cluster-source.ts';
import {
  compareStrings,
  emptyClusterState,
  sortClusterState,
  type ClusterState,
  type Pod,
} from './cluster-state.ts';
import { endpointsFromPods } from './endpoints-from-pods.ts';
import { ManifestError, parseManifests, type ManifestObject } from './manifest-parse.ts';

export interface FileSourceOptions extends ClusterSourceOptions {
  /** A folder of manifests, or a single manifest file. */
  readonly path: string;
  /** Quiet time after a change event before reloading (default 100 ms). */
  readonly debounceMs?: number;
  /** Backstop re-scan interval in ms, for missed watch events (default 2000; 0: off). */
  readonly pollMs?: number;
}

export interface FileSource extends ClusterSource {
  /** Replaces the pods (and so the endpoints); emits a new state at once when it changed. */
  setPods(pods: readonly Pod[]): void;
  /** Re-reads the files now; resolves after any resulting onChange. */
  reload(): Promise<void>;
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
const MAX_DEBOUNCE_WAIT_MS = 500;

export function isManifestFile(name: string): boolean {
  return !name.startsWith('.') && MANIFEST_EXTENSIONS.has(extname(name).toLowerCase());
}

interface FileEntry {
  /** Content last parsed (good or not), to skip unchanged files. */
  text: string;
  /** Objects of the last good parse. */
  objects: readonly ManifestObject[];
}

function objectKey(o: ManifestObject): string {
  const ns = o.kind === 'Namespace' ? '' : o.object.namespace;
  return `${o.kind} ${ns === '' ? '' : `${ns}/`}${o.object.name}`;
}

export function createFileSource(opts: FileSourceOptions): FileSource {
  const target = resolve(opts.path);
  const debounceMs = opts.debounceMs ?? 100;
  const pollMs = opts.pollMs ?? 2000;
  const report = (err: WeftError): void => {
    if (!closed) opts.onError?.(err);
  };

  const files = new Map<string, FileEntry>();
  let pods: readonly Pod[] = [];
  let state: ClusterState = emptyClusterState();
  let emitted: string | undefined;
  let onChange: ((s: ClusterState) => void) | undefined;
  let started = false;
  let closed = false;
  let single = false; // `path` is one file
  let dir = target;
  let watcher: FSWatcher | undefined;
  let poll: NodeJS.Timeout | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let firstEventAt = 0;
  let queue: Promise<void> = Promise.resolve();
  let reportedDuplicates = new Set<string>();
  const emptied = new Set<string>();

  /** Builds the state from the files' last good objects and the pods; emits if it changed. */
  function rebuild(): void {
    const namespaces: ClusterState['namespaces'][number][] = [];
    const services: ClusterState['services'][number][] = [];
    const workloads: ClusterState['workloads'][number][] = [];
    const trafficSplits: ClusterState['trafficSplits'][number][] = [];
    const httpRouteGroups: ClusterState['httpRouteGroups'][number][] = [];
    const trafficTargets: ClusterState['trafficTargets'][number][] = [];
    const tcpRoutes: ClusterState['tcpRoutes'][number][] = [];
    const owner = new Map<string, string>();
    const duplicates = new Set<string>();
    for (const file of [...files.keys()].sort(compareStrings)) {
      for (const o of files.get(file)!.objects) {
        const k = objectKey(o);
        const first = owner.get(k);
        if (first !== undefined) {
          const msg = `${file}: ${k} is also defined in ${first}; the one in ${first} is used`;
          duplicates.add(msg);
          if (!reportedDuplicates.has(msg)) report(new ManifestError(file, 0, 'metadata.name', msg));
          continue;
        }
        owner.set(k, file);
        switch (o.kind) {
          case 'Namespace':
            namespaces.push(o.object);
            break;
          case 'Service':
            services.push(o.object);
            break;
          case 'Deployment':
            workloads.push(o.object);
            break;
          case 'TrafficSplit':
            trafficSplits.push(o.object);
            break;
          case 'HTTPRouteGroup':
            httpRouteGroups.push(o.object);
            break;
          case 'TrafficTarget':
            trafficTargets.push(o.object);
            break;
          case 'TCPRoute':
            tcpRoutes.push(o.object);
            break;
          case 'ServiceAccount':
            break;
        }
      }
    }
    reportedDuplicates = duplicates;
    state = sortClusterState({
      namespaces,
      services,
      endpoints: endpointsFromPods(services, pods),
      pods: [...pods],
      workloads,
      trafficSplits,
      httpRouteGroups,
      trafficTargets,
      tcpRoutes,
    });
    const json = JSON.stringify(state);
    if (json === emitted || onChange === undefined || closed) return;
    emitted = json;
    onChange(state);
  }

  async function listFiles(): Promise<string[]> {
    if (single) return [basename(target)];
    const names = await readdir(dir);
    return names.filter(isManifestFile).sort(compareStrings);
  }

  /** Reads every manifest, then applies the changes at once. */
  async function load(): Promise<void> {
    let names: string[];
    try {
      names = await listFiles();
    } catch (err) {
      report(new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', `cannot list ${dir}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    const texts = new Map<string, string>();
    for (const name of names) {
      try {
        texts.set(name, await readFile(join(dir, name), 'utf8'));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue; // removed meanwhile
        if (code === 'EISDIR') continue; // a folder named like a manifest
        // Unreadable for now: keep what it had.
        const prev = files.get(name);
        if (prev !== undefined) texts.set(name, prev.text);
        report(new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', `cannot read ${join(dir, name)}: ${(err as Error).message}`, { cause: err }));
      }
    }
    if (closed) return;
    for (const name of [...files.keys()]) {
      if (texts.has(name)) continue;
      files.delete(name);
      emptied.delete(name);
    }
    for (const [name, text] of texts) {
      const prev = files.get(name);
      if (text !== '') emptied.delete(name);
      if (prev !== undefined && prev.text === text) continue;
      // A file that just became empty is usually being rewritten (truncate,
      // then write): believe it only when it is still empty a debounce later.
      if (text === '' && prev !== undefined && prev.objects.length > 0 && !emptied.has(name)) {
        emptied.add(name);
        schedule();
        continue;
      }
      const parsed = parseManifests(text, name);
      if (parsed.errors.length > 0) {
        for (const e of parsed.errors) report(e);
        files.set(name, { text, objects: prev?.objects ?? [] });
      } else {
        files.set(name, { text, objects: parsed.objects });
      }
    }
    rebuild();
  }

  function reload(): Promise<void> {
    queue = queue.then(() => load()).catch((err: unknown) => {
      report(err instanceof WeftError ? err : new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', `reload failed: ${String(err)}`, { cause: err }));
    });
    return queue;
  }

  function schedule(): void {
    if (closed) return;
    const now = Date.now();
    if (debounce === undefined) firstEventAt = now;
    else clearTimeout(debounce);
    // Trailing debounce, but never later than MAX_DEBOUNCE_WAIT_MS after the first event.
    const wait = Math.max(0, Math.min(debounceMs, firstEventAt + MAX_DEBOUNCE_WAIT_MS - now));
    debounce = setTimeout(() => {
      debounce = undefined;
      void reload();
    }, wait);
  }

  return {
    async start(cb) {
      if (started) throw new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', 'file source already started');
      started = true;
      let st;
      try {
        st = await stat(target);
      } catch (err) {
        throw new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', `manifest path ${target} not found: ${(err as Error).message}`, { cause: err });
      }
      single = st.isFile();
      dir = single ? dirname(target) : target;
      if (!single && !st.isDirectory()) {
        throw new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', `manifest path ${target} is neither a file nor a folder`);
      }
      onChange = cb;
      await reload();
      if (emitted === undefined) rebuild(); // nothing loaded: still emit the (empty) initial state
      if (closed) return;
      try {
        watcher = watch(dir, { persistent: false }, (_event, name) => {
          if (name === null || name === undefined) return schedule();
          const n = name.toString();
          if (single ? n === basename(target) : isManifestFile(n) || files.has(n)) schedule();
        });
        watcher.on('error', (err) => {
          report(new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', `watching ${dir} failed: ${err.message}`, { cause: err }));
        });
      } catch (err) {
        report(new WeftError('WEFT_ERR_SOURCE_UNAVAILABLE', `cannot watch ${dir}: ${(err as Error).message}`, { cause: err }));
      }
      if (pollMs > 0) {
        poll = setInterval(() => void reload(), pollMs);
        poll.unref();
      }
    },
    async close() {
      closed = true;
      if (debounce !== undefined) clearTimeout(debounce);
      debounce = undefined;
      if (poll !== undefined) clearInterval(poll);
      watcher?.close();
      watcher = undefined;
      await queue;
    },
    current: () => state,
    setPods(next) {
      pods = [...next];
      if (started && !closed) rebuild();
    },
    reload,
  };
}
