// Compiles a validated ProxyConfig into the structures the request path
// reads: a name index, precompiled routes, weighted splits resolved to
// concrete services, endpoints grouped by port with their metric labels.
// Pure; everything per-request is looked up, never rebuilt.
import { WeftError } from '../../proto/errors.ts';
import type { Endpoint, InboundPolicy, ProxyConfig, RetryPolicy, Service } from '../../proto/mesh.ts';
import { identityMatcher } from '../../identity/spiffe-id.ts';
import { compileRoutes, type CompiledRoute } from '../routing/route-match.ts';
import { compileSplit, type CompiledSplit } from '../routing/weighted-choice.ts';
import { canonicalIp, compileServiceIndex } from '../routing/service-resolve.ts';
import { endpointKey } from '../routing/endpoint-choice.ts';
import { createRetryBudget, type RetryBudget } from '../routing/retry-budget.ts';
import { compileAuthz, type CompiledAuthz } from '../routing/authz-policy.ts';
import { tlsAgentKey } from '../http1/upstream-key.ts';

export interface CompiledEndpoint {
  readonly endpoint: Endpoint;
  /** Balancer key: address:port. */
  readonly key: string;
  /** Pool key of its mTLS agent; '' when the endpoint is not meshed. */
  readonly agentKey: string;
}

export interface EndpointSet {
  readonly endpoints: readonly CompiledEndpoint[];
  readonly keys: readonly string[];
  readonly byKey: ReadonlyMap<string, CompiledEndpoint>;
}

export interface CompiledBackend {
  readonly weight: number;
  readonly service: CompiledService;
  /** Port on the backend service; 0: the port the request addressed. */
  readonly port: number;
}

export interface CompiledServiceRoute {
  readonly compiled: CompiledRoute;
  readonly split: CompiledSplit<CompiledBackend>;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  readonly budget: RetryBudget;
  /** Label for logs and /config: the route name or its index. */
  readonly label: string;
}

export interface CompiledService {
  readonly service: Service;
  /** "name.namespace" */
  readonly id: string;
  /** "name.namespace.svc.<cluster domain>" */
  readonly fqdn: string;
  routes: CompiledServiceRoute[];
  readonly compiledRoutes: CompiledRoute[];
  /** Endpoints for a service port (the Service's port, not the target port). */
  endpointsFor(port: number): EndpointSet | undefined;
  /** Every endpoint, whatever its port. */
  readonly allEndpoints: readonly CompiledEndpoint[];
  /** The metrics authority "<fqdn>:<port>", one string per port (no per-request concatenation). */
  authorityFor(port: number): string;
}

export interface CompiledInbound {
  readonly policy: InboundPolicy;
  /** Whether a client SPIFFE ID may call (the static allow-list, allowedIdentities). */
  allows(id: string): boolean;
  /** Access control (TrafficTargets and the default policy): routing/authz-policy.ts. */
  readonly authz: CompiledAuthz;
  /** The app port for a requested port (any port when none are declared; '' : the first app port). */
  appPort(requested: string | undefined): number | undefined;
}

export interface RuntimeConfig {
  readonly config: ProxyConfig;
  readonly services: ReadonlyMap<string, CompiledService>;
  readonly index: ReturnType<typeof compileServiceIndex>;
  readonly inbound: CompiledInbound;
  /** Every mTLS agent key in use (the pool drops the others). */
  readonly agentKeys: ReadonlySet<string>;
  /** Every balancer key in use. */
  readonly endpointKeys: ReadonlySet<string>;
  /** Every endpoint by "address:port" (its pod address and target port), with each service it backs: calls by pod IP. */
  readonly endpointsByKey: ReadonlyMap<string, ReadonlyArray<{ service: CompiledService; endpoint: CompiledEndpoint }>>;
  /** "address:port" destinations that skip protocol detection: opaque Service ports on the ClusterIP and on their endpoints. */
  readonly opaqueDestinations: ReadonlySet<string>;
}

function endpointSet(list: Endpoint[]): EndpointSet {
  const endpoints = list.map((endpoint) => ({
    endpoint,
    key: endpointKey(endpoint),
    agentKey: endpoint.identity === '' ? '' : tlsAgentKey(endpoint.address, endpoint.proxyPort, endpoint.identity),
  }));
  return { endpoints, keys: endpoints.map((e) => e.key), byKey: new Map(endpoints.map((e) => [e.key, e])) };
}

function compileService(service: Service, clusterDomain: string): CompiledService {
  const id = `${service.name}.${service.namespace}`;
  const byTarget = new Map<number, Endpoint[]>();
  for (const ep of service.endpoints) {
    const list = byTarget.get(ep.port);
    if (list === undefined) byTarget.set(ep.port, [ep]);
    else list.push(ep);
  }
  const all = endpointSet(service.endpoints);
  const sets = new Map<number, EndpointSet>();
  for (const [port, list] of byTarget) sets.set(port, endpointSet(list));
  const ports = service.ports;
  const empty = endpointSet([]);
  const fqdn = `${id}.svc.${clusterDomain}`;
  // Ports a caller addressed: bounded by the valid port numbers.
  const authorities = new Map<number, string>();
  return {
    service,
    id,
    fqdn,
    authorityFor(port: number): string {
      let a = authorities.get(port);
      if (a === undefined) {
        a = `${fqdn}:${port}`;
        authorities.set(port, a);
      }
      return a;
    },
    routes: [],
    allEndpoints: all.endpoints,
    compiledRoutes: compileRoutes(service.routes, `service ${id}`),
    endpointsFor(port: number): EndpointSet | undefined {
      // A service that declares no ports: every endpoint serves every port.
      if (ports.length === 0) return all;
      const sp = ports.find((p) => p.port === port) ?? (ports.length === 1 ? ports[0] : undefined);
      if (sp === undefined) return undefined;
      return sets.get(sp.targetPort === 0 ? sp.port : sp.targetPort) ?? empty;
    },
  };
}

