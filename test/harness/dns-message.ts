// DNS wire format (RFC 1035) for the test harness's cluster DNS server
// (cluster-dns.ts): parse a query (header, exactly one question; the answer,
// authority and additional sections are skipped, an EDNS OPT record among
// them (RFC 6891) is checked and otherwise ignored) and build the responses
// that server gives: A answers, NOERROR without answers (NODATA), and the
// error codes. Pure: bytes in, bytes or a typed result out; never throws on
// arbitrary input.
//
// Responses carry no OPT record, so a client that sent EDNS must assume the
// plain 512-byte UDP limit (RFC 6891 section 7): `buildResponse` with
// `maxSize` sets TC and drops the answers when they do not fit, and the
// client retries over TCP.

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

export const QTYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

export const CLASS_IN = 1;
export const CLASS_ANY = 255;
/** The opcode of a standard query; any other gets NOTIMP. */
export const OPCODE_QUERY = 0;
/** Largest response over UDP without EDNS (RFC 1035 section 4.2.1). */
export const UDP_MAX_SIZE = 512;
export const DEFAULT_TTL = 5;

const HEADER_SIZE = 12;
const MAX_NAME_OCTETS = 255;
const MAX_POINTER_JUMPS = 64;

export interface DnsHeader {
  id: number;
  /** The 16 flag bits as sent. */
  flags: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export interface DnsQuestion {
  /** Lower-cased (ASCII only), dot-joined, no trailing dot; '' for the root. */
  name: string;
  /** The labels, lower-cased; a label may itself contain a '.', so match on these. */
  labels: string[];
  /** The name as sent (original case), uncompressed wire form, to echo back. */
  wireName: Uint8Array;
  type: number;
  class: number;
}

export interface DnsQuery {
  header: DnsHeader;
  question: DnsQuestion;
  /** Present when the query carried an EDNS OPT record (ignored otherwise). */
  edns?: { udpSize: number; version: number };
}

/**
 * - `query`: a well-formed standard query with one question;
 * - `formerr` / `notimp`: the header is readable, answer with
 *   `buildErrorResponse(header, RCODE.FORMERR | RCODE.NOTIMP)`;
 * - `drop`: no answer at all (shorter than a header, or a response).
 */
export type ParsedQuery =
  | { kind: 'query'; query: DnsQuery }
  | { kind: 'formerr'; header: DnsHeader; reason: string }
  | { kind: 'notimp'; header: DnsHeader }
  | { kind: 'drop'; reason: string };

const u16 = (b: Uint8Array, o: number): number => ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
const u32 = (b: Uint8Array, o: number): number => u16(b, o) * 0x10000 + u16(b, o + 2);

/** ASCII-only lower-casing (DNS names compare case-insensitively in ASCII only). */
function lowerLabel(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  return s;
}

export function parseHeader(b: Uint8Array): DnsHeader | undefined {
  if (b.length < HEADER_SIZE) return undefined;
  const flags = u16(b, 2);
  return {
    id: u16(b, 0),
    flags,
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    qdcount: u16(b, 4),
    ancount: u16(b, 6),
    nscount: u16(b, 8),
    arcount: u16(b, 10),
  };
}

interface ReadName {
  labels: Uint8Array[];
  /** Offset just past the name where it started (past the first pointer, if any). */
  end: number;
}

/** Reads a possibly compressed name at `offset`; a string is the reason it is malformed. */
export function readName(b: Uint8Array, offset: number): ReadName | string {
  const labels: Uint8Array[] = [];
  let pos = offset;
  let end = -1;
  let jumps = 0;
  let octets = 1; // the root label
  for (;;) {
    if (pos >= b.length) return 'name runs past the end of the message';
    const len = b[pos] ?? 0;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      return { labels, end };
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= b.length) return 'compression pointer runs past the end of the message';
      if (end < 0) end = pos + 2;
      if (++jumps > MAX_POINTER_JUMPS) return 'compression pointer loop';
      pos = u16(b, pos) & 0x3fff;
      continue;
    }
    if (kind !== 0) return `unsupported label type 0x${kind.toString(16)}`;
    if (pos + 1 + len > b.length) return 'label runs past the end of the message';
    octets += len + 1;
    if (octets > MAX_NAME_OCTETS) return 'name longer than 255 octets';
    labels.push(b.subarray(pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
}

function wireName(labels: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(labels.reduce((n, l) => n + l.length + 1, 1));
  let o = 0;
  for (const l of labels) {
    out[o++] = l.length;
    out.set(l, o);
    o += l.length;
  }
  out[o] = 0;
  return out;
}

/** Skips one resource record at `offset`: the offset past it, its type and class, or why it is malformed. */
function skipRecord(b: Uint8Array, offset: number): { end: number; type: number; class: number; ttl: number; nameIsRoot: boolean } | string {
  const name = readName(b, offset);
  if (typeof name === 'string') return name;
  const p = name.end;
  if (p + 10 > b.length) return 'record header runs past the end of the message';
  const rdlength = u16(b, p + 8);
  if (p + 10 + rdlength > b.length) return 'record data runs past the end of the message';
  return { end: p + 10 + rdlength, type: u16(b, p), class: u16(b, p + 2), ttl: u32(b, p + 4), nameIsRoot: name.labels.length === 0 };
}

/** Parses a query message; never throws. */
export function parseQuery(b: Uint8Array): ParsedQuery {
  const header = parseHeader(b);
  if (header === undefined) return { kind: 'drop', reason: 'shorter than a DNS header' };
  if (header.qr) return { kind: 'drop', reason: 'a response, not a query' };
  if (header.opcode !== OPCODE_QUERY) return { kind: 'notimp', header };
  if (header.qdcount !== 1) return { kind: 'formerr', header, reason: `${header.qdcount} questions, expected 1` };
  const name = readName(b, HEADER_SIZE);
  if (typeof name === 'string') return { kind: 'formerr', header, reason: name };
  if (name.end + 4 > b.length) return { kind: 'formerr', header, reason: 'question runs past the end of the message' };
  const labels = name.labels.map(lowerLabel);
  const question: DnsQuestion = {
    name: labels.join('.'),
    labels,
    wireName: wireName(name.labels),
    type: u16(b, name.end),
    class: u16(b, name.end + 2),
  };
  const query: DnsQuery = { header, question };
  let pos = name.end + 4;
  const records = header.ancount + header.nscount + header.arcount;
  for (let i = 0; i < records; i++) {
    const rr = skipRecord(b, pos);
    if (typeof rr === 'string') return { kind: 'formerr', header, reason: rr };
    pos = rr.end;
    if (rr.type !== QTYPE.OPT) continue;
    if (i < header.ancount + header.nscount) return { kind: 'formerr', header, reason: 'OPT record outside the additional section' };
    if (query.edns !== undefined) return { kind: 'formerr', header, reason: 'more than one OPT record' };
    if (!rr.nameIsRoot) return { kind: 'formerr', header, reason: 'OPT record with a non-root name' };
    query.edns = { udpSize: rr.class, version: Math.floor(rr.ttl / 0x10000) & 0xff };
  }
  // Bytes after the last record are ignored.
  return { kind: 'query', query };
}

/** The 4 octets of a dotted-quad IPv4 address, or undefined. */
export function ipv4Octets(ip: string): Uint8Array | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

function responseFlags(req: DnsHeader, rcode: Rcode, opts: { aa?: boolean; tc?: boolean }): number {
  return 0x8000 | (req.opcode << 11) | (opts.aa === true ? 0x0400 : 0) | (opts.tc === true ? 0x0200 : 0) | (req.rd ? 0x0100 : 0) | rcode;
}

function writeHeader(out: Uint8Array, id: number, flags: number, qd: number, an: number): void {
  out[0] = id >> 8;
  out[1] = id & 0xff;
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out[4] = qd >> 8;
  out[5] = qd & 0xff;
  out[6] = an >> 8;
  out[7] = an & 0xff;
  // nscount, arcount: 0
}

/** A header-only response (no question echoed): for FORMERR and NOTIMP. */
export function buildErrorResponse(req: DnsHeader, rcode: Rcode): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE);
  writeHeader(out, req.id, responseFlags(req, rcode, {}), 0, 0);
  return out;
}

