// The Prometheus scrape configuration for the mesh (deploy/prometheus.yml is
// this, rendered by deploy/generate.ts). Like Linkerd's, it finds the proxies
// with Kubernetes pod discovery and turns pod metadata into the labels that
// dashboards and Flagger's queries group by:
//   namespace   the pod's namespace
//   pod         the pod's name
//   deployment  the ReplicaSet owner's name minus its pod-template-hash
//               suffix (only for pods that carry pod-template-hash, i.e.
//               pods of a Deployment's ReplicaSet)
//   statefulset / daemonset   the owner's name, for pods of those
// The proxies' own metrics never carry these (DESIGN.md, Metrics).
import { stringify } from 'yaml';
import { CONTROL_PLANE, COMPONENT_LABEL, INJECTOR, MESH_NAMESPACE } from './names.ts';

export interface PrometheusOptions {
  /** Default 10s. */
  scrapeInterval?: string;
  /**
   * Where targets come from. Default: Kubernetes pod discovery. With
   * `httpSdUrl`: Prometheus's HTTP discovery from a server that publishes pods
   * with the same __meta_kubernetes_* labels (deploy/prometheus-pod-sd.ts), for
   * Prometheus builds without Kubernetes discovery (Debian's); the relabelling
   * is the same.
   */
  httpSdUrl?: string;
  /** Kubernetes API for discovery when Prometheus runs outside the cluster (default: in-cluster). */
  apiServer?: string;
  /** TLS files for that API server. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

type Relabel = Record<string, unknown>;

/** Prometheus's label name for a Kubernetes pod label (non-alphanumerics become _). */
export function podLabelMeta(label: string): string {
  return `__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/** The relabelling that names a proxy target by its pod (shared by the jobs). */
export function podMetadataRelabels(): Relabel[] {
  return [
    // Completed Job pods keep their metadata but have nothing to scrape.
    { source_labels: ['__meta_kubernetes_pod_phase'], action: 'drop', regex: 'Succeeded|Failed' },
    { source_labels: ['__meta_kubernetes_namespace'], action: 'replace', target_label: 'namespace' },
    { source_labels: ['__meta_kubernetes_pod_name'], action: 'replace', target_label: 'pod' },
    // web-v1-5d9c7b8f6d (ReplicaSet) -> web-v1. The hash never holds a '-'.
    {
      source_labels: [
        '__meta_kubernetes_pod_controller_kind',
        '__meta_kubernetes_pod_controller_name',
        podLabelMeta('pod-template-hash'),
      ],
      separator: ';',
      regex: 'ReplicaSet;(.+)-[^-;]+;.+',
      action: 'replace',
      target_label: 'deployment',
      replacement: '$1',
    },
    {
      source_labels: ['__meta_kubernetes_pod_controller_kind', '__meta_kubernetes_pod_controller_name'],
      separator: ';',
      regex: 'StatefulSet;(.+)',
      action: 'replace',
      target_label: 'statefulset',
      replacement: '$1',
    },
    {
      source_labels: ['__meta_kubernetes_pod_controller_kind', '__meta_kubernetes_pod_controller_name'],
      separator: ';',
      regex: 'DaemonSet;(.+)',
      action: 'replace',
      target_label: 'daemonset',
      replacement: '$1',
    },
  ];
}

export function prometheusConfig(opts: PrometheusOptions = {}): Record<string, unknown> {
  const discovery = (namespaces?: string[]): Record<string, unknown> =>
    opts.httpSdUrl !== undefined
      ? { http_sd_configs: [{ url: opts.httpSdUrl, refresh_interval: '5s' }] }
      : { kubernetes_sd_configs: [sd(namespaces)] };
  const sd = (namespaces?: string[]): Record<string, unknown> => ({
    role: 'pod',
    ...(opts.apiServer !== undefined ? { api_server: opts.apiServer } : {}),
    ...(opts.tls !== undefined
      ? {
          tls_config: {
            ...(opts.tls.caFile !== undefined ? { ca_file: opts.tls.caFile } : {}),
            ...(opts.tls.certFile !== undefined ? { cert_file: opts.tls.certFile } : {}),
            ...(opts.tls.keyFile !== undefined ? { key_file: opts.tls.keyFile } : {}),
          },
        }
      : {}),
    ...(namespaces !== undefined ? { namespaces: { names: namespaces } } : {}),
  });
  return {
    global: { scrape_interval: opts.scrapeInterval ?? '10s' },
    scrape_configs: [
      {
        // Every injected proxy: its weft-proxy container's weft-admin port (4191).
        job_name: 'weft-proxy',
        ...discovery(),
        relabel_configs: [
          {
            source_labels: ['__meta_kubernetes_pod_container_name', '__meta_kubernetes_pod_container_port_name'],
            separator: ';',
            action: 'keep',
            regex: 'weft-proxy;weft-admin',
          },
          ...podMetadataRelabels(),
        ],
      },
      {
        // The control plane's and the injector's admin ports (weft_* metrics).
        job_name: 'weft-control-plane',
        ...discovery([MESH_NAMESPACE]),
        relabel_configs: [
          // (Kubernetes discovery already looks only there; HTTP discovery publishes every namespace.)
          { source_labels: ['__meta_kubernetes_namespace'], action: 'keep', regex: MESH_NAMESPACE },
          {
            source_labels: ['__meta_kubernetes_pod_container_name', '__meta_kubernetes_pod_container_port_name'],
            separator: ';',
            action: 'keep',
            regex: `(${CONTROL_PLANE}|${INJECTOR});admin-http`,
          },
          ...podMetadataRelabels(),
          { source_labels: [podLabelMeta(COMPONENT_LABEL)], action: 'replace', target_label: 'component' },
        ],
      },
    ],
  };
}

export const PROMETHEUS_HEADER = [
  'Prometheus scrape configuration for Weft: the proxies (weft-proxy job, admin port',
  '4191 named weft-admin) and the control plane (weft-control-plane job), with pod',
  'metadata relabelled into namespace, pod, deployment (statefulset, daemonset).',
  'Generated by `node deploy/generate.ts` from deploy/prometheus.ts: do not edit.',
  'Use it as is (Prometheus in the cluster) or copy its scrape_configs into yours.',
];

export function prometheusYaml(opts: PrometheusOptions = {}): string {
  return `${PROMETHEUS_HEADER.map((l) => `# ${l}`).join('\n')}\n${stringify(prometheusConfig(opts), { lineWidth: 0 })}`;
}
