// Outbound stage 1: which service does the request address? In transparent
// mode, the address the app dialled (its original destination); in explicit
// mode, the absolute-form target or the Host header: service name, FQDN,
// alias or ClusterIP:port. Unknown hosts become
// plain egress, or WEFT_ERR_EGRESS_REFUSED when the config forbids egress.
import { isIP } from 'node:net';
import { WeftError } from '../../proto/errors.ts';
import { parseAuthority, resolveAuthority } from '../routing/service-resolve.ts';
import type { Exchange, Layer } from '../exchange.ts';
import { resolveDst } from '../routing/dst-resolve.ts';
import { redirectedDst } from '../listen/redirected.ts';
import type { SocketAddress } from '../listen/sockaddr.ts';

/** Splits an absolute-form target into authority and origin-form path. */
export function splitTarget(url: string): { authority: string | undefined; path: string } {
  if (url.startsWith('/') || url === '*') return { authority: undefined, path: url };
  const m = /^https?:\/\/([^/?#]*)(.*)$/i.exec(url);
  if (m === null) throw new WeftError('WEFT_ERR_BAD_REQUEST', 'request target is neither origin-form nor absolute-form');
  const rest = m[2] ?? '';
  return { authority: m[1], path: rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}` };
}

export function resolveTarget(ex: Exchange, authority: string | undefined, callerNamespace: string): void {
  if (authority === undefined || authority === '') {
    throw new WeftError('WEFT_ERR_BAD_REQUEST', 'request has no Host header');
  }
  const hit = resolveAuthority(ex.config.index, authority, 80, callerNamespace);
  if (hit !== undefined) {
    const service = ex.config.services.get(`${hit.service.name}.${hit.service.namespace}`);
    if (service !== undefined) {
      ex.service = service;
      ex.port = hit.port;
      ex.authority = service.authorityFor(hit.port);
      return;
    }
  }
  const parsed = parseAuthority(authority, 80);
  if (parsed === undefined) throw new WeftError('WEFT_ERR_BAD_REQUEST', `bad authority ${JSON.stringify(authority)}`);
  if (!ex.config.config.egress.allow) {
    throw new WeftError('WEFT_ERR_EGRESS_REFUSED', `${parsed.host} is not a mesh service and egress is refused`);
  }
  ex.egress = { host: parsed.host, port: parsed.port };
  ex.port = parsed.port;
  // Never a raw IP as a label value: unbounded.
  ex.authority = isIP(parsed.host) === 0 ? `${parsed.host}:${parsed.port}` : 'egress';
}

/**
 * A transparently redirected request: the address the app dialled decides
 * (dst-resolve.ts), the Host header only feeds route matching.
 */
export function resolveRedirected(ex: Exchange, dst: SocketAddress, callerNamespace: string, host: string | undefined): void {
  const target = resolveDst(ex.config, dst.address, dst.port, callerNamespace, host);
  if (target.kind === 'egress') {
    ex.egress = { host: target.host, port: target.port };
    ex.port = target.port;
    ex.authority = 'egress';
    return;
  }
  ex.service = target.service;
  if (target.kind === 'service') {
    ex.port = target.port;
  } else {
    ex.pinned = target.endpoint;
    ex.port = target.port;
  }
  ex.authority = target.service.authorityFor(ex.port);
}

/** Outbound stage 0 as a layer: resolve the target, then continue (egress skips the later stages). */
export function targetStage(callerNamespace: string): Layer {
  return (next) => (ex) => {
    const { authority, path } = splitTarget(ex.req.url ?? '/');
    ex.path = path;
    const dst = redirectedDst(ex.req.socket);
    if (dst !== undefined) resolveRedirected(ex, dst, callerNamespace, ex.req.headers.host);
    else resolveTarget(ex, authority ?? ex.req.headers.host, callerNamespace);
    return next(ex);
  };
}
