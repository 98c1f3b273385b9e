// The injection decision and the JSON Patch that adds the Weft proxy to a pod
// (DESIGN.md, Injector). Pure: a pod, its namespace's metadata and the
// injector's options in; a decision, a reason, warnings and the patch out.
// The webhook (admission.ts) and `weft inject` (cli/inject.ts) both call it.
//
// The order of the checks matters, and is the order of injectionPatch():
//   1. the pod must look like a pod (else WEFT_ERR_INJECT_POD_INVALID);
//   2. kube-system and the mesh's own namespace are never injected, whatever
//      their pods say (before anything in the pod is parsed, so nothing there
//      can ever deny a system pod);
//   3. never twice: the marker annotation or an existing weft-proxy/weft-init
//      container means it is done;
//   4. opt-in/opt-out: the pod's own setting wins over its namespace's; a
//      pod's invalid or conflicting setting is an error (a denial), a
//      namespace's is a warning and counts as unset;
//   5. hostNetwork pods are never injected (iptables would rewrite the node's
//      traffic);
//   6. config annotations (namespace values are defaults, the pod's win); a
//      pod's invalid value is an error, a namespace's a warning.
// Missing maps and arrays (annotations, initContainers, volumes, even
// metadata) are added whole; existing ones get members appended, so the patch
// applies to exactly the object it was computed from.
import { PORTS } from '../proto/mesh.ts';
import { nodeArgs } from '../proto/entry-points.ts';
import type { LogLevel } from '../proto/log.ts';
import { formatWorkloadId, DEFAULT_TRUST_DOMAIN } from '../identity/spiffe-id.ts';
import {
  CONFIG_KEYS,
  DEFAULT_CONTAINER_KEY,
  INJECT_KEY,
  PROXY_VERSION_KEY,
  formatPortRange,
  injectModeOf,
  parsePortList,
  parseProxyLogLevel,
  parseInboundMode,
  parseQuantity,
  type InjectMode,
  type PortRange,
} from './annotations.ts';
import { InjectError } from './inject-error.ts';
import { pointer, type JsonPatchOp, type JsonValue } from './json-patch.ts';
import { rewriteProbes } from './probe-rewrite.ts';
import { APP_PROBES_ENV } from '../proto/mesh.ts';

export const PROXY_CONTAINER = 'weft-proxy';
export const INIT_CONTAINER = 'weft-init';
export const TOKEN_VOLUME = 'weft-identity-token';
export const TRUST_BUNDLE_VOLUME = 'weft-trust-bundle';
export const TOKEN_AUDIENCE = 'identity.weft.dev';
export const TOKEN_DIR = '/var/run/weft/identity';
export const TRUST_BUNDLE_DIR = '/var/run/weft/trust-bundle';
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system'];

/** The metadata of the pod's namespace the decision needs. */
export interface NamespaceMeta {
  name: string;
  labels?: Readonly<Record<string, string>> | undefined;
  annotations?: Readonly<Record<string, string>> | undefined;
}

