// The harness's cluster DNS server (cluster-dns.ts) on 127.0.0.1, port 0,
// asked by node:dns's Resolver (c-ares, as a pod's stub resolver would) over
// UDP, and by hand over TCP and UDP, including malformed messages.
import dgram from 'node:dgram';
import net from 'node:net';
import { Resolver } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyName, domainLabels, startClusterDns, type ClusterDns } from './cluster-dns.ts';
import { buildQuery, parseResponse, QTYPE, RCODE, type DnsResponse } from './dns-message.ts';

const MANY = Array.from({ length: 40 }, (_, i) => `10.96.1.${i}`);
const SERVICES: Record<string, string[]> = {
  'demo/web': ['10.96.0.10'],
  'demo/dual': ['fd00::20', '10.96.0.20', '10.96.0.21'],
  'demo/headless': [],
  'demo/many': MANY,
  'kube-system/kube-dns': ['10.96.0.53'],
};

function resolver(port: number): Resolver {
  const r = new Resolver({ timeout: 3000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

/** Sends one datagram; the answer, or undefined if none came within `waitMs`. */
async function udpExchange(port: number, msg: Uint8Array, waitMs = 500): Promise<Buffer | undefined> {
  const sock = dgram.createSocket('udp4');
  try {
    return await new Promise<Buffer | undefined>((resolve, reject) => {
      const timer = setTimeout(() => resolve(undefined), waitMs);
      sock.once('error', reject);
      sock.once('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      sock.send(msg, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

const frame = (msg: Uint8Array): Buffer => {
  const out = Buffer.alloc(2 + msg.length);
  out.writeUInt16BE(msg.length, 0);
  out.set(msg, 2);
  return out;
};

/** Writes `data` over TCP (in `chunk`-byte pieces); the framed responses until `count` came or the server closed. */
async function tcpExchange(port: number, data: Buffer, count: number, chunk = data.length): Promise<{ responses: Buffer[]; closed: boolean }> {
  const sock = net.connect({ port, host: '127.0.0.1' });
  const responses: Buffer[] = [];
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    sock.on('error', reject);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        responses.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (responses.length >= count) {
        sock.destroy();
        resolve({ responses, closed: false });
      }
    });
    sock.on('close', () => resolve({ responses, closed: true }));
    sock.on('connect', () => {
      void (async () => {
        for (let o = 0; o < data.length; o += chunk) {
          sock.write(data.subarray(o, o + chunk));
          if (chunk < data.length) await new Promise((r) => setTimeout(r, 2));
        }
      })();
    });
  });
}

const parsed = (b: Buffer | undefined): DnsResponse => {
  const r = b === undefined ? undefined : parseResponse(b);
  if (r === undefined) throw new Error('no parseable response');
  return r;
};

describe('classifyName', () => {
  const domain = domainLabels('Cluster.Local.');
  it('recognises <svc>.<ns>.svc.<domain> and nothing else', () => {
    const c = (name: string): ReturnType<typeof classifyName> => classifyName(name === '' ? [] : name.split('.'), domain);
    expect(domain).toEqual(['cluster', 'local']);
    expect(c('web.demo.svc.cluster.local')).toEqual({ kind: 'service', namespace: 'demo', name: 'web' });
    expect(c('web.0demo.svc.cluster.local')).toEqual({ kind: 'service', namespace: '0demo', name: 'web' });
    for (const name of ['demo.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'x.web.demo.svc.cluster.local', 'web.demo.pod.cluster.local', '0web.demo.svc.cluster.local', 'we_b.demo.svc.cluster.local', 'web-.demo.svc.cluster.local', 'web.de/mo.svc.cluster.local']) {
      expect(c(name), name).toEqual({ kind: 'nxdomain', inDomain: true });
    }
    for (const name of ['', 'local', 'example.com', 'web.demo.svc.cluster.localx', 'web.demo.svc.other.local']) {
      expect(c(name), name).toEqual({ kind: 'nxdomain', inDomain: false });
    }
    expect(() => domainLabels('a..b')).toThrow(RangeError);
  });
});

describe('cluster DNS server', () => {
  let dns: ClusterDns;
  const calls: string[] = [];
  const logs: string[] = [];

  beforeAll(async () => {
    dns = await startClusterDns({
      host: '127.0.0.1',
      port: 0,
      resolveTimeoutMs: 300,
      log: (line) => logs.push(line),
      resolveService: async (namespace, name) => {
        calls.push(`${namespace}/${name}`);
        if (name === 'broken') throw new Error('apiserver down');
        if (name === 'slow') return new Promise<never>(() => {});
        await new Promise((r) => setTimeout(r, 1));
        return SERVICES[`${namespace}/${name}`];
      },
    });
  });
  afterAll(async () => {
    await dns.close();
  });

  it('listens on a port of its own, UDP and TCP', () => {
    expect(dns.host).toBe('127.0.0.1');
    expect(dns.port).toBeGreaterThan(0);
    expect(logs[0]).toBe(`cluster-dns: listening on 127.0.0.1:${dns.port} (udp, tcp) for cluster.local`);
  });

  it('answers the ClusterIP of a service, TTL 5 s, case-insensitively', async () => {
    const r = resolver(dns.port);
    expect(await r.resolve4('web.demo.svc.cluster.local', { ttl: true })).toEqual([{ address: '10.96.0.10', ttl: 5 }]);
    expect(await r.resolve4('WEB.Demo.svc.Cluster.LOCAL')).toEqual(['10.96.0.10']);
    expect(await r.resolve4('kube-dns.kube-system.svc.cluster.local.')).toEqual(['10.96.0.53']);
    expect(calls).toContain('demo/web');
    expect(calls).not.toContain('Demo/WEB');
  });

  it('answers the IPv4 ClusterIPs of a dual-stack service, NODATA for AAAA and other types', async () => {
    const r = resolver(dns.port);
    expect((await r.resolve4('dual.demo.svc.cluster.local')).sort()).toEqual(['10.96.0.20', '10.96.0.21']);
    expect(await errorCode(r.resolve6('dual.demo.svc.cluster.local'))).toBe('ENODATA');
    expect(await errorCode(r.resolve6('web.demo.svc.cluster.local'))).toBe('ENODATA');
    expect(await errorCode(r.resolveTxt('web.demo.svc.cluster.local'))).toBe('ENODATA');
    expect(await errorCode(r.resolveSrv('web.demo.svc.cluster.local'))).toBe('ENODATA');
    expect(await errorCode(r.resolve4('headless.demo.svc.cluster.local'))).toBe('ENODATA');
  });

  it('answers NXDOMAIN for unknown services, other names in the domain, and names outside it', async () => {
    const r = resolver(dns.port);
    const before = calls.length;
    expect(await errorCode(r.resolve4('nope.demo.svc.cluster.local'))).toBe('ENOTFOUND');
    expect(await errorCode(r.resolve6('nope.demo.svc.cluster.local'))).toBe('ENOTFOUND');
    expect(calls.slice(before)).toEqual(['demo/nope', 'demo/nope']);
    for (const name of ['demo.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'web.demo.demo.svc.cluster.local', 'web.demo.svc.cluster.local.demo.svc.cluster.local', 'we_b.demo.svc.cluster.local', 'example.com', 'web.demo', 'localhost']) {
      expect(await errorCode(r.resolve4(name)), name).toBe('ENOTFOUND');
    }
    expect(calls.slice(before)).toEqual(['demo/nope', 'demo/nope']);
  });

  it('answers SERVFAIL when the services cannot be read, and keeps going', async () => {
    const r = resolver(dns.port);
    const errors = dns.errors;
    expect(await errorCode(r.resolve4('broken.demo.svc.cluster.local'))).toBe('ESERVFAIL');
    expect(await errorCode(r.resolve4('slow.demo.svc.cluster.local'))).toBe('ESERVFAIL');
    expect(dns.errors).toBe(errors + 2);
    expect(logs.some((l) => /SERVFAIL: resolving service demo\/broken: apiserver down/.test(l))).toBe(true);
    expect(logs.some((l) => /SERVFAIL: resolving service demo\/slow: no answer within 300 ms/.test(l))).toBe(true);
    expect(await r.resolve4('web.demo.svc.cluster.local')).toEqual(['10.96.0.10']);
  });

  it('truncates a UDP answer past 512 bytes, and the client gets it all over TCP', async () => {
    const udp = parsed(await udpExchange(dns.port, buildQuery({ id: 1, name: 'many.demo.svc.cluster.local', ednsUdpSize: 4096 })));
    expect(udp.header).toMatchObject({ id: 1, tc: true, rcode: RCODE.NOERROR, ancount: 0, arcount: 0 });
    expect((await resolver(dns.port).resolve4('many.demo.svc.cluster.local')).sort()).toEqual([...MANY].sort());
    expect(logs.some((l) => /^cluster-dns: tcp 127\.0\.0\.1:\d+: many\.demo\.svc\.cluster\.local type 1: 10\.96\.1\.0 /.test(l))).toBe(true);
  });

  it('answers over TCP, queries pipelined and split across writes', async () => {
    const q = (id: number, name: string, type: number = QTYPE.A): Buffer => frame(buildQuery({ id, name, type }));
    const data = Buffer.concat([q(11, 'web.demo.svc.cluster.local'), q(12, 'nope.demo.svc.cluster.local'), q(13, 'web.demo.svc.cluster.local', QTYPE.AAAA), q(14, 'broken.demo.svc.cluster.local'), q(15, 'example.com'), q(16, 'web.demo.svc.cluster.local', QTYPE.ANY)]);
    for (const chunk of [data.length, 7, 1]) {
      const { responses } = await tcpExchange(dns.port, data, 6, chunk);
      const byId = new Map(responses.map((b) => parsed(b)).map((r) => [r.header.id, r]));
      expect(byId.get(11)?.answers.map((a) => [a.address, a.ttl])).toEqual([['10.96.0.10', 5]]);
      expect(byId.get(11)?.header).toMatchObject({ rcode: RCODE.NOERROR, aa: true, qdcount: 1 });
      expect(byId.get(12)?.header).toMatchObject({ rcode: RCODE.NXDOMAIN, aa: true, ancount: 0 });
      expect(byId.get(13)?.header).toMatchObject({ rcode: RCODE.NOERROR, ancount: 0 });
      expect(byId.get(14)?.header.rcode).toBe(RCODE.SERVFAIL);
      expect(byId.get(15)?.header).toMatchObject({ rcode: RCODE.NXDOMAIN, aa: false });
      expect(byId.get(16)?.answers.map((a) => a.address)).toEqual(['10.96.0.10']);
    }
  });

  it('answers FORMERR or closes the connection for malformed TCP messages', async () => {
    const headerOnly = Uint8Array.from([0, 42, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const formerr = await tcpExchange(dns.port, frame(headerOnly), 1);
    expect(parsed(formerr.responses[0]).header).toMatchObject({ id: 42, qr: true, rcode: RCODE.FORMERR });
    const garbage = await tcpExchange(dns.port, frame(Uint8Array.from([1, 2, 3, 4, 5])), 1);
    expect(garbage).toEqual({ responses: [], closed: true });
    expect(await resolver(dns.port).resolve4('web.demo.svc.cluster.local')).toEqual(['10.96.0.10']);
  });

  it('drops or FORMERRs malformed UDP packets and keeps answering', async () => {
    const queries = dns.queries;
    const errors = dns.errors;
    const garbage = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff));
    garbage[2] = 0xff; // QR: a "response", dropped
    expect(await udpExchange(dns.port, garbage, 200)).toBeUndefined();
    expect(await udpExchange(dns.port, Buffer.from('hello'), 200)).toBeUndefined();
    expect(await udpExchange(dns.port, new Uint8Array(0), 200)).toBeUndefined();
    const loop = Uint8Array.from([0, 43, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
    expect(parsed(await udpExchange(dns.port, loop)).header).toMatchObject({ id: 43, rcode: RCODE.FORMERR, qdcount: 0 });
    const status = Uint8Array.from([0, 44, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parsed(await udpExchange(dns.port, status)).header).toMatchObject({ id: 44, opcode: 2, rcode: RCODE.NOTIMP });
    const response = Uint8Array.from(buildQuery({ id: 45, name: 'web.demo.svc.cluster.local' }));
    response[2] = (response[2] ?? 0) | 0x80;
    expect(await udpExchange(dns.port, response, 200)).toBeUndefined();
    const chaos = buildQuery({ id: 46, name: 'version.bind', type: QTYPE.TXT, class: 3 });
    expect(parsed(await udpExchange(dns.port, chaos)).header).toMatchObject({ id: 46, rcode: RCODE.REFUSED });
    expect(dns.queries).toBe(queries + 7);
    expect(dns.errors).toBe(errors + 5);
    expect(await resolver(dns.port).resolve4('web.demo.svc.cluster.local')).toEqual(['10.96.0.10']);
  });

  it('refuses to start on a port already taken', async () => {
    await expect(startClusterDns({ host: '127.0.0.1', port: dns.port, resolveService: () => Promise.resolve(undefined) })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe('cluster DNS server options', () => {
  it('serves another domain with another TTL, and closes (twice)', async () => {
    const dns = await startClusterDns({ host: '127.0.0.1', port: 0, domain: 'Example.Test.', ttl: 30, resolveService: (ns, name) => Promise.resolve(ns === 'a' && name === 'b' ? ['10.0.0.1'] : undefined) });
    const r = resolver(dns.port);
    expect(await r.resolve4('b.a.svc.example.test', { ttl: true })).toEqual([{ address: '10.0.0.1', ttl: 30 }]);
    expect(await errorCode(r.resolve4('b.a.svc.cluster.local'))).toBe('ENOTFOUND');
    expect(dns.queries).toBe(2);
    expect(dns.errors).toBe(0);
    await Promise.all([dns.close(), dns.close()]);
    await dns.close();
    expect(await udpExchange(dns.port, buildQuery({ name: 'b.a.svc.example.test' }), 200)).toBeUndefined();
  });
});
