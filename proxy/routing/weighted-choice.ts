// Weighted choice: picks a route's backend service by split weight.
//
// compileSplit() runs once per config snapshot and keeps only the backends
// with a positive weight, with their running (cumulative) weights.
// chooseWeighted() runs per request: one call to `random` and a binary search,
// no allocation.

import type { WeightedBackend } from '../../proto/mesh.ts';
import { WeftError } from '../../proto/errors.ts';

export interface CompiledSplit<T extends { readonly weight: number } = WeightedBackend> {
  /** Backends with weight > 0, in configured order. */
  readonly backends: readonly T[];
  /** cumulative[i] = sum of weights of backends[0..i]. */
  readonly cumulative: Float64Array;
  /** Sum of all weights; 0 when no backend can be chosen. */
  readonly total: number;
}

/**
 * Precompiles a weighted split. Weights are relative; weight 0 (or a missing
 * weight, the proto3 default) gets no traffic. A negative or non-finite weight
 * is a WEFT_ERR_CONFIG_INVALID.
 */
export function compileSplit<T extends { readonly weight: number }>(
  backends: readonly T[],
  where?: string,
): CompiledSplit<T> {
  const kept: T[] = [];
  const weights: number[] = [];
  backends.forEach((b, i) => {
    const w = b.weight ?? 0;
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) {
      throw new WeftError(
        'WEFT_ERR_CONFIG_INVALID',
        `${where ? `${where}: ` : ''}backends[${i}].weight: must be a finite number >= 0 (got ${String(w)})`,
      );
    }
    if (w > 0) {
      kept.push(b);
      weights.push(w);
    }
  });
  const cumulative = new Float64Array(kept.length);
  let total = 0;
  for (let i = 0; i < weights.length; i++) {
    total += weights[i]!;
    cumulative[i] = total;
  }
  return { backends: kept, cumulative, total };
}

/**
 * Picks a backend with probability weight / total. `random` returns a number
 * in [0, 1). Undefined when the total weight is 0.
 */
export function chooseWeighted<T extends { readonly weight: number }>(
  split: CompiledSplit<T>,
  random: () => number,
): T | undefined {
  const n = split.backends.length;
  if (n === 0) return undefined;
  if (n === 1) return split.backends[0];
  const target = random() * split.total;
  // First index whose cumulative weight exceeds target.
  const cum = split.cumulative;
  let lo = 0;
  let hi = n - 1; // clamp: a random() of 1 (or rounding) lands on the last backend
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid]! > target) hi = mid;
    else lo = mid + 1;
  }
  return split.backends[lo];
}
