// Service resolution: which configured service an outbound request is for,
// from its Host header / :authority (or the absolute-form target's authority).
//
// compileServiceIndex() runs once per config snapshot and indexes every name a
// service answers to:
//   name, name.namespace, name.namespace.svc, name.namespace.svc.<domain>,
//   each alias, and its ClusterIP.
// resolveAuthority() runs per request: parse the authority, one map lookup.
//
// - Names are case-insensitive and a trailing dot (absolute DNS name) is ignored.
// - A name several services answer to (a bare "web" in two namespaces, a
//   shared alias) resolves to the one in the caller's namespace, else to
//   nothing. A name only one service answers to resolves to it.
// - A ClusterIP resolves only with a port the service exposes.
// - Unknown or malformed authorities resolve to undefined (the caller decides
//   between egress and a 404).

import type { Service } from '../../proto/mesh.ts';
import { WeftError } from '../../proto/errors.ts';

interface IndexedService {
  readonly service: Service;
  /** Service ports (Service.ports[].port). */
  readonly ports: ReadonlySet<number>;
}

export interface ServiceIndex {
  readonly clusterDomain: string;
  /** Lower-case name -> every service answering to it. */
  readonly names: ReadonlyMap<string, readonly IndexedService[]>;
  /** Canonical ClusterIP -> services with that ClusterIP. */
  readonly clusterIps: ReadonlyMap<string, readonly IndexedService[]>;
}

export interface ResolvedService {
  readonly service: Service;
  /** The port the request addressed (or the default port). */
  readonly port: number;
}

export interface Authority {
  /** Lower-case, without brackets or trailing dot. IPv6 in canonical form. */
  readonly host: string;
  readonly port: number;
}

/**
 * Indexes services by every name they answer to.
 * Two services with the same name and namespace: WEFT_ERR_CONFIG_INVALID.
 */
export function compileServiceIndex(services: readonly Service[], clusterDomain = 'cluster.local'): ServiceIndex {
  const domain = trimDots(clusterDomain.toLowerCase());
  const names = new Map<string, IndexedService[]>();
  const clusterIps = new Map<string, IndexedService[]>();
  const seen = new Set<string>();

  const add = (map: Map<string, IndexedService[]>, key: string, entry: IndexedService): void => {
    if (key === '') return;
    const list = map.get(key);
    if (list === undefined) map.set(key, [entry]);
    else if (!list.includes(entry)) list.push(entry);
  };

  services.forEach((service, i) => {
    const name = (service.name ?? '').toLowerCase();
    const ns = (service.namespace ?? '').toLowerCase();
    if (name === '' || ns === '') {
      throw new WeftError('WEFT_ERR_CONFIG_INVALID', `services[${i}]: name and namespace are required`);
    }
    const fq = `${name}.${ns}`;
    if (seen.has(fq)) {
      throw new WeftError('WEFT_ERR_CONFIG_INVALID', `services[${i}]: duplicate service ${fq}`);
    }
    seen.add(fq);

    const entry: IndexedService = { service, ports: new Set((service.ports ?? []).map((p) => p.port)) };
    add(names, name, entry);
    add(names, fq, entry);
    add(names, `${fq}.svc`, entry);
    if (domain !== '') add(names, `${fq}.svc.${domain}`, entry);
    for (const alias of service.aliases ?? []) add(names, normaliseHost(alias), entry);

    const ip = service.clusterIp ?? '';
    if (ip !== '' && ip.toLowerCase() !== 'none') add(clusterIps, canonicalIp(normaliseHost(ip)), entry);
  });

  return { clusterDomain: domain, names, clusterIps };
}

/**
 * Resolves a Host header / :authority to a service and port.
 * `defaultPort` is used when the authority names none (80 for http).
 * Undefined: unknown, ambiguous or malformed.
 */
export function resolveAuthority(
  index: ServiceIndex,
  authority: string,
  defaultPort: number,
  callerNamespace: string,
): ResolvedService | undefined {
  const a = parseAuthority(authority, defaultPort);
  if (a === undefined) return undefined;

  const byIp = index.clusterIps.get(a.host);
  if (byIp !== undefined) {
    const hit = pick(byIp, callerNamespace, a.port);
    return hit === undefined ? undefined : { service: hit.service, port: a.port };
  }
  const byName = index.names.get(a.host);
  if (byName === undefined) return undefined;
  const hit = pick(byName, callerNamespace, undefined);
  return hit === undefined ? undefined : { service: hit.service, port: a.port };
}

/** The only candidate, else the one in the caller's namespace. With `port`, only services exposing it count. */
function pick(
  candidates: readonly IndexedService[],
  callerNamespace: string,
  port: number | undefined,
): IndexedService | undefined {
  let only: IndexedService | undefined;
  let count = 0;
  let local: IndexedService | undefined;
  for (const c of candidates) {
    if (port !== undefined && !c.ports.has(port)) continue;
    count++;
    only = c;
    if (c.service.namespace === callerNamespace) local = c;
  }
  if (count === 1) return only;
  return local;
}

/**
 * Parses "host", "host:port", "[v6]" or "[v6]:port". Host lower-cased,
 * trailing dot removed, IPv6 canonicalised. Undefined when malformed.
 */
export function parseAuthority(authority: string, defaultPort: number): Authority | undefined {
  let host: string;
  let port = defaultPort;
  let portText: string | undefined;
  if (authority.charCodeAt(0) === 0x5b /* '[' */) {
    const close = authority.indexOf(']');
    if (close === -1) return undefined;
    host = authority.slice(1, close);
    const rest = authority.slice(close + 1);
    if (rest !== '') {
      if (rest.charCodeAt(0) !== 0x3a /* ':' */) return undefined;
      portText = rest.slice(1);
    }
    if (!host.includes(':')) return undefined;
    host = canonicalIp(host.toLowerCase());
    if (host === '') return undefined;
  } else {
    const colon = authority.indexOf(':');
    if (colon !== -1 && authority.indexOf(':', colon + 1) !== -1) {
      // Unbracketed IPv6 literal (not valid in a Host header, but unambiguous: no port).
      host = canonicalIp(authority.toLowerCase());
      if (host === '') return undefined;
    } else {
      host = colon === -1 ? authority : authority.slice(0, colon);
      if (colon !== -1) portText = authority.slice(colon + 1);
      host = normaliseHost(host);
      if (host === '' || !/^[a-z0-9._-]+$/.test(host)) return undefined;
    }
  }
  if (portText !== undefined && portText !== '') {
    if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  return { host, port };
}

function normaliseHost(host: string): string {
  let h = host.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.startsWith('[') && h.endsWith(']')) h = canonicalIp(h.slice(1, -1));
  return h;
}

function trimDots(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && s.charCodeAt(start) === 0x2e) start++;
  while (end > start && s.charCodeAt(end - 1) === 0x2e) end--;
  return s.slice(start, end);
}

/** Canonical text of an IPv6 literal ("" if invalid); other hosts unchanged. */
export function canonicalIp(host: string): string {
  if (!host.includes(':')) return host;
  try {
    const h = new URL(`http://[${host}]/`).hostname;
    return h.slice(1, -1);
  } catch {
    return '';
  }
}
