#!/usr/bin/env node
// Runs the control plane from flags and environment. Local mode (the only one
// until the Kubernetes source lands): --source-dir (manifests, watched),
// --pods-file (pods.json written by `weft up`, watched), --tokens-file
// (bootstrap token digests), --ca-dir (CA files, created on first start).
// Only parsing and signals live here; everything else is start().
import { readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, parseLogLevel } from '../proto/log.ts';
import type { InboundMode } from '../proto/mesh.ts';
import { start } from './control-plane.ts';
import { createFileSource } from './file-source.ts';
import { createTokenFileValidator } from './bootstrap-token-file.ts';
import type { Pod } from './cluster-state.ts';

const env = process.env;
const { values } = parseArgs({
  options: {
    'source-dir': { type: 'string', default: env.WEFT_SOURCE_DIR },
    'pods-file': { type: 'string', default: env.WEFT_PODS_FILE },
    'tokens-file': { type: 'string', default: env.WEFT_TOKENS_FILE },
    'ca-dir': { type: 'string', default: env.WEFT_CA_DIR ?? '.weft/ca' },
    'grpc-addr': { type: 'string', default: env.WEFT_GRPC_ADDR ?? '0.0.0.0:8086' },
    'admin-addr': { type: 'string', default: env.WEFT_ADMIN_ADDR ?? '0.0.0.0:9990' },
    'trust-domain': { type: 'string', default: env.WEFT_TRUST_DOMAIN ?? 'cluster.local' },
    'leaf-lifetime-ms': { type: 'string', default: env.WEFT_LEAF_LIFETIME_MS },
    'inbound-mode': { type: 'string', default: env.WEFT_INBOUND_MODE ?? 'STRICT' },
    'log-level': { type: 'string', default: env.WEFT_LOG_LEVEL ?? 'info' },
  },
});

function addr(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

const log = createLogger(parseLogLevel(values['log-level']), 'control-plane');
const sourceDir = values['source-dir'];
const tokensFile = values['tokens-file'];
if (sourceDir === undefined || tokensFile === undefined) {
  process.stderr.write('weft control plane: --source-dir and --tokens-file are required\n');
  process.exit(2);
}
const source = createFileSource({
  path: sourceDir,
  onError: (err) => log.warn('manifest refused; the last good state stays', { code: err.code, error: err.message }),
});

const podsFile = values['pods-file'];
function loadPods(): void {
  if (podsFile === undefined) return;
  try {
    source.setPods((JSON.parse(readFileSync(podsFile, 'utf8')) as { pods: Pod[] }).pods);
  } catch (err) {
    log.warn('cannot read pods file', { path: podsFile, error: (err as Error).message });
  }
}

const mode = values['inbound-mode'].toUpperCase();
const cp = await start({
  source,
  validator: createTokenFileValidator(tokensFile),
  ca: { dir: values['ca-dir'] },
  trustDomain: values['trust-domain'],
  grpc: addr(values['grpc-addr']),
  admin: addr(values['admin-addr']),
  inboundMode: (mode === 'PERMISSIVE' ? 'PERMISSIVE' : 'STRICT') as InboundMode,
  ...(values['leaf-lifetime-ms'] !== undefined ? { leafLifetimeMs: Number(values['leaf-lifetime-ms']) } : {}),
  logger: log,
});
loadPods();
const podsWatcher =
  podsFile === undefined
    ? undefined
    : watch(dirname(podsFile), (_e, f) => {
        if (f === basename(podsFile)) loadPods();
      });
process.stdout.write(`${JSON.stringify({ listening: cp.ports })}\n`);

async function stop(): Promise<void> {
  podsWatcher?.close();
  await cp.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
