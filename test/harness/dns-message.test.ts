// The DNS wire format of the harness's cluster DNS server (dns-message.ts):
// query parsing (compression, EDNS, malformed input as typed results) and
// the responses it builds.
import { describe, expect, it } from 'vitest';
import {
  buildErrorResponse,
  buildQuery,
  buildResponse,
  CLASS_IN,
  ipv4Octets,
  parseQuery,
  parseResponse,
  QTYPE,
  RCODE,
  readName,
  UDP_MAX_SIZE,
  type DnsQuery,
  type ParsedQuery,
} from './dns-message.ts';
import { mulberry32 } from './seeded-random.ts';

const HEADER = (fields: { id?: number; flags?: number; qd?: number; an?: number; ns?: number; ar?: number }): number[] => {
  const w = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];
  return [...w(fields.id ?? 0xabcd), ...w(fields.flags ?? 0x0100), ...w(fields.qd ?? 1), ...w(fields.an ?? 0), ...w(fields.ns ?? 0), ...w(fields.ar ?? 0)];
};
const label = (s: string): number[] => [s.length, ...Buffer.from(s, 'latin1')];
const bytes = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());
const A_IN = [0, 1, 0, 1];

function query(parsed: ParsedQuery): DnsQuery {
  if (parsed.kind !== 'query') throw new Error(`expected a query, got ${JSON.stringify(parsed)}`);
  return parsed.query;
}
const kind = (b: Uint8Array): ParsedQuery['kind'] => parseQuery(b).kind;

