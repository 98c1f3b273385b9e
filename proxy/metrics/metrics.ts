// The proxy's Prometheus metrics: one prom-client Registry per proxy, names,
// labels and buckets as the Linkerd proxy's (DESIGN.md, Metrics), so existing
// dashboards and Flagger's `linkerd` provider work unchanged.
//
// Hot path: plain arithmetic. A target (direction + authority + peer) keeps
// its request count, and per status code its response count and latency
// histogram, in its own fields; the tcp_* counters likewise per label set.
// prom-client's Counter/Histogram would hash the label object on every
// increment; instead the per-request metrics are ScrapedMetric objects that the
// Registry renders like its own, reading the fields only at scrape time. The
// exposition is the one prom-client's Counter/Gauge/Histogram would give for
// the same increments: same names, label names and order, series in
// first-increment order, cumulative `_bucket` lines then `+Inf`, `_sum`, `_count`.
import { createRequire } from 'node:module';
import type { Counter as CounterClass, Gauge as GaugeClass, Registry as RegistryClass, Metric } from 'prom-client';

// prom-client's Registry, Counter and Gauge, required from their own files:
// its index also loads the Pushgateway, cluster aggregation and the default
// process metrics, which the proxy never uses (about 9 MB of RSS).
const require = createRequire(import.meta.url);
const Registry = require('prom-client/lib/registry.js') as typeof RegistryClass;
const Counter = require('prom-client/lib/counter.js') as typeof CounterClass;
const Gauge = require('prom-client/lib/gauge.js') as typeof GaugeClass;

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

/** A label set as rendered: keys in insertion order. */
type Labels = Readonly<Record<string, string | number | undefined>>;

/** One sample as prom-client's Registry reads it (registry.js getMetricsAsString). */
export interface Sample {
  labels: Labels;
  value: number;
  /** The line's name when it is not the metric's (histogram _bucket, _sum, _count). */
  metricName?: string;
  /** Labels rendered after `labels` (a histogram series' own labels; the Registry caches their text per object). */
  sharedLabels?: Labels;
}

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** What Registry.getMetricsAsJSON() and metric.get() return. */
export interface MetricSnapshot {
  name: string;
  help: string;
  type: MetricType;
  aggregator: 'sum';
  values: Sample[];
}

/**
 * A metric that a prom-client Registry renders like its own Counter, Gauge or
 * Histogram: the Registry reads name, help, type, aggregator and
 * getForPromString() (falling back to get()). The values live elsewhere, in
 * plain fields; `samples` reads them at scrape time.
 */
export class ScrapedMetric {
  // Mutable: an OpenMetrics registry renames counters in place.
  name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly aggregator = 'sum' as const;
  readonly #samples: (forPromString: boolean) => Sample[];
  readonly #reset: () => void;

  constructor(o: {
    registry: RegistryClass;
    name: string;
    help: string;
    type: MetricType;
    /** forPromString: histogram series' labels as sharedLabels (as prom-client does); else merged into labels. */
    samples: (forPromString: boolean) => Sample[];
    reset: () => void;
  }) {
    this.name = o.name;
    this.help = o.help;
    this.type = o.type;
    this.#samples = o.samples;
    this.#reset = o.reset;
    // The Registry only stores it and calls the methods above and reset().
    o.registry.registerMetric(this as unknown as Metric);
  }

  /** Samples with their full labels, as prom-client's metric.get(). */
  async get(): Promise<MetricSnapshot> {
    return this.#snapshot(false);
  }

  /** Used by Registry.metrics(): histogram labels as sharedLabels, whose text the Registry caches. */
  async getForPromString(): Promise<MetricSnapshot> {
    return this.#snapshot(true);
  }

  /** Registry.resetMetrics(): zeroes every value (series stay). */
  reset(): void {
    this.#reset();
  }

  #snapshot(forPromString: boolean): MetricSnapshot {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.#samples(forPromString) };
  }
}

/** One counter or gauge series. */
export class Series {
  readonly labels: Labels;
  value = 0;
  constructor(labels: Labels) {
    this.labels = labels;
  }
}

