// The local mesh's "scheduler": every replica of every workload becomes a
// pod on its own loopback address, so its app and its proxy listen on the
// same ports as in Kubernetes (4140/4143/4191 on that address). Pure.
import type { Pod, Workload } from '../control-plane/cluster-state.ts';

export interface LocalPod {
  pod: Pod;
  workload: Workload;
  /** The app's port (the workload's first container port; 8080 if none). */
  appPort: number;
}

/** Address of the control plane for an address base like "127.0". */
export function controlPlaneAddress(base: string): string {
  return `${base}.255.1`;
}

/**
 * Pods for the workloads: workload i (sorted by namespace/name, from 1),
 * replica r (from 1) gets `${base}.${i}.${r}`. Names are stable across runs.
 */
export function localPods(workloads: readonly Workload[], base: string): LocalPod[] {
  const sorted = [...workloads].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  if (sorted.length > 254) throw new RangeError('the local mesh runs at most 254 workloads');
  const out: LocalPod[] = [];
  sorted.forEach((w, i) => {
    const replicas = Math.min(w.replicas, 254);
    for (let r = 1; r <= replicas; r++) {
      out.push({
        workload: w,
        appPort: w.ports[0]?.containerPort ?? 8080,
        pod: {
          name: `${w.name}-${r}`,
          namespace: w.namespace,
          ip: `${base}.${i + 1}.${r}`,
          labels: { ...w.labels },
          annotations: { ...w.annotations },
          serviceAccount: w.serviceAccount || 'default',
          ownerWorkload: w.name,
          meshed: w.annotations['weft.dev/inject'] !== 'disabled',
          ready: false,
          ports: w.ports.length > 0 ? w.ports : [{ name: '', containerPort: 8080, protocol: 'TCP' }],
        },
      });
    }
  });
  return out;
}
