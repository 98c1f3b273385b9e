import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TRUST_DOMAIN,
  SPIFFE_ID_MAX_LENGTH,
  formatWorkloadId,
  identityMatcher,
  identityMatches,
  isSpiffeId,
  parseSpiffeId,
  validateIdentityPattern,
} from './spiffe-id.ts';
import { codeOf } from '../test/harness/error-code.ts';

describe('parseSpiffeId', () => {
  it('parses a workload ID into trust domain, path, namespace and service account', () => {
    expect(parseSpiffeId('spiffe://cluster.local/ns/demo/sa/web')).toEqual({
      trustDomain: 'cluster.local',
      path: '/ns/demo/sa/web',
      namespace: 'demo',
      serviceAccount: 'web',
    });
  });

  it.each([
    ['spiffe://example.org', { trustDomain: 'example.org', path: '' }],
    ['spiffe://a/b', { trustDomain: 'a', path: '/b' }],
    ['spiffe://my_domain-1.example/Path.With_All-Chars/9', { trustDomain: 'my_domain-1.example', path: '/Path.With_All-Chars/9' }],
    ['spiffe://td/ns/x/sa/y/extra', { trustDomain: 'td', path: '/ns/x/sa/y/extra' }],
    ['spiffe://td/ns/x/sb/y', { trustDomain: 'td', path: '/ns/x/sb/y' }],
    ['spiffe://td/ns/x', { trustDomain: 'td', path: '/ns/x' }],
    ['spiffe://td/...', { trustDomain: 'td', path: '/...' }],
    ['spiffe://td/.hidden/a..b', { trustDomain: 'td', path: '/.hidden/a..b' }],
    ['spiffe://1.2.3.4/workload', { trustDomain: '1.2.3.4', path: '/workload' }],
  ])('valid: %s', (s, expected) => {
    expect(parseSpiffeId(s)).toEqual(expected);
    expect(isSpiffeId(s)).toBe(true);
  });

  it.each([
    ['', 'empty'],
    ['spiffe://', 'no trust domain'],
    ['spiffe:///path', 'empty trust domain'],
    ['spiffe:/td/path', 'one slash'],
    ['spiffe:td/path', 'no authority'],
    ['SPIFFE://td/path', 'uppercase scheme'],
    ['Spiffe://td/path', 'mixed-case scheme'],
    ['http://td/path', 'other scheme'],
    ['https://cluster.local/ns/a/sa/b', 'https scheme'],
    ['td/path', 'no scheme'],
    ['//td/path', 'scheme-relative'],
    [' spiffe://td/path', 'leading space'],
    ['spiffe://td/path ', 'trailing space'],
    ['spiffe://Cluster.local/ns/a/sa/b', 'uppercase trust domain'],
    ['spiffe://td:8080/path', 'port'],
    ['spiffe://td:/path', 'empty port'],
    ['spiffe://user@td/path', 'userinfo'],
    ['spiffe://user:pw@td/path', 'userinfo with password'],
    ['spiffe://td/path?x=1', 'query'],
    ['spiffe://td/path?', 'empty query'],
    ['spiffe://td/path#frag', 'fragment'],
    ['spiffe://td#frag', 'fragment on trust domain'],
    ['spiffe://td/', 'trailing slash'],
    ['spiffe://td/a/', 'trailing slash after segment'],
    ['spiffe://td//a', 'empty segment'],
    ['spiffe://td/a//b', 'empty inner segment'],
    ['spiffe://td/.', 'dot segment'],
    ['spiffe://td/..', 'dot-dot segment'],
    ['spiffe://td/a/./b', 'inner dot segment'],
    ['spiffe://td/a/../b', 'inner dot-dot segment'],
    ['spiffe://td/a%20b', 'percent-encoding'],
    ['spiffe://td/a b', 'space in path'],
    ['spiffe://td/a:b', 'colon in path'],
    ['spiffe://td/a~b', 'tilde in path'],
    ['spiffe://td/a+b', 'plus in path'],
    ['spiffe://td/*', 'wildcard'],
    ['spiffe://td/caf\u00e9', 'non-ASCII in path'],
    ['spiffe://t\u00e9/a', 'non-ASCII in trust domain'],
    ['spiffe://td\\a/b', 'backslash'],
    ['spiffe://td/a\nb', 'newline'],
    ['spiffe://[::1]/a', 'IPv6 literal'],
    ['spiffe://td%2e/a', 'percent in trust domain'],
  ])('invalid: %j (%s)', (s) => {
    expect(codeOf(() => parseSpiffeId(s))).toBe('WEFT_ERR_SPIFFE_ID_INVALID');
    expect(isSpiffeId(s)).toBe(false);
  });

  it(`accepts up to ${SPIFFE_ID_MAX_LENGTH} characters and no more`, () => {
    const prefix = 'spiffe://td/';
    const atLimit = prefix + 'a'.repeat(SPIFFE_ID_MAX_LENGTH - prefix.length);
    expect(atLimit.length).toBe(2048);
    expect(parseSpiffeId(atLimit).trustDomain).toBe('td');
    expect(codeOf(() => parseSpiffeId(`${atLimit}a`))).toBe('WEFT_ERR_SPIFFE_ID_INVALID');
  });

  it('rejects non-strings without crashing', () => {
    expect(codeOf(() => parseSpiffeId(undefined as unknown as string))).toBe('WEFT_ERR_SPIFFE_ID_INVALID');
    expect(codeOf(() => parseSpiffeId(42 as unknown as string))).toBe('WEFT_ERR_SPIFFE_ID_INVALID');
  });
});

