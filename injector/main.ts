#!/usr/bin/env node
// Runs the injector webhook from flags and environment. Only parsing, the
// certificate reload and signals live here; everything else is start().
//   --tls-cert / --tls-key       serving certificate and key (PEM files; reloaded when they change)
//   --proxy-image                image of the injected containers (required)
//   --namespaces-file            optional JSON [{name, labels, annotations}] of known namespaces;
//                                without it, namespaces are read from the Kubernetes API
//                                (--kubeconfig, else $KUBECONFIG, ~/.kube/config or in-cluster)
//   --kubernetes-version         the cluster's version (v1.29.0, 1.30+ ...); without it, the
//                                apiserver's GET /version at start (Kubernetes API mode only).
//                                >= 1.29: weft-proxy is injected as a native sidecar (kube-version.ts)
import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger, parseLogLevel } from '../proto/log.ts';
import { PORTS } from '../proto/mesh.ts';
import { batchedStderr } from './log-writer.ts';
import { StaticNamespaceLookup, type NamespaceLookup } from './namespace-lookup.ts';
import { createKubeNamespaceLookup, loadKubeConfigForInjector, type KubeNamespaceLookup } from './namespace-lookup-kube.ts';
import type { NamespaceMeta } from './patch.ts';
import { formatKubeVersion, parseKubeVersion, supportsNativeSidecars, type KubeVersion } from './kube-version.ts';
import { fetchKubeVersion } from './kube-version-fetch.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import { start } from './webhook-server.ts';

const env = process.env;
const { values } = parseArgs({
  options: {
    addr: { type: 'string', default: env.WEFT_INJECTOR_ADDR ?? `0.0.0.0:${PORTS.injectorWebhook}` },
    'admin-addr': { type: 'string', default: env.WEFT_INJECTOR_ADMIN_ADDR },
    'tls-cert': { type: 'string', default: env.WEFT_TLS_CERT },
    'tls-key': { type: 'string', default: env.WEFT_TLS_KEY },
    'proxy-image': { type: 'string', default: env.WEFT_PROXY_IMAGE },
    'proxy-version': { type: 'string', default: env.WEFT_PROXY_VERSION ?? '0.1.0' },
    'init-image': { type: 'string', default: env.WEFT_INIT_IMAGE },
    'install-dir': { type: 'string', default: env.WEFT_INSTALL_DIR },
    'image-pull-policy': { type: 'string', default: env.WEFT_IMAGE_PULL_POLICY },
    'control-plane': { type: 'string', default: env.WEFT_CONTROL_PLANE },
    'control-plane-id': { type: 'string', default: env.WEFT_CONTROL_PLANE_ID },
    'trust-domain': { type: 'string', default: env.WEFT_TRUST_DOMAIN },
    'mesh-namespace': { type: 'string', default: env.WEFT_MESH_NAMESPACE },
    'trust-bundle-configmap': { type: 'string', default: env.WEFT_TRUST_BUNDLE_CONFIGMAP },
    'namespaces-file': { type: 'string', default: env.WEFT_NAMESPACES_FILE },
    kubeconfig: { type: 'string', default: env.WEFT_KUBECONFIG },
    'namespace-cache-ms': { type: 'string', default: env.WEFT_NAMESPACE_CACHE_MS ?? '1000' },
    'kubernetes-version': { type: 'string', default: env.WEFT_KUBERNETES_VERSION },
    'log-level': { type: 'string', default: env.WEFT_LOG_LEVEL ?? 'info' },
  },
});

