import { describe, expect, it } from 'vitest';
import { parsePrometheusText } from './prometheus-text.ts';
import { formatStatTable, histogramQuantile, statRows } from './stat-table.ts';

function exposition(v1: number, v2: number, v2fail: number): string {
  const l = (dep: string, extra = '') => `direction="outbound",tls="true",dst_deployment="${dep}"${extra}`;
  return [
    '# HELP response_total x',
    `response_total{${l('web-v1', ',status_code="200",classification="success"')}} ${v1}`,
    `response_total{${l('web-v2', ',status_code="200",classification="success"')}} ${v2 - v2fail}`,
    `response_total{${l('web-v2', ',status_code="500",classification="failure"')}} ${v2fail}`,
    `response_total{direction="inbound",tls="true",status_code="200",classification="success"} 999`,
    `response_latency_ms_bucket{${l('web-v1', ',le="1"')}} 0`,
    `response_latency_ms_bucket{${l('web-v1', ',le="10"')}} ${v1}`,
    `response_latency_ms_bucket{${l('web-v1', ',le="+Inf"')}} ${v1}`,
  ].join('\n');
}

describe('stat table', () => {
  it('computes rate, share, success and latency between two scrapes, outbound only', () => {
    const prev = parsePrometheusText(exposition(100, 10, 0));
    const cur = parsePrometheusText(exposition(190, 20, 5));
    const rows = statRows(prev, cur, 1);
    expect(rows.map((r) => r.name)).toEqual(['web-v1', 'web-v2']);
    const [v1, v2] = rows;
    expect(v1?.rps).toBe(90);
    expect(v1?.share).toBeCloseTo(0.9);
    expect(v1?.successRate).toBe(1);
    expect(v1?.tlsShare).toBe(1);
    expect(v1?.p50Ms).toBeCloseTo(5.5);
    expect(v2?.rps).toBe(10);
    expect(v2?.successRate).toBeCloseTo(0.5);
    expect(formatStatTable(rows)).toMatch(/^BACKEND\s+RPS\s+SHARE\s+SUCCESS\s+P50\s+P99\s+MTLS\nweb-v1\s+90\.0\s+90\.0%/);
  });

  it('interpolates quantiles within buckets and handles empty histograms', () => {
    const b = new Map([
      [1, 0],
      [2, 50],
      [4, 100],
      [Infinity, 100],
    ]);
    expect(histogramQuantile(0.5, b)).toBe(2);
    expect(histogramQuantile(0.75, b)).toBe(3);
    expect(histogramQuantile(0.5, new Map())).toBeUndefined();
  });
});
