// Header rewriting for one hop. Pure. Removes hop-by-hop headers (RFC 9110
// 7.6.1, plus those named in Connection), appends this hop to
// x-forwarded-for / forwarded, and drops Weft's internal headers that a
// caller must not be able to set.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // The HTTP/1.1 Upgrade to h2c's settings: never forwarded (and refused by HTTP/2 itself).
  'http2-settings',
]);

/** Headers Weft sets itself between proxies; never trusted from a caller. */
export const DST_PORT_HEADER = 'weft-dst-port';
export const CLIENT_ID_HEADER = 'weft-client-id';
const INTERNAL = new Set([DST_PORT_HEADER, CLIENT_ID_HEADER]);

export interface ForwardOptions {
  /** Address of the peer this hop received the request from. */
  clientAddress: string | undefined;
  /** Protocol the request arrived on. */
  proto: 'http' | 'https';
  /** Keep Connection/Upgrade for a WebSocket-style upgrade. */
  upgrade?: string | undefined;
  /** Whether the internal headers from the previous hop are trusted (an mTLS peer proxy). */
  trustInternal?: boolean;
}

function forwardedFor(addr: string): string {
  // RFC 7239: IPv6 addresses are quoted and bracketed.
  return addr.includes(':') ? `for="[${addr}]"` : `for=${addr}`;
}

/**
 * The field names the Connection header lists (hop-by-hop for this message).
 * The usual values, `keep-alive` and `close`, name no field to remove: no Set
 * is built for them.
 */
function connectionListed(incoming: IncomingHttpHeaders): Set<string> | undefined {
  const conn = incoming.connection;
  if (conn === undefined) return undefined;
  if (conn.length <= 10) {
    const v = conn.toLowerCase();
    if (v === 'keep-alive' || (v === 'close' && incoming.close === undefined)) return undefined;
  }
  return new Set(conn.toLowerCase().split(',').map((t) => t.trim()).filter((t) => t !== ''));
}

export function forwardHeaders(incoming: IncomingHttpHeaders, opts: ForwardOptions): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const listed = connectionListed(incoming);
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    if (!opts.trustInternal && INTERNAL.has(name)) continue;
    out[name] = incoming[name];
  }
  if (opts.upgrade !== undefined) {
    out.connection = 'upgrade';
    out.upgrade = opts.upgrade;
  }
  const addr = opts.clientAddress?.startsWith('::ffff:') ? opts.clientAddress.slice(7) : opts.clientAddress;
  if (addr !== undefined) {
    const xff = incoming['x-forwarded-for'];
    out['x-forwarded-for'] = xff === undefined ? addr : `${xff}, ${addr}`;
    const fwd = incoming.forwarded;
    const me = `${forwardedFor(addr)};proto=${opts.proto}`;
    out.forwarded = fwd === undefined ? me : `${fwd}, ${me}`;
  }
  return out;
}

/** Response headers back to the caller: hop-by-hop removed. */
export function responseHeaders(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const listed = connectionListed(incoming);
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    out[name] = incoming[name];
  }
  return out;
}
