// Turns an untrusted object (a parsed YAML/JSON file, or a decoded config
// stream message) into a complete ProxyConfig with defaults filled in.
// Pure. Every problem is a WEFT_ERR_CONFIG_INVALID error naming the field.
import { WeftError } from '../../proto/errors.ts';
import { DEFAULT_INBOUND_MODE } from '../../proto/mesh.ts';
import type {
  AuthzRule,
  DefaultInboundPolicy,
  Endpoint,
  HeaderMatch,
  HttpMatch,
  InboundMode,
  PathMatch,
  ProxyConfig,
  RetryPolicy,
  Route,
  RouteDefaults,
  Service,
  ServicePort,
  WeightedBackend,
} from '../../proto/mesh.ts';

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 2, budgetRatio: 0.2, minRetriesPerSecond: 10, retryableGrpcStatuses: [14] };
export const DEFAULT_ROUTE_DEFAULTS: RouteDefaults = {
  timeoutMs: 10_000,
  retry: DEFAULT_RETRY,
  connectTimeoutMs: 1_000,
};
export const DEFAULT_PROXY_PORT = 4143;

type Obj = Record<string, unknown>;

function fail(path: string, why: string): never {
  throw new WeftError('WEFT_ERR_CONFIG_INVALID', `${path}: ${why}`);
}

function obj(v: unknown, path: string): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail(path, 'must be an object');
  return v as Obj;
}

function arr(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(path, 'must be a list');
  return v;
}

function str(v: unknown, path: string, def = ''): string {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'string') fail(path, 'must be a string');
  return v;
}

function reqStr(v: unknown, path: string): string {
  const s = str(v, path);
  if (s === '') fail(path, 'is required');
  return s;
}

function uint(v: unknown, path: string, def: number, max = 0xffffffff): number {
  if (v === undefined || v === null) return def;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max) {
    fail(path, `must be an integer between 0 and ${max}`);
  }
  return n;
}

function num(v: unknown, path: string, def: number): number {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(path, 'must be a non-negative number');
  return v;
}

function bool(v: unknown, path: string, def: boolean): boolean {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') fail(path, 'must be true or false');
  return v;
}

function port(v: unknown, path: string, def: number): number {
  return uint(v, path, def, 65535);
}

function oneOf<K extends string>(o: Obj, keys: readonly K[], path: string): K | undefined {
  const set = keys.filter((k) => o[k] !== undefined && o[k] !== null);
  if (set.length > 1) fail(path, `set only one of ${keys.join(', ')}`);
  return set[0];
}

function pathMatch(v: unknown, path: string): PathMatch | undefined {
  if (v === undefined || v === null) return undefined;
  const o = obj(v, path);
  const k = oneOf(o, ['exact', 'prefix', 'regex'] as const, path);
  if (k === undefined) fail(path, 'needs one of exact, prefix, regex');
  const value = reqStr(o[k], `${path}.${k}`);
  if (k !== 'regex' && !value.startsWith('/')) fail(`${path}.${k}`, 'must start with /');
  if (k === 'exact') return { exact: value };
  if (k === 'prefix') return { prefix: value };
  return { regex: value };
}

function headerMatch(v: unknown, path: string): HeaderMatch {
  const o = obj(v, path);
  const name = reqStr(o.name, `${path}.name`).toLowerCase();
  const k = oneOf(o, ['exact', 'regex'] as const, path);
  if (k === undefined) fail(path, 'needs one of exact, regex');
  const value = str(o[k], `${path}.${k}`);
  return k === 'exact' ? { name, exact: value } : { name, regex: value };
}

function httpMatch(v: unknown, path: string): HttpMatch {
  const o = obj(v, path);
  const p = pathMatch(o.path, `${path}.path`);
  const methods = arr(o.methods, `${path}.methods`).map((m, i) => reqStr(m, `${path}.methods[${i}]`).toUpperCase());
  const headers = arr(o.headers, `${path}.headers`).map((h, i) => headerMatch(h, `${path}.headers[${i}]`));
  return p ? { path: p, methods, headers } : { methods, headers };
}