export interface InjectOptions {
  /** The image of the weft-proxy (and, unless initImage, weft-init) container. */
  proxyImage: string;
  /** Written to the marker annotation weft.dev/proxy-version. */
  proxyVersion: string;
  /** Default weft-control-plane.<meshNamespace>.svc:8086. */
  controlPlaneAddress?: string;
  /** Default spiffe://<trustDomain>/ns/<meshNamespace>/sa/weft-control-plane. */
  controlPlaneId?: string;
  /** Default cluster.local. */
  trustDomain?: string;
  /** The mesh's own namespace, never injected. Default weft-system. */
  meshNamespace?: string;
  /** Default proxyImage. */
  initImage?: string;
  /** Default IfNotPresent. */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Where Weft's compiled files live in the image (`npm run build`'s dist/); the commands below derive from it. Default /weft. */
  installDir?: string;
  /** Default ['node', ...PROXY_NODE_FLAGS, '<installDir>/proxy/main.js'] (proto/entry-points.ts). */
  proxyCommand?: readonly string[];
  /** The proxy's postStart hook (holds the app until the proxy is ready). Default ['node', '<installDir>/proxy/await-ready.js']. */
  awaitCommand?: readonly string[];
  /** Default ['node', '<installDir>/injector/init-main.js']. */
  initCommand?: readonly string[];
  /** The ConfigMap holding the trust bundle. Default weft-trust-bundle. */
  trustBundleConfigMap?: string;
  /** Its key. Default ca-bundle.crt. */
  trustBundleKey?: string;
  /** Lifetime of the projected ServiceAccount token (kubelet renews it at 80%). Default 86400. */
  tokenExpirationSeconds?: number;
  /** Default info; the proxy-log-level annotation overrides it. */
  defaultLogLevel?: LogLevel;
  /** Default proxy resources; the proxy-cpu-* / proxy-memory-* annotations override them. */
  defaultResources?: ProxyResources;
  /**
   * Inject weft-proxy as a native sidecar (Kubernetes >= 1.29, kube-version.ts):
   * an init container with `restartPolicy: Always` right after weft-init, held
   * ready by a startupProbe, instead of the first member of spec.containers
   * with a postStart hook. A Job's pod then completes by itself. Default false.
   */
  nativeSidecar?: boolean;
}

export interface ProxyResources {
  cpuRequest?: string;
  cpuLimit?: string;
  memoryRequest?: string;
  memoryLimit?: string;
}

export type Decision =
  | 'injected'
  | 'not-enabled'
  | 'opted-out'
  | 'host-network'
  | 'system-namespace'
  | 'already-injected';

export interface InjectionResult {
  inject: boolean;
  decision: Decision;
  /** One sentence for humans: why (not). */
  reason: string;
  /** Empty unless inject. */
  patch: JsonPatchOp[];
  /** Things the user should fix that did not stop the decision (Kubernetes shows them to kubectl users). */
  warnings: string[];
}

/** The pod as read from untrusted input: only what the injector looks at, checked. */
interface PodView {
  metadata: Record<string, unknown> | undefined;
  labels: Record<string, string>;
  annotations: Record<string, string> | undefined;
  containers: Record<string, unknown>[];
  initContainers: Record<string, unknown>[] | undefined;
  volumes: Record<string, unknown>[] | undefined;
  hostNetwork: boolean;
  /** spec.terminationGracePeriodSeconds (Kubernetes' default 30). */
  terminationGraceSeconds: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(message: string): InjectError {
  return new InjectError('WEFT_ERR_INJECT_POD_INVALID', message);
}

function stringMap(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw invalid(`${where} is not a map`);
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw invalid(`${where}[${JSON.stringify(k)}] is not a string`);
  }
  return v as Record<string, string>;
}

function objectArray(v: unknown, where: string): Record<string, unknown>[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalid(`${where} is not a list`);
  v.forEach((item, i) => {
    if (!isObject(item)) throw invalid(`${where}[${i}] is not an object`);
    if (typeof item.name !== 'string' || item.name === '') throw invalid(`${where}[${i}] has no name`);
  });
  return v as Record<string, unknown>[];
}

function readPod(pod: unknown): PodView {
  if (!isObject(pod)) throw invalid('the pod is not an object');
  const metadata = pod.metadata;
  if (metadata !== undefined && metadata !== null && !isObject(metadata)) throw invalid('metadata is not an object');
  const meta = isObject(metadata) ? metadata : undefined;
  const spec = pod.spec;
  if (!isObject(spec)) throw invalid('spec is missing or not an object');
  const containers = objectArray(spec.containers, 'spec.containers');
  if (containers === undefined || containers.length === 0) throw invalid('spec.containers is empty');
  const hostNetwork = spec.hostNetwork ?? false;
  if (typeof hostNetwork !== 'boolean') throw invalid('spec.hostNetwork is not a boolean');
  const grace = spec.terminationGracePeriodSeconds ?? 30;
  if (typeof grace !== 'number' || !Number.isInteger(grace) || grace < 0) throw invalid('spec.terminationGracePeriodSeconds is not a whole number >= 0');
  return {
    metadata: meta,
    labels: stringMap(meta?.labels, 'metadata.labels') ?? {},
    annotations: stringMap(meta?.annotations, 'metadata.annotations'),
    containers,
    initContainers: objectArray(spec.initContainers, 'spec.initContainers'),
    volumes: objectArray(spec.volumes, 'spec.volumes'),
    hostNetwork,
    terminationGraceSeconds: grace,
  };
}

