// A tiny cluster DNS server for tests that run a real kubelet node (the part
// CoreDNS plays in a cluster): pods get `nameserver <bridge ip>` and the
// search domains `<ns>.svc.cluster.local svc.cluster.local cluster.local`.
//
// Answers, over UDP and TCP (2-byte length prefix) on the same host:port:
// - `<svc>.<ns>.svc.<domain>`: A records for the ClusterIP(s) that
//   `resolveService(ns, svc)` returns (IPv4 only; [] or an AAAA/other type
//   query: NOERROR without answers, NODATA); undefined: NXDOMAIN; a thrown
//   error or no answer within `resolveTimeoutMs` (apiserver down): SERVFAIL;
// - any other name, under <domain> or not: NXDOMAIN. Nothing is ever
//   forwarded to another server: tests send traffic only to loopback or to
//   their own addresses;
// - a class other than IN (or ANY): REFUSED; an opcode other than QUERY:
//   NOTIMP; a malformed query: FORMERR when its header is readable, else
//   dropped (a TCP connection sending one is closed).
// Over UDP, a response that would exceed 512 bytes is sent truncated (TC,
// no answers) and the client retries over TCP. Errors are counted and
// logged, never thrown.
import dgram from 'node:dgram';
import net from 'node:net';
import {
  buildErrorResponse,
  buildResponse,
  CLASS_ANY,
  CLASS_IN,
  DEFAULT_TTL,
  ipv4Octets,
  parseQuery,
  QTYPE,
  RCODE,
  UDP_MAX_SIZE,
} from './dns-message.ts';

export interface ClusterDnsOptions {
  /** Address to listen on, UDP and TCP (e.g. the node's bridge IP, or 127.0.0.1). */
  host: string;
  /** Default 53; 0 picks a free port (the same for UDP and TCP). */
  port?: number;
  /** Default 'cluster.local'. */
  domain?: string;
  /** The ClusterIP(s) of a Service; undefined if it does not exist; throws if it cannot tell. */
  resolveService(namespace: string, name: string): Promise<string[] | undefined>;
  log?: (line: string) => void;
  /** TTL of the A records, in seconds (default 5). */
  ttl?: number;
  /** How long to wait for `resolveService` before answering SERVFAIL (default 2000 ms). */
  resolveTimeoutMs?: number;
  /** A TCP connection idle this long is closed (default 10 000 ms). */
  tcpIdleMs?: number;
}

export interface ClusterDns {
  readonly host: string;
  /** The bound port (UDP and TCP). */
  readonly port: number;
  /** Messages received so far (UDP and TCP, well-formed or not). */
  readonly queries: number;
  /** Malformed messages, resolver failures and socket errors so far. */
  readonly errors: number;
  close(): Promise<void>;
}

export type NameTarget = { kind: 'service'; namespace: string; name: string } | { kind: 'nxdomain'; inDomain: boolean };

// Service names are DNS-1035 labels, namespaces DNS-1123 labels; anything
// else cannot exist (and never reaches `resolveService`, which may put the
// names in an apiserver URL).
const SERVICE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The domain's labels, lower-cased, without a trailing dot; throws RangeError on an empty one. */
export function domainLabels(domain: string): string[] {
  const labels = domain.toLowerCase().replace(/\.$/, '').split('.');
  if (labels.some((l) => l === '')) throw new RangeError(`bad cluster domain: ${JSON.stringify(domain)}`);
  return labels;
}

/** What a (lower-cased) query name refers to: a Service `<svc>.<ns>.svc.<domain>`, or nothing. */
export function classifyName(labels: readonly string[], domain: readonly string[]): NameTarget {
  const rest = labels.length - domain.length;
  if (rest < 0 || domain.some((l, i) => labels[rest + i] !== l)) return { kind: 'nxdomain', inDomain: false };
  const [name, namespace, svc] = labels;
  if (rest === 3 && svc === 'svc' && name !== undefined && namespace !== undefined && SERVICE_NAME.test(name) && NAMESPACE_NAME.test(namespace)) {
    return { kind: 'service', namespace, name };
  }
  return { kind: 'nxdomain', inDomain: true };
}

const TCP_MAX_SIZE = 0xffff;
const BIND_ATTEMPTS = 5;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function withTimeout<T>(run: () => Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    Promise.resolve()
      .then(run)
      .then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
  });
}

