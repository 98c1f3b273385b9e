// Route matching: the first stage of the outbound request path.
//
// compileRoutes() runs once per config snapshot: it validates every match and
// turns it into ready-to-run matchers (regexes compiled and anchored, prefixes
// normalised, methods and header names case-folded). matchRoute() runs on
// every request and only reads that precompiled data.
//
// Semantics (mesh.proto, Route / HttpMatch):
// - routes are ordered; the first route one of whose matches accepts wins;
// - a route with no matches accepts every request;
// - within one match, path, methods and headers must all hold;
// - path: exact, segment-aware prefix ("/api" matches "/api", "/api/",
//   "/api/x", not "/apix"; a trailing slash on the prefix is ignored, so "/"
//   matches everything) or regex anchored at both ends; the query string and
//   fragment are not part of the matched path;
// - methods: any of the listed, case-insensitive; empty accepts any;
// - headers: all must hold; names are case-insensitive; a header that is
//   absent fails its matcher; a multi-value header is matched against its
//   values joined with ", ".

import type { HeaderMatch, HttpMatch, PathMatch, Route } from '../../proto/mesh.ts';
import { WeftError } from '../../proto/errors.ts';

/** Request headers as Node gives them: lower-case names. */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** What route matching looks at. */
export interface RouteRequest {
  /** Request target: origin-form ("/a/b?q") or absolute-form ("http://h/a/b?q"). */
  readonly path: string;
  readonly method: string;
  readonly headers: RequestHeaders;
}

export type CompiledPathMatch =
  | { readonly kind: 'exact'; readonly value: string }
  /** `value` is the prefix without trailing slashes; "" matches every path. */
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'regex'; readonly regex: RegExp };

export type CompiledHeaderMatch =
  | { readonly name: string; readonly kind: 'exact'; readonly value: string }
  | { readonly name: string; readonly kind: 'regex'; readonly regex: RegExp };

export interface CompiledMatch {
  readonly path: CompiledPathMatch | undefined;
  /** Upper-case; undefined: any method. */
  readonly methods: ReadonlySet<string> | undefined;
  readonly headers: readonly CompiledHeaderMatch[];
}

export interface CompiledRoute {
  /** The route as configured. */
  readonly route: Route;
  /** Position in the service's route list. */
  readonly index: number;
  /** Empty: the route accepts every request. */
  readonly matches: readonly CompiledMatch[];
}

/**
 * Validates and precompiles a service's ordered routes.
 * Throws WeftError WEFT_ERR_CONFIG_INVALID naming the route and the field.
 * `where` (e.g. "service web.demo") prefixes error messages.
 */
export function compileRoutes(routes: readonly Route[], where?: string): CompiledRoute[] {
  const prefix = where ? `${where}: ` : '';
  return routes.map((route, index) => {
    const label = `${prefix}route ${route.name ? JSON.stringify(route.name) : `#${index}`}`;
    const matches = (route.matches ?? []).map((m, i) => compileMatch(m, `${label}: matches[${i}]`));
    return { route, index, matches };
  });
}

/** The first route that accepts the request, or undefined (no route: 404). */
export function matchRoute(
  compiled: readonly CompiledRoute[],
  req: RouteRequest,
): CompiledRoute | undefined {
  // Computed lazily: only path matchers need it.
  let path: string | undefined;
  for (const route of compiled) {
    const matches = route.matches;
    if (matches.length === 0) return route;
    for (const m of matches) {
      if (m.methods !== undefined && !methodMatches(m.methods, req.method)) continue;
      if (m.path !== undefined) {
        path ??= requestPath(req.path);
        if (!pathMatches(m.path, path)) continue;
      }
      if (!headersMatch(m.headers, req.headers)) continue;
      return route;
    }
  }
  return undefined;
}

/**
 * The path part of a request target: without query string and fragment, and
 * without scheme and authority for an absolute-form target. "" becomes "/".
 */
export function requestPath(target: string): string {
  let start = 0;
  if (target.charCodeAt(0) !== 0x2f /* '/' */) {
    const scheme = target.indexOf('://');
    if (scheme !== -1) {
      const slash = target.indexOf('/', scheme + 3);
      const q = target.indexOf('?', scheme + 3);
      const h = target.indexOf('#', scheme + 3);
      const end = minIndex(minIndex(slash, q), h);
      if (end === -1 || end !== slash) return '/';
      start = slash;
    }
  }
  const end = minIndex(target.indexOf('?', start), target.indexOf('#', start));
  if (start === 0 && end === -1) return target === '' ? '/' : target;
  const p = target.slice(start, end === -1 ? undefined : end);
  return p === '' ? '/' : p;
}

