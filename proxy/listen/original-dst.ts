// The destination a connection had before iptables REDIRECTed it to the
// proxy: getsockopt(fd, SOL_IP, SO_ORIGINAL_DST) for IPv4 and
// getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST) for IPv6 (both option 80),
// answered by conntrack. Node has no getsockopt, so it is called through koffi
// (an FFI package whose npm tarball carries prebuilt binaries: nothing is
// compiled at install). koffi is loaded on first use, so a proxy that is not
// transparent (the local mesh's explicit HTTP_PROXY) never pays for it.
//
// undefined means "not redirected": no conntrack entry (ENOENT), an entry
// whose original destination is the listener itself (dialled directly), a
// socket without fd, or no koffi on this platform (then every connection is treated
// as explicit, and the failure is reported once through `onUnavailable`).
import type net from 'node:net';
import { decodeSockaddr, SOCKADDR_IN6_BYTES, type SocketAddress } from './sockaddr.ts';

const SOL_IP = 0;
const SOL_IPV6 = 41;
const SO_ORIGINAL_DST = 80;
const IP6T_SO_ORIGINAL_DST = 80;

type GetSockOpt = (fd: number, level: number, name: number, val: Buffer, len: number[]) => number;

let getsockopt: GetSockOpt | null | undefined;
let loadError: Error | undefined;

function load(): GetSockOpt | null {
  if (getsockopt !== undefined) return getsockopt;
  try {
    const { createRequire } = process.getBuiltinModule('node:module');
    const koffi = createRequire(import.meta.url)('koffi') as {
      load(path: string): { func(signature: string): GetSockOpt };
    };
    getsockopt = koffi
      .load('libc.so.6')
      .func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)');
  } catch (err) {
    loadError = err as Error;
    getsockopt = null;
  }
  return getsockopt;
}

/** Why original destinations cannot be read here, if they cannot. */
export function originalDstUnavailable(): Error | undefined {
  load();
  return loadError;
}

/** The socket's file descriptor (libuv's handle), or undefined. */
function fdOf(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * The original destination of an accepted, REDIRECTed socket, or undefined.
 * The family follows the client's address: an IPv4 client on a dual-stack
 * socket (::ffff:a.b.c.d) is asked with SOL_IP.
 */
export function originalDestination(socket: net.Socket): SocketAddress | undefined {
  const call = load();
  const fd = fdOf(socket);
  if (call === null || fd === undefined) return undefined;
  const remote = socket.remoteAddress ?? '';
  const v6 = remote.includes(':') && !remote.startsWith('::ffff:');
  const buf = Buffer.alloc(SOCKADDR_IN6_BYTES);
  const len = [buf.length];
  const rc = v6 ? call(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, buf, len) : call(fd, SOL_IP, SO_ORIGINAL_DST, buf, len);
  if (rc !== 0) return undefined;
  const dst = decodeSockaddr(buf, len[0]);
  // With conntrack loaded, a connection nobody redirected has an entry too:
  // its "original" destination is the listener itself.
  if (dst === undefined || (dst.port === socket.localPort && sameAddress(dst.address, socket.localAddress))) return undefined;
  return dst;
}

function sameAddress(a: string, b: string | undefined): boolean {
  if (b === undefined) return false;
  const plain = (x: string): string => (x.startsWith('::ffff:') && x.includes('.') ? x.slice(7) : x);
  return plain(a) === plain(b);
}
