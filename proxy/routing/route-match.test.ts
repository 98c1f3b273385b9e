import { describe, expect, it } from 'vitest';
import type { HttpMatch, Route } from '../../proto/mesh.ts';
import { WeftError } from '../../proto/errors.ts';
import { compileRoutes, matchRoute, requestPath, type RequestHeaders } from './route-match.ts';

function route(name: string, ...matches: Partial<HttpMatch>[]): Route {
  return {
    name,
    matches: matches.map((m) => ({ methods: [], headers: [], ...m })),
    backends: [],
    timeoutMs: 0,
  };
}

function req(path: string, method = 'GET', headers: RequestHeaders = {}) {
  return { path, method, headers };
}

/** Name of the matched route, or undefined. */
function matched(routes: Route[], r: ReturnType<typeof req>): string | undefined {
  return matchRoute(compileRoutes(routes), r)?.route.name;
}

function compileError(routes: Route[]): WeftError {
  try {
    compileRoutes(routes, 'service web.demo');
  } catch (err) {
    expect(err).toBeInstanceOf(WeftError);
    return err as WeftError;
  }
  throw new Error('expected compileRoutes to throw');
}

describe('matchRoute: order and empty matches', () => {
  it('returns the first route whose matches accept, keeping the original Route', () => {
    const a = route('a', { path: { prefix: '/api' } });
    const b = route('b', { path: { prefix: '/' } });
    const compiled = compileRoutes([a, b]);
    const hit = matchRoute(compiled, req('/api/users'));
    expect(hit?.route).toBe(a);
    expect(hit?.index).toBe(0);
    expect(matchRoute(compiled, req('/other'))?.route).toBe(b);
  });

  it('a route with no matches accepts every request, and shadows later routes', () => {
    expect(matched([route('all'), route('never-reached', { path: { prefix: '/' } })], req('/x', 'DELETE'))).toBe('all');
  });

  it('no route accepting the request -> undefined', () => {
    expect(matched([route('a', { path: { exact: '/a' } })], req('/b'))).toBeUndefined();
    expect(matchRoute([], req('/'))).toBeUndefined();
  });

  it('a route accepts when any one of its matches accepts', () => {
    const r = route('multi', { path: { exact: '/a' } }, { path: { exact: '/b' } });
    expect(matched([r], req('/a'))).toBe('multi');
    expect(matched([r], req('/b'))).toBe('multi');
    expect(matched([r], req('/c'))).toBeUndefined();
  });

  it('within one match, path, method and headers must all hold', () => {
    const r = route('all-of', { path: { prefix: '/api' }, methods: ['POST'], headers: [{ name: 'x-v', exact: '2' }] });
    expect(matched([r], req('/api', 'POST', { 'x-v': '2' }))).toBe('all-of');
    expect(matched([r], req('/web', 'POST', { 'x-v': '2' }))).toBeUndefined();
    expect(matched([r], req('/api', 'GET', { 'x-v': '2' }))).toBeUndefined();
    expect(matched([r], req('/api', 'POST', { 'x-v': '1' }))).toBeUndefined();
  });

  it('a match with only methods / only headers leaves the path free', () => {
    expect(matched([route('m', { methods: ['GET'] })], req('/anything/at/all'))).toBe('m');
    expect(matched([route('h', { headers: [{ name: 'x', exact: 'y' }] })], req('/z', 'GET', { x: 'y' }))).toBe('h');
  });
});