export interface ResponseOptions {
  rcode: Rcode;
  /** IPv4 addresses, answered as A records for the question's name; only with NOERROR. */
  answers?: readonly string[];
  /** TTL of the answers, in seconds (default 5). */
  ttl?: number;
  /** Set AA (the server is authoritative for the name). */
  authoritative?: boolean;
  /**
   * Largest message allowed (UDP_MAX_SIZE over UDP): when the answers do not
   * fit, they are all left out and TC is set. Default: no limit.
   */
  maxSize?: number;
}

/**
 * A response to `query` echoing its question (as sent, original case) with
 * `answers` as A records (name compressed to the question's). Throws
 * RangeError for an answer that is not an IPv4 address (a caller's bug, not
 * input bytes).
 */
export function buildResponse(query: DnsQuery, opts: ResponseOptions): Uint8Array {
  const ttl = opts.ttl ?? DEFAULT_TTL;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff) throw new RangeError(`bad TTL ${ttl}`);
  const answers = (opts.answers ?? []).map((ip) => {
    const octets = ipv4Octets(ip);
    if (octets === undefined) throw new RangeError(`not an IPv4 address: ${ip}`);
    return octets;
  });
  const q = query.question;
  const questionSize = q.wireName.length + 4;
  let size = HEADER_SIZE + questionSize + answers.length * 16;
  let tc = false;
  if (opts.maxSize !== undefined && size > opts.maxSize) {
    tc = true;
    answers.length = 0;
    size = HEADER_SIZE + questionSize;
  }
  const out = new Uint8Array(size);
  writeHeader(out, query.header.id, responseFlags(query.header, opts.rcode, { aa: opts.authoritative, tc }), 1, answers.length);
  let o = HEADER_SIZE;
  out.set(q.wireName, o);
  o += q.wireName.length;
  o = put16(out, o, q.type);
  o = put16(out, o, q.class);
  for (const a of answers) {
    o = put16(out, o, 0xc000 | HEADER_SIZE); // pointer to the question's name
    o = put16(out, o, QTYPE.A);
    o = put16(out, o, CLASS_IN);
    o = put16(out, o, Math.floor(ttl / 0x10000));
    o = put16(out, o, ttl & 0xffff);
    o = put16(out, o, 4);
    out.set(a, o);
    o += 4;
  }
  return out;
}

