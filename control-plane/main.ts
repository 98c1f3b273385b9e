#!/usr/bin/env node
// Runs the control plane from flags and environment, in one of two modes:
//
// Local (`weft up`): --source-dir (manifests, watched), --pods-file
// (pods.json written by `weft up`, watched), --tokens-file (bootstrap token
// digests), --ca-dir (CA files, created on first start; default .weft/ca).
//
// Kubernetes (no --source-dir): the cluster of --kubeconfig ($KUBECONFIG,
// ~/.kube/config, or the pod's own ServiceAccount in a cluster), --context;
// informers on the cluster (kubernetes-source.ts); Certify and the config
// stream authenticate projected ServiceAccount tokens with TokenReview
// (audience --token-audience, default identity.weft.dev); the CA lives in
// Secret --ca-secret (weft-identity) and the trust bundle in ConfigMap
// --trust-bundle-configmap (weft-trust-bundle), both in --namespace
// (weft-system; $POD_NAMESPACE when set), unless --ca-dir names a folder
// (e.g. the Secret mounted); the trust bundle is also copied into every
// meshed namespace; TrafficSplit statuses and Events are written back.
//
// Only parsing and signals live here; everything else is start().
import { readFileSync, renameSync, watch, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, parseLogLevel, type Logger } from '../proto/log.ts';
import { DEFAULT_INBOUND_MODE, type InboundMode } from '../proto/mesh.ts';
import { policyAnnotation } from './authz-compile.ts';
import { DEFAULT_INBOUND_POLICY_ANNOTATION } from '../proto/mesh.ts';
import { start, type ControlPlaneConfig } from './control-plane.ts';
import { createFileSource } from './file-source.ts';
import { createTokenFileValidator } from './bootstrap-token-file.ts';
import type { Pod } from './cluster-state.ts';

const env = process.env;
const { values } = parseArgs({
  options: {
    'source-dir': { type: 'string', default: env.WEFT_SOURCE_DIR },
    'pods-file': { type: 'string', default: env.WEFT_PODS_FILE },
    'tokens-file': { type: 'string', default: env.WEFT_TOKENS_FILE },
    // Local mode: the TrafficSplit conditions and refused manifests, as JSON (what `weft up` shows).
    'status-file': { type: 'string', default: env.WEFT_STATUS_FILE },
    'ca-dir': { type: 'string', default: env.WEFT_CA_DIR },
    kubeconfig: { type: 'string', default: env.WEFT_KUBECONFIG },
    context: { type: 'string', default: env.WEFT_KUBE_CONTEXT },
    namespace: { type: 'string', default: env.WEFT_NAMESPACE ?? env.POD_NAMESPACE ?? 'weft-system' },
    'ca-secret': { type: 'string', default: env.WEFT_CA_SECRET ?? 'weft-identity' },
    'trust-bundle-configmap': { type: 'string', default: env.WEFT_TRUST_BUNDLE_CONFIGMAP ?? 'weft-trust-bundle' },
    'token-audience': { type: 'string', default: env.WEFT_TOKEN_AUDIENCE ?? 'identity.weft.dev' },
    'grpc-addr': { type: 'string', default: env.WEFT_GRPC_ADDR ?? '0.0.0.0:8086' },
    'admin-addr': { type: 'string', default: env.WEFT_ADMIN_ADDR ?? '0.0.0.0:9990' },
    'trust-domain': { type: 'string', default: env.WEFT_TRUST_DOMAIN ?? 'cluster.local' },
    'leaf-lifetime-ms': { type: 'string', default: env.WEFT_LEAF_LIFETIME_MS },
    'inbound-mode': { type: 'string', default: env.WEFT_INBOUND_MODE ?? DEFAULT_INBOUND_MODE },
    'default-inbound-policy': { type: 'string', default: env.WEFT_DEFAULT_INBOUND_POLICY ?? 'all-unauthenticated' },
    'log-level': { type: 'string', default: env.WEFT_LOG_LEVEL ?? 'info' },
  },
});

