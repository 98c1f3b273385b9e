import { describe, expect, it } from 'vitest';
import type { AuthzRule, InboundPolicy } from '../../proto/mesh.ts';
import { compileAuthz, type AuthzRequest } from './authz-policy.ts';

const CLIENT = 'spiffe://cluster.local/ns/demo/sa/client';
const OTHER = 'spiffe://cluster.local/ns/demo/sa/other';
const policy = (o: Partial<InboundPolicy>): InboundPolicy => ({ mode: 'PERMISSIVE', allowedIdentities: [], appPorts: [8080], identity: '', ...o });
const rule = (o: Partial<AuthzRule>): AuthzRule => ({ name: 'demo/tt', sources: [CLIENT], port: 0, http: [], tcp: false, tcpPorts: [], ...o });
const get = (path: string, method = 'GET', headers = {}): AuthzRequest['http'] => ({ method, path, headers });

describe('compileAuthz: the default policy (no TrafficTarget names the workload)', () => {
  it.each([
    ['ALL_UNAUTHENTICATED', true, true],
    ['ALL_AUTHENTICATED', true, false],
    ['CLUSTER_AUTHENTICATED', true, false],
    ['DENY', false, false],
  ] as const)('%s: mTLS client %s, plaintext %s', (defaultPolicy, mtls, plain) => {
    const a = compileAuthz(policy({ defaultPolicy }));
    expect(a.authorize({ clientId: CLIENT, port: 8080, http: get('/') }).allowed).toBe(mtls);
    expect(a.authorize({ clientId: '', port: 8080, http: get('/') }).allowed).toBe(plain);
    expect(a.authorize({ clientId: CLIENT, port: 8080 }).allowed).toBe(mtls);
    expect(a.authorize({ clientId: CLIENT, port: 8080 }).by).toBe(`default:${defaultPolicy.toLowerCase().replaceAll('_', '-')}`);
  });

  it('absent fields: all-unauthenticated, not targeted', () => {
    const a = compileAuthz(policy({}));
    expect(a.targeted).toBe(false);
    expect(a.authorize({ clientId: '', port: 1 }).allowed).toBe(true);
  });
});

describe('compileAuthz: TrafficTargets', () => {
  const api = { path: { regex: '(?:/api/).*' }, methods: ['GET'], headers: [] };

  it('an HTTP rule allows its sources the matching requests only; once targeted, the default policy no longer applies', () => {
    const a = compileAuthz(policy({ defaultPolicy: 'ALL_UNAUTHENTICATED', targeted: true, authzRules: [rule({ http: [api] })] }));
    expect(a.authorize({ clientId: CLIENT, port: 8080, http: get('/api/x') })).toEqual({ allowed: true, by: 'demo/tt' });
    expect(a.authorize({ clientId: CLIENT, port: 8080, http: get('/api/x', 'POST') }).allowed).toBe(false);
    expect(a.authorize({ clientId: CLIENT, port: 8080, http: get('/admin') }).allowed).toBe(false);
    expect(a.authorize({ clientId: OTHER, port: 8080, http: get('/api/x') }).allowed).toBe(false);
    expect(a.authorize({ clientId: '', port: 8080, http: get('/api/x') }).allowed).toBe(false);
    // An HTTP rule never admits an opaque connection.
    expect(a.authorize({ clientId: CLIENT, port: 8080 }).allowed).toBe(false);
  });

  it('a rule limited to a destination port', () => {
    const a = compileAuthz(policy({ targeted: true, authzRules: [rule({ port: 8080, http: [api] })] }));
    expect(a.authorize({ clientId: CLIENT, port: 8080, http: get('/api/') }).allowed).toBe(true);
    expect(a.authorize({ clientId: CLIENT, port: 9090, http: get('/api/') }).allowed).toBe(false);
  });

  it('a TCP rule allows connections and requests on its ports (every port when none)', () => {
    const a = compileAuthz(policy({ targeted: true, authzRules: [rule({ tcp: true, tcpPorts: [5432] })] }));
    expect(a.authorize({ clientId: CLIENT, port: 5432 }).allowed).toBe(true);
    expect(a.authorize({ clientId: CLIENT, port: 5432, http: get('/anything', 'DELETE') }).allowed).toBe(true);
    expect(a.authorize({ clientId: CLIENT, port: 6379 }).allowed).toBe(false);
    const any = compileAuthz(policy({ targeted: true, authzRules: [rule({ tcp: true, tcpPorts: [] })] }));
    expect(any.authorize({ clientId: CLIENT, port: 6379 }).allowed).toBe(true);
    expect(any.authorize({ clientId: OTHER, port: 6379 }).allowed).toBe(false);
  });

  it('a targeted workload whose rules allow nothing (missing route group) denies everyone', () => {
    const a = compileAuthz(policy({ targeted: true, authzRules: [rule({})] }));
    expect(a.authorize({ clientId: CLIENT, port: 8080, http: get('/') }).allowed).toBe(false);
    expect(a.authorize({ clientId: CLIENT, port: 8080 }).allowed).toBe(false);
  });

  it('several rules: the first that allows names the verdict', () => {
    const a = compileAuthz(policy({ targeted: true, authzRules: [rule({ name: 'demo/a', sources: [OTHER], tcp: true }), rule({ name: 'demo/b', http: [api] })] }));
    expect(a.authorize({ clientId: CLIENT, port: 8080, http: get('/api/1') }).by).toBe('demo/b');
    expect(a.authorize({ clientId: OTHER, port: 8080, http: get('/api/1') }).by).toBe('demo/a');
  });

  it('header matches', () => {
    const a = compileAuthz(policy({ targeted: true, authzRules: [rule({ http: [{ methods: [], headers: [{ name: 'x-tenant', regex: 't-[0-9]+' }] }] })] }));
    expect(a.authorize({ clientId: CLIENT, port: 1, http: get('/', 'GET', { 'x-tenant': 't-42' }) }).allowed).toBe(true);
    expect(a.authorize({ clientId: CLIENT, port: 1, http: get('/', 'GET', { 'x-tenant': 'nope' }) }).allowed).toBe(false);
  });
});
