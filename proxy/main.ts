#!/usr/bin/env node
// Runs one proxy from flags and environment. Static mode: --config FILE
// (YAML/JSON ProxyConfig, reloaded on change), --cert/--key PEM files.
// Only parsing and signals live here; everything else is start().
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { start, type ProxyStartConfig } from './proxy.ts';
import { formatWorkloadId } from '../identity/spiffe-id.ts';
import { readConfigFile, watchConfigFile } from './config/config-file.ts';
import { createLogger, parseLogLevel } from '../proto/log.ts';
import { parsePortList } from '../proto/port-list.ts';
import { parseAppProbes, type AppProbe } from './health/app-probes.ts';
import { APP_PROBES_ENV } from '../proto/mesh.ts';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: process.env.WEFT_CONFIG },
    cert: { type: 'string', default: process.env.WEFT_CERT },
    key: { type: 'string', default: process.env.WEFT_KEY },
    namespace: { type: 'string', default: process.env.WEFT_NAMESPACE ?? 'default' },
    'outbound-addr': { type: 'string', default: process.env.WEFT_OUTBOUND_ADDR ?? '127.0.0.1:4140' },
    'inbound-addr': { type: 'string', default: process.env.WEFT_INBOUND_ADDR ?? '0.0.0.0:4143' },
    'admin-addr': { type: 'string', default: process.env.WEFT_ADMIN_ADDR ?? '0.0.0.0:4191' },
    'app-address': { type: 'string', default: process.env.WEFT_APP_ADDRESS ?? '127.0.0.1' },
    'enable-shutdown': { type: 'boolean', default: process.env.WEFT_ENABLE_SHUTDOWN === 'true' },
    // On SIGTERM: not ready at once, still accepting for the grace, then drain in-flight requests.
    'shutdown-grace-ms': { type: 'string', default: process.env.WEFT_SHUTDOWN_GRACE_MS ?? '5000' },
    'drain-timeout-ms': { type: 'string', default: process.env.WEFT_DRAIN_TIMEOUT_MS ?? '20000' },
    'log-level': { type: 'string', default: process.env.WEFT_LOG_LEVEL ?? 'info' },
    // Behind weft-init's iptables rules (the injector sets WEFT_TRANSPARENT=true).
    transparent: { type: 'boolean', default: process.env.WEFT_TRANSPARENT === 'true' },
    'opaque-ports': { type: 'string', default: process.env.WEFT_OPAQUE_PORTS },
    // Control-plane mode (instead of --config/--cert/--key):
    'control-plane': { type: 'string', default: process.env.WEFT_CONTROL_PLANE },
    'control-plane-id': {
      type: 'string',
      default: process.env.WEFT_CONTROL_PLANE_ID ?? 'spiffe://cluster.local/ns/weft-system/sa/weft-control-plane',
    },
    'trust-bundle': { type: 'string', default: process.env.WEFT_TRUST_BUNDLE },
    'token-file': { type: 'string', default: process.env.WEFT_TOKEN_FILE },
    'trust-domain': { type: 'string', default: process.env.WEFT_TRUST_DOMAIN ?? 'cluster.local' },
    pod: { type: 'string', default: process.env.WEFT_POD_NAME ?? '' },
    'service-account': { type: 'string', default: process.env.WEFT_SERVICE_ACCOUNT ?? 'default' },
  },
});

function addr(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

const log = createLogger(parseLogLevel(values['log-level']));
const cpAddress = values['control-plane'];
let controlPlane: ProxyStartConfig['controlPlane'];
if (cpAddress !== undefined) {
  const bundle = values['trust-bundle'];
  const tokenFile = values['token-file'];
  if (bundle === undefined || tokenFile === undefined) {
    process.stderr.write('weft proxy: --control-plane needs --trust-bundle and --token-file\n');
    process.exit(2);
  }
  controlPlane = {
    address: cpAddress,
    serverId: values['control-plane-id'],
    trustBundlePem: [readFileSync(bundle, 'utf8')],
    spiffeId: formatWorkloadId(values['trust-domain'], values.namespace, values['service-account']),
    token: () => readFileSync(tokenFile, 'utf8').trim(),
    pod: values.pod,
    serviceAccount: values['service-account'],
  };
}
let opaquePorts: number[] | undefined;
let appProbes: Map<string, AppProbe> | undefined;
const millis = (flag: string, value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag} ${JSON.stringify(value)}: expected a whole number of milliseconds`);
  return n;
};
let shutdownGraceMs = 0;
let drainTimeoutMs = 0;
try {
  shutdownGraceMs = millis('shutdown-grace-ms', values['shutdown-grace-ms']);
  drainTimeoutMs = millis('drain-timeout-ms', values['drain-timeout-ms']);
  opaquePorts = values['opaque-ports'] === undefined ? undefined : parsePortList(values['opaque-ports']);
  const probesJson = process.env[APP_PROBES_ENV];
  appProbes = probesJson === undefined || probesJson === '' ? undefined : parseAppProbes(probesJson);
} catch (err) {
  process.stderr.write(`weft proxy: ${(err as Error).message}\n`);
  process.exit(2);
}
const configPath = values.config;
const proxy = await start({
  outbound: addr(values['outbound-addr']),
  inbound: addr(values['inbound-addr']),
  admin: addr(values['admin-addr']),
  appAddress: values['app-address'],
  namespace: values.namespace,
  ...(configPath !== undefined ? { config: readConfigFile(configPath) } : {}),
  ...(values.cert !== undefined && values.key !== undefined
    ? { identity: { certChainPem: readFileSync(values.cert, 'utf8'), keyPem: readFileSync(values.key, 'utf8') } }
    : {}),
  enableShutdown: values['enable-shutdown'],
  shutdownGraceMs,
  drainTimeoutMs,
  transparent: values.transparent,
  ...(opaquePorts !== undefined ? { opaquePorts } : {}),
  ...(appProbes !== undefined ? { appProbes } : {}),
  ...(controlPlane !== undefined ? { controlPlane } : {}),
  logger: log,
  onShutdown: () => void stop('admin /shutdown'),
  // The pod's Job has finished (the proxy has logged it): no grace, its pod is
  // no longer ready and no caller is sent here; drain, then exit 0.
  onShutdownRequested: () => void stop(undefined, { graceMs: 0 }),
});
process.stdout.write(`${JSON.stringify({ listening: proxy.ports })}\n`);

const watcher =
  configPath === undefined
    ? undefined
    : watchConfigFile(configPath, () => {
        try {
          proxy.applyConfig(readConfigFile(configPath));
        } catch (err) {
          log.warn('config file refused', { path: configPath, error: (err as Error).message });
        }
      });

let stopping = false;
/** Closes the proxy and exits 0; `why` is logged (undefined: already logged). */
async function stop(why: string | undefined, opts?: { graceMs: number }): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (why !== undefined) log.info('shutting down', { why });
  watcher?.close();
  await proxy.close(opts);
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
