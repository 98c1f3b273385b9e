// Where the webhook learns a namespace's labels and annotations (an
// AdmissionReview carries only the pod). A Kubernetes implementation (an
// informer on Namespaces) plugs in behind the same interface; this file holds
// the interface and an in-memory one for tests and `weft inject`.
import type { NamespaceMeta } from './patch.ts';

export interface NamespaceLookup {
  /** The namespace's metadata, or undefined when it is not known (treated as not annotated). */
  get(name: string): Promise<NamespaceMeta | undefined>;
}

/** A fixed set of namespaces; set() and delete() change it (e.g. from a watch). */
export class StaticNamespaceLookup implements NamespaceLookup {
  readonly #byName = new Map<string, NamespaceMeta>();

  constructor(namespaces: Iterable<NamespaceMeta> = []) {
    for (const ns of namespaces) this.set(ns);
  }

  set(ns: NamespaceMeta): void {
    this.#byName.set(ns.name, ns);
  }

  delete(name: string): void {
    this.#byName.delete(name);
  }

  get(name: string): Promise<NamespaceMeta | undefined> {
    return Promise.resolve(this.#byName.get(name));
  }
}
