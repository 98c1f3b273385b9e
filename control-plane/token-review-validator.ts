// The Kubernetes TokenValidator: a pod's projected ServiceAccount token
// (audience identity.weft.dev), authenticated by the apiserver's TokenReview
// API. The identity is the reviewed user `system:serviceaccount:<ns>:<sa>`,
// never anything the caller claims; the pod the token is bound to comes from
// the review's user.extra (authentication.kubernetes.io/pod-name).
//
// Verdicts (WEFT_ERR_TOKEN_INVALID): no token or not a JWT; a token without
// the audience (legacy Secret tokens have none: they never expire and every
// component that sees one could replay it); expired at `now` (checked before
// asking); TokenReview says not authenticated (bad signature, expired,
// ServiceAccount or bound pod deleted, wrong audience); an authenticated user
// that is not a ServiceAccount; a review without the audience in
// status.audiences (an audience-unaware authenticator).
// Not verdicts (WEFT_ERR_KUBE_API, passed through): the apiserver is
// unreachable or refuses the review itself (RBAC: the control plane needs
// `create` on tokenreviews.authentication.k8s.io).
import { WeftError } from '../proto/errors.ts';
import { kubeApiError, type KubeClient } from './kube-client.ts';
import type { TokenIdentity, TokenValidator } from './token-validator.ts';

export const IDENTITY_TOKEN_AUDIENCE = 'identity.weft.dev';
/** Longer tokens are refused unread (projected tokens are about 1 KiB). */
export const MAX_TOKEN_BYTES = 16 * 1024;

export interface TokenReviewValidatorOptions {
  client: KubeClient;
  /** Default identity.weft.dev. */
  audience?: string;
  /** Per review (default 10 s). */
  timeoutMs?: number;
}

function invalid(message: string): WeftError {
  return new WeftError('WEFT_ERR_TOKEN_INVALID', message);
}

const SA_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

/** `system:serviceaccount:<ns>:<sa>` -> its parts; undefined for any other user. */
export function parseServiceAccountUser(username: unknown): TokenIdentity | undefined {
  if (typeof username !== 'string') return undefined;
  const m = SA_USER.exec(username);
  if (m === null) return undefined;
  return { namespace: m[1]!, serviceAccount: m[2]! };
}

export interface JwtClaims {
  aud: string[];
  /** Unix seconds; undefined when absent. */
  exp: number | undefined;
  iss: string;
  sub: string;
}

/** The claims of a JWT, unverified (only to refuse early); undefined when it is not one. */
export function unverifiedJwtClaims(token: string): JwtClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof payload !== 'object' || payload === null) return undefined;
  const p = payload as Record<string, unknown>;
  const aud = typeof p.aud === 'string' ? [p.aud] : Array.isArray(p.aud) ? p.aud.filter((a): a is string => typeof a === 'string') : [];
  return {
    aud,
    exp: typeof p.exp === 'number' && Number.isFinite(p.exp) ? p.exp : undefined,
    iss: typeof p.iss === 'string' ? p.iss : '',
    sub: typeof p.sub === 'string' ? p.sub : '',
  };
}

/** TokenReview's user.extra key naming the pod a projected token is bound to. */
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';

/** The pod a reviewed token is bound to (user.extra), if it names exactly one. */
export function boundPodOf(extra: unknown): string | undefined {
  if (typeof extra !== 'object' || extra === null) return undefined;
  const v = (extra as Record<string, unknown>)[POD_NAME_EXTRA];
  return Array.isArray(v) && v.length === 1 && typeof v[0] === 'string' && v[0] !== '' ? v[0] : undefined;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; extra?: unknown };
  audiences?: string[];
  error?: string;
}

export function createTokenReviewValidator(opts: TokenReviewValidatorOptions): TokenValidator {
  const audience = opts.audience ?? IDENTITY_TOKEN_AUDIENCE;
  return {
    async validate(token: string, now: number): Promise<TokenIdentity> {
      if (typeof token !== 'string' || token === '') throw invalid('no token');
      if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) throw invalid('token too large');
      const claims = unverifiedJwtClaims(token);
      if (claims === undefined) throw invalid('not a ServiceAccount token (not a JWT)');
      if (!claims.aud.includes(audience)) {
        throw invalid(`token is not for audience ${audience} (a projected ServiceAccount token with that audience is needed)`);
      }
      if (claims.exp !== undefined && now >= claims.exp * 1000) {
        throw invalid(`token expired at ${new Date(claims.exp * 1000).toISOString()}`);
      }
      const res = await opts.client.request<{ status?: TokenReviewStatus }>(
        'POST',
        '/apis/authentication.k8s.io/v1/tokenreviews',
        { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [audience] } },
        { timeoutMs: opts.timeoutMs ?? 10_000 },
      );
      if (res.status !== 201 && res.status !== 200) throw kubeApiError('TokenReview', res);
      const status = res.body?.status ?? {};
      if (status.authenticated !== true) {
        throw invalid(`token not authenticated by the Kubernetes API${status.error ? `: ${status.error}` : ''}`);
      }
      if (!(status.audiences ?? []).includes(audience)) {
        throw invalid(`the Kubernetes API did not confirm audience ${audience}`);
      }
      const who = parseServiceAccountUser(status.user?.username);
      if (who === undefined) throw invalid(`token is for ${JSON.stringify(status.user?.username ?? '')}, not a ServiceAccount`);
      // A projected token is bound to its pod: the config stream trusts that name over the one a proxy sends.
      const pod = boundPodOf(status.user?.extra);
      return pod === undefined ? who : { ...who, pod };
    },
  };
}
