// The injector's typed error: a WeftError with a WEFT_ERR_INJECT_* code and,
// when one annotation (or label) is to blame, its key, so that a denial or a
// warning can name exactly what to fix. admission-errors.ts turns these into
// AdmissionResponses and HTTP statuses; nothing else does.
import { WeftError } from '../proto/errors.ts';

export type InjectErrorCode =
  | 'WEFT_ERR_INJECT_ANNOTATION_INVALID'
  | 'WEFT_ERR_INJECT_CONFLICT'
  | 'WEFT_ERR_INJECT_POD_INVALID'
  | 'WEFT_ERR_INJECT_REVIEW_INVALID'
  | 'WEFT_ERR_INJECT_BODY_TOO_LARGE'
  | 'WEFT_ERR_INJECT_VERSION_INVALID';

export class InjectError extends WeftError {
  declare readonly code: InjectErrorCode;
  /** The annotation or label key at fault, when there is one. */
  readonly key: string | undefined;
  constructor(code: InjectErrorCode, message: string, options?: { cause?: unknown; key?: string }) {
    super(code, message, options);
    this.name = 'InjectError';
    this.key = options?.key;
  }
}
