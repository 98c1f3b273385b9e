// The control plane's admin listener (9990): /metrics (weft_*), /ready (the
// source has delivered a state and the gRPC listener is up), /live.
import http from 'node:http';
import { once } from 'node:events';
import type { Registry } from 'prom-client';

export interface AdminServer {
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

export function createAdminServer(o: { registry: Registry; ready: () => boolean }): AdminServer {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    switch ((req.url ?? '/').split('?')[0]) {
      case '/metrics':
        o.registry.metrics().then(
          (body) => send(200, body, o.registry.contentType),
          (err: unknown) => send(500, `${String(err)}\n`),
        );
        return;
      case '/ready':
        return o.ready() ? send(200, 'ready\n') : send(503, 'not ready\n');
      case '/live':
        return send(200, 'live\n');
      default:
        return send(404, 'not found\n');
    }
  });
  return {
    async listen(port, host) {
      server.listen(port, host);
      await once(server, 'listening');
      return (server.address() as { port: number }).port;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
