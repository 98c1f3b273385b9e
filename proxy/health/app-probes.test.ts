import { describe, expect, it } from 'vitest';
import { codeOf } from '../../test/harness/error-code.ts';
import { parseAppProbes } from './app-probes.ts';
import { healthStatusOf } from './app-health.ts';

describe('parseAppProbes', () => {
  it('reads the injector table', () => {
    const m = parseAppProbes(JSON.stringify({
      'app/readyz': { httpGet: { port: 8080, path: '/ready', scheme: 'HTTP' } },
      'app/livez': { tcpSocket: { port: 8080 } },
      'app/startupz': { grpc: { port: 9000 } },
    }));
    expect([...m.keys()]).toEqual(['app/readyz', 'app/livez', 'app/startupz']);
    expect(m.get('app/livez')).toEqual({ tcpSocket: { port: 8080 } });
  });
  it.each([
    ['not json', '{'],
    ['not an object', '[]'],
    ['a bad key', JSON.stringify({ 'app/healthz': { tcpSocket: { port: 1 } } })],
    ['a bad port', JSON.stringify({ 'app/livez': { tcpSocket: { port: 0 } } })],
    ['no handler', JSON.stringify({ 'app/livez': { exec: {} } })],
  ])('refuses %s', (_name, json) => {
    expect(codeOf(() => parseAppProbes(json))).toBe('WEFT_ERR_CONFIG_INVALID');
  });
});

describe('healthStatusOf', () => {
  it('reads HealthCheckResponse.status from a gRPC message', () => {
    expect(healthStatusOf(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]))).toBe(1);
    expect(healthStatusOf(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x02]))).toBe(2);
    expect(healthStatusOf(Buffer.from([0, 0, 0, 0, 0]))).toBe(0);
    expect(healthStatusOf(Buffer.alloc(0))).toBe(0);
  });
});