function addr(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

const log = createLogger(parseLogLevel(values['log-level']), 'control-plane');
const mode = values['inbound-mode'].toUpperCase();
if (mode !== 'PERMISSIVE' && mode !== 'STRICT') {
  process.stderr.write(`weft control plane: --inbound-mode ${JSON.stringify(values['inbound-mode'])}: expected strict or permissive\n`);
  process.exit(2);
}
const defaultInboundPolicy = policyAnnotation({ [DEFAULT_INBOUND_POLICY_ANNOTATION]: values['default-inbound-policy'] });
if (defaultInboundPolicy === undefined) {
  process.stderr.write(
    `weft control plane: --default-inbound-policy ${JSON.stringify(values['default-inbound-policy'])}: expected all-unauthenticated, all-authenticated, cluster-authenticated or deny\n`,
  );
  process.exit(2);
}
const common = {
  trustDomain: values['trust-domain'],
  grpc: addr(values['grpc-addr']),
  admin: addr(values['admin-addr']),
  inboundMode: mode as InboundMode,
  defaultInboundPolicy,
  ...(values['leaf-lifetime-ms'] !== undefined ? { leafLifetimeMs: Number(values['leaf-lifetime-ms']) } : {}),
  logger: log,
} satisfies Partial<ControlPlaneConfig>;

/** What stop() must close besides the control plane. */
const closers: Array<() => Promise<void> | void> = [];

async function runLocal(sourceDir: string): Promise<{ grpc: number; admin: number }> {
  const tokensFile = values['tokens-file'];
  if (tokensFile === undefined) {
    process.stderr.write('weft control plane: --source-dir needs --tokens-file\n');
    process.exit(2);
  }
  const statusFile = values['status-file'];
  let status: { splits: unknown[]; targets: unknown[]; problems: Array<{ code: string; message: string }> } = { splits: [], targets: [], problems: [] };
  const writeStatus = (): void => {
    if (statusFile === undefined) return;
    try {
      const tmp = `${statusFile}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(status)}\n`);
      renameSync(tmp, statusFile);
    } catch (err) {
      log.warn('cannot write the status file', { path: statusFile, error: (err as Error).message });
    }
  };
  const source = createFileSource({
    path: sourceDir,
    onError: (err) => {
      log.warn('manifest refused; the last good state stays', { code: err.code, error: err.message });
      status = { ...status, problems: [...status.problems, { code: err.code, message: err.message }].slice(-10) };
      writeStatus();
    },
  });
  const podsFile = values['pods-file'];
  const loadPods = (): void => {
    if (podsFile === undefined) return;
    try {
      source.setPods((JSON.parse(readFileSync(podsFile, 'utf8')) as { pods: Pod[] }).pods);
    } catch (err) {
      log.warn('cannot read pods file', { path: podsFile, error: (err as Error).message });
    }
  };
  const cp = await start({
    ...common,
    source,
    // A new good state: the split conditions now; earlier refusals are settled (or will be reported again).
    // The TrafficTarget conditions follow at once (same state).
    onSplitStatus: (splits) => {
      status = { ...status, splits, problems: [] };
    },
    onTargetStatus: (targets) => {
      status = { ...status, targets };
      writeStatus();
    },
    validator: createTokenFileValidator(tokensFile),
    ca: { dir: values['ca-dir'] ?? '.weft/ca' },
  });
  closers.push(() => cp.close());
  loadPods();
  if (podsFile !== undefined) {
    const podsWatcher = watch(dirname(podsFile), (_e, f) => {
      if (f === basename(podsFile)) loadPods();
    });
    closers.unshift(() => podsWatcher.close());
  }
  return cp.ports;
}

