// Decodes the socket addresses getsockopt(SO_ORIGINAL_DST) and
// getsockopt(IP6T_SO_ORIGINAL_DST) fill in (Linux layouts):
//   sockaddr_in:  family u16 (host order, AF_INET = 2), port u16 (network
//                 order), IPv4 address 4 bytes, 8 bytes of zero padding;
//   sockaddr_in6: family u16 (AF_INET6 = 10), port u16 (network order),
//                 flowinfo u32, IPv6 address 16 bytes, scope id u32.
// Pure.

export interface SocketAddress {
  /** Canonical text form (dotted quad, or RFC 5952 IPv6). */
  address: string;
  port: number;
  family: 4 | 6;
}

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCKADDR_IN_BYTES = 16;
export const SOCKADDR_IN6_BYTES = 28;

/** The address in `buf[0..length)`, or undefined when it is no sockaddr_in / sockaddr_in6. */
export function decodeSockaddr(buf: Uint8Array, length: number = buf.length): SocketAddress | undefined {
  if (length < 4 || length > buf.length) return undefined;
  // The family is in host byte order: little-endian on every platform Weft runs on.
  const family = (buf[0] as number) | ((buf[1] as number) << 8);
  const port = ((buf[2] as number) << 8) | (buf[3] as number);
  if (family === AF_INET && length >= 8) {
    return { address: `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`, port, family: 4 };
  }
  if (family === AF_INET6 && length >= 24) {
    const groups: number[] = [];
    for (let i = 0; i < 8; i++) groups.push(((buf[8 + 2 * i] as number) << 8) | (buf[9 + 2 * i] as number));
    return { address: formatIpv6(groups), port, family: 6 };
  }
  return undefined;
}

/** RFC 5952: lower-case hex, no leading zeros, the longest run (>= 2) of zero groups as "::", IPv4-mapped as dotted quad. */
export function formatIpv6(groups: readonly number[]): string {
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const hi = groups[6] as number;
    const lo = groups[7] as number;
    return `::ffff:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
