// What applying a config snapshot gave: the version and, when refused, why.
// The config client acks or nacks with it.
import type { WeftError } from '../../proto/errors.ts';

export interface ApplyResult {
  ok: boolean;
  version: string;
  error?: WeftError;
}
