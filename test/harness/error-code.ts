// Test helpers that turn a failure into its Weft error code, so tests assert
// codes, never message text.
import { ERROR_HEADER, findWeftError } from '../../proto/errors.ts';

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

/** The code a proxy-generated response names in its `weft-error` header; undefined for an app's response. */
export function codeOfResponse(res: { headers: Record<string, string | string[] | undefined> }): string | undefined {
  const v = res.headers[ERROR_HEADER];
  return Array.isArray(v) ? v.join(', ') : v;
}
