import { describe, expect, it } from 'vitest';
import { rewriteProbes } from './probe-rewrite.ts';

describe('rewriteProbes', () => {
  const app = {
    name: 'app',
    ports: [{ name: 'http', containerPort: 8080 }, { name: 'grpc', containerPort: 9000 }],
    readinessProbe: { httpGet: { path: '/ready', port: 'http', httpHeaders: [{ name: 'X-Probe', value: '1' }] }, periodSeconds: 2, failureThreshold: 3 },
    livenessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 5 },
    startupProbe: { grpc: { port: 9000, service: 'app' }, timeoutSeconds: 3 },
  };
  const sidecar = { name: 'side', livenessProbe: { exec: { command: ['true'] } }, readinessProbe: { httpGet: { port: 'nope' } } };

  it('points httpGet, tcpSocket and grpc probes at the admin port, keeping their timing', () => {
    const r = rewriteProbes([app, sidecar], 4191);
    expect(r.ops).toEqual([
      { op: 'replace', path: '/spec/containers/0/livenessProbe', value: { initialDelaySeconds: 5, httpGet: { path: '/app-health/app/livez', port: 4191, scheme: 'HTTP' } } },
      { op: 'replace', path: '/spec/containers/0/readinessProbe', value: { periodSeconds: 2, failureThreshold: 3, httpGet: { path: '/app-health/app/readyz', port: 4191, scheme: 'HTTP' } } },
      { op: 'replace', path: '/spec/containers/0/startupProbe', value: { timeoutSeconds: 3, httpGet: { path: '/app-health/app/startupz', port: 4191, scheme: 'HTTP' } } },
    ]);
  });

  it('hands the original probes to the proxy, named ports resolved', () => {
    expect(rewriteProbes([app], 4191).probes).toEqual({
      'app/readyz': { httpGet: { port: 8080, path: '/ready', scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: '1' }] } },
      'app/livez': { tcpSocket: { port: 8080 } },
      'app/startupz': { grpc: { port: 9000, service: 'app' } },
    });
  });

  it('leaves exec probes and probes whose port cannot be resolved alone', () => {
    expect(rewriteProbes([sidecar], 4191)).toEqual({ ops: [], probes: {} });
  });
});