const BUCKET_LABELS: readonly Labels[] = [...LATENCY_BUCKETS_MS.map((le) => ({ le })), { le: '+Inf' }];
const NO_LABELS: Labels = {};

/** One response_latency_ms series: counts per bucket (not cumulative), sum and count. */
export class LatencyHistogram {
  readonly labels: Labels;
  readonly buckets = new Float64Array(LATENCY_BUCKETS_MS.length);
  sum = 0;
  count = 0;

  constructor(labels: Labels) {
    this.labels = labels;
  }

  /** As prom-client's observe: the first bucket with value <= bound; above the last bound only +Inf (count). */
  observe(ms: number): void {
    if (!Number.isFinite(ms)) return;
    const bounds = LATENCY_BUCKETS_MS;
    for (let i = 0; i < bounds.length; i++) {
      if (ms <= (bounds[i] as number)) {
        (this.buckets[i] as number)++;
        break;
      }
    }
    this.sum += ms;
    this.count++;
  }

  reset(): void {
    this.buckets.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

function counterSamples(series: readonly Series[]): Sample[] {
  return series.map((s) => ({ labels: s.labels, value: s.value }));
}

function histogramSamples(name: string, series: readonly LatencyHistogram[], forPromString: boolean): Sample[] {
  const bucket = `${name}_bucket`;
  const out: Sample[] = [];
  for (const h of series) {
    const own = h.labels;
    const line = (labels: Labels, value: number, metricName: string): Sample =>
      forPromString ? { labels, sharedLabels: own, value, metricName } : { labels: { ...labels, ...own }, value, metricName };
    let acc = 0;
    for (let i = 0; i < h.buckets.length; i++) {
      acc += h.buckets[i] as number;
      out.push(line(BUCKET_LABELS[i] as Labels, acc, bucket));
    }
    out.push(line(BUCKET_LABELS[LATENCY_BUCKETS_MS.length] as Labels, h.count, bucket));
    out.push(line(NO_LABELS, h.sum, `${name}_sum`));
    out.push(line(NO_LABELS, h.count, `${name}_count`));
  }
  return out;
}

/** response_total of one status (and error code) of a target, with the latency series of that status. */
interface StatusCounters {
  readonly response: Series;
  readonly latency: LatencyHistogram;
}

/** Series in first-increment order (the order prom-client renders them in), per metric. */
interface SeriesOrder {
  readonly requests: TargetMetrics[];
  readonly responses: Series[];
  readonly latencies: LatencyHistogram[];
}

/** The counters of one target, in plain fields. */
export class TargetMetrics {
  readonly labels: TargetLabels;
  /** request_total. */
  requests = 0;
  readonly #order: SeriesOrder;
  /** Whether request_total lists it yet (prom-client shows a series from its first increment). */
  #listed = false;
  /** Per status code, responses the upstream (or app) gave. */
  readonly #byStatus = new Map<number, StatusCounters>();
  /** Per `${status}/${error}`, responses the proxy itself gave (rare). */
  readonly #byError = new Map<string, StatusCounters>();
  /** Per `${status}/${error}/${grpcStatus}`: gRPC responses. */
  readonly #byGrpc = new Map<string, StatusCounters>();
  /** Per status code: the latency series, shared by a status's responses with and without error code. */
  readonly #latency = new Map<number, LatencyHistogram>();

  constructor(order: SeriesOrder, labels: TargetLabels) {
    this.#order = order;
    this.labels = labels;
  }

  request(): void {
    this.requests++;
    if (!this.#listed) {
      this.#listed = true;
      this.#order.requests.push(this);
    }
  }

  /**
   * Records one response. `error` is the Weft error code when the proxy
   * itself answered; `grpcStatus` the gRPC status a gRPC response ended with
   * (a `grpc_status` label, and what classifies it: only OK is a success),
   * -1 for a gRPC call that ended without one (reset: a failure).
   */
  response(status: number, latencyMs: number, error = '', grpcStatus?: number): void {
    const c =
      grpcStatus !== undefined
        ? (this.#byGrpc.get(`${status}/${error}/${grpcStatus}`) ?? this.#add(status, error, grpcStatus))
        : ((error === '' ? this.#byStatus.get(status) : this.#byError.get(`${status}/${error}`)) ?? this.#add(status, error));
    c.response.value++;
    c.latency.observe(latencyMs);
  }

  /** response_total for this status and error code (and gRPC status, for gRPC responses). */
  responses(status: number, error = '', grpcStatus?: number): number {
    if (grpcStatus !== undefined) return this.#byGrpc.get(`${status}/${error}/${grpcStatus}`)?.response.value ?? 0;
    return (error === '' ? this.#byStatus.get(status) : this.#byError.get(`${status}/${error}`))?.response.value ?? 0;
  }

  /** The latency histogram of this status code (all error codes), if any response had it. */
  latency(status: number): LatencyHistogram | undefined {
    return this.#latency.get(status);
  }

  #add(status: number, error: string, grpcStatus?: number): StatusCounters {
    const status_code = String(status);
    const failed = grpcStatus !== undefined ? grpcStatus !== 0 : status >= 500 || status === 0;
    const classification = failed ? 'failure' : 'success';
    let latency = this.#latency.get(status);
    if (latency === undefined) {
      latency = new LatencyHistogram({ ...this.labels, status_code });
      this.#latency.set(status, latency);
      this.#order.latencies.push(latency);
    }
    const labels =
      grpcStatus !== undefined
        ? { ...this.labels, status_code, classification, error, grpc_status: grpcStatus < 0 ? '' : String(grpcStatus) }
        : { ...this.labels, status_code, classification, error };
    const c: StatusCounters = { response: new Series(labels), latency };
    this.#order.responses.push(c.response);
    if (grpcStatus !== undefined) this.#byGrpc.set(`${status}/${error}/${grpcStatus}`, c);
    else if (error === '') this.#byStatus.set(status, c);
    else this.#byError.set(`${status}/${error}`, c);
    return c;
  }

  /** Zeroes the values (Registry.resetMetrics()). */
  reset(): void {
    this.requests = 0;
    for (const c of this.#byStatus.values()) c.response.value = 0;
    for (const c of this.#byError.values()) c.response.value = 0;
    for (const c of this.#byGrpc.values()) c.response.value = 0;
    for (const h of this.#latency.values()) h.reset();
  }
}

/** What a connection carries, as detection decided (transparent mode) or as the listener knows (HTTP/1.1). */
export type ConnProtocol = 'http1' | 'h2' | 'tls' | 'opaque';
const PROTOCOLS: readonly ConnProtocol[] = ['http1', 'h2', 'tls', 'opaque'];

/** Per-connection labels for the tcp_* metrics. */
export type ConnLabels = {
  direction: Direction;
  peer: 'src' | 'dst';
  tls: 'true' | 'false';
  /** Default http1. */
  protocol?: ConnProtocol;
  /** The verified peer's SPIFFE ID, on inbound mTLS connections (as Linkerd's client_id). */
  client_id?: string;
};

type Tracked = { bytesRead: number; bytesWritten: number; once(ev: 'close', f: () => void): unknown };

/** The tcp_* values of one label set. */
class ConnCounters {
  readonly open: Series;
  readonly openNow: Series;
  readonly close: Series;
  /** Bytes of closed connections; open ones add theirs at scrape time (the counters move while a connection lives). */
  readonly read: Series;
  readonly write: Series;
  readonly duration: LatencyHistogram;
  /** Connections open now, for their live byte counts. */
  readonly live = new Set<Tracked>();
  /** Whether the metrics list it yet: tcp_open_* and the byte counters from its first open, the others from its first close. */
  opened = false;
  closed = false;
  constructor(l: ConnLabels) {
    const labels = {
      direction: l.direction,
      peer: l.peer,
      tls: l.tls,
      protocol: l.protocol ?? 'http1',
      ...(l.client_id !== undefined ? { client_id: l.client_id } : {}),
    };
    this.open = new Series(labels);
    this.openNow = new Series(labels);
    this.close = new Series(labels);
    this.read = new Series(labels);
    this.write = new Series(labels);
    this.duration = new LatencyHistogram(labels);
  }

  bytes(field: 'bytesRead' | 'bytesWritten'): number {
    let n = field === 'bytesRead' ? this.read.value : this.write.value;
    for (const s of this.live) n += s[field];
    return n;
  }
}

/** A key for the owner cache: one slot per direction and tls. */
type Slots = [TargetMetrics?, TargetMetrics?, TargetMetrics?, TargetMetrics?];

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly requestTotal: ScrapedMetric;
  readonly responseTotal: ScrapedMetric;
  readonly responseLatency: ScrapedMetric;
  readonly tcpOpenTotal: ScrapedMetric;
  readonly tcpCloseTotal: ScrapedMetric;
  readonly tcpOpenConnections: ScrapedMetric;
  readonly tcpReadBytes: ScrapedMetric;
  readonly tcpWriteBytes: ScrapedMetric;
  readonly tcpConnectionDuration: ScrapedMetric;
  readonly processStartTime: GaugeClass<string>;
  readonly certExpiration: GaugeClass<string>;
  readonly certRefresh: CounterClass<string>;
  /** Inbound connections refused or failed before any request: error = a Weft code (bounded set). */
  readonly inboundTcpErrors: CounterClass<'error'>;
  /** Outbound connection attempts that failed (refused, timed out, peer identity refused): error = a Weft code. */
  readonly outboundTcpErrors: CounterClass<'error'>;
  readonly endpointEjections: CounterClass<'endpoint'>;
  /** Inbound authorization (TrafficTargets, the default policy), as Linkerd's: per request and per opaque connection. */
  readonly httpAuthzAllow: CounterClass<'target_port' | 'authz' | 'client_id'>;
  readonly httpAuthzDeny: CounterClass<'target_port' | 'client_id'>;
  readonly tcpAuthzAllow: CounterClass<'target_port' | 'authz' | 'client_id'>;
  readonly tcpAuthzDeny: CounterClass<'target_port' | 'client_id'>;
  /** HTTP/2 connections closed on a protocol error or an abuse limit (error = Node's code). */
  readonly h2SessionErrors: CounterClass<'direction' | 'error'>;
  readonly configVersion: GaugeClass<string>;
  readonly #order: SeriesOrder = { requests: [], responses: [], latencies: [] };
  readonly #opened: ConnCounters[] = [];
  readonly #closed: ConnCounters[] = [];
  /** Counters per label set: direction x peer x tls x protocol (an index), then client ID. */
  readonly #conns = new Map<string, ConnCounters>();
  readonly #targets = new Map<string, TargetMetrics>();
  readonly #byOwner = new WeakMap<object, Map<string, Map<string, Slots>>>();
  readonly #maxTargets: number;

  constructor(options: { maxTargets?: number } = {}) {
    this.#maxTargets = options.maxTargets ?? 10_000;
    const registry = this.registry;
    const resetTargets = (): void => {
      for (const t of this.#targets.values()) t.reset();
    };
    this.requestTotal = new ScrapedMetric({
      registry,
      name: 'request_total',
      help: 'Total count of HTTP requests.',
      type: 'counter',
      samples: () => this.#order.requests.map((t) => ({ labels: t.labels, value: t.requests })),
      reset: resetTargets,
    });
    this.responseTotal = new ScrapedMetric({
      registry,
      name: 'response_total',
      help: 'Total count of HTTP responses.',
      type: 'counter',
      samples: () => counterSamples(this.#order.responses),
      reset: resetTargets,
    });
    this.responseLatency = new ScrapedMetric({
      registry,
      name: 'response_latency_ms',
      help: 'Elapsed times between a request being received and its response headers being sent, in milliseconds.',
      type: 'histogram',
      samples: (forPromString) => histogramSamples('response_latency_ms', this.#order.latencies, forPromString),
      reset: resetTargets,
    });
    const conn = (name: string, help: string, type: MetricType, order: ConnCounters[], pick: (c: ConnCounters) => Series): ScrapedMetric =>
      new ScrapedMetric({
        registry,
        name,
        help,
        type,
        samples: () => counterSamples(order.map(pick)),
        reset: () => {
          for (const c of this.#conns.values()) pick(c).value = 0;
        },
      });
    this.tcpOpenTotal = conn('tcp_open_total', 'Total count of opened connections.', 'counter', this.#opened, (c) => c.open);
    this.tcpCloseTotal = conn('tcp_close_total', 'Total count of closed connections.', 'counter', this.#closed, (c) => c.close);
    this.tcpOpenConnections = conn('tcp_open_connections', 'Number of currently-open connections.', 'gauge', this.#opened, (c) => c.openNow);
    const bytes = (name: string, help: string, field: 'bytesRead' | 'bytesWritten', pick: (c: ConnCounters) => Series): ScrapedMetric =>
      new ScrapedMetric({
        registry,
        name,
        help,
        type: 'counter',
        samples: () => this.#opened.map((c) => ({ labels: pick(c).labels, value: c.bytes(field) })),
        reset: () => {
          for (const c of this.#conns.values()) pick(c).value = 0;
        },
      });
    this.tcpReadBytes = bytes('tcp_read_bytes_total', 'Total count of bytes read from peers.', 'bytesRead', (c) => c.read);
    this.tcpWriteBytes = bytes('tcp_write_bytes_total', 'Total count of bytes written to peers.', 'bytesWritten', (c) => c.write);
    this.tcpConnectionDuration = new ScrapedMetric({
      registry,
      name: 'tcp_connection_duration_ms',
      help: 'Connection lifetimes, in milliseconds.',
      type: 'histogram',
      samples: (forPromString) => histogramSamples('tcp_connection_duration_ms', this.#closed.map((c) => c.duration), forPromString),
      reset: () => {
        for (const c of this.#conns.values()) c.duration.reset();
      },
    });
    const registers = [registry];
    this.processStartTime = new Gauge({
      name: 'process_start_time_seconds',
      help: 'Start time of the process since unix epoch in seconds.',
      registers,
    });
    this.processStartTime.set(Math.round(performance.timeOrigin) / 1000);
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
    this.inboundTcpErrors = new Counter({
      name: 'inbound_tcp_errors_total',
      help: 'Total count of inbound connections refused or failed before reaching the application, by error.',
      labelNames: ['error'],
      registers,
    });
    this.outboundTcpErrors = new Counter({
      name: 'outbound_tcp_errors_total',
      help: 'Total count of outbound connection attempts that failed, by error (the most specific Weft code).',
      labelNames: ['error'],
      registers,
    });
    this.endpointEjections = new Counter({
      name: 'outbound_endpoint_ejections_total',
      help: 'Total count of endpoints ejected from load balancing after consecutive failures (and failed probes after), by endpoint address:port.',
      labelNames: ['endpoint'],
      registers,
    });
    const authz = (name: string, help: string, allow: boolean) =>
      new Counter({ name, help, labelNames: allow ? ['target_port', 'authz', 'client_id'] : ['target_port', 'client_id'], registers });
    this.httpAuthzAllow = authz('inbound_http_authz_allow_total', 'Total count of inbound HTTP requests allowed, by app port, the TrafficTarget (or default policy) that allowed it and client identity.', true);
    this.httpAuthzDeny = authz('inbound_http_authz_deny_total', 'Total count of inbound HTTP requests denied by authorization policy, by app port and client identity.', false);
    this.tcpAuthzAllow = authz('inbound_tcp_authz_allow_total', 'Total count of inbound opaque TCP connections allowed, by app port, the TrafficTarget (or default policy) that allowed it and client identity.', true);
    this.tcpAuthzDeny = authz('inbound_tcp_authz_deny_total', 'Total count of inbound opaque TCP connections denied by authorization policy, by app port and client identity.', false);
    this.h2SessionErrors = new Counter({
      name: 'http2_session_errors_total',
      help: 'Total count of HTTP/2 connections closed on a protocol error or an abuse limit, by direction and error code.',
      labelNames: ['direction', 'error'],
      registers,
    });
    this.configVersion = new Gauge({
      name: 'weft_proxy_config_info',
      help: 'The config version in force (value 1, version label).',
      labelNames: ['version'],
      registers,
    });
  }

  /**
   * The metrics of one target, deduplicated by label values. Beyond
   * maxTargets, new label sets share one overflow target per direction and tls
   * (authority "overflow", no other labels).
   */
  target(labels: TargetLabels): TargetMetrics {
    const key = targetKey(labels);
    const t = this.#targets.get(key);
    if (t !== undefined) return t;
    if (this.#targets.size < this.#maxTargets) return this.#add(key, labels);
    const overflow: TargetLabels = { direction: labels.direction, authority: 'overflow', tls: labels.tls };
    const overflowKey = targetKey(overflow);
    return this.#targets.get(overflowKey) ?? this.#add(overflowKey, overflow);
  }

  #add(key: string, labels: TargetLabels): TargetMetrics {
    const t = new TargetMetrics(this.#order, labels);
    this.#targets.set(key, t);
    return t;
  }

  /**
   * The hot-path lookup: the target already seen for this owner (a compiled
   * endpoint, backend, service or config, which lives as long as its config),
   * direction, authority, tls and client ID, or undefined. Allocates nothing.
   */
  lookup(owner: object, direction: Direction, authority: string, tls: boolean, clientId: string): TargetMetrics | undefined {
    return this.#byOwner.get(owner)?.get(authority)?.get(clientId)?.[slotOf(direction, tls)];
  }

  /** Caches for lookup() the target of these labels (see target()). */
  remember(owner: object, direction: Direction, authority: string, tls: boolean, clientId: string, labels: TargetLabels): TargetMetrics {
    let byAuthority = this.#byOwner.get(owner);
    if (byAuthority === undefined) {
      byAuthority = new Map();
      this.#byOwner.set(owner, byAuthority);
    }
    let byClient = byAuthority.get(authority);
    if (byClient === undefined) {
      byClient = new Map();
      byAuthority.set(authority, byClient);
    }
    let slots = byClient.get(clientId);
    if (slots === undefined) {
      slots = [];
      byClient.set(clientId, slots);
    }
    const t = this.target(labels);
    slots[slotOf(direction, tls)] = t;
    return t;
  }

  /** Counts a connection open now and its close, bytes included, when it closes. */
  trackConnection(socket: Tracked, labels: ConnLabels): void {
    const i =
      PROTOCOLS.indexOf(labels.protocol ?? 'http1') * 8 +
      (labels.direction === 'inbound' ? 4 : 0) +
      (labels.peer === 'src' ? 2 : 0) +
      (labels.tls === 'true' ? 1 : 0);
    const key = labels.client_id === undefined ? String(i) : `${i}\u0000${labels.client_id}`;
    let c = this.#conns.get(key);
    if (c === undefined) {
      c = new ConnCounters(labels);
      this.#conns.set(key, c);
    }
    const counters = c;
    if (!counters.opened) {
      counters.opened = true;
      this.#opened.push(counters);
    }
    counters.open.value++;
    counters.openNow.value++;
    counters.live.add(socket);
    const openedAt = performance.now();
    socket.once('close', () => {
      counters.live.delete(socket);
      counters.duration.observe(performance.now() - openedAt);
      if (!counters.closed) {
        counters.closed = true;
        this.#closed.push(counters);
      }
      counters.close.value++;
      counters.openNow.value--;
      counters.read.value += socket.bytesRead;
      counters.write.value += socket.bytesWritten;
    });
  }

  setConfigVersion(version: string): void {
    this.configVersion.reset();
    this.configVersion.set({ version }, 1);
  }
}

function targetKey(labels: TargetLabels): string {
  return TARGET_LABELS.map((l) => labels[l] ?? '').join('\u0000');
}

function slotOf(direction: Direction, tls: boolean): 0 | 1 | 2 | 3 {
  return direction === 'inbound' ? (tls ? 3 : 2) : tls ? 1 : 0;
}