function minIndex(a: number, b: number): number {
  if (a === -1) return b;
  if (b === -1) return a;
  return a < b ? a : b;
}

function methodMatches(methods: ReadonlySet<string>, method: string): boolean {
  return methods.has(method) || methods.has(method.toUpperCase());
}

function pathMatches(m: CompiledPathMatch, path: string): boolean {
  switch (m.kind) {
    case 'exact':
      return path === m.value;
    case 'prefix': {
      const p = m.value;
      if (p.length === 0) return true;
      if (!path.startsWith(p)) return false;
      // Segment boundary: end of path or a '/' right after the prefix.
      return path.length === p.length || path.charCodeAt(p.length) === 0x2f;
    }
    case 'regex':
      return m.regex.test(path);
  }
}

function headersMatch(matchers: readonly CompiledHeaderMatch[], headers: RequestHeaders): boolean {
  for (const h of matchers) {
    const raw = headers[h.name];
    if (raw === undefined) return false;
    const value = typeof raw === 'string' ? raw : raw.join(', ');
    if (h.kind === 'exact' ? value !== h.value : !h.regex.test(value)) return false;
  }
  return true;
}

// --- compilation -----------------------------------------------------------

function invalid(message: string, cause?: unknown): WeftError {
  return new WeftError('WEFT_ERR_CONFIG_INVALID', message, cause === undefined ? undefined : { cause });
}

function compileMatch(m: HttpMatch, label: string): CompiledMatch {
  const path = m.path === undefined || m.path === null ? undefined : compilePath(m.path, `${label}.path`);
  const methodList = m.methods ?? [];
  let methods: Set<string> | undefined;
  if (methodList.length > 0) {
    methods = new Set();
    methodList.forEach((method, i) => {
      if (typeof method !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(method)) {
        throw invalid(`${label}.methods[${i}]: invalid HTTP method ${JSON.stringify(method)}`);
      }
      methods!.add(method.toUpperCase());
    });
  }
  const headers = (m.headers ?? []).map((h, i) => compileHeader(h, `${label}.headers[${i}]`));
  return { path, methods, headers };
}

/** The one string-valued key among `keys` set on a oneof object, if exactly one is. */
function oneof<K extends string>(
  obj: object,
  keys: readonly K[],
  label: string,
): { kind: K; value: string } | undefined {
  let found: { kind: K; value: string } | undefined;
  const rec = obj as Record<string, unknown>;
  for (const k of keys) {
    const v = rec[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw invalid(`${label}.${k}: must be a string`);
    if (found) throw invalid(`${label}: set only one of ${keys.join(', ')} (got ${found.kind} and ${k})`);
    found = { kind: k, value: v };
  }
  return found;
}

function compilePath(p: PathMatch, label: string): CompiledPathMatch | undefined {
  const set = oneof(p, ['exact', 'prefix', 'regex'] as const, label);
  // An empty PathMatch (no oneof member set) places no constraint on the path.
  if (set === undefined) return undefined;
  switch (set.kind) {
    case 'exact':
      if (!set.value.startsWith('/')) throw invalid(`${label}.exact: must start with "/" (got ${JSON.stringify(set.value)})`);
      return { kind: 'exact', value: set.value };
    case 'prefix': {
      if (!set.value.startsWith('/')) throw invalid(`${label}.prefix: must start with "/" (got ${JSON.stringify(set.value)})`);
      let end = set.value.length;
      while (end > 0 && set.value.charCodeAt(end - 1) === 0x2f) end--;
      return { kind: 'prefix', value: set.value.slice(0, end) };
    }
    case 'regex':
      return { kind: 'regex', regex: compileAnchored(set.value, `${label}.regex`) };
  }
}

function compileHeader(h: HeaderMatch, label: string): CompiledHeaderMatch {
  if (typeof h.name !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(h.name)) {
    throw invalid(`${label}.name: invalid header name ${JSON.stringify(h.name)}`);
  }
  const name = h.name.toLowerCase();
  const set = oneof(h, ['exact', 'regex'] as const, label);
  if (set === undefined) throw invalid(`${label}: header ${JSON.stringify(h.name)} needs exact or regex`);
  if (set.kind === 'exact') return { name, kind: 'exact', value: set.value };
  return { name, kind: 'regex', regex: compileAnchored(set.value, `${label}.regex`) };
}

/**
 * Compiles `source` anchored at both ends. The source is first compiled on its
 * own so that it cannot escape the anchoring group (e.g. "a)|(b").
 */
function compileAnchored(source: string, label: string): RegExp {
  try {
    new RegExp(source);
    return new RegExp(`^(?:${source})$`);
  } catch (err) {
    throw invalid(`${label}: invalid regular expression ${JSON.stringify(source)}: ${(err as Error).message}`, err);
  }
}