export async function startClusterDns(opts: ClusterDnsOptions): Promise<ClusterDns> {
  const domain = domainLabels(opts.domain ?? 'cluster.local');
  const ttl = opts.ttl ?? DEFAULT_TTL;
  const resolveTimeoutMs = opts.resolveTimeoutMs ?? 2000;
  const tcpIdleMs = opts.tcpIdleMs ?? 10_000;
  const log = (line: string): void => opts.log?.(`cluster-dns: ${line}`);
  let queries = 0;
  let errors = 0;
  let closed = false;
  const sockets = new Set<net.Socket>();

  const fail = (what: string): void => {
    errors++;
    log(what);
  };

  /** The response to one message (undefined: drop it). */
  async function respond(msg: Uint8Array, maxSize: number, via: string): Promise<Uint8Array | undefined> {
    queries++;
    const parsed = parseQuery(msg);
    switch (parsed.kind) {
      case 'drop':
        fail(`${via}: dropped a message: ${parsed.reason}`);
        return undefined;
      case 'formerr':
        fail(`${via}: FORMERR: ${parsed.reason}`);
        return buildErrorResponse(parsed.header, RCODE.FORMERR);
      case 'notimp':
        log(`${via}: NOTIMP for opcode ${parsed.header.opcode}`);
        return buildErrorResponse(parsed.header, RCODE.NOTIMP);
      case 'query':
        break;
    }
    const query = parsed.query;
    const q = query.question;
    const what = `${via}: ${q.name || '.'} type ${q.type}`;
    if (q.class !== CLASS_IN && q.class !== CLASS_ANY) {
      log(`${what}: REFUSED (class ${q.class})`);
      return buildResponse(query, { rcode: RCODE.REFUSED, maxSize });
    }
    const target = classifyName(q.labels, domain);
    if (target.kind === 'nxdomain') {
      log(`${what}: NXDOMAIN`);
      return buildResponse(query, { rcode: RCODE.NXDOMAIN, authoritative: target.inDomain, maxSize });
    }
    let ips: string[] | undefined;
    try {
      ips = await withTimeout(() => opts.resolveService(target.namespace, target.name), resolveTimeoutMs);
    } catch (err) {
      fail(`${what}: SERVFAIL: resolving service ${target.namespace}/${target.name}: ${message(err)}`);
      return buildResponse(query, { rcode: RCODE.SERVFAIL, maxSize });
    }
    if (ips === undefined) {
      log(`${what}: NXDOMAIN (no service ${target.namespace}/${target.name})`);
      return buildResponse(query, { rcode: RCODE.NXDOMAIN, authoritative: true, maxSize });
    }
    const answers = q.type === QTYPE.A || q.type === QTYPE.ANY ? ips.filter((ip) => typeof ip === 'string' && ipv4Octets(ip) !== undefined) : [];
    log(`${what}: ${answers.length === 0 ? 'NODATA' : answers.join(' ')}`);
    return buildResponse(query, { rcode: RCODE.NOERROR, answers, ttl, authoritative: true, maxSize });
  }

  function onUdpMessage(udp: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const via = `udp ${rinfo.address}:${rinfo.port}`;
    respond(msg, UDP_MAX_SIZE, via).then(
      (out) => {
        if (out === undefined || closed) return;
        try {
          // Only ever back to the sender.
          udp.send(out, rinfo.port, rinfo.address, (err) => {
            if (err) fail(`${via}: send: ${err.message}`);
          });
        } catch (err) {
          fail(`${via}: send: ${message(err)}`);
        }
      },
      (err: unknown) => fail(`${via}: ${message(err)}`),
    );
  }

  function onTcpConnection(socket: net.Socket): void {
    if (closed) {
      socket.destroy();
      return;
    }
    const via = `tcp ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    sockets.add(socket);
    socket.setTimeout(tcpIdleMs, () => socket.destroy());
    socket.on('error', (err) => log(`${via}: ${err.message}`));
    socket.on('close', () => sockets.delete(socket));
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      buf = buf.length === 0 ? data : Buffer.concat([buf, data]);
      while (buf.length >= 2) {
        const length = buf.readUInt16BE(0);
        if (buf.length < 2 + length) break;
        const msg = buf.subarray(2, 2 + length);
        buf = buf.subarray(2 + length);
        respond(msg, TCP_MAX_SIZE, via).then(
          (out) => {
            if (socket.destroyed || socket.writableEnded) return;
            if (out === undefined) {
              socket.end();
              return;
            }
            const frame = Buffer.alloc(2 + out.length);
            frame.writeUInt16BE(out.length, 0);
            frame.set(out, 2);
            socket.write(frame);
          },
          (err: unknown) => {
            fail(`${via}: ${message(err)}`);
            socket.destroy();
          },
        );
      }
    });
  }

  const { udp, tcp, port } = await bindBoth(opts.host, opts.port ?? 53, onTcpConnection);
  udp.on('message', (msg, rinfo) => onUdpMessage(udp, msg, rinfo));
  udp.on('error', (err) => fail(`udp: ${err.message}`));
  tcp.on('error', (err) => fail(`tcp: ${err.message}`));
  log(`listening on ${opts.host}:${port} (udp, tcp) for ${domain.join('.')}`);

  let closing: Promise<void> | undefined;
  return {
    host: opts.host,
    port,
    get queries() {
      return queries;
    },
    get errors() {
      return errors;
    },
    close() {
      closing ??= (async () => {
        closed = true;
        for (const s of sockets) s.destroy();
        await Promise.all([new Promise<void>((resolve) => udp.close(() => resolve())), new Promise<void>((resolve) => tcp.close(() => resolve()))]);
      })();
      return closing;
    },
  };
}

/**
 * UDP and TCP on the same port: UDP first (on port 0, the kernel's pick),
 * then TCP on the port UDP got; if that one is taken for TCP, try again
 * with a new pick (only for port 0).
 */
async function bindBoth(host: string, port: number, onConnection: (s: net.Socket) => void): Promise<{ udp: dgram.Socket; tcp: net.Server; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const udp = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(port, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      try {
        udp.close();
      } catch {
        // not running
      }
      throw err;
    }
    const bound = udp.address().port;
    const tcp = net.createServer(onConnection);
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ port: bound, host }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      return { udp, tcp, port: bound };
    } catch (err) {
      udp.close();
      if (port !== 0 || attempt >= BIND_ATTEMPTS || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}