describe('formatWorkloadId', () => {
  it('formats spiffe://<td>/ns/<ns>/sa/<sa>', () => {
    expect(formatWorkloadId(DEFAULT_TRUST_DOMAIN, 'demo', 'web')).toBe('spiffe://cluster.local/ns/demo/sa/web');
    expect(DEFAULT_TRUST_DOMAIN).toBe('cluster.local');
  });

  it('round-trips through parseSpiffeId', () => {
    const id = parseSpiffeId(formatWorkloadId('example.org', 'kube-system', 'default.sa'));
    expect(id).toMatchObject({ trustDomain: 'example.org', namespace: 'kube-system', serviceAccount: 'default.sa' });
  });

  it.each([
    ['', 'ns', 'sa'],
    ['Upper', 'ns', 'sa'],
    ['td', '', 'sa'],
    ['td', 'ns', ''],
    ['td', 'a/b', 'sa'],
    ['td', 'ns', 'x/sa/y'],
    ['td', '..', 'sa'],
    ['td', 'ns', 'a b'],
  ])('rejects (%j, %j, %j)', (td, ns, sa) => {
    expect(codeOf(() => formatWorkloadId(td, ns, sa))).toBe('WEFT_ERR_SPIFFE_ID_INVALID');
  });
});

describe('identityMatches', () => {
  const web = 'spiffe://cluster.local/ns/demo/sa/web';

  it.each([
    [web, web, true],
    [web, 'spiffe://cluster.local/ns/demo/sa/api', false],
    [web, 'spiffe://cluster.local/ns/demo/sa/web/extra', false],
    ['spiffe://cluster.local/ns/demo/*', web, true],
    ['spiffe://cluster.local/ns/demo/*', 'spiffe://cluster.local/ns/demo', false],
    ['spiffe://cluster.local/ns/demo/*', 'spiffe://cluster.local/ns/demo2/sa/web', false],
    ['spiffe://cluster.local/ns/demo/*', 'spiffe://cluster.local/ns/other/sa/web', false],
    ['spiffe://cluster.local/ns/demo/*', 'spiffe://other.local/ns/demo/sa/web', false],
    ['spiffe://cluster.local/*', web, true],
    ['spiffe://cluster.local/*', 'spiffe://cluster.local', false],
    ['spiffe://cluster.local/*', 'spiffe://cluster.localhost/ns/demo/sa/web', false],
    // invalid IDs and patterns never match
    ['spiffe://cluster.local/ns/demo/*', 'spiffe://cluster.local/ns/demo/../other/sa/x', false],
    ['spiffe://cluster.local/ns/demo/*', 'spiffe://cluster.local/ns/demo//x', false],
    [web.toUpperCase(), web.toUpperCase(), false],
    ['*', web, false],
    ['spiffe://cluster.local/ns/*/sa/web', web, false],
    ['spiffe://cluster.local/ns/demo*', web, false],
    ['', '', false],
  ])('%s ~ %s -> %s', (pattern, id, expected) => {
    expect(identityMatches(pattern, id)).toBe(expected);
  });

  it('is case-sensitive in the path', () => {
    expect(identityMatches('spiffe://cluster.local/ns/Demo/*', web)).toBe(false);
  });
});

describe('identityMatcher and validateIdentityPattern', () => {
  it('matches any of several patterns', () => {
    const allowed = identityMatcher(['spiffe://cluster.local/ns/demo/sa/web', 'spiffe://cluster.local/ns/ops/*']);
    expect(allowed('spiffe://cluster.local/ns/demo/sa/web')).toBe(true);
    expect(allowed('spiffe://cluster.local/ns/ops/sa/anything')).toBe(true);
    expect(allowed('spiffe://cluster.local/ns/demo/sa/api')).toBe(false);
    expect(identityMatcher([])('spiffe://cluster.local/ns/demo/sa/web')).toBe(false);
  });

  it('throws on an invalid pattern, or skips it when told', () => {
    expect(codeOf(() => identityMatcher(['spiffe://cluster.local/ns/*/sa/web']))).toBe('WEFT_ERR_SPIFFE_ID_INVALID');
    const m = identityMatcher(['nonsense', 'spiffe://cluster.local/ns/demo/*'], { skipInvalid: true });
    expect(m('spiffe://cluster.local/ns/demo/sa/web')).toBe(true);
  });

  it.each(['spiffe://td', 'spiffe://td/a', 'spiffe://td/*', 'spiffe://td/a/b/*'])('valid pattern %s', (p) => {
    expect(() => validateIdentityPattern(p)).not.toThrow();
  });

  it.each(['*', '/*', 'spiffe://*', 'spiffe://td/a*', 'spiffe://td/*/b', 'spiffe://td/a/**', 'spiffe://td//*'])(
    'invalid pattern %s',
    (p) => {
      expect(codeOf(() => validateIdentityPattern(p))).toBe('WEFT_ERR_SPIFFE_ID_INVALID');
    },
  );
});