function skip(decision: Decision, reason: string, warnings: string[]): InjectionResult {
  return { inject: false, decision, reason, patch: [], warnings };
}

/** The config the proxy and weft-init get, after namespace defaults and pod overrides. */
interface ProxySettings {
  skipInboundPorts: PortRange[];
  skipOutboundPorts: PortRange[];
  /** config.weft.dev/opaque-ports as validated ("25,3306-3310"); undefined: the proxy's default list. */
  opaquePorts?: string;
  logLevel: LogLevel;
  resources: ProxyResources;
  /** The proxy's shutdown (shutdownTimings): still accepting for graceMs after SIGTERM, then draining for drainMs. */
  shutdown: { graceMs: number; drainMs: number };
}

/**
 * The proxy's shutdown timings within the pod's termination grace period:
 * still accepting (not ready) for a quarter of it, at most 5 s, so that
 * callers' configs drop the pod first; then draining in-flight requests for
 * what is left but 1 s, before the kubelet's SIGKILL.
 */
export function shutdownTimings(terminationGraceSeconds: number): { graceMs: number; drainMs: number } {
  const total = terminationGraceSeconds * 1000;
  const graceMs = Math.min(5_000, Math.floor(total / 4));
  return { graceMs, drainMs: Math.max(0, total - graceMs - 1_000) };
}

/**
 * Reads the config annotations of one object onto `into`. With `strict` (the
 * pod), an invalid value throws; otherwise (the namespace) it becomes a warning
 * and the value is ignored.
 */
function readConfig(
  annotations: Readonly<Record<string, string>>,
  into: ProxySettings,
  strict: boolean,
  warnings: string[],
  where: string,
): void {
  const tryRead = (key: string, read: (v: string) => void): void => {
    const v = annotations[key];
    if (v === undefined) return;
    try {
      read(v);
    } catch (err) {
      if (strict || !(err instanceof InjectError)) throw err;
      warnings.push(`${where}: ${err.message}; ignored`);
    }
  };
  tryRead(CONFIG_KEYS.skipInboundPorts, (v) => (into.skipInboundPorts = parsePortList(v, CONFIG_KEYS.skipInboundPorts)));
  tryRead(CONFIG_KEYS.skipOutboundPorts, (v) => (into.skipOutboundPorts = parsePortList(v, CONFIG_KEYS.skipOutboundPorts)));
  // Validated now, so that a typo is caught at admission; the proxy's protocol detection reads it.
  tryRead(CONFIG_KEYS.opaquePorts, (v) => {
    into.opaquePorts = parsePortList(v, CONFIG_KEYS.opaquePorts)
      .map((r) => formatPortRange(r))
      .join(',');
  });
  tryRead(CONFIG_KEYS.logLevel, (v) => (into.logLevel = parseProxyLogLevel(v, CONFIG_KEYS.logLevel)));
  tryRead(CONFIG_KEYS.inboundMode, (v) => void parseInboundMode(v, CONFIG_KEYS.inboundMode));
  const quantity = (key: string, field: keyof ProxyResources): void =>
    tryRead(key, (v) => {
      parseQuantity(v, key);
      into.resources = { ...into.resources, [field]: v.trim() };
    });
  quantity(CONFIG_KEYS.cpuRequest, 'cpuRequest');
  quantity(CONFIG_KEYS.cpuLimit, 'cpuLimit');
  quantity(CONFIG_KEYS.memoryRequest, 'memoryRequest');
  quantity(CONFIG_KEYS.memoryLimit, 'memoryLimit');
}