/** gRPC status numbers 1..16 (OK is never a failure); absent or empty: the default. */
function grpcStatuses(v: unknown, path: string, def: number[]): number[] {
  const list = arr(v, path).map((x, i) => uint(x, `${path}[${i}]`, 0, 16));
  if (list.length === 0) return def;
  list.forEach((x, i) => {
    if (x === 0) throw new WeftError('WEFT_ERR_CONFIG_INVALID', `${path}[${i}]: 0 (OK) is not a failure to retry`);
  });
  return list;
}

function retry(v: unknown, path: string, def: RetryPolicy): RetryPolicy {
  if (v === undefined || v === null) return def;
  const o = obj(v, path);
  return {
    maxRetries: uint(o.maxRetries, `${path}.maxRetries`, def.maxRetries, 10),
    budgetRatio: num(o.budgetRatio, `${path}.budgetRatio`, def.budgetRatio),
    minRetriesPerSecond: uint(o.minRetriesPerSecond, `${path}.minRetriesPerSecond`, def.minRetriesPerSecond),
    retryableGrpcStatuses: grpcStatuses(o.retryableGrpcStatuses, `${path}.retryableGrpcStatuses`, def.retryableGrpcStatuses ?? []),
  };
}

function backend(v: unknown, path: string): WeightedBackend {
  const o = obj(v, path);
  return {
    service: reqStr(o.service, `${path}.service`),
    weight: uint(o.weight, `${path}.weight`, 1),
    port: port(o.port, `${path}.port`, 0),
  };
}

function route(v: unknown, path: string): Route {
  const o = obj(v, path);
  const r: Route = {
    name: str(o.name, `${path}.name`),
    matches: arr(o.matches, `${path}.matches`).map((m, i) => httpMatch(m, `${path}.matches[${i}]`)),
    backends: arr(o.backends, `${path}.backends`).map((b, i) => backend(b, `${path}.backends[${i}]`)),
    timeoutMs: uint(o.timeoutMs, `${path}.timeoutMs`, 0),
  };
  if (o.retry !== undefined && o.retry !== null) r.retry = retry(o.retry, `${path}.retry`, DEFAULT_RETRY);
  return r;
}

function servicePort(v: unknown, path: string): ServicePort {
  const o = obj(v, path);
  const p = port(o.port, `${path}.port`, 0);
  if (p === 0) fail(`${path}.port`, 'is required');
  const opaque = o.opaque;
  if (opaque !== undefined && typeof opaque !== 'boolean') fail(`${path}.opaque`, 'must be true or false');
  return {
    name: str(o.name, `${path}.name`),
    port: p,
    targetPort: port(o.targetPort, `${path}.targetPort`, 0),
    ...(opaque === true ? { opaque: true } : {}),
  };
}

function endpoint(v: unknown, path: string, ns: string): Endpoint {
  const o = obj(v, path);
  const p = port(o.port, `${path}.port`, 0);
  if (p === 0) fail(`${path}.port`, 'is required');
  return {
    address: reqStr(o.address, `${path}.address`),
    port: p,
    identity: str(o.identity, `${path}.identity`),
    proxyPort: port(o.proxyPort, `${path}.proxyPort`, DEFAULT_PROXY_PORT),
    pod: str(o.pod, `${path}.pod`),
    deployment: str(o.deployment, `${path}.deployment`),
    serviceAccount: str(o.serviceAccount, `${path}.serviceAccount`),
    namespace: str(o.namespace, `${path}.namespace`, ns),
  };
}

function service(v: unknown, path: string): Service {
  const o = obj(v, path);
  const namespace = str(o.namespace, `${path}.namespace`, 'default');
  return {
    name: reqStr(o.name, `${path}.name`).toLowerCase(),
    namespace,
    clusterIp: str(o.clusterIp, `${path}.clusterIp`),
    ports: arr(o.ports, `${path}.ports`).map((p, i) => servicePort(p, `${path}.ports[${i}]`)),
    routes: arr(o.routes, `${path}.routes`).map((r, i) => route(r, `${path}.routes[${i}]`)),
    endpoints: arr(o.endpoints, `${path}.endpoints`).map((e, i) => endpoint(e, `${path}.endpoints[${i}]`, namespace)),
    aliases: arr(o.aliases, `${path}.aliases`).map((a, i) => reqStr(a, `${path}.aliases[${i}]`).toLowerCase()),
  };
}

