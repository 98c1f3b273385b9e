// Test helpers that turn a failure into its Weft error code, so tests assert
// codes, never message text.
import { findWeftError } from '../../proto/errors.ts';

/** The code `fn` throws; undefined when it does not throw. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return findWeftError(err)?.code ?? `not a WeftError: ${String(err)}`;
  }
  return undefined;
}

/** The code `p` rejects with; undefined when it resolves. */
export async function codeOfAsync(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return findWeftError(err)?.code ?? `not a WeftError: ${String(err)}`;
  }
  return undefined;
}
