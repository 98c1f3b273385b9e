// Prometheus HTTP service discovery that publishes pods the way Prometheus's
// own Kubernetes discovery (role: pod) does: one target per container port
// (or per container without ports) of every pod that has an IP, with the same
// __meta_kubernetes_* labels. With it, deploy/prometheus.ts's relabelling runs
// unchanged on a Prometheus built without Kubernetes discovery (Debian's
// package leaves it out), e.g. in the tests. Pure but for the server.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** The HTTP SD wire format: a list of target groups. */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** Prometheus's strutil.SanitizeLabelName. */
export function sanitizeLabelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

function podLevelLabels(pod: Obj): Record<string, string> {
  const meta = obj(pod['metadata']);
  const spec = obj(pod['spec']);
  const status = obj(pod['status']);
  const ready = list(status['conditions'])
    .map(obj)
    .find((c) => c['type'] === 'Ready');
  const ls: Record<string, string> = {
    __meta_kubernetes_namespace: str(meta['namespace']),
    __meta_kubernetes_pod_name: str(meta['name']),
    __meta_kubernetes_pod_ip: str(status['podIP']),
    __meta_kubernetes_pod_ready: ready === undefined ? 'unknown' : str(ready['status']).toLowerCase(),
    __meta_kubernetes_pod_phase: str(status['phase']),
    __meta_kubernetes_pod_node_name: str(spec['nodeName']),
    __meta_kubernetes_pod_host_ip: str(status['hostIP']),
    __meta_kubernetes_pod_uid: str(meta['uid']),
  };
  const controller = list(meta['ownerReferences'])
    .map(obj)
    .find((r) => r['controller'] === true);
  if (controller !== undefined) {
    if (str(controller['kind']) !== '') ls['__meta_kubernetes_pod_controller_kind'] = str(controller['kind']);
    if (str(controller['name']) !== '') ls['__meta_kubernetes_pod_controller_name'] = str(controller['name']);
  }
  for (const [k, v] of Object.entries(obj(meta['labels']))) {
    ls[`__meta_kubernetes_pod_label_${sanitizeLabelName(k)}`] = str(v);
    ls[`__meta_kubernetes_pod_labelpresent_${sanitizeLabelName(k)}`] = 'true';
  }
  for (const [k, v] of Object.entries(obj(meta['annotations']))) {
    ls[`__meta_kubernetes_pod_annotation_${sanitizeLabelName(k)}`] = str(v);
    ls[`__meta_kubernetes_pod_annotationpresent_${sanitizeLabelName(k)}`] = 'true';
  }
  return ls;
}

function hostPort(ip: string, port: string): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** The target groups of one pod (none while it has no IP). */
export function podTargetGroups(pod: unknown): TargetGroup[] {
  const p = obj(pod);
  const ip = str(obj(p['status'])['podIP']);
  if (ip === '') return [];
  const base = podLevelLabels(p);
  const spec = obj(p['spec']);
  const containers = [
    ...list(spec['containers']).map((c) => ({ c: obj(c), init: false })),
    ...list(spec['initContainers']).map((c) => ({ c: obj(c), init: true })),
  ];
  const groups: TargetGroup[] = [];
  for (const { c, init } of containers) {
    const container = {
      __meta_kubernetes_pod_container_name: str(c['name']),
      __meta_kubernetes_pod_container_image: str(c['image']),
      __meta_kubernetes_pod_container_init: String(init),
    };
    const ports = list(c['ports']).map(obj);
    if (ports.length === 0) {
      groups.push({ targets: [ip], labels: { ...base, ...container } });
      continue;
    }
    for (const port of ports) {
      const number = str(port['containerPort']);
      groups.push({
        targets: [hostPort(ip, number)],
        labels: {
          ...base,
          ...container,
          __meta_kubernetes_pod_container_port_name: str(port['name']),
          __meta_kubernetes_pod_container_port_number: number,
          __meta_kubernetes_pod_container_port_protocol: str(port['protocol']) || 'TCP',
        },
      });
    }
  }
  return groups;
}

export function podsTargetGroups(pods: readonly unknown[]): TargetGroup[] {
  return pods.flatMap((p) => podTargetGroups(p));
}

export interface PodSdServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves GET / as Prometheus HTTP SD JSON, listing pods with `listPods` (e.g.
 * GET /api/v1/pods) on every request. Listens on 127.0.0.1, port 0 unless told.
 */
export async function startPodSdServer(listPods: () => Promise<readonly unknown[]>, port = 0): Promise<PodSdServer> {
  const server = http.createServer((req, res) => {
    listPods().then(
      (pods) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(podsTargetGroups(pods)));
      },
      (err: unknown) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`cannot list pods: ${(err as Error).message}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
