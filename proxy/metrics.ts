// The proxy's Prometheus metrics: one prom-client Registry per proxy, names,
// labels and buckets as the Linkerd proxy's (DESIGN.md, Metrics), so existing
// dashboards and Flagger's `linkerd` provider work unchanged.
//
// Hot path: label sets are resolved once per target (direction + authority +
// peer) and once per status code, then reused; a request costs a few
// increments, no label-object hashing.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const LATENCY_BUCKETS_MS = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000,
  40000, 50000,
];

export type Direction = 'inbound' | 'outbound';

/** Labels that identify where a request went (outbound) or came from (inbound). */
export type TargetLabels = {
  direction: Direction;
  authority: string;
  tls: 'true' | 'false';
  dst_namespace?: string;
  dst_service?: string;
  dst_deployment?: string;
  dst_pod?: string;
  dst_serviceaccount?: string;
  server_id?: string;
  client_id?: string;
};

const TARGET_LABELS = [
  'direction',
  'authority',
  'tls',
  'dst_namespace',
  'dst_service',
  'dst_deployment',
  'dst_pod',
  'dst_serviceaccount',
  'server_id',
  'client_id',
] as const;

interface StatusChildren {
  response: { inc(): void };
  latency: { observe(v: number): void };
}

/** Counters of one target, with per-status children cached. */
export class TargetMetrics {
  readonly #metrics: ProxyMetrics;
  readonly #labels: TargetLabels;
  readonly #request: { inc(): void };
  readonly #byStatus = new Map<string, StatusChildren>();

  constructor(metrics: ProxyMetrics, labels: TargetLabels) {
    this.#metrics = metrics;
    this.#labels = labels;
    this.#request = metrics.requestTotal.labels(labels);
  }

  request(): void {
    this.#request.inc();
  }

  /** Records one response. `error` is the Weft error code when the proxy itself answered. */
  response(status: number, latencyMs: number, error = ''): void {
    const key = error === '' ? String(status) : `${status}/${error}`;
    let c = this.#byStatus.get(key);
    if (c === undefined) {
      const status_code = String(status);
      const classification = status >= 500 || status === 0 ? 'failure' : 'success';
      c = {
        response: this.#metrics.responseTotal.labels({ ...this.#labels, status_code, classification, error }),
        latency: this.#metrics.responseLatency.labels({ ...this.#labels, status_code }),
      };
      this.#byStatus.set(key, c);
    }
    c.response.inc();
    c.latency.observe(latencyMs);
  }
}

/** Per-connection labels for the tcp_* metrics. */
export type ConnLabels = {
  direction: Direction;
  peer: 'src' | 'dst';
  tls: 'true' | 'false';
};

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly requestTotal: Counter<string>;
  readonly responseTotal: Counter<string>;
  readonly responseLatency: Histogram<string>;
  readonly tcpOpenTotal: Counter<string>;
  readonly tcpCloseTotal: Counter<string>;
  readonly tcpOpenConnections: Gauge<string>;
  readonly tcpReadBytes: Counter<string>;
  readonly tcpWriteBytes: Counter<string>;
  readonly certExpiration: Gauge<string>;
  readonly certRefresh: Counter<string>;
  readonly configVersion: Gauge<string>;
  readonly #targets = new Map<string, TargetMetrics>();
  readonly #byOwner = new WeakMap<object, Map<string, TargetMetrics>>();
  readonly #maxTargets: number;

  constructor(options: { maxTargets?: number } = {}) {
    this.#maxTargets = options.maxTargets ?? 10_000;
    const registers = [this.registry];
    this.requestTotal = new Counter({
      name: 'request_total',
      help: 'Total count of HTTP requests.',
      labelNames: TARGET_LABELS,
      registers,
    });
    this.responseTotal = new Counter({
      name: 'response_total',
      help: 'Total count of HTTP responses.',
      labelNames: [...TARGET_LABELS, 'status_code', 'classification', 'error'],
      registers,
    });
    this.responseLatency = new Histogram({
      name: 'response_latency_ms',
      help: 'Elapsed times between a request being received and its response headers being sent, in milliseconds.',
      labelNames: [...TARGET_LABELS, 'status_code'],
      buckets: LATENCY_BUCKETS_MS,
      registers,
    });
    const connLabels = ['direction', 'peer', 'tls'];
    this.tcpOpenTotal = new Counter({ name: 'tcp_open_total', help: 'Total count of opened connections.', labelNames: connLabels, registers });
    this.tcpCloseTotal = new Counter({ name: 'tcp_close_total', help: 'Total count of closed connections.', labelNames: connLabels, registers });
    this.tcpOpenConnections = new Gauge({ name: 'tcp_open_connections', help: 'Number of currently-open connections.', labelNames: connLabels, registers });
    this.tcpReadBytes = new Counter({ name: 'tcp_read_bytes_total', help: 'Total count of bytes read from peers.', labelNames: connLabels, registers });
    this.tcpWriteBytes = new Counter({ name: 'tcp_write_bytes_total', help: 'Total count of bytes written to peers.', labelNames: connLabels, registers });
    this.certExpiration = new Gauge({
      name: 'identity_cert_expiration_timestamp_seconds',
      help: 'Time when this proxy\'s current mTLS identity certificate will expire (in seconds since the UNIX epoch).',
      registers,
    });
    this.certRefresh = new Counter({
      name: 'identity_cert_refresh_count',
      help: 'The total number of times this proxy\'s mTLS identity certificate has been refreshed by the Identity service.',
      registers,
    });
    this.configVersion = new Gauge({
      name: 'weft_proxy_config_info',
      help: 'The config version in force (value 1, version label).',
      labelNames: ['version'],
      registers,
    });
  }

  /** The cached metrics of one target. Beyond maxTargets, new label sets share one overflow target. */
  target(labels: TargetLabels): TargetMetrics {
    const key = TARGET_LABELS.map((l) => labels[l] ?? '').join('\u0000');
    let t = this.#targets.get(key);
    if (t === undefined) {
      if (this.#targets.size >= this.#maxTargets) {
        return this.target({ direction: labels.direction, authority: 'overflow', tls: labels.tls });
      }
      t = new TargetMetrics(this, labels);
      this.#targets.set(key, t);
    }
    return t;
  }

  /**
   * The hot-path lookup: targets cached per owner object (a compiled endpoint
   * or service, which lives as long as its config) and a short key, so a
   * request builds no label object once its target has been seen.
   */
  cached(owner: object, key: string, labels: () => TargetLabels): TargetMetrics {
    let m = this.#byOwner.get(owner);
    if (m === undefined) {
      m = new Map();
      this.#byOwner.set(owner, m);
    }
    let t = m.get(key);
    if (t === undefined) {
      t = this.target(labels());
      m.set(key, t);
    }
    return t;
  }

  /** Counts a connection open now and its close, bytes included, when it closes. */
  trackConnection(socket: { bytesRead: number; bytesWritten: number; once(ev: 'close', f: () => void): unknown }, labels: ConnLabels): void {
    this.tcpOpenTotal.inc(labels);
    this.tcpOpenConnections.inc(labels);
    socket.once('close', () => {
      this.tcpCloseTotal.inc(labels);
      this.tcpOpenConnections.dec(labels);
      this.tcpReadBytes.inc(labels, socket.bytesRead);
      this.tcpWriteBytes.inc(labels, socket.bytesWritten);
    });
  }

  setConfigVersion(version: string): void {
    this.configVersion.reset();
    this.configVersion.set({ version }, 1);
  }
}