function mode(v: unknown, path: string): InboundMode {
  const s = str(v, path, DEFAULT_INBOUND_MODE).toUpperCase();
  if (s !== 'PERMISSIVE' && s !== 'STRICT') fail(path, 'must be strict or permissive');
  return s;
}

const DEFAULT_POLICIES: readonly DefaultInboundPolicy[] = ['ALL_UNAUTHENTICATED', 'ALL_AUTHENTICATED', 'CLUSTER_AUTHENTICATED', 'DENY'];

/** ALL_AUTHENTICATED, or the annotation's all-authenticated (any case). */
export function parseDefaultPolicy(v: string): DefaultInboundPolicy | undefined {
  const s = v.trim().toUpperCase().replaceAll('-', '_');
  return (DEFAULT_POLICIES as readonly string[]).includes(s) ? (s as DefaultInboundPolicy) : undefined;
}

function defaultPolicy(v: unknown, path: string): DefaultInboundPolicy {
  const s = str(v, path, 'ALL_UNAUTHENTICATED');
  const p = parseDefaultPolicy(s);
  if (p === undefined) fail(path, 'must be all-unauthenticated, all-authenticated, cluster-authenticated or deny');
  return p;
}

function authzRule(v: unknown, path: string): AuthzRule {
  const o = obj(v, path);
  return {
    name: str(o.name, `${path}.name`),
    sources: arr(o.sources, `${path}.sources`).map((x, i) => reqStr(x, `${path}.sources[${i}]`)),
    port: port(o.port, `${path}.port`, 0),
    http: arr(o.http, `${path}.http`).map((m, i) => httpMatch(m, `${path}.http[${i}]`)),
    tcp: bool(o.tcp, `${path}.tcp`, false),
    tcpPorts: arr(o.tcpPorts, `${path}.tcpPorts`).map((x, i) => port(x, `${path}.tcpPorts[${i}]`, 0)),
  };
}

/** Validates `raw` and returns a complete ProxyConfig. Throws WEFT_ERR_CONFIG_INVALID. */
export function validateProxyConfig(raw: unknown): ProxyConfig {
  const o = obj(raw, 'config');
  const inbound = obj(o.inbound, 'inbound');
  const defaults = obj(o.defaults, 'defaults');
  const services = arr(o.services, 'services').map((s, i) => service(s, `services[${i}]`));
  const seen = new Set<string>();
  services.forEach((s, i) => {
    const key = `${s.name}.${s.namespace}`;
    if (seen.has(key)) fail(`services[${i}]`, `duplicate service ${key}`);
    seen.add(key);
  });
  const version = o.version;
  return {
    version: typeof version === 'number' ? String(version) : str(version, 'version'),
    services,
    inbound: {
      mode: mode(inbound.mode, 'inbound.mode'),
      allowedIdentities: arr(inbound.allowedIdentities, 'inbound.allowedIdentities').map((a, i) =>
        reqStr(a, `inbound.allowedIdentities[${i}]`),
      ),
      appPorts: arr(inbound.appPorts, 'inbound.appPorts').map((p, i) => port(p, `inbound.appPorts[${i}]`, 0)),
      identity: str(inbound.identity, 'inbound.identity'),
      defaultPolicy: defaultPolicy(inbound.defaultPolicy, 'inbound.defaultPolicy'),
      targeted: bool(inbound.targeted, 'inbound.targeted', false),
      authzRules: arr(inbound.authzRules, 'inbound.authzRules').map((r, i) => authzRule(r, `inbound.authzRules[${i}]`)),
    },
    trustBundlePem: arr(o.trustBundlePem, 'trustBundlePem').map((p, i) => reqStr(p, `trustBundlePem[${i}]`)),
    egress: { allow: bool(obj(o.egress, 'egress').allow, 'egress.allow', true) },
    defaults: {
      timeoutMs: uint(defaults.timeoutMs, 'defaults.timeoutMs', DEFAULT_ROUTE_DEFAULTS.timeoutMs),
      retry: retry(defaults.retry, 'defaults.retry', DEFAULT_RETRY),
      connectTimeoutMs: uint(defaults.connectTimeoutMs, 'defaults.connectTimeoutMs', DEFAULT_ROUTE_DEFAULTS.connectTimeoutMs),
    },
  };
}
