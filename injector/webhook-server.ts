// The injector's HTTPS server (port 8443 by default): POST /mutate (or /)
// takes an AdmissionReview and answers it through reviewAdmission();
// GET /metrics, /ready and /live serve operators. An optional plain-HTTP
// admin listener serves the same three GET paths for scrapers that do not
// speak TLS. start() returns once listening; close() stops both listeners.
//
// Bodies are capped (MAX_REVIEW_BYTES, 413) while they stream in, so a huge
// request never sits in memory; the answer, including every 4xx, is JSON.
import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';
import { PORTS } from '../proto/mesh.ts';
import type { Logger } from '../proto/log.ts';
import { MAX_REVIEW_BYTES, reviewAdmission } from './admission.ts';
import { answerJson, type AdmissionAnswer } from './admission-errors.ts';
import { StaticNamespaceLookup, type NamespaceLookup } from './namespace-lookup.ts';
import type { InjectOptions } from './patch.ts';
import { createWebhookMetrics } from './webhook-metrics.ts';

export interface WebhookConfig {
  /** Default 0.0.0.0. */
  host?: string;
  /** Default 8443; 0 picks a free port. */
  port?: number;
  /** The serving certificate (chain) and key, PEM. */
  tls: { cert: string | Buffer; key: string | Buffer };
  inject: InjectOptions;
  /** Default: no namespace known (so only pods that opt in themselves are injected). */
  namespaces?: NamespaceLookup;
  logger?: Logger;
  /** Default MAX_REVIEW_BYTES (3 MiB). */
  maxBodyBytes?: number;
  /** A plain-HTTP listener for /metrics, /ready, /live. */
  admin?: { host: string; port: number };
}

export interface Webhook {
  /** The HTTPS port (useful with port 0). */
  port: number;
  adminPort: number | undefined;
  registry: Registry;
  /** Swaps the serving certificate for new connections (certificate rotation). */
  setTls(tls: { cert: string | Buffer; key: string | Buffer }): void;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json';
/** Longer than the apiserver keeps an idle connection (90 s): it, not the webhook, closes them. */
export const KEEP_ALIVE_MS = 100_000;

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, body: string, close = false): void {
  res.writeHead(status, {
    'content-type': JSON_TYPE,
    'content-length': Buffer.byteLength(body),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

function tooLarge(res: http.ServerResponse, req: http.IncomingMessage, max: number): void {
  sendJson(
    res,
    413,
    JSON.stringify({ error: { code: 'WEFT_ERR_INJECT_BODY_TOO_LARGE', message: `the body is larger than the ${max} bytes allowed` } }),
    true,
  );
  res.on('finish', () => req.destroy());
}

export async function start(config: WebhookConfig): Promise<Webhook> {
  const log = config.logger;
  const max = config.maxBodyBytes ?? MAX_REVIEW_BYTES;
  const namespaces = config.namespaces ?? new StaticNamespaceLookup();
  const metrics = createWebhookMetrics();
  const deps = { namespaces, inject: config.inject, ...(log !== undefined ? { logger: log } : {}) };

  const ops = (req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    switch (path) {
      case '/metrics':
        metrics.registry.metrics().then(
          (body) => send(res, 200, body, metrics.registry.contentType),
          (err: unknown) => send(res, 500, `${String(err)}\n`),
        );
        return true;
      case '/ready':
        send(res, 200, 'ready\n');
        return true;
      case '/live':
        send(res, 200, 'live\n');
        return true;
      default:
        return false;
    }
  };

  const review = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) return tooLarge(res, req, max);
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > max) {
        refused = true;
        chunks.length = 0;
        tooLarge(res, req, max);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (refused) return;
      const t0 = process.hrtime.bigint();
      // A review nearly always arrives in one chunk: no copy then.
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      void reviewAdmission(body, deps).then((answer: AdmissionAnswer) => {
        metrics.observe(answer.outcome, Number(process.hrtime.bigint() - t0) / 1e9);
        const fields = { outcome: answer.outcome, reason: answer.reason, status: answer.status };
        if (answer.outcome === 'injected') log?.info('admission', fields);
        else if (answer.status !== 200 || answer.outcome === 'denied' || answer.outcome === 'error') log?.warn('admission', fields);
        else log?.debug('admission', fields);
        if (!res.headersSent) sendJson(res, answer.status, answerJson(answer.body));
      });
    });
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (ops(req, res, path)) return;
    if (path === '/mutate' || path === '/') {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return sendJson(res, 405, JSON.stringify({ error: { code: 'WEFT_ERR_INJECT_REVIEW_INVALID', message: `${req.method} ${path}: POST an AdmissionReview` } }));
      }
      return review(req, res);
    }
    sendJson(res, 404, JSON.stringify({ error: { code: 'WEFT_ERR_INJECT_REVIEW_INVALID', message: `no such path ${path}; POST AdmissionReviews to /mutate` } }));
  };

  const server = https.createServer({ cert: config.tls.cert, key: config.tls.key }, handler);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  // The apiserver keeps idle connections to a webhook for 90 s (Go's
  // IdleConnTimeout). Closing them sooner (Node's default is 5 s) costs a TLS
  // handshake on the next review after a quiet spell, and a review sent just
  // as the server closes fails: POSTs are not retried.
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  server.listen(config.port ?? PORTS.injectorWebhook, config.host ?? '0.0.0.0');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;

  let admin: http.Server | undefined;
  let adminPort: number | undefined;
  if (config.admin !== undefined) {
    const a = http.createServer((req, res) => {
      if (!ops(req, res, (req.url ?? '/').split('?')[0] ?? '/')) send(res, 404, 'not found\n');
    });
    a.listen(config.admin.port, config.admin.host);
    try {
      await once(a, 'listening');
    } catch (err) {
      server.close();
      throw err;
    }
    admin = a;
    adminPort = (a.address() as { port: number }).port;
  }
  log?.info('injector webhook listening', { port, adminPort });

  return {
    port,
    adminPort,
    registry: metrics.registry,
    setTls(tls) {
      server.setSecureContext({ cert: tls.cert, key: tls.key });
    },
    async close() {
      const closed = [new Promise<void>((r) => server.close(() => r()))];
      if (admin !== undefined) {
        const a = admin;
        closed.push(new Promise<void>((r) => a.close(() => r())));
        a.closeAllConnections();
      }
      server.closeIdleConnections();
      // In-flight reviews take milliseconds; give them a moment, then cut.
      const cut = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, 2_000).unref();
      await Promise.all(closed);
      clearTimeout(cut);
    },
  };
}