function addr(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

function fail(message: string): never {
  process.stderr.write(`weft injector: ${message}\n`);
  process.exit(2);
}

const certFile = values['tls-cert'] ?? fail('--tls-cert is required');
const keyFile = values['tls-key'] ?? fail('--tls-key is required');
const proxyImage = values['proxy-image'] ?? fail('--proxy-image is required');
const pullPolicy = values['image-pull-policy'];
if (pullPolicy !== undefined && !['Always', 'IfNotPresent', 'Never'].includes(pullPolicy)) {
  fail(`--image-pull-policy ${pullPolicy}: expected Always, IfNotPresent or Never`);
}
const log = createLogger(parseLogLevel(values['log-level']), 'injector', batchedStderr().write);
const nsFile = values['namespaces-file'];
const cacheMs = Number(values['namespace-cache-ms']);
if (!Number.isFinite(cacheMs) || cacheMs < 0) fail(`--namespace-cache-ms ${values['namespace-cache-ms']}: expected a number of ms`);
let versionOverride: KubeVersion | undefined;
try {
  versionOverride = values['kubernetes-version'] === undefined ? undefined : parseKubeVersion(values['kubernetes-version']);
} catch (err) {
  fail(`--kubernetes-version: ${(err as Error).message}`);
}
function loadKubeConfig(): KubeConfig {
  try {
    return loadKubeConfigForInjector(values.kubeconfig);
  } catch (err) {
    return fail(`cannot load the kubeconfig to read namespaces: ${(err as Error).message}`);
  }
}
function kubeLookup(kubeConfig: KubeConfig): KubeNamespaceLookup {
  try {
    return createKubeNamespaceLookup({ kubeConfig, ttlMs: cacheMs });
  } catch (err) {
    return fail(`cannot load the kubeconfig to read namespaces: ${(err as Error).message}`);
  }
}
const kubeConfig = nsFile === undefined ? loadKubeConfig() : undefined;
const kubeNamespaces = kubeConfig === undefined ? undefined : kubeLookup(kubeConfig);
const namespaces: NamespaceLookup =
  kubeNamespaces ?? new StaticNamespaceLookup(JSON.parse(readFileSync(nsFile ?? '', 'utf8')) as NamespaceMeta[]);
const readTls = (): { cert: Buffer; key: Buffer } => ({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
const opt = <K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } => (v === undefined ? {} : ({ [k]: v } as { [P in K]?: V }));

// The proxy's shape follows the cluster's version: a native sidecar from 1.29,
// else a classic one. Unknown (no flag, no API, or it did not answer): classic,
// which works on every version (the control plane ends it for finished Jobs).
async function clusterVersion(): Promise<{ version: KubeVersion | undefined; from: string }> {
  if (versionOverride !== undefined) return { version: versionOverride, from: '--kubernetes-version' };
  if (kubeConfig === undefined) return { version: undefined, from: 'unknown (--namespaces-file, no --kubernetes-version)' };
  try {
    return { version: await fetchKubeVersion(kubeConfig), from: 'apiserver' };
  } catch (err) {
    log.warn('cannot read the apiserver version; injecting the classic sidecar', { error: (err as Error).message, code: (err as { code?: string }).code });
    return { version: undefined, from: 'unknown (GET /version failed)' };
  }
}
const cluster = await clusterVersion();
const nativeSidecar = cluster.version !== undefined && supportsNativeSidecars(cluster.version);
log.info('proxy injection shape', {
  kubernetesVersion: cluster.version === undefined ? 'unknown' : formatKubeVersion(cluster.version),
  from: cluster.from,
  sidecar: nativeSidecar ? 'native (init container, restartPolicy Always)' : 'classic (spec.containers)',
});

const webhook = await start({
  ...addr(values.addr),
  tls: readTls(),
  namespaces,
  logger: log,
  ...(values['admin-addr'] !== undefined ? { admin: addr(values['admin-addr']) } : {}),
  inject: {
    proxyImage,
    proxyVersion: values['proxy-version'],
    ...opt('initImage', values['init-image']),
    ...opt('installDir', values['install-dir']),
    ...opt('imagePullPolicy', pullPolicy as 'Always' | 'IfNotPresent' | 'Never' | undefined),
    ...opt('controlPlaneAddress', values['control-plane']),
    ...opt('controlPlaneId', values['control-plane-id']),
    ...opt('trustDomain', values['trust-domain']),
    ...opt('meshNamespace', values['mesh-namespace']),
    ...opt('trustBundleConfigMap', values['trust-bundle-configmap']),
    nativeSidecar,
  },
});
process.stdout.write(`${JSON.stringify({ listening: { webhook: webhook.port, admin: webhook.adminPort } })}\n`);

// Mounted Secrets change by symlink swap; polling the files catches it.
const reload = (): void => {
  try {
    webhook.setTls(readTls());
    log.info('serving certificate reloaded');
  } catch (err) {
    log.warn('serving certificate reload failed; keeping the old one', { error: (err as Error).message });
  }
};
watchFile(certFile, { interval: 10_000 }, reload);
watchFile(keyFile, { interval: 10_000 }, reload);

let stopping = false;
async function stop(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info('shutting down', { why });
  unwatchFile(certFile);
  unwatchFile(keyFile);
  await webhook.close();
  kubeNamespaces?.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