async function runKubernetes(): Promise<{ grpc: number; admin: number }> {
  // Loaded only here: @kubernetes/client-node takes a moment to import.
  const [{ createKubeClient, loadKubeConfig }, { createKubernetesSource }, { createTokenReviewValidator }, kubeCa, writerMod, publisherMod] =
    await Promise.all([
      import('./kube-client.ts'),
      import('./kubernetes-source.ts'),
      import('./token-review-validator.ts'),
      import('./kube-ca-store.ts'),
      import('./split-status-writer.ts'),
      import('./trust-bundle-publisher.ts'),
    ]);
  const client = createKubeClient(loadKubeConfig({ kubeconfigPath: values.kubeconfig, context: values.context }));
  const namespace = values.namespace;
  const warn = (what: string) => (err: { code: string; message: string }) => log.warn(what, { code: err.code, error: err.message });

  const caDir = values['ca-dir'];
  let ca: ControlPlaneConfig['ca'];
  let anchorPem: string;
  if (caDir !== undefined) {
    ca = { dir: caDir };
    anchorPem = readFileSync(`${caDir}/anchor.pem`, 'utf8');
  } else {
    const loaded = await kubeCa.loadOrCreateKubeCa({
      client,
      trustDomain: values['trust-domain'],
      now: Date.now(),
      namespace,
      secretName: values['ca-secret'],
      configMapName: values['trust-bundle-configmap'],
    });
    log.info('CA from the cluster', { secret: `${namespace}/${values['ca-secret']}`, source: loaded.source });
    ca = { provided: loaded.material };
    anchorPem = loaded.material.anchorPem;
  }

  const kube = createKubernetesSource({ client, onError: warn('Kubernetes watch problem; the last state stays') });
  const publisher = publisherMod.createTrustBundlePublisher({
    client,
    anchorPem,
    skip: caDir === undefined ? [namespace] : [],
    onError: warn('cannot publish the trust bundle'),
  });
  const writer = writerMod.createSplitStatusWriter({
    client,
    lookup: (ns, name) => kube.trafficSplit(ns, name),
    onError: warn('cannot write TrafficSplit status'),
    onWritten: (w) => log.info('TrafficSplit status written', { split: `${w.namespace}/${w.name}`, events: w.events.map((e) => e.reason) }),
  });
  const targetWriter = writerMod.createSplitStatusWriter({
    client,
    kind: 'TrafficTarget',
    lookup: (ns, name) => kube.trafficTarget(ns, name),
    onError: warn('cannot write TrafficTarget status'),
    onWritten: (w) => log.info('TrafficTarget status written', { target: `${w.namespace}/${w.name}`, events: w.events.map((e) => e.reason) }),
  });
  const cp = await start({
    ...common,
    source: publisherMod.withStateListener(kube, (s) => publisher.update(s)),
    validator: createTokenReviewValidator({ client, audience: values['token-audience'] }),
    ca,
    onSplitStatus: (s) => writer.update(s),
    onTargetStatus: (s) => targetWriter.update(s),
  });
  // The source stops first, then what it feeds, then the connections.
  closers.push(() => cp.close(), () => writer.close(), () => targetWriter.close(), () => publisher.close(), () => client.close());
  log.info('watching Kubernetes', { server: client.server, versions: kube.versions() });
  return cp.ports;
}

function fatal(log: Logger, err: unknown): never {
  const e = err as { code?: string; message?: string };
  log.error('control plane failed to start', { code: e.code ?? 'WEFT_ERR_INTERNAL', error: e.message ?? String(err) });
  process.exit(1);
}

const sourceDir = values['source-dir'] || undefined; // an empty WEFT_SOURCE_DIR means none
let ports: { grpc: number; admin: number };
try {
  ports = sourceDir !== undefined ? await runLocal(sourceDir) : await runKubernetes();
} catch (err) {
  fatal(log, err);
}
process.stdout.write(`${JSON.stringify({ listening: ports })}\n`);

async function stop(): Promise<void> {
  for (const c of closers) await c();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