describe('parseQuery', () => {
  it('parses a standard query, names lower-cased but kept as sent for the echo', () => {
    const q = query(parseQuery(buildQuery({ id: 4242, name: 'Web.Demo.SVC.cluster.local', type: QTYPE.AAAA })));
    expect(q.header).toMatchObject({ id: 4242, qr: false, opcode: 0, rd: true, qdcount: 1 });
    expect(q.question).toMatchObject({ name: 'web.demo.svc.cluster.local', labels: ['web', 'demo', 'svc', 'cluster', 'local'], type: QTYPE.AAAA, class: CLASS_IN });
    expect(Buffer.from(q.question.wireName).toString('latin1')).toBe('\x03Web\x04Demo\x03SVC\x07cluster\x05local\x00');
    expect(q.edns).toBeUndefined();
  });

  it('parses the root name and a trailing dot', () => {
    expect(query(parseQuery(buildQuery({ name: '.' }))).question).toMatchObject({ name: '', labels: [] });
    expect(query(parseQuery(buildQuery({ name: 'a.b.' }))).question.name).toBe('a.b');
  });

  it('lower-cases ASCII only, and keeps a dot inside a label apart in labels', () => {
    const q = query(parseQuery(bytes(HEADER({}), label('\xC0B'), label('x.y'), [0], A_IN))).question;
    expect(q.labels).toEqual(['\xC0b', 'x.y']);
  });

  it('tolerates an EDNS OPT record in the additional section', () => {
    const q = query(parseQuery(buildQuery({ name: 'web.demo.svc.cluster.local', ednsUdpSize: 1232 })));
    expect(q.edns).toEqual({ udpSize: 1232, version: 0 });
    expect(q.question.name).toBe('web.demo.svc.cluster.local');
    // An OPT with options (rdata) and an extra ordinary record are skipped too.
    const opt = [0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 8, 0, 10, 0, 4, 1, 2, 3, 4];
    const other = [0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 5, 0, 2, 1, 0x41];
    const q2 = query(parseQuery(bytes(HEADER({ ar: 2 }), label('a'), [0], A_IN, other, opt)));
    expect(q2.edns).toEqual({ udpSize: 4096, version: 0 });
  });

  it('follows compression pointers, forward or backward', () => {
    // question "web" + pointer to "demo.local" stored after the question
    const tail = [...label('Demo'), ...label('local'), 0];
    const msg = bytes(HEADER({}), label('web'), [0xc0, 12 + 4 + 2 + 4], A_IN, tail);
    expect(query(parseQuery(msg)).question.name).toBe('web.demo.local');
    expect(Buffer.from(query(parseQuery(msg)).question.wireName).toString('latin1')).toBe('\x03web\x04Demo\x05local\x00');
    const name = readName(bytes(HEADER({}), label('a'), [0], label('b'), [0xc0, 12]), 15);
    expect(name).toEqual({ labels: [Uint8Array.from([0x62]), Uint8Array.from([0x61])], end: 19 });
  });

  it('answers FORMERR for malformed names, with a loop guard', () => {
    const formerr = (b: Uint8Array): string => {
      const p = parseQuery(b);
      if (p.kind !== 'formerr') throw new Error(`expected formerr, got ${p.kind}`);
      expect(p.header.id).toBe(0xabcd);
      return p.reason;
    };
    expect(formerr(bytes(HEADER({}), [0xc0, 12], A_IN))).toMatch(/loop/);
    expect(formerr(bytes(HEADER({}), label('a'), [0xc0, 12], A_IN))).toMatch(/loop|255/);
    expect(formerr(bytes(HEADER({}), [0xc0, 200], A_IN))).toMatch(/past the end/);
    expect(formerr(bytes(HEADER({}), [0xc0]))).toMatch(/past the end/);
    expect(formerr(bytes(HEADER({}), [5, 0x61, 0x62]))).toMatch(/past the end/);
    expect(formerr(bytes(HEADER({}), label('a')))).toMatch(/past the end/);
    expect(formerr(bytes(HEADER({}), [0x41, 0], A_IN))).toMatch(/label type 0x40/);
    expect(formerr(bytes(HEADER({}), [0x81, 0], A_IN))).toMatch(/label type 0x80/);
    const long = Array.from({ length: 5 }, () => label('x'.repeat(60))).flat();
    expect(formerr(bytes(HEADER({}), long, [0], A_IN))).toMatch(/255/);
  });

  it('answers FORMERR for a wrong question count, a short question or records', () => {
    expect(kind(bytes(HEADER({ qd: 0 })))).toBe('formerr');
    expect(kind(bytes(HEADER({ qd: 2 }), label('a'), [0], A_IN, label('b'), [0], A_IN))).toBe('formerr');
    expect(kind(bytes(HEADER({}), label('a'), [0], [0, 1, 0]))).toBe('formerr');
    expect(kind(bytes(HEADER({ ar: 1 }), label('a'), [0], A_IN))).toBe('formerr');
    expect(kind(bytes(HEADER({ ar: 1 }), label('a'), [0], A_IN, [0, 0, 41, 2, 0, 0, 0]))).toBe('formerr');
    expect(kind(bytes(HEADER({ ar: 1 }), label('a'), [0], A_IN, [0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 5, 1]))).toBe('formerr');
    const opt = [0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0];
    expect(kind(bytes(HEADER({ ar: 2 }), label('a'), [0], A_IN, opt, opt))).toBe('formerr');
    expect(kind(bytes(HEADER({ an: 1 }), label('a'), [0], A_IN, opt))).toBe('formerr');
    expect(kind(bytes(HEADER({ ar: 1 }), label('a'), [0], A_IN, [...label('x'), ...opt]))).toBe('formerr');
  });

  it('ignores bytes after the last record', () => {
    expect(kind(bytes(HEADER({}), label('a'), [0], A_IN, [1, 2, 3]))).toBe('query');
  });

  it('drops what has no readable header, and responses', () => {
    expect(parseQuery(new Uint8Array(0))).toEqual({ kind: 'drop', reason: 'shorter than a DNS header' });
    expect(kind(new Uint8Array(11))).toBe('drop');
    expect(kind(bytes(HEADER({ flags: 0x8180 }), label('a'), [0], A_IN))).toBe('drop');
  });

  it('answers NOTIMP for opcodes other than QUERY', () => {
    for (const opcode of [1, 2, 4, 5, 15]) {
      const p = parseQuery(bytes(HEADER({ flags: opcode << 11 }), label('a'), [0], A_IN));
      expect(p.kind).toBe('notimp');
    }
  });

  it('never throws on arbitrary bytes or mangled queries', () => {
    const random = mulberry32(1035);
    const base = buildQuery({ name: 'web.demo.svc.cluster.local', ednsUdpSize: 1232 });
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      let b: Uint8Array;
      if (i % 2 === 0) {
        b = Uint8Array.from({ length: Math.floor(random() * 80) }, () => Math.floor(random() * 256));
      } else {
        b = Uint8Array.from(base);
        for (let n = 1 + Math.floor(random() * 4); n > 0; n--) b[Math.floor(random() * b.length)] = Math.floor(random() * 256);
        b = b.subarray(0, Math.floor(random() * (b.length + 1)));
      }
      const p = parseQuery(b);
      seen.add(p.kind);
      if (p.kind === 'query') {
        const r = parseResponse(buildResponse(p.query, { rcode: RCODE.NOERROR, answers: ['10.0.0.1'] }));
        expect(r?.answers[0]?.address).toBe('10.0.0.1');
      }
    }
    expect([...seen].sort()).toEqual(['drop', 'formerr', 'notimp', 'query']);
  });
});

