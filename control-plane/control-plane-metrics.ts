// The control plane's Prometheus metrics (prefix weft_), one Registry per
// control-plane instance so tests can run several in one process.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  readonly connectedProxies: Gauge<string>;
  readonly configPushes: Counter<string>;
  readonly configAcks: Counter<string>;
  readonly pushLatency: Histogram<string>;
  readonly certificatesIssued: Counter<string>;
  readonly errors: Counter<string>;
  readonly sourceUpdates: Counter<string>;
  readonly proxyShutdowns: Counter<string>;

  constructor() {
    const registers = [this.registry];
    this.connectedProxies = new Gauge({ name: 'weft_connected_proxies', help: 'Proxies with an open config stream.', registers });
    this.configPushes = new Counter({ name: 'weft_config_pushes_total', help: 'Config snapshots sent to proxies.', registers });
    this.configAcks = new Counter({
      name: 'weft_config_acks_total',
      help: 'Config snapshot answers from proxies, by result (ack|nack).',
      labelNames: ['result'],
      registers,
    });
    this.pushLatency = new Histogram({
      name: 'weft_config_push_latency_seconds',
      help: 'Time from a cluster change to the proxy acking the resulting config.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.certificatesIssued = new Counter({ name: 'weft_certificates_issued_total', help: 'Leaf certificates issued.', registers });
    this.errors = new Counter({
      name: 'weft_errors_total',
      help: 'Errors by Weft error code.',
      labelNames: ['code'],
      registers,
    });
    this.sourceUpdates = new Counter({ name: 'weft_source_updates_total', help: 'Cluster state changes seen from the source.', registers });
    this.proxyShutdowns = new Counter({
      name: 'weft_proxy_shutdowns_total',
      help: 'Proxies told to shut down because their pod finished its work (a Job), by reason (WorkloadSucceeded|WorkloadFailed).',
      labelNames: ['reason'],
      registers,
    });
  }
}