function put16(out: Uint8Array, o: number, v: number): number {
  out[o] = (v >> 8) & 0xff;
  out[o + 1] = v & 0xff;
  return o + 2;
}

// --- the client side, for tests ---

export interface QueryOptions {
  id?: number;
  /** Dot-separated, trailing dot optional; case kept as given. */
  name: string;
  type?: number;
  class?: number;
  /** Recursion desired (default true, as stub resolvers send). */
  rd?: boolean;
  /** Add an EDNS OPT record advertising this UDP payload size. */
  ednsUdpSize?: number;
}

/** A query message, as a stub resolver sends it. Throws RangeError for a bad name. */
export function buildQuery(opts: QueryOptions): Uint8Array {
  const trimmed = opts.name.endsWith('.') ? opts.name.slice(0, -1) : opts.name;
  const labels = trimmed === '' ? [] : trimmed.split('.').map((l) => new TextEncoder().encode(l));
  for (const l of labels) if (l.length === 0 || l.length > 63) throw new RangeError(`bad label in ${opts.name}`);
  const name = wireName(labels);
  if (name.length > MAX_NAME_OCTETS) throw new RangeError(`name too long: ${opts.name}`);
  const opt = opts.ednsUdpSize !== undefined;
  const out = new Uint8Array(HEADER_SIZE + name.length + 4 + (opt ? 11 : 0));
  const id = opts.id ?? 0x1234;
  let o = put16(out, 0, id);
  o = put16(out, o, opts.rd === false ? 0 : 0x0100);
  o = put16(out, o, 1);
  o = put16(out, o, 0);
  o = put16(out, o, 0);
  o = put16(out, o, opt ? 1 : 0);
  out.set(name, o);
  o += name.length;
  o = put16(out, o, opts.type ?? QTYPE.A);
  o = put16(out, o, opts.class ?? CLASS_IN);
  if (opts.ednsUdpSize !== undefined) {
    o += 1; // root name
    o = put16(out, o, QTYPE.OPT);
    o = put16(out, o, opts.ednsUdpSize);
    // ttl (extended rcode, version, flags) and rdlength: all 0
  }
  return out;
}

export interface DnsAnswer {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: Uint8Array;
  /** For an A record, the address. */
  address?: string;
}

export interface DnsResponse {
  header: DnsHeader;
  question?: { name: string; type: number; class: number };
  answers: DnsAnswer[];
}

/** Parses a response (header, up to one question, the answer section); undefined if malformed. */
export function parseResponse(b: Uint8Array): DnsResponse | undefined {
  const header = parseHeader(b);
  if (header === undefined || !header.qr || header.qdcount > 1) return undefined;
  let pos = HEADER_SIZE;
  let question: DnsResponse['question'];
  if (header.qdcount === 1) {
    const name = readName(b, pos);
    if (typeof name === 'string' || name.end + 4 > b.length) return undefined;
    question = { name: name.labels.map(lowerLabel).join('.'), type: u16(b, name.end), class: u16(b, name.end + 2) };
    pos = name.end + 4;
  }
  const answers: DnsAnswer[] = [];
  for (let i = 0; i < header.ancount; i++) {
    const name = readName(b, pos);
    const rr = skipRecord(b, pos);
    if (typeof name === 'string' || typeof rr === 'string') return undefined;
    const data = b.subarray(rr.end - u16(b, name.end + 8), rr.end);
    const answer: DnsAnswer = { name: name.labels.map(lowerLabel).join('.'), type: rr.type, class: rr.class, ttl: rr.ttl, data };
    if (rr.type === QTYPE.A && data.length === 4) answer.address = Array.from(data).join('.');
    answers.push(answer);
    pos = rr.end;
  }
  return { header, question, answers };
}
