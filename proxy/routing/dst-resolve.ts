// Where a transparently redirected connection goes, from the address the app
// dialled (its original destination), never from a Host header:
//   - a ClusterIP with a port the Service exposes -> that Service's port
//     (routes, splits and balancing apply);
//   - the address:port of an endpoint the config knows (a call by pod IP or
//     per-pod DNS name) -> exactly that endpoint, with the identity the control
//     plane gave it; of the services it backs, the one `authority` (an HTTP
//     Host header) names, else the first; `port` is then that service's port
//     for the endpoint's target port (for labels and routes);
//   - anything else -> egress to exactly that address, if egress is allowed.
// Pure: a function of the compiled config and the address.
import { WeftError } from '../../proto/errors.ts';
import type { CompiledEndpoint, CompiledService, RuntimeConfig } from '../config/config-compile.ts';
import { canonicalIp, resolveAuthority } from './service-resolve.ts';

export type DstTarget =
  | { kind: 'service'; service: CompiledService; port: number }
  | { kind: 'endpoint'; service: CompiledService; endpoint: CompiledEndpoint; port: number }
  | { kind: 'egress'; host: string; port: number };

/** Throws WEFT_ERR_EGRESS_REFUSED when the address is unknown and egress is refused. */
export function resolveDst(rt: RuntimeConfig, address: string, port: number, callerNamespace: string, authority?: string): DstTarget {
  const ip = canonicalIp(address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address);
  const byIp = rt.index.clusterIps.get(ip);
  if (byIp !== undefined) {
    const exposing = byIp.filter((c) => c.ports.has(port));
    const hit = exposing.length === 1 ? exposing[0] : exposing.find((c) => c.service.namespace === callerNamespace);
    const service = hit === undefined ? undefined : rt.services.get(`${hit.service.name}.${hit.service.namespace}`);
    if (service !== undefined) return { kind: 'service', service, port };
  }
  const backing = rt.endpointsByKey.get(`${ip}:${port}`);
  if (backing !== undefined && backing.length > 0) {
    const named = authority === undefined ? undefined : resolveAuthority(rt.index, authority, port, callerNamespace)?.service;
    const ep = backing.find((b) => b.service.service === named) ?? (backing[0] as (typeof backing)[number]);
    const servicePort = ep.service.service.ports.find((p) => (p.targetPort === 0 ? p.port : p.targetPort) === port)?.port ?? port;
    return { kind: 'endpoint', service: ep.service, endpoint: ep.endpoint, port: servicePort };
  }
  if (!rt.config.egress.allow) {
    throw new WeftError('WEFT_ERR_EGRESS_REFUSED', `${ip}:${port} is not in the mesh and egress is refused`);
  }
  return { kind: 'egress', host: ip, port };
}