function hasEndpoints(s: CompiledService): boolean {
  return s.service.endpoints.length > 0;
}

/** Client IDs whose inbound verdict is remembered per compiled config. */
const MAX_CACHED_VERDICTS = 1024;

function compileInbound(policy: InboundPolicy): CompiledInbound {
  const allowed = policy.allowedIdentities;
  let matcher: (id: string) => boolean;
  try {
    matcher = identityMatcher(allowed);
  } catch (cause) {
    throw new WeftError('WEFT_ERR_CONFIG_INVALID', `inbound.allowedIdentities: ${(cause as Error).message}`, { cause });
  }
  const ports = policy.appPorts;
  // A client's ID is fixed per connection and there are few of them: the
  // verdict is remembered, so a request re-parses nothing. Bounded: a full
  // cache starts over.
  const verdicts = new Map<string, boolean>();
  return {
    policy,
    authz: compileAuthz(policy),
    allows(id) {
      if (allowed.length === 0) return true;
      let ok = verdicts.get(id);
      if (ok === undefined) {
        ok = matcher(id);
        if (verdicts.size >= MAX_CACHED_VERDICTS) verdicts.clear();
        verdicts.set(id, ok);
      }
      return ok;
    },
    appPort(requested) {
      if (requested !== undefined && requested !== '') {
        const n = Number(requested);
        // A workload that declares no ports takes a peer's request for any port
        // (in a pod, whatever listens is reachable); a declared list is a limit.
        if (ports.includes(n) || (ports.length === 0 && Number.isInteger(n) && n > 0 && n < 65536)) return n;
        return undefined;
      }
      return ports[0];
    },
  };
}

/**
 * Compiles `config`. Throws WEFT_ERR_CONFIG_INVALID (bad regexes, weights).
 * Split rules (DESIGN.md): backends that are missing or have no endpoints
 * get no traffic while others have some; when no backend is usable, or all
 * weights are zero, traffic goes to the route's own service.
 */
export function compileConfig(config: ProxyConfig, clusterDomain = 'cluster.local'): RuntimeConfig {
  const services = new Map<string, CompiledService>();
  for (const s of config.services) services.set(`${s.name}.${s.namespace}`, compileService(s, clusterDomain));

  const defaults = config.defaults;
  for (const cs of services.values()) {
    const ns = cs.service.namespace;
    const self: CompiledBackend = { weight: 1, service: cs, port: 0 };
    const routes = cs.compiledRoutes.length > 0 ? cs.compiledRoutes : compileRoutes([{ name: 'default', matches: [], backends: [], timeoutMs: 0 }]);
    cs.routes = routes.map((compiled) => {
      const r = compiled.route;
      const usable: CompiledBackend[] = [];
      for (const b of r.backends) {
        const name = b.service.toLowerCase();
        const target = services.get(name.includes('.') ? name : `${name}.${ns}`);
        if (target !== undefined && hasEndpoints(target)) usable.push({ weight: b.weight, service: target, port: b.port });
      }
      let split = compileSplit(usable, `service ${cs.id} route ${r.name || compiled.index}`);
      if (split.total === 0) split = compileSplit([self]);
      const retry = r.retry ?? defaults.retry;
      return {
        compiled,
        split,
        timeoutMs: r.timeoutMs || defaults.timeoutMs,
        retry,
        budget: createRetryBudget({ ratio: retry.budgetRatio, minPerSecond: retry.minRetriesPerSecond }),
        label: r.name || `#${compiled.index}`,
      };
    });
  }

  const agentKeys = new Set<string>();
  const endpointKeys = new Set<string>();
  for (const s of config.services) {
    for (const ep of s.endpoints) {
      endpointKeys.add(endpointKey(ep));
      if (ep.identity !== '') agentKeys.add(tlsAgentKey(ep.address, ep.proxyPort, ep.identity));
    }
  }
  if (config.inbound.appPorts.some((p) => p === 0)) {
    throw new WeftError('WEFT_ERR_CONFIG_INVALID', 'inbound.appPorts: ports must be > 0');
  }
  return {
    config,
    services,
    index: compileServiceIndex(config.services, clusterDomain),
    inbound: compileInbound(config.inbound),
    agentKeys,
    endpointKeys,
    endpointsByKey: indexEndpoints(services),
    opaqueDestinations: opaqueDestinations(config.services),
  };
}

function opaqueDestinations(services: readonly Service[]): Set<string> {
  const out = new Set<string>();
  for (const s of services) {
    for (const p of s.ports) {
      if (p.opaque !== true) continue;
      const ip = s.clusterIp === '' || s.clusterIp.toLowerCase() === 'none' ? '' : canonicalIp(s.clusterIp.toLowerCase());
      if (ip !== '') out.add(`${ip}:${p.port}`);
      const target = p.targetPort === 0 ? p.port : p.targetPort;
      for (const ep of s.endpoints) if (ep.port === target) out.add(`${ep.address}:${ep.port}`);
    }
  }
  return out;
}

function indexEndpoints(services: ReadonlyMap<string, CompiledService>): Map<string, Array<{ service: CompiledService; endpoint: CompiledEndpoint }>> {
  const out = new Map<string, Array<{ service: CompiledService; endpoint: CompiledEndpoint }>>();
  for (const service of services.values()) {
    for (const endpoint of service.allEndpoints) {
      const list = out.get(endpoint.key);
      if (list === undefined) out.set(endpoint.key, [{ service, endpoint }]);
      else list.push({ service, endpoint });
    }
  }
  return out;
}
