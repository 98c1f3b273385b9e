import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../test/harness/seeded-random.ts';
import { LATENCY_BUCKETS_MS, ProxyMetrics, type ConnLabels, type TargetLabels } from './metrics.ts';

const WEB: TargetLabels = {
  direction: 'outbound',
  authority: 'web.demo.svc.cluster.local:80',
  tls: 'true',
  dst_namespace: 'demo',
  dst_service: 'web',
  dst_deployment: 'web-v1',
  dst_pod: 'web-v1-1',
  dst_serviceaccount: 'web',
  server_id: 'spiffe://cluster.local/ns/demo/sa/web',
};
const CLIENT: TargetLabels = { direction: 'inbound', authority: 'web.demo', tls: 'true', client_id: 'spiffe://cluster.local/ns/demo/sa/client' };

/** The lines of `text` for `name` (exactly: `name{` or `name `). */
function lines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

/** The value of the one line of `name` whose label text contains every `k="v"` of `labels`. */
function value(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const hits = lines(text, name).filter((l) => want.every((w) => l.includes(`{${w},`) || l.includes(`,${w},`) || l.includes(`,${w}}`) || l.includes(`{${w}}`)));
  expect(hits, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
  return Number(hits[0]?.slice(hits[0].lastIndexOf(' ') + 1));
}

function fakeSocket(bytesRead: number, bytesWritten: number) {
  return Object.assign(new EventEmitter(), { bytesRead, bytesWritten });
}

/**
 * The previous implementation, on prom-client's own Counter/Gauge/Histogram
 * (label children cached per target and status), as the reference the
 * exposition must match byte for byte.
 */
class PromClientReference {
  readonly registry = new Registry();
  readonly #request: Counter<string>;
  readonly #response: Counter<string>;
  readonly #latency: Histogram<string>;
  readonly #conn: Record<'open' | 'close' | 'read' | 'write', Counter<string>> & { now: Gauge<string> };
  constructor(m: ProxyMetrics) {
    // Same names and help texts as the metrics under test.
    const registers = [this.registry];
    const help = (name: string): string => (m.registry.getSingleMetric(name) as unknown as { help: string }).help;
    const c = (name: string, labelNames: string[]) => new Counter({ name, help: help(name), labelNames, registers });
    const target = ['direction', 'authority', 'tls', 'dst_namespace', 'dst_service', 'dst_deployment', 'dst_pod', 'dst_serviceaccount', 'server_id', 'client_id'];
    this.#request = c('request_total', target);
    this.#response = c('response_total', [...target, 'status_code', 'classification', 'error']);
    this.#latency = new Histogram({ name: 'response_latency_ms', help: help('response_latency_ms'), labelNames: [...target, 'status_code'], buckets: LATENCY_BUCKETS_MS, registers });
    const conn = ['direction', 'peer', 'tls', 'protocol'];
    this.#conn = {
      open: c('tcp_open_total', conn),
      close: c('tcp_close_total', conn),
      now: new Gauge({ name: 'tcp_open_connections', help: help('tcp_open_connections'), labelNames: conn, registers }),
      read: c('tcp_read_bytes_total', conn),
      write: c('tcp_write_bytes_total', conn),
    };
  }
  exchange(labels: TargetLabels, status: number, ms: number, error: string): void {
    this.#request.inc(labels);
    const status_code = String(status);
    const classification = status >= 500 || status === 0 ? 'failure' : 'success';
    this.#response.inc({ ...labels, status_code, classification, error });
    this.#latency.observe({ ...labels, status_code }, ms);
  }
  open(labels: ConnLabels): void {
    const l = { ...labels, protocol: labels.protocol ?? 'http1' };
    this.#conn.open.inc(l);
    this.#conn.now.inc(l);
    // The byte counters list a series from its first open (they move while connections live).
    this.#conn.read.inc(l, 0);
    this.#conn.write.inc(l, 0);
  }
  close(labels: ConnLabels, read: number, written: number): void {
    const l = { ...labels, protocol: labels.protocol ?? 'http1' };
    this.#conn.close.inc(l);
    this.#conn.now.dec(l);
    this.#conn.read.inc(l, read);
    this.#conn.write.inc(l, written);
  }
  /** Per-request metrics only: the same text as ProxyMetrics minus the metrics that stay on prom-client. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** ProxyMetrics' text without the identity_* and config metrics (plain prom-client, not re-implemented). */
async function perRequestText(m: ProxyMetrics): Promise<string> {
  for (const name of ['identity_cert_expiration_timestamp_seconds', 'identity_cert_refresh_count', 'weft_proxy_config_info', 'inbound_tcp_errors_total', 'outbound_tcp_errors_total', 'outbound_endpoint_ejections_total', 'http2_session_errors_total', 'inbound_http_authz_allow_total', 'inbound_http_authz_deny_total', 'inbound_tcp_authz_allow_total', 'inbound_tcp_authz_deny_total', 'tcp_connection_duration_ms', 'process_start_time_seconds']) {
    m.registry.removeSingleMetric(name);
  }
  return m.registry.metrics();
}

describe('ProxyMetrics: per-request metrics', () => {
  it('counts requests and responses per target and status, with the Linkerd labels in order', async () => {
    const m = new ProxyMetrics();
    const web = m.target(WEB);
    for (let i = 0; i < 3; i++) {
      web.request();
      web.response(200, 2);
    }
    web.request();
    web.response(503, 1, 'WEFT_ERR_NO_ENDPOINTS');
    web.request();
    web.response(503, 1);
    expect(web.requests).toBe(5);
    expect(web.responses(200)).toBe(3);
    expect(web.responses(503, 'WEFT_ERR_NO_ENDPOINTS')).toBe(1);
    expect(web.responses(503)).toBe(1);
    expect(web.latency(503)?.count).toBe(2);

    const text = await m.registry.metrics();
    expect(lines(text, 'request_total')).toEqual([
      'request_total{direction="outbound",authority="web.demo.svc.cluster.local:80",tls="true",dst_namespace="demo",dst_service="web",dst_deployment="web-v1",dst_pod="web-v1-1",dst_serviceaccount="web",server_id="spiffe://cluster.local/ns/demo/sa/web"} 5',
    ]);
    const prefix = 'response_total{direction="outbound",authority="web.demo.svc.cluster.local:80",tls="true",dst_namespace="demo",dst_service="web",dst_deployment="web-v1",dst_pod="web-v1-1",dst_serviceaccount="web",server_id="spiffe://cluster.local/ns/demo/sa/web"';
    expect(lines(text, 'response_total')).toEqual([
      `${prefix},status_code="200",classification="success",error=""} 3`,
      `${prefix},status_code="503",classification="failure",error="WEFT_ERR_NO_ENDPOINTS"} 1`,
      `${prefix},status_code="503",classification="failure",error=""} 1`,
    ]);
    // One latency series per status code, whatever the error code.
    expect(lines(text, 'response_latency_ms_count')).toHaveLength(2);
    expect(value(text, 'response_latency_ms_count', { status_code: '503' })).toBe(2);
  });

  it('gRPC responses carry grpc_status, and only OK is a success', async () => {
    const m = new ProxyMetrics();
    const web = m.target(WEB);
    for (const [status, grpc, error] of [
      [200, 0, ''],
      [200, 0, ''],
      [200, 14, ''],
      [200, 4, 'WEFT_ERR_TIMEOUT'],
      [200, -1, ''],
    ] as const) {
      web.request();
      web.response(status, 1, error, grpc);
    }
    expect(web.responses(200, '', 0)).toBe(2);
    expect(web.responses(200, '', 14)).toBe(1);
    expect(web.responses(200, 'WEFT_ERR_TIMEOUT', 4)).toBe(1);
    const text = await m.registry.metrics();
    const got = lines(text, 'response_total').map((l) => l.slice(l.indexOf(',status_code=')));
    expect(got).toEqual([
      ',status_code="200",classification="success",error="",grpc_status="0"} 2',
      ',status_code="200",classification="failure",error="",grpc_status="14"} 1',
      ',status_code="200",classification="failure",error="WEFT_ERR_TIMEOUT",grpc_status="4"} 1',
      ',status_code="200",classification="failure",error="",grpc_status=""} 1',
    ]);
    // One latency series per HTTP status, gRPC or not.
    expect(lines(text, 'response_latency_ms_count')).toHaveLength(1);
  });

  it('renders the latency histogram: cumulative buckets with le first, +Inf, _sum, _count', async () => {
    const m = new ProxyMetrics();
    const t = m.target(CLIENT);
    const observed = [0.5, 1, 1.5, 7, 49.9, 50, 50.1, 60_000, -3];
    for (const ms of observed) {
      t.request();
      t.response(200, ms);
    }
    const text = await m.registry.metrics();
    const buckets = lines(text, 'response_latency_ms_bucket');
    expect(buckets).toHaveLength(LATENCY_BUCKETS_MS.length + 1);
    expect(buckets[0]).toBe(
      'response_latency_ms_bucket{le="1",direction="inbound",authority="web.demo",tls="true",client_id="spiffe://cluster.local/ns/demo/sa/client",status_code="200"} 3',
    );
    const at = (le: string) => value(text, 'response_latency_ms_bucket', { le });
    expect(at('1')).toBe(3); // -3, 0.5, 1
    expect(at('2')).toBe(4);
    expect(at('5')).toBe(4);
    expect(at('10')).toBe(5);
    expect(at('50')).toBe(7);
    expect(at('100')).toBe(8);
    expect(at('50000')).toBe(8); // 60000 is above the last bound
    expect(at('+Inf')).toBe(9);
    expect(buckets.at(-1)).toMatch(/^response_latency_ms_bucket\{le="\+Inf",direction="inbound",/);
    expect(value(text, 'response_latency_ms_count', {})).toBe(9);
    expect(value(text, 'response_latency_ms_sum', {})).toBe(observed.reduce((a, b) => a + b, 0));
    // Non-decreasing, as Prometheus requires.
    const counts = buckets.map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
    expect([...counts].sort((a, b) => a - b)).toEqual(counts);
  });

  it('is byte for byte what prom-client Counter/Gauge/Histogram give for the same traffic', async () => {
    const random = mulberry32(42);
    const m = new ProxyMetrics();
    const ref = new PromClientReference(m);
    const targets: TargetLabels[] = [
      WEB,
      CLIENT,
      { ...WEB, authority: 'quoted "a\\b"\nc', tls: 'false', server_id: '', dst_pod: '' },
      { direction: 'inbound', authority: 'other', tls: 'false', client_id: '' },
    ];
    const statuses: [number, string][] = [[200, ''], [200, ''], [404, ''], [503, 'WEFT_ERR_NO_ENDPOINTS'], [502, ''], [502, 'WEFT_ERR_UPSTREAM_RESET'], [0, ''], [101, '']];
    for (let i = 0; i < 2000; i++) {
      const labels = targets[Math.floor(random() * targets.length)] as TargetLabels;
      const [status, error] = statuses[Math.floor(random() * statuses.length)] as [number, string];
      const ms = random() < 0.05 ? random() * 100_000 : random() * 30;
      const t = m.target(labels);
      t.request();
      t.response(status, ms, error);
      ref.exchange(labels, status, ms, error);
    }
    const conns: ConnLabels[] = [
      { direction: 'outbound', peer: 'src', tls: 'false' },
      { direction: 'outbound', peer: 'dst', tls: 'true' },
      { direction: 'inbound', peer: 'src', tls: 'true' },
    ];
    const open: [ConnLabels, ReturnType<typeof fakeSocket>][] = [];
    for (let i = 0; i < 40; i++) {
      const l = conns[Math.floor(random() * conns.length)] as ConnLabels;
      const s = fakeSocket(Math.floor(random() * 1e6), Math.floor(random() * 1e6));
      m.trackConnection(s, { ...l });
      ref.open(l);
      open.push([l, s]);
      if (random() < 0.5) {
        const [cl, cs] = open.splice(Math.floor(random() * open.length), 1)[0] as [ConnLabels, ReturnType<typeof fakeSocket>];
        cs.emit('close');
        ref.close(cl, cs.bytesRead, cs.bytesWritten);
      }
    }
    // Bytes of open connections count too: close them all so that the reference, which counts at close, agrees.
    for (const [cl, cs] of open) {
      cs.emit('close');
      ref.close(cl, cs.bytesRead, cs.bytesWritten);
    }
    const text = await perRequestText(m);
    expect(text).toBe(await ref.text());
    expect(text).toContain('response_latency_ms_bucket{le="+Inf"');
  });

  it('returns full labels from get() (getMetricsAsJSON), le first for histogram buckets', async () => {
    const m = new ProxyMetrics();
    const t = m.target(CLIENT);
    t.request();
    t.response(200, 3);
    const json = await m.registry.getMetricsAsJSON();
    const latency = json.find((x) => x.name === 'response_latency_ms');
    expect(latency?.type).toBe('histogram');
    expect(latency?.values[0]).toEqual({ labels: { le: 1, ...CLIENT, status_code: '200' }, value: 0, metricName: 'response_latency_ms_bucket' });
    expect(latency?.values.at(-2)).toEqual({ labels: { ...CLIENT, status_code: '200' }, value: 3, metricName: 'response_latency_ms_sum' });
    const requests = json.find((x) => x.name === 'request_total');
    expect(requests?.values).toEqual([{ labels: CLIENT, value: 1 }]);
  });

  it('puts label sets beyond maxTargets on one overflow target per direction and tls', async () => {
    const m = new ProxyMetrics({ maxTargets: 2 });
    const a = m.target(WEB);
    const b = m.target(CLIENT);
    const c = m.target({ ...WEB, dst_pod: 'web-v1-2' });
    const d = m.target({ ...WEB, dst_pod: 'web-v1-3' });
    const e = m.target({ ...CLIENT, client_id: 'spiffe://cluster.local/ns/demo/sa/other' });
    expect(m.target(WEB)).toBe(a); // known label sets keep their own target
    expect(c).toBe(d);
    expect(new Set([a, b, c, e]).size).toBe(4);
    for (const t of [a, b, c, d, e]) {
      t.request();
      t.response(200, 1);
    }
    const text = await m.registry.metrics();
    expect(lines(text, 'request_total')).toEqual([
      expect.stringContaining('authority="web.demo.svc.cluster.local:80"'),
      expect.stringContaining('authority="web.demo"'),
      'request_total{direction="outbound",authority="overflow",tls="true"} 2',
      'request_total{direction="inbound",authority="overflow",tls="true"} 1',
    ]);
    expect(value(text, 'response_total', { authority: 'overflow', direction: 'outbound' })).toBe(2);
  });

  it('caches targets per owner, direction, authority, tls and client ID (lookup, remember)', () => {
    const m = new ProxyMetrics();
    const owner = {};
    expect(m.lookup(owner, 'outbound', WEB.authority, true, '')).toBeUndefined();
    const t = m.remember(owner, 'outbound', WEB.authority, true, '', WEB);
    expect(m.lookup(owner, 'outbound', WEB.authority, true, '')).toBe(t);
    expect(m.lookup({}, 'outbound', WEB.authority, true, '')).toBeUndefined();
    expect(m.lookup(owner, 'outbound', WEB.authority, false, '')).toBeUndefined();
    expect(m.lookup(owner, 'inbound', WEB.authority, true, '')).toBeUndefined();
    expect(m.lookup(owner, 'outbound', 'web.demo', true, '')).toBeUndefined();
    expect(m.lookup(owner, 'outbound', WEB.authority, true, 'spiffe://x/y')).toBeUndefined();
    // The same labels from another owner share the target (and its series).
    expect(m.remember({}, 'outbound', WEB.authority, true, '', { ...WEB })).toBe(t);
    const inbound = m.remember(owner, 'inbound', 'web.demo', true, CLIENT.client_id ?? '', CLIENT);
    expect(m.lookup(owner, 'inbound', 'web.demo', true, CLIENT.client_id ?? '')).toBe(inbound);
    expect(m.lookup(owner, 'outbound', WEB.authority, true, '')).toBe(t);
  });

  it('counts connections: opens, currently open, closes, bytes while open and after, lifetimes, by protocol', async () => {
    const m = new ProxyMetrics();
    const l: ConnLabels = { direction: 'inbound', peer: 'src', tls: 'true' };
    const s1 = fakeSocket(100, 200);
    const s2 = fakeSocket(1, 2);
    m.trackConnection(s1, l);
    m.trackConnection(s2, { ...l });
    const L = 'direction="inbound",peer="src",tls="true",protocol="http1"';
    let text = await m.registry.metrics();
    expect(lines(text, 'tcp_open_total')).toEqual([`tcp_open_total{${L}} 2`]);
    expect(lines(text, 'tcp_open_connections')).toEqual([`tcp_open_connections{${L}} 2`]);
    expect(lines(text, 'tcp_close_total')).toEqual([]);
    // Bytes move while the connections are open.
    expect(lines(text, 'tcp_read_bytes_total')).toEqual([`tcp_read_bytes_total{${L}} 101`]);
    s2.bytesRead = 51;
    expect(lines(await m.registry.metrics(), 'tcp_read_bytes_total')).toEqual([`tcp_read_bytes_total{${L}} 151`]);
    s1.emit('close');
    text = await m.registry.metrics();
    expect(lines(text, 'tcp_open_connections')).toEqual([`tcp_open_connections{${L}} 1`]);
    expect(lines(text, 'tcp_close_total')).toEqual([`tcp_close_total{${L}} 1`]);
    expect(lines(text, 'tcp_read_bytes_total')).toEqual([`tcp_read_bytes_total{${L}} 151`]);
    expect(lines(text, 'tcp_write_bytes_total')).toEqual([`tcp_write_bytes_total{${L}} 202`]);
    expect(lines(text, 'tcp_connection_duration_ms_count')).toEqual([`tcp_connection_duration_ms_count{${L}} 1`]);
    // Another protocol is another series.
    const o = fakeSocket(5, 5);
    m.trackConnection(o, { direction: 'outbound', peer: 'src', tls: 'false', protocol: 'opaque' });
    expect(lines(await m.registry.metrics(), 'tcp_open_total')).toContain('tcp_open_total{direction="outbound",peer="src",tls="false",protocol="opaque"} 1');
    expect(lines(await m.registry.metrics(), 'process_start_time_seconds')).toHaveLength(1);
  });

  it('keeps two proxies\' registries independent', async () => {
    const a = new ProxyMetrics();
    const b = new ProxyMetrics();
    a.target(WEB).request();
    a.target(WEB).response(200, 1);
    b.target(WEB).request();
    b.target(WEB).request();
    b.target(WEB).response(200, 1);
    b.target(WEB).response(200, 1);
    expect(value(await a.registry.metrics(), 'request_total', { direction: 'outbound' })).toBe(1);
    expect(value(await b.registry.metrics(), 'request_total', { direction: 'outbound' })).toBe(2);
    expect(value(await b.registry.metrics(), 'response_latency_ms_count', {})).toBe(2);
    expect(a.target(WEB)).not.toBe(b.target(WEB));
  });

  it('zeroes values on Registry.resetMetrics(), and counts again from there', async () => {
    const m = new ProxyMetrics();
    const t = m.target(WEB);
    t.request();
    t.response(200, 1);
    m.registry.resetMetrics();
    t.request();
    const text = await m.registry.metrics();
    expect(lines(text, 'request_total')).toHaveLength(1);
    expect(value(text, 'request_total', {})).toBe(1);
    expect(value(text, 'response_total', {})).toBe(0);
    expect(value(text, 'response_latency_ms_count', {})).toBe(0);
  });

  it('passes promtool check metrics (only the lints on Linkerd\'s own names)', async () => {
    // promtool (Debian's prometheus, installed by .ci/run) is a test prerequisite, as in proxy-admin.test.ts: missing, this fails.
    expect(spawnSync('promtool', ['--version']).error, 'promtool is not installed (apt-get install prometheus)').toBeUndefined();
    const m = new ProxyMetrics();
    for (const labels of [WEB, CLIENT]) {
      const t = m.target(labels);
      t.request();
      t.response(200, 4.2);
      t.request();
      t.response(502, 12, 'WEFT_ERR_UPSTREAM_RESET');
    }
    const s = fakeSocket(10, 20);
    m.trackConnection(s, { direction: 'outbound', peer: 'dst', tls: 'true' });
    s.emit('close');
    m.certExpiration.set(1_900_000_000);
    m.certRefresh.inc();
    m.setConfigVersion('v1');
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: await m.registry.metrics(), encoding: 'utf8' });
    const findings = (lint.stdout + lint.stderr).split('\n').filter((l) => l.trim() !== '');
    const linkerdNames = ['identity_cert_refresh_count ', 'response_latency_ms ', 'tcp_connection_duration_ms '];
    expect(findings.filter((f) => !linkerdNames.some((n) => f.startsWith(n)))).toEqual([]);
  });
});