function checkRequestWithinLimit(r: ProxyResources): void {
  const pairs = [
    ['cpu', r.cpuRequest, r.cpuLimit, CONFIG_KEYS.cpuRequest, CONFIG_KEYS.cpuLimit],
    ['memory', r.memoryRequest, r.memoryLimit, CONFIG_KEYS.memoryRequest, CONFIG_KEYS.memoryLimit],
  ] as const;
  for (const [what, req, lim, reqKey, limKey] of pairs) {
    if (req === undefined || lim === undefined) continue;
    if (parseQuantity(req, reqKey) > parseQuantity(lim, limKey)) {
      throw new InjectError(
        'WEFT_ERR_INJECT_CONFLICT',
        `${reqKey}=${req} is more than ${limKey}=${lim}; the proxy's ${what} request must not exceed its limit`,
        { key: reqKey },
      );
    }
  }
}

function resourcesValue(r: ProxyResources): JsonValue | undefined {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (r.cpuRequest !== undefined) requests.cpu = r.cpuRequest;
  if (r.memoryRequest !== undefined) requests.memory = r.memoryRequest;
  if (r.cpuLimit !== undefined) limits.cpu = r.cpuLimit;
  if (r.memoryLimit !== undefined) limits.memory = r.memoryLimit;
  const out: Record<string, JsonValue> = {};
  if (Object.keys(requests).length > 0) out.requests = requests;
  if (Object.keys(limits).length > 0) out.limits = limits;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The ports weft-proxy listens on inside the pod; an app container declaring one would collide. */
const PROXY_PORTS: readonly number[] = [PORTS.proxyOutbound, PORTS.proxyInbound, PORTS.proxyAdmin];

function checkNoCollisions(view: PodView): void {
  for (const c of [...view.containers, ...(view.initContainers ?? [])]) {
    const ports = Array.isArray(c.ports) ? c.ports : [];
    for (const p of ports) {
      if (isObject(p) && typeof p.containerPort === 'number' && PROXY_PORTS.includes(p.containerPort)) {
        throw new InjectError(
          'WEFT_ERR_INJECT_CONFLICT',
          `container ${String(c.name)} declares port ${p.containerPort}, which the Weft proxy uses (${PROXY_PORTS.join(', ')})`,
        );
      }
    }
  }
  for (const v of view.volumes ?? []) {
    if (v.name === TOKEN_VOLUME || v.name === TRUST_BUNDLE_VOLUME) {
      throw new InjectError('WEFT_ERR_INJECT_CONFLICT', `the pod already has a volume named ${String(v.name)}, which the Weft proxy needs`);
    }
  }
}

interface Resolved {
  proxyImage: string;
  initImage: string;
  pullPolicy: string;
  proxyCommand: readonly string[];
  awaitCommand: readonly string[];
  initCommand: readonly string[];
  controlPlaneAddress: string;
  controlPlaneId: string;
  trustDomain: string;
  trustBundleConfigMap: string;
  trustBundleKey: string;
  tokenExpirationSeconds: number;
  nativeSidecar: boolean;
}

function resolveOptions(o: InjectOptions): Resolved {
  const meshNs = o.meshNamespace ?? 'weft-system';
  const trustDomain = o.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const dir = (o.installDir ?? '/weft').replace(/\/+$/, '');
  return {
    proxyImage: o.proxyImage,
    initImage: o.initImage ?? o.proxyImage,
    pullPolicy: o.imagePullPolicy ?? 'IfNotPresent',
    proxyCommand: o.proxyCommand ?? ['node', ...nodeArgs(dir, 'proxy')],
    awaitCommand: o.awaitCommand ?? ['node', ...nodeArgs(dir, 'awaitReady')],
    initCommand: o.initCommand ?? ['node', ...nodeArgs(dir, 'init')],
    controlPlaneAddress: o.controlPlaneAddress ?? `weft-control-plane.${meshNs}.svc:${PORTS.controlPlaneGrpc}`,
    controlPlaneId: o.controlPlaneId ?? formatWorkloadId(trustDomain, meshNs, 'weft-control-plane'),
    trustDomain,
    trustBundleConfigMap: o.trustBundleConfigMap ?? 'weft-trust-bundle',
    trustBundleKey: o.trustBundleKey ?? 'ca-bundle.crt',
    tokenExpirationSeconds: o.tokenExpirationSeconds ?? 86_400,
    nativeSidecar: o.nativeSidecar ?? false,
  };
}

function fieldRef(name: string, path: string): JsonValue {
  return { name, valueFrom: { fieldRef: { fieldPath: path } } };
}

/** weft-init's arguments; injector/init-main.ts parses them. */
export function initArgs(s: Pick<ProxySettings, 'skipInboundPorts' | 'skipOutboundPorts'>): string[] {
  const args = [
    '--inbound-port', String(PORTS.proxyInbound),
    '--outbound-port', String(PORTS.proxyOutbound),
    '--proxy-uid', String(PORTS.proxyUid),
    '--skip-inbound-ports', s.skipInboundPorts.map((r) => formatPortRange(r)).join(','),
  ];
  if (s.skipOutboundPorts.length > 0) {
    args.push('--skip-outbound-ports', s.skipOutboundPorts.map((r) => formatPortRange(r)).join(','));
  }
  return args;
}

function initContainer(r: Resolved, s: ProxySettings): JsonValue {
  return {
    name: INIT_CONTAINER,
    image: r.initImage,
    imagePullPolicy: r.pullPolicy,
    command: [...r.initCommand],
    args: initArgs(s),
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'] },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

function proxyContainer(r: Resolved, s: ProxySettings): JsonValue {
  const c: Record<string, JsonValue> = {
    name: PROXY_CONTAINER,
    image: r.proxyImage,
    imagePullPolicy: r.pullPolicy,
    command: [...r.proxyCommand],
    env: [
      { name: 'WEFT_CONTROL_PLANE', value: r.controlPlaneAddress },
      { name: 'WEFT_CONTROL_PLANE_ID', value: r.controlPlaneId },
      { name: 'WEFT_TRUST_DOMAIN', value: r.trustDomain },
      { name: 'WEFT_TRUST_BUNDLE', value: `${TRUST_BUNDLE_DIR}/${r.trustBundleKey}` },
      { name: 'WEFT_TOKEN_FILE', value: `${TOKEN_DIR}/token` },
      fieldRef('WEFT_POD_NAME', 'metadata.name'),
      fieldRef('WEFT_NAMESPACE', 'metadata.namespace'),
      fieldRef('WEFT_SERVICE_ACCOUNT', 'spec.serviceAccountName'),
      { name: 'WEFT_OUTBOUND_ADDR', value: `127.0.0.1:${PORTS.proxyOutbound}` },
      { name: 'WEFT_INBOUND_ADDR', value: `0.0.0.0:${PORTS.proxyInbound}` },
      { name: 'WEFT_ADMIN_ADDR', value: `0.0.0.0:${PORTS.proxyAdmin}` },
      { name: 'WEFT_LOG_LEVEL', value: s.logLevel },
      // Behind weft-init's iptables rules: route by original destination, detect protocols.
      { name: 'WEFT_TRANSPARENT', value: 'true' },
      // On SIGTERM (with the app's): not ready, still accepting, then drain; within terminationGracePeriodSeconds.
      { name: 'WEFT_SHUTDOWN_GRACE_MS', value: String(s.shutdown.graceMs) },
      { name: 'WEFT_DRAIN_TIMEOUT_MS', value: String(s.shutdown.drainMs) },
      ...(s.opaquePorts !== undefined ? [{ name: 'WEFT_OPAQUE_PORTS', value: s.opaquePorts }] : []),
    ],
    ports: [
      { name: 'weft-inbound', containerPort: PORTS.proxyInbound, protocol: 'TCP' },
      { name: 'weft-admin', containerPort: PORTS.proxyAdmin, protocol: 'TCP' },
    ],
    ...(r.nativeSidecar
      ? {
          // A native sidecar: started after weft-init, kept running beside the
          // app containers, not waited for when they finish, stopped after them.
          restartPolicy: 'Always',
          // The kubelet starts the next container only once this passes (a
          // sidecar's startupProbe is what its "started" means): the app's first
          // request finds a ready proxy. 1 s apart, for up to 2 min as await-ready.
          startupProbe: { httpGet: { path: '/ready', port: PORTS.proxyAdmin }, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 120 },
        }
      : {
          // As linkerd-await: the kubelet starts the next container (the app) only
          // after this hook returns, so the app's first request finds a ready proxy.
          lifecycle: { postStart: { exec: { command: [...r.awaitCommand] } } },
        }),
    readinessProbe: { httpGet: { path: '/ready', port: PORTS.proxyAdmin }, initialDelaySeconds: 1, periodSeconds: 2, failureThreshold: 3 },
    livenessProbe: { httpGet: { path: '/live', port: PORTS.proxyAdmin }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3 },
    securityContext: {
      runAsUser: PORTS.proxyUid,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
      { name: TRUST_BUNDLE_VOLUME, mountPath: TRUST_BUNDLE_DIR, readOnly: true },
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  const resources = resourcesValue(s.resources);
  if (resources !== undefined) c.resources = resources;
  return c;
}

function volumes(r: Resolved): JsonValue[] {
  return [
    {
      name: TOKEN_VOLUME,
      projected: {
        sources: [
          { serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: r.tokenExpirationSeconds, path: 'token' } },
        ],
      },
    },
    { name: TRUST_BUNDLE_VOLUME, configMap: { name: r.trustBundleConfigMap, items: [{ key: r.trustBundleKey, path: r.trustBundleKey }] } },
  ];
}

/** Ops that add `items` to the array at `path`: the whole array when it is absent, else one append each. */
function appendAll(path: string, existing: unknown[] | undefined, items: readonly JsonValue[]): JsonPatchOp[] {
  if (existing === undefined) return [{ op: 'add', path, value: items as JsonValue[] }];
  return items.map((value) => ({ op: 'add', path: `${path}/-`, value }));
}

// What gets injected, built once. The webhook injects pod after pod with the
// same options and nearly always the same settings: the containers and
// volumes it adds are built once per (options, settings), deep-frozen (every
// patch that adds them shares them: a caller that changes a patch's values
// gets a TypeError, not a corrupted cache), and their JSON text is kept, so
// that patchJson() writes a patch without serializing them again. Both caches
// are small and emptied when full: the settings come from pod annotations.

interface Parts {
  /** [weft-init], or [weft-init, weft-proxy] for a native sidecar. */
  initContainers: readonly JsonValue[];
  /** weft-proxy, for spec.containers (classic) or initContainers (native). */
  proxyContainer: JsonValue;
  volumes: readonly JsonValue[];
}

const MAX_OPTIONS = 8;
const MAX_SETTINGS = 64;
const partsByOptions = new Map<string, Map<string, Parts>>();
/** The JSON text of each frozen value of a Parts (and of its arrays). */
const jsonText = new WeakMap<object, string>();

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function frozenJson<T extends JsonValue>(v: T): T {
  deepFreeze(v);
  if (typeof v === 'object' && v !== null) jsonText.set(v, JSON.stringify(v));
  return v;
}

function buildParts(r: Resolved, s: ProxySettings): Parts {
  const init = frozenJson(initContainer(r, s));
  const proxy = frozenJson(proxyContainer(r, s));
  const vols = volumes(r).map(frozenJson);
  return { initContainers: frozenJson(r.nativeSidecar ? [init, proxy] : [init]), proxyContainer: proxy, volumes: frozenJson(vols) };
}

/** The containers and volumes to add for these options and settings (cached; see above). */
function injectedParts(opts: InjectOptions, s: ProxySettings): Parts {
  // Keys are the JSON of what the parts are built from, so options changed
  // in place or rebuilt equal both find the right entry.
  const optionsKey = JSON.stringify(opts);
  let bySettings = partsByOptions.get(optionsKey);
  if (bySettings === undefined) {
    if (partsByOptions.size >= MAX_OPTIONS) partsByOptions.clear();
    bySettings = new Map();
    partsByOptions.set(optionsKey, bySettings);
  }
  const settingsKey = JSON.stringify(s);
  let parts = bySettings.get(settingsKey);
  if (parts === undefined) {
    parts = buildParts(resolveOptions(opts), s);
    if (bySettings.size >= MAX_SETTINGS) bySettings.clear();
    bySettings.set(settingsKey, parts);
  }
  return parts;
}

/**
 * The patch as JSON text: exactly JSON.stringify(ops) for ops as
 * injectionPatch() builds them ({op, path, value}, in that order), but the
 * injected containers and volumes, the bulk of it, are copied in as the text
 * they were serialized to once.
 */
export function patchJson(ops: readonly JsonPatchOp[]): string {
  let out = '[';
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as JsonPatchOp;
    const value = op.op === 'remove' ? undefined : op.value;
    const text = typeof value === 'object' && value !== null ? jsonText.get(value) : undefined;
    if (i > 0) out += ',';
    out += text === undefined ? JSON.stringify(op) : `{"op":${JSON.stringify(op.op)},"path":${JSON.stringify(op.path)},"value":${text}}`;
  }
  return `${out}]`;
}

/**
 * Decides whether to inject `pod` (a Pod as sent to the webhook, or a
 * workload's pod template) living in `namespace`, and builds the JSON Patch.
 * Throws an InjectError for a pod that cannot be read (POD_INVALID) or whose
 * own annotations are invalid or contradictory (ANNOTATION_INVALID, CONFLICT);
 * problems in the namespace's metadata are warnings.
 */
export function injectionPatch(pod: unknown, namespace: NamespaceMeta, opts: InjectOptions): InjectionResult {
  const warnings: string[] = [];
  const view = readPod(pod);
  const meshNamespace = opts.meshNamespace ?? 'weft-system';

  if (SYSTEM_NAMESPACES.includes(namespace.name) || namespace.name === meshNamespace) {
    return skip('system-namespace', `namespace ${namespace.name} is never injected`, warnings);
  }

  const annotations = view.annotations ?? {};
  if (annotations[PROXY_VERSION_KEY] !== undefined) {
    return skip('already-injected', `already injected (annotation ${PROXY_VERSION_KEY}=${annotations[PROXY_VERSION_KEY]})`, warnings);
  }
  if (view.containers.some((c) => c.name === PROXY_CONTAINER) || (view.initContainers ?? []).some((c) => c.name === INIT_CONTAINER || c.name === PROXY_CONTAINER)) {
    return skip('already-injected', `already injected (the pod has a ${PROXY_CONTAINER} or ${INIT_CONTAINER} container)`, warnings);
  }

  const podMode = injectModeOf('pod', view.labels, annotations);
  let nsMode: InjectMode | undefined;
  try {
    nsMode = injectModeOf(`namespace ${namespace.name}`, namespace.labels ?? {}, namespace.annotations ?? {});
  } catch (err) {
    if (!(err instanceof InjectError)) throw err;
    warnings.push(`namespace ${namespace.name}: ${err.message}; treated as not set`);
  }
  if (podMode === 'disabled') return skip('opted-out', `the pod opts out (${INJECT_KEY}: disabled)`, warnings);
  if (podMode === undefined && nsMode !== 'enabled') {
    return skip('not-enabled', `neither the pod nor namespace ${namespace.name} has ${INJECT_KEY}: enabled`, warnings);
  }
  const by = podMode === 'enabled' ? 'the pod' : `namespace ${namespace.name}`;

  if (view.hostNetwork) {
    warnings.push(`${by} asks for the Weft proxy, but hostNetwork pods are never injected`);
    return skip('host-network', 'hostNetwork pods are never injected', warnings);
  }

  const settings: ProxySettings = {
    skipInboundPorts: [],
    skipOutboundPorts: [],
    logLevel: opts.defaultLogLevel ?? 'info',
    resources: { ...opts.defaultResources },
    shutdown: shutdownTimings(view.terminationGraceSeconds),
  };
  readConfig(namespace.annotations ?? {}, settings, false, warnings, `namespace ${namespace.name}`);
  readConfig(annotations, settings, true, warnings, 'pod');
  checkRequestWithinLimit(settings.resources);
  // The admin port always bypasses the proxy: it is the proxy (probes, Prometheus).
  settings.skipInboundPorts = [
    { from: PORTS.proxyAdmin, to: PORTS.proxyAdmin },
    ...settings.skipInboundPorts.filter((r) => !(r.from === PORTS.proxyAdmin && r.to === PORTS.proxyAdmin)),
  ];
  checkNoCollisions(view);

  const parts = injectedParts(opts, settings);
  const patch: JsonPatchOp[] = [];
  const newAnnotations: Record<string, string> = { [PROXY_VERSION_KEY]: opts.proxyVersion };
  const firstApp = view.containers[0]?.name;
  if (annotations[DEFAULT_CONTAINER_KEY] === undefined && typeof firstApp === 'string') {
    // The proxy goes first (it starts before the app); kubectl logs/exec keep defaulting to the app.
    newAnnotations[DEFAULT_CONTAINER_KEY] = firstApp;
  }
  if (view.metadata === undefined) {
    patch.push({ op: 'add', path: '/metadata', value: { annotations: newAnnotations } });
  } else if (view.annotations === undefined) {
    patch.push({ op: 'add', path: '/metadata/annotations', value: newAnnotations });
  } else {
    for (const [k, v] of Object.entries(newAnnotations)) {
      patch.push({ op: 'add', path: pointer(['metadata', 'annotations', k]), value: v });
    }
  }
  // weft-init runs after the pod's own init containers: theirs still reach
  // the network directly, since no proxy would be there to take redirected
  // connections yet. A native sidecar comes right after weft-init (the rules
  // are in place before it starts, and it is ready before any app container
  // starts), so the pod's own init containers behave the same in both shapes.
  patch.push(...appendAll('/spec/initContainers', view.initContainers, parts.initContainers));
  // Probes go through the proxy's admin port (probe-rewrite.ts); rewritten
  // before a classic proxy is inserted, while the app containers keep their indices.
  const probes = rewriteProbes(view.containers, PORTS.proxyAdmin);
  patch.push(...(probes.ops as JsonPatchOp[]));
  let proxyPath = '/spec/containers/0';
  if (opts.nativeSidecar === true) {
    proxyPath = `/spec/initContainers/${(view.initContainers?.length ?? 0) + 1}`;
  } else {
    patch.push({ op: 'add', path: proxyPath, value: parts.proxyContainer });
  }
  if (probes.ops.length > 0) {
    patch.push({ op: 'add', path: `${proxyPath}/env/-`, value: { name: APP_PROBES_ENV, value: JSON.stringify(probes.probes) } });
  }
  patch.push(...appendAll('/spec/volumes', view.volumes, parts.volumes));
  return { inject: true, decision: 'injected', reason: `injected: ${by} has ${INJECT_KEY}: enabled`, patch, warnings };
}