describe('matchRoute: path', () => {
  it('exact matches the whole path only', () => {
    const r = [route('e', { path: { exact: '/api' } })];
    expect(matched(r, req('/api'))).toBe('e');
    expect(matched(r, req('/api/'))).toBeUndefined();
    expect(matched(r, req('/api/x'))).toBeUndefined();
    expect(matched(r, req('/ap'))).toBeUndefined();
  });

  it('prefix is segment-aware', () => {
    const r = [route('p', { path: { prefix: '/api' } })];
    expect(matched(r, req('/api'))).toBe('p');
    expect(matched(r, req('/api/'))).toBe('p');
    expect(matched(r, req('/api/x/y'))).toBe('p');
    expect(matched(r, req('/apix'))).toBeUndefined();
    expect(matched(r, req('/ap'))).toBeUndefined();
    expect(matched(r, req('/v1/api'))).toBeUndefined();
  });

  it('a trailing slash on the prefix is ignored', () => {
    const r = [route('p', { path: { prefix: '/api/' } })];
    expect(matched(r, req('/api'))).toBe('p');
    expect(matched(r, req('/api/x'))).toBe('p');
    expect(matched(r, req('/apix'))).toBeUndefined();
  });

  it('prefix "/" matches every path', () => {
    const r = [route('root', { path: { prefix: '/' } })];
    for (const p of ['/', '/a', '/a/b', '/?q=1']) expect(matched(r, req(p))).toBe('root');
  });

  it('regex is anchored at both ends', () => {
    const r = [route('re', { path: { regex: '/users/[0-9]+' } })];
    expect(matched(r, req('/users/42'))).toBe('re');
    expect(matched(r, req('/users/42/posts'))).toBeUndefined();
    expect(matched(r, req('/v1/users/42'))).toBeUndefined();
    expect(matched(r, req('/users/'))).toBeUndefined();
  });

  it('an alternation in a regex stays inside the anchors', () => {
    const r = [route('alt', { path: { regex: '/a|/b' } })];
    expect(matched(r, req('/a'))).toBe('alt');
    expect(matched(r, req('/b'))).toBe('alt');
    expect(matched(r, req('/a/x'))).toBeUndefined();
    expect(matched(r, req('/x/b'))).toBeUndefined();
  });

  it('the query string and fragment are not part of the path', () => {
    expect(matched([route('e', { path: { exact: '/search' } })], req('/search?q=/x'))).toBe('e');
    expect(matched([route('e', { path: { exact: '/search' } })], req('/search#top'))).toBe('e');
    expect(matched([route('p', { path: { prefix: '/api' } })], req('/apix?x=/api/'))).toBeUndefined();
    expect(matched([route('re', { path: { regex: '/a' } })], req('/a?b'))).toBe('re');
  });

  it('absolute-form targets (explicit HTTP proxy) match on their path', () => {
    const r = [route('p', { path: { prefix: '/api' } })];
    expect(matched(r, req('http://web.demo:8080/api/x?y=1'))).toBe('p');
    expect(matched(r, req('http://web.demo/apix'))).toBeUndefined();
  });

  it('an empty PathMatch places no constraint', () => {
    expect(matched([route('any', { path: {} as never })], req('/x'))).toBe('any');
  });
});

describe('requestPath', () => {
  it.each([
    ['/a/b', '/a/b'],
    ['/a/b?x=1', '/a/b'],
    ['/a#f', '/a'],
    ['/?x', '/'],
    ['', '/'],
    ['http://h:1/p/q?x', '/p/q'],
    ['http://h', '/'],
    ['http://h?x=/y', '/'],
    ['https://[::1]:8443/z', '/z'],
    ['*', '*'],
  ])('%j -> %j', (input, want) => {
    expect(requestPath(input)).toBe(want);
  });
});

describe('matchRoute: methods', () => {
  it('accepts any listed method, case-insensitively', () => {
    const r = [route('rw', { methods: ['get', 'PUT'] })];
    expect(matched(r, req('/', 'GET'))).toBe('rw');
    expect(matched(r, req('/', 'put'))).toBe('rw');
    expect(matched(r, req('/', 'Get'))).toBe('rw');
    expect(matched(r, req('/', 'POST'))).toBeUndefined();
  });

  it('an empty method list accepts any method', () => {
    expect(matched([route('any', { methods: [] })], req('/', 'PATCH'))).toBe('any');
  });
});

describe('matchRoute: headers', () => {
  it('header names are case-insensitive (request headers arrive lower-case)', () => {
    const r = [route('h', { headers: [{ name: 'X-Canary', exact: 'true' }] })];
    expect(matched(r, req('/', 'GET', { 'x-canary': 'true' }))).toBe('h');
  });

  it('exact values are case-sensitive and must be whole', () => {
    const r = [route('h', { headers: [{ name: 'x-canary', exact: 'true' }] })];
    expect(matched(r, req('/', 'GET', { 'x-canary': 'TRUE' }))).toBeUndefined();
    expect(matched(r, req('/', 'GET', { 'x-canary': 'true1' }))).toBeUndefined();
  });

  it('an absent header fails its matcher, even one that would accept ""', () => {
    const r = [route('h', { headers: [{ name: 'x-a', regex: '.*' }] })];
    expect(matched(r, req('/', 'GET', {}))).toBeUndefined();
    expect(matched(r, req('/', 'GET', { 'x-a': undefined }))).toBeUndefined();
    expect(matched(r, req('/', 'GET', { 'x-a': '' }))).toBe('h');
  });

  it('regex values are anchored at both ends', () => {
    const r = [route('h', { headers: [{ name: 'user-agent', regex: 'curl/[0-9.]+' }] })];
    expect(matched(r, req('/', 'GET', { 'user-agent': 'curl/8.5.0' }))).toBe('h');
    expect(matched(r, req('/', 'GET', { 'user-agent': 'not curl/8.5.0' }))).toBeUndefined();
    expect(matched(r, req('/', 'GET', { 'user-agent': 'curl/8.5.0 extra' }))).toBeUndefined();
  });

  it('all header matchers must hold', () => {
    const r = [
      route('h', {
        headers: [
          { name: 'a', exact: '1' },
          { name: 'b', exact: '2' },
        ],
      }),
    ];
    expect(matched(r, req('/', 'GET', { a: '1', b: '2' }))).toBe('h');
    expect(matched(r, req('/', 'GET', { a: '1' }))).toBeUndefined();
    expect(matched(r, req('/', 'GET', { a: '1', b: '3' }))).toBeUndefined();
  });

  it('multi-value headers are matched joined with ", "', () => {
    const exact = [route('e', { headers: [{ name: 'x-tag', exact: 'a, b' }] })];
    expect(matched(exact, req('/', 'GET', { 'x-tag': ['a', 'b'] }))).toBe('e');
    expect(matched(exact, req('/', 'GET', { 'x-tag': ['a'] }))).toBeUndefined();
    const re = [route('r', { headers: [{ name: 'x-tag', regex: '.*\\bb\\b.*' }] })];
    expect(matched(re, req('/', 'GET', { 'x-tag': ['a', 'b', 'c'] }))).toBe('r');
  });
});

