// The admin listener (4191): /metrics (Prometheus text), /ready (200 once the
// proxy holds a config and a certificate), /live, /config (the config in
// force and its version, no secrets), /shutdown (POST, only when enabled),
// /app-health/<container>/<livez|readyz|startupz> (the kubelet's rewritten
// probes, run against the app: app-health.ts).
import type { ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { ProxyConfig } from '../../proto/mesh.ts';
import type { ProxyMetrics } from '../metrics/metrics.ts';
// Builtins via process.getBuiltinModule, not an ESM import (proto/README.md, Memory).
const http = process.getBuiltinModule('node:http');

export interface AdminOptions {
  metrics: ProxyMetrics;
  ready: () => boolean;
  config: () => ProxyConfig | undefined;
  enableShutdown: boolean;
  onShutdown: () => void;
  /** Runs the original probe behind /app-health/<container>/<kind>; undefined: no such probe. */
  appHealth?: (key: string) => Promise<{ status: number; body: string }> | undefined;
}

function text(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function createAdminServer(o: AdminOptions): { listen(port: number, host: string): Promise<number>; close(): Promise<void> } {
  const server = http.createServer({ requireHostHeader: false }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const get = req.method === 'GET' || req.method === 'HEAD';
    switch (path) {
      case '/metrics':
        if (!get) return text(res, 405, 'method not allowed\n');
        o.metrics.registry.metrics().then(
          (body) => text(res, 200, body, o.metrics.registry.contentType),
          (err: unknown) => text(res, 500, `${String(err)}\n`),
        );
        return;
      case '/ready':
        return o.ready() ? text(res, 200, 'ready\n') : text(res, 503, 'not ready\n');
      case '/live':
        return text(res, 200, 'live\n');
      case '/config': {
        const c = o.config();
        if (c === undefined) return text(res, 404, '{"version":null}\n', 'application/json');
        return text(res, 200, `${JSON.stringify({ version: c.version, config: c }, null, 2)}\n`, 'application/json');
      }
      case '/shutdown':
        if (!o.enableShutdown) return text(res, 404, 'shutdown endpoint is disabled\n');
        if (req.method !== 'POST') return text(res, 405, 'use POST\n');
        text(res, 202, 'shutting down\n');
        setImmediate(o.onShutdown);
        return;
      default: {
        if (path?.startsWith('/app-health/') === true && get && o.appHealth !== undefined) {
          const run = o.appHealth(path.slice('/app-health/'.length));
          if (run === undefined) return text(res, 404, 'no such probe\n');
          run.then(
            (r) => text(res, r.status, r.body),
            (err: unknown) => text(res, 503, `probe failed: ${String(err)}\n`),
          );
          return;
        }
        return text(res, 404, 'not found\n');
      }
    }
  });
  return {
    async listen(port, host) {
      server.listen(port, host);
      await once(server, 'listening');
      const addr = server.address();
      return typeof addr === 'object' && addr !== null ? addr.port : port;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
