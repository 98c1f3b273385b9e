// Errors become webhook answers here, and only here. Walks the cause chain to
// the first WeftError and maps its code:
//
//   WEFT_ERR_INJECT_BODY_TOO_LARGE      -> HTTP 413 (no review to answer)
//   WEFT_ERR_INJECT_REVIEW_INVALID      -> HTTP 400 (unparseable, no uid, not
//                                          an AdmissionReview): nothing to
//                                          put a uid on
//   WEFT_ERR_INJECT_ANNOTATION_INVALID, -> denied: allowed false, status 400,
//   WEFT_ERR_INJECT_CONFLICT               the message names the annotation.
//                                          The pod asked for something that
//                                          cannot be done; injecting half of it
//                                          or silently not at all would hide it
//   WEFT_ERR_INJECT_POD_INVALID         -> allowed unchanged, with a warning:
//                                          the apiserver's own validation
//                                          explains a malformed pod better
//   anything else (a bug)               -> allowed unchanged, with a warning,
//                                          logged: the injector fails open
//                                          rather than block the cluster
//                                          (HTTP 500 if no review was read)
import { findWeftError } from '../proto/errors.ts';
import type { Logger } from '../proto/log.ts';

export interface ReviewContext {
  uid: string;
  apiVersion: string;
}

/** A base64 string: made by base64() only, so it holds nothing JSON must escape. */
export type Base64 = string & { readonly __encoding: 'base64' };

export function base64(text: string): Base64 {
  return Buffer.from(text).toString('base64') as Base64;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** base64 of the JSON Patch. */
  patch?: Base64;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
}

export type Outcome =
  | 'injected'
  | 'not-enabled'
  | 'opted-out'
  | 'host-network'
  | 'system-namespace'
  | 'already-injected'
  | 'ignored'
  | 'denied'
  | 'invalid-pod'
  | 'bad-request'
  | 'too-large'
  | 'error';

export interface AdmissionAnswer {
  /** The HTTP status to send: 200 with an AdmissionReview, or 4xx with {error}. */
  status: number;
  body: { apiVersion: string; kind: 'AdmissionReview'; response: AdmissionResponse } | { error: { code: string; message: string } };
  /** For metrics (bounded) and logs. */
  outcome: Outcome;
  reason: string;
}

/**
 * The body as JSON text, exactly JSON.stringify(body), but the base64 patch
 * (most of an injection's answer) is copied in rather than scanned for
 * characters to escape: it has none.
 */
export function answerJson(body: AdmissionAnswer['body']): string {
  const patch = 'response' in body ? body.response.patch : undefined;
  if (patch === undefined || !('response' in body)) return JSON.stringify(body);
  const json = JSON.stringify({ ...body, response: { ...body.response, patch: '' } });
  // The first '"patch":""' is the key: within strings, JSON escapes every '"'.
  const at = json.indexOf('"patch":""') + '"patch":"'.length;
  return json.slice(0, at) + patch + json.slice(at);
}

const MAX_WARNING = 256;

/** A warning as Kubernetes wants it: one line, printable, at most 256 characters. */
export function cleanWarning(w: string): string {
  const oneLine = w.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return oneLine.length <= MAX_WARNING ? oneLine : `${oneLine.slice(0, MAX_WARNING - 3)}...`;
}

function httpError(status: number, code: string, message: string, outcome: Outcome): AdmissionAnswer {
  return { status, body: { error: { code, message } }, outcome, reason: message };
}

function review(ctx: ReviewContext, response: AdmissionResponse, outcome: Outcome, reason: string): AdmissionAnswer {
  return { status: 200, body: { apiVersion: ctx.apiVersion, kind: 'AdmissionReview', response }, outcome, reason };
}

/** The answer for an error thrown while handling a review; `ctx` is known once the review was read. */
export function answerForError(err: unknown, ctx: ReviewContext | undefined, logger?: Logger): AdmissionAnswer {
  const weft = findWeftError(err);
  const message = (weft ?? (err as Error | undefined))?.message ?? String(err);
  switch (weft?.code) {
    case 'WEFT_ERR_INJECT_BODY_TOO_LARGE':
      return httpError(413, weft.code, message, 'too-large');
    case 'WEFT_ERR_INJECT_REVIEW_INVALID':
      return httpError(400, weft.code, message, 'bad-request');
    default:
      // Everything else is answered below, once the review's context is known.
      break;
  }
  if (ctx === undefined) {
    logger?.error('admission: internal error before the review was read', { error: String(err) });
    return httpError(500, 'WEFT_ERR_INTERNAL', message, 'error');
  }
  switch (weft?.code) {
    case 'WEFT_ERR_INJECT_ANNOTATION_INVALID':
    case 'WEFT_ERR_INJECT_CONFLICT':
      return review(
        ctx,
        {
          uid: ctx.uid,
          allowed: false,
          status: { code: 400, reason: 'BadRequest', message: `weft injector: ${message} (${weft.code})` },
        },
        'denied',
        message,
      );
    case 'WEFT_ERR_INJECT_POD_INVALID':
      return review(
        ctx,
        { uid: ctx.uid, allowed: true, warnings: [cleanWarning(`weft injector: not injected: ${message}`)] },
        'invalid-pod',
        message,
      );
    default:
      logger?.error('admission: internal error; pod allowed without injection', {
        uid: ctx.uid,
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      });
      return review(
        ctx,
        { uid: ctx.uid, allowed: true, warnings: [cleanWarning(`weft injector: internal error, pod not injected: ${message}`)] },
        'error',
        message,
      );
  }
}