describe('compileRoutes: validation', () => {
  it('an invalid path regex is WEFT_ERR_CONFIG_INVALID naming the route and field', () => {
    const err = compileError([route('ok'), route('broken', { path: { prefix: '/' } }, { path: { regex: '/a(' } })]);
    expect(err.code).toBe('WEFT_ERR_CONFIG_INVALID');
    expect(err.message).toContain('service web.demo');
    expect(err.message).toContain('"broken"');
    expect(err.message).toContain('matches[1].path.regex');
  });

  it('an invalid header regex names the header matcher', () => {
    const err = compileError([route('hdr', { headers: [{ name: 'x', exact: 'y' }, { name: 'z', regex: '[' }] })]);
    expect(err.code).toBe('WEFT_ERR_CONFIG_INVALID');
    expect(err.message).toContain('"hdr"');
    expect(err.message).toContain('matches[0].headers[1].regex');
  });

  it('a regex that would escape its anchors is rejected, not silently unanchored', () => {
    const err = compileError([route('escape', { path: { regex: '/a)|(.*' } })]);
    expect(err.code).toBe('WEFT_ERR_CONFIG_INVALID');
  });

  it('a path match with two kinds set is invalid', () => {
    const err = compileError([route('two', { path: { exact: '/a', prefix: '/b' } as never })]);
    expect(err.code).toBe('WEFT_ERR_CONFIG_INVALID');
    expect(err.message).toContain('matches[0].path');
  });

  it('exact and prefix paths must start with "/"', () => {
    expect(compileError([route('p', { path: { prefix: 'api' } })]).message).toContain('path.prefix');
    expect(compileError([route('e', { path: { exact: '' } })]).message).toContain('path.exact');
  });

  it('a header match needs a name and exact or regex', () => {
    expect(compileError([route('h', { headers: [{ name: '', exact: 'x' }] })]).message).toContain('headers[0].name');
    expect(compileError([route('h', { headers: [{ name: 'x' } as never] })]).message).toContain('headers[0]');
  });

  it('an invalid method token is rejected', () => {
    expect(compileError([route('m', { methods: ['GET POST'] })]).message).toContain('methods[0]');
  });

  it('an unnamed route is named by its index', () => {
    expect(compileError([route('a'), route('', { path: { regex: '(' } })]).message).toContain('route #1');
  });

  it('tolerates matches / methods / headers omitted in a config file', () => {
    const r = { name: 'loose', backends: [], timeoutMs: 0 } as unknown as Route;
    const withMatch = { name: 'm', matches: [{ path: { prefix: '/x' } }], backends: [], timeoutMs: 0 } as unknown as Route;
    const compiled = compileRoutes([withMatch, r]);
    expect(matchRoute(compiled, req('/x/1'))?.route.name).toBe('m');
    expect(matchRoute(compiled, req('/y'))?.route.name).toBe('loose');
  });

  it('precompiles: matching does not construct RegExps', () => {
    const compiled = compileRoutes([route('re', { path: { regex: '/u/[0-9]+' }, headers: [{ name: 'x', regex: 'a+' }] })]);
    const Original = globalThis.RegExp;
    let constructed = 0;
    globalThis.RegExp = new Proxy(Original, {
      construct(target, args) {
        constructed++;
        return Reflect.construct(target, args);
      },
    });
    try {
      for (let i = 0; i < 100; i++) matchRoute(compiled, req(`/u/${i}?q`, 'GET', { x: 'aaa' }));
    } finally {
      globalThis.RegExp = Original;
    }
    expect(constructed).toBe(0);
    expect(matchRoute(compiled, req('/u/7', 'GET', { x: 'aa' }))?.route.name).toBe('re');
  });
});
