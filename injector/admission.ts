// One AdmissionReview in, one answer out: the webhook's logic without HTTP.
// Reads an admission.k8s.io/v1 AdmissionReview, decides with
// injectionPatch(), and returns the HTTP status and body to send. Never
// throws: every failure goes through admission-errors.ts, the one place that
// turns errors into AdmissionResponses or 4xx statuses.
//
// What is injected: CREATE of core/v1 pods (no subresource). Everything else
// the webhook might be sent (other resources, other operations, subresources
// such as pods/ephemeralcontainers) is allowed unchanged: a misconfigured
// webhook rule must not block the cluster.
import type { Logger } from '../proto/log.ts';
import { answerForError, base64, cleanWarning, type AdmissionAnswer, type AdmissionResponse, type ReviewContext } from './admission-errors.ts';
import { INJECT_KEY } from './annotations.ts';
import { InjectError } from './inject-error.ts';
import type { NamespaceLookup } from './namespace-lookup.ts';
import { injectionPatch, patchJson, type InjectOptions, type NamespaceMeta } from './patch.ts';

export type { AdmissionAnswer, AdmissionResponse } from './admission-errors.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
/** Older apiservers may send v1beta1 (same shape); answered, never injected. */
const V1BETA1 = 'admission.k8s.io/v1beta1';
/** Bodies above this are refused (413) before parsing. The apiserver's own limit on objects is 3 MiB. */
export const MAX_REVIEW_BYTES = 3 * 1024 * 1024;

export interface AdmissionDeps {
  namespaces: NamespaceLookup;
  inject: InjectOptions;
  logger?: Logger;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function reviewError(message: string, cause?: unknown): InjectError {
  return new InjectError('WEFT_ERR_INJECT_REVIEW_INVALID', message, cause === undefined ? {} : { cause });
}

/** The parts of a review this webhook reads, checked; throws REVIEW_INVALID when it cannot answer it. */
function readReview(json: unknown): { ctx: ReviewContext; request: Record<string, unknown> } {
  if (!isObject(json)) throw reviewError('the body is not a JSON object');
  const { apiVersion, kind, request } = json;
  if (kind !== 'AdmissionReview' || (apiVersion !== ADMISSION_API_VERSION && apiVersion !== V1BETA1)) {
    throw reviewError(
      `expected kind AdmissionReview, apiVersion ${ADMISSION_API_VERSION}; got kind ${JSON.stringify(kind)}, apiVersion ${JSON.stringify(apiVersion)}`,
    );
  }
  if (!isObject(request)) throw reviewError('the AdmissionReview has no request');
  const uid = request.uid;
  if (typeof uid !== 'string' || uid === '') throw reviewError('the AdmissionReview request has no uid');
  return { ctx: { uid, apiVersion }, request };
}

function allow(ctx: ReviewContext, extra: Partial<AdmissionResponse> = {}): AdmissionResponse {
  const r: AdmissionResponse = { uid: ctx.uid, allowed: true, ...extra };
  if (r.warnings !== undefined) r.warnings = r.warnings.map(cleanWarning);
  return r;
}

function answer(ctx: ReviewContext, response: AdmissionResponse, outcome: AdmissionAnswer['outcome'], reason: string): AdmissionAnswer {
  return { status: 200, body: { apiVersion: ctx.apiVersion, kind: 'AdmissionReview', response }, outcome, reason };
}

function isPodCreate(request: Record<string, unknown>): string | undefined {
  const resource = isObject(request.resource) ? request.resource : {};
  const kind = isObject(request.kind) ? request.kind : {};
  if (resource.group !== '' || resource.resource !== 'pods' || kind.kind !== 'Pod') {
    return `not a pod (resource ${JSON.stringify(resource.resource ?? null)}, kind ${JSON.stringify(kind.kind ?? null)}); allowed unchanged`;
  }
  if (typeof request.subResource === 'string' && request.subResource !== '') {
    return `subresource pods/${request.subResource}; allowed unchanged`;
  }
  if (request.operation !== 'CREATE') return `operation ${JSON.stringify(request.operation ?? null)} is not CREATE; allowed unchanged`;
  return undefined;
}

async function namespaceOf(name: string, deps: AdmissionDeps, warnings: string[]): Promise<NamespaceMeta> {
  try {
    return (await deps.namespaces.get(name)) ?? { name };
  } catch (err) {
    deps.logger?.warn('namespace lookup failed; treating the namespace as not annotated', { namespace: name, error: String(err) });
    warnings.push(`namespace ${name} could not be read; only the pod's own ${INJECT_KEY} was considered`);
    return { name };
  }
}

/** Answers one AdmissionReview body. Never throws. */
export async function reviewAdmission(body: Uint8Array | string, deps: AdmissionDeps): Promise<AdmissionAnswer> {
  let ctx: ReviewContext | undefined;
  try {
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    if (size > MAX_REVIEW_BYTES) {
      throw new InjectError('WEFT_ERR_INJECT_BODY_TOO_LARGE', `the body is ${size} bytes, more than the ${MAX_REVIEW_BYTES} allowed`);
    }
    let json: unknown;
    try {
      json = JSON.parse(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    } catch (err) {
      throw reviewError(`the body is not valid JSON: ${(err as Error).message}`, err);
    }
    const read = readReview(json);
    ctx = read.ctx;
    const { request } = read;
    if (ctx.apiVersion !== ADMISSION_API_VERSION) {
      const why = `${ctx.apiVersion} is not supported (configure admissionReviewVersions: [v1]); allowed unchanged`;
      return answer(ctx, allow(ctx, { warnings: [`weft injector: ${why}`] }), 'ignored', why);
    }
    const notPod = isPodCreate(request);
    if (notPod !== undefined) return answer(ctx, allow(ctx), 'ignored', notPod);

    const pod = request.object;
    const podMeta = isObject(pod) && isObject(pod.metadata) ? pod.metadata : {};
    const nsName = typeof request.namespace === 'string' && request.namespace !== '' ? request.namespace : podMeta.namespace;
    if (typeof nsName !== 'string' || nsName === '') {
      const why = 'the request names no namespace; not injected';
      return answer(ctx, allow(ctx, { warnings: [`weft injector: ${why}`] }), 'ignored', why);
    }
    const warnings: string[] = [];
    const namespace = await namespaceOf(nsName, deps, warnings);
    const result = injectionPatch(pod, namespace, deps.inject);
    warnings.push(...result.warnings);
    const extra: Partial<AdmissionResponse> = {};
    if (result.inject) {
      extra.patchType = 'JSONPatch';
      extra.patch = base64(patchJson(result.patch));
    }
    if (warnings.length > 0) extra.warnings = warnings.map((w) => `weft injector: ${w}`);
    return answer(ctx, allow(ctx, extra), result.decision, result.reason);
  } catch (err) {
    return answerForError(err, ctx, deps.logger);
  }
}