describe('responses', () => {
  const q = query(parseQuery(buildQuery({ id: 7, name: 'Web.demo.svc.cluster.local', ednsUdpSize: 1232 })));

  it('answers A records, TTL 5 s by default, echoing the question as sent', () => {
    const out = buildResponse(q, { rcode: RCODE.NOERROR, answers: ['10.96.0.10', '10.96.0.11'], authoritative: true });
    const r = parseResponse(out);
    expect(r?.header).toMatchObject({ id: 7, qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: false, rcode: 0, qdcount: 1, ancount: 2, nscount: 0, arcount: 0 });
    expect(r?.question).toEqual({ name: 'web.demo.svc.cluster.local', type: QTYPE.A, class: CLASS_IN });
    expect(r?.answers.map((a) => [a.name, a.type, a.class, a.ttl, a.address])).toEqual([
      ['web.demo.svc.cluster.local', QTYPE.A, CLASS_IN, 5, '10.96.0.10'],
      ['web.demo.svc.cluster.local', QTYPE.A, CLASS_IN, 5, '10.96.0.11'],
    ]);
    expect(Buffer.from(out).includes(Buffer.from('\x03Web\x04demo', 'latin1'))).toBe(true);
  });

  it('takes the TTL from the options', () => {
    const r = parseResponse(buildResponse(q, { rcode: RCODE.NOERROR, answers: ['1.2.3.4'], ttl: 70_000 }));
    expect(r?.answers[0]?.ttl).toBe(70_000);
    expect(() => buildResponse(q, { rcode: RCODE.NOERROR, ttl: -1 })).toThrow(RangeError);
  });

  it('answers NODATA, NXDOMAIN and SERVFAIL without answers', () => {
    for (const rcode of [RCODE.NOERROR, RCODE.NXDOMAIN, RCODE.SERVFAIL, RCODE.REFUSED]) {
      const r = parseResponse(buildResponse(q, { rcode }));
      expect(r?.header).toMatchObject({ rcode, aa: false, ancount: 0, qdcount: 1 });
      expect(r?.question?.name).toBe('web.demo.svc.cluster.local');
    }
  });

  it('keeps RD as asked', () => {
    const q2 = query(parseQuery(buildQuery({ name: 'a', rd: false })));
    expect(parseResponse(buildResponse(q2, { rcode: RCODE.NXDOMAIN }))?.header.rd).toBe(false);
  });

  it('truncates (TC, no answers) past maxSize', () => {
    const answers = Array.from({ length: 40 }, (_, i) => `10.0.0.${i}`);
    const out = buildResponse(q, { rcode: RCODE.NOERROR, answers, maxSize: UDP_MAX_SIZE });
    expect(out.length).toBeLessThanOrEqual(UDP_MAX_SIZE);
    expect(parseResponse(out)?.header).toMatchObject({ tc: true, ancount: 0, qdcount: 1 });
    const full = parseResponse(buildResponse(q, { rcode: RCODE.NOERROR, answers }));
    expect(full?.answers).toHaveLength(40);
    expect(full?.header.tc).toBe(false);
  });

  it('refuses to encode something that is not an IPv4 address', () => {
    for (const ip of ['::1', '10.0.0', '10.0.0.256', '10.0.0.01', ' 10.0.0.1', 'None', '']) {
      expect(ipv4Octets(ip)).toBeUndefined();
      expect(() => buildResponse(q, { rcode: RCODE.NOERROR, answers: [ip] })).toThrow(RangeError);
    }
    expect(ipv4Octets('255.0.10.1')).toEqual(Uint8Array.from([255, 0, 10, 1]));
  });

  it('builds header-only FORMERR and NOTIMP responses', () => {
    const p = parseQuery(bytes(HEADER({ id: 99, flags: (2 << 11) | 0x0100 }), label('a'), [0], A_IN));
    if (p.kind !== 'notimp') throw new Error(p.kind);
    const r = parseResponse(buildErrorResponse(p.header, RCODE.NOTIMP));
    expect(r).toEqual({ header: expect.objectContaining({ id: 99, qr: true, opcode: 2, rd: true, rcode: RCODE.NOTIMP, qdcount: 0, ancount: 0 }), question: undefined, answers: [] });
  });
});

describe('buildQuery', () => {
  it('rejects bad names', () => {
    expect(() => buildQuery({ name: 'a..b' })).toThrow(RangeError);
    expect(() => buildQuery({ name: 'x'.repeat(64) })).toThrow(RangeError);
    expect(() => buildQuery({ name: Array.from({ length: 5 }, () => 'x'.repeat(60)).join('.') })).toThrow(RangeError);
  });
});
