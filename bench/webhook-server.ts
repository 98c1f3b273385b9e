// The webhook under benchmark, in its own process: the real injector
// (injector/webhook-server.ts) on 127.0.0.1, HTTPS with a test certificate,
// namespace `demo` annotated for injection so every review is a full patch.
// It logs as injector/main.ts does (JSON lines on stderr, level from
// WEFT_LOG_LEVEL, default info: one line per injected pod).
// Prints {"port":N,"ca":"<anchor PEM>"} when listening.
import { createTestPki } from '../identity/test-pki.ts';
import { createLogger, parseLogLevel } from '../proto/log.ts';
import { batchedStderr } from '../injector/log-writer.ts';
import { start } from '../injector/webhook-server.ts';
import { StaticNamespaceLookup } from '../injector/namespace-lookup.ts';

const pki = createTestPki();
const leaf = pki.issueLeaf({ uris: [], dnsNames: ['weft-injector.weft-system.svc'], ipAddresses: ['127.0.0.1'] });
const webhook = await start({
  host: '127.0.0.1',
  port: 0,
  tls: { cert: leaf.chainPem.join(''), key: leaf.keyPem },
  inject: { proxyImage: 'weft:bench', proxyVersion: 'bench' },
  namespaces: new StaticNamespaceLookup([{ name: 'demo', labels: {}, annotations: { 'weft.dev/inject': 'enabled' } }]),
  logger: createLogger(parseLogLevel(process.env.WEFT_LOG_LEVEL), 'injector', batchedStderr().write),
});
process.stdout.write(`${JSON.stringify({ port: webhook.port, ca: pki.anchorPem })}\n`);
process.on('SIGTERM', () => void webhook.close().then(() => process.exit(0)));
