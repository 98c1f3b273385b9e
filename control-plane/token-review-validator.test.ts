// The pure parts of the TokenReview validator. Its verdicts against a real
// apiserver are in test/cluster/identity-token-review.test.ts.
import { describe, expect, it } from 'vitest';
import type { KubeClient } from './kube-client.ts';
import { boundPodOf, createTokenReviewValidator, parseServiceAccountUser, unverifiedJwtClaims } from './token-review-validator.ts';

const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims: object): string => `${enc({ alg: 'RS256' })}.${enc(claims)}.c2ln`;

describe('parseServiceAccountUser', () => {
  it('accepts system:serviceaccount:<ns>:<sa> only', () => {
    expect(parseServiceAccountUser('system:serviceaccount:demo:web')).toEqual({ namespace: 'demo', serviceAccount: 'web' });
    expect(parseServiceAccountUser('system:serviceaccount:demo')).toBeUndefined();
    expect(parseServiceAccountUser('system:serviceaccount:demo:web:x')).toBeUndefined();
    expect(parseServiceAccountUser('admin')).toBeUndefined();
    expect(parseServiceAccountUser(undefined)).toBeUndefined();
  });
});

describe('boundPodOf', () => {
  it('reads the one pod name of user.extra; nothing else', () => {
    expect(boundPodOf({ 'authentication.kubernetes.io/pod-name': ['job-x7k2p'], 'authentication.kubernetes.io/pod-uid': ['u'] })).toBe('job-x7k2p');
    expect(boundPodOf({ 'authentication.kubernetes.io/pod-name': ['a', 'b'] })).toBeUndefined();
    expect(boundPodOf({ 'authentication.kubernetes.io/pod-name': [''] })).toBeUndefined();
    expect(boundPodOf({ 'authentication.kubernetes.io/pod-name': 'job-x7k2p' })).toBeUndefined();
    expect(boundPodOf({})).toBeUndefined();
    expect(boundPodOf(undefined)).toBeUndefined();
  });
});

describe('createTokenReviewValidator: a reviewed token', () => {
  const review = (extra?: unknown) =>
    ({
      request: () =>
        Promise.resolve({
          status: 201,
          body: { status: { authenticated: true, audiences: ['identity.weft.dev'], user: { username: 'system:serviceaccount:batch:report', ...(extra === undefined ? {} : { extra }) } } },
        }),
    }) as unknown as KubeClient;
  const token = jwt({ aud: ['identity.weft.dev'], exp: 4e9 });

  it('is its ServiceAccount, and the pod it is bound to when the review names one', async () => {
    expect(await createTokenReviewValidator({ client: review() }).validate(token, Date.now())).toEqual({ namespace: 'batch', serviceAccount: 'report' });
    expect(await createTokenReviewValidator({ client: review({ 'authentication.kubernetes.io/pod-name': ['report-x7k2p'] }) }).validate(token, Date.now())).toEqual({
      namespace: 'batch',
      serviceAccount: 'report',
      pod: 'report-x7k2p',
    });
  });
});

describe('unverifiedJwtClaims', () => {
  it('reads aud (string or list), exp, iss, sub', () => {
    expect(unverifiedJwtClaims(jwt({ aud: ['identity.weft.dev'], exp: 10, iss: 'i', sub: 's' }))).toEqual({ aud: ['identity.weft.dev'], exp: 10, iss: 'i', sub: 's' });
    expect(unverifiedJwtClaims(jwt({ aud: 'a' }))).toEqual({ aud: ['a'], exp: undefined, iss: '', sub: '' });
  });
  it('is undefined for what is not a JWT', () => {
    expect(unverifiedJwtClaims('abc')).toBeUndefined();
    expect(unverifiedJwtClaims('a.b.c')).toBeUndefined();
    expect(unverifiedJwtClaims(`${enc({})}.${Buffer.from('[').toString('base64url')}.x`)).toBeUndefined();
    expect(unverifiedJwtClaims('a.b c.d')).toBeUndefined();
  });
});

describe('createTokenReviewValidator: refusals before any review', () => {
  // A client that fails the test if asked: these tokens must never reach the apiserver.
  const client = {
    request: () => Promise.reject(new Error('must not be called')),
  } as unknown as KubeClient;
  const v = createTokenReviewValidator({ client });
  const codeOf = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: { code?: string }) => e.code ?? 'none');

  it.each([
    ['empty', ''],
    ['not a JWT', 'bootstrap-token-abc'],
    ['no audience (a legacy Secret token)', jwt({ iss: 'kubernetes/serviceaccount', sub: 'system:serviceaccount:demo:web' })],
    ['another audience', jwt({ aud: ['https://kubernetes.default.svc'], exp: 4e9 })],
    ['expired', jwt({ aud: ['identity.weft.dev'], exp: 1_000 })],
    ['too large', 'x'.repeat(17 * 1024)],
  ])('%s -> WEFT_ERR_TOKEN_INVALID', async (_what, token) => {
    expect(await codeOf(v.validate(token, Date.now()))).toBe('WEFT_ERR_TOKEN_INVALID');
  });
});
