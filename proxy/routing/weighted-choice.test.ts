import { describe, expect, it } from 'vitest';
import type { WeightedBackend } from '../../proto/mesh.ts';
import { WeftError } from '../../proto/errors.ts';
import { chooseWeighted, compileSplit } from './weighted-choice.ts';
import { mulberry32 } from '../../test/harness/seeded-random.ts';

function b(service: string, weight: number): WeightedBackend {
  return { service, weight, port: 0 };
}

function counts(backends: WeightedBackend[], picks: number, seed: number): Map<string, number> {
  const split = compileSplit(backends);
  const random = mulberry32(seed);
  const out = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const got = chooseWeighted(split, random);
    expect(got).toBeDefined();
    out.set(got!.service, (out.get(got!.service) ?? 0) + 1);
  }
  return out;
}

describe('compileSplit', () => {
  it('keeps positive weights in order with cumulative sums', () => {
    const split = compileSplit([b('a', 3), b('zero', 0), b('c', 5), b('d', 2)]);
    expect(split.backends.map((x) => x.service)).toEqual(['a', 'c', 'd']);
    expect([...split.cumulative]).toEqual([3, 8, 10]);
    expect(split.total).toBe(10);
  });

  it('treats a missing weight (proto3 default) as 0', () => {
    const split = compileSplit([{ service: 'a', port: 0 } as WeightedBackend, b('b', 1)]);
    expect(split.backends.map((x) => x.service)).toEqual(['b']);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('weight %s is WEFT_ERR_CONFIG_INVALID', (w) => {
    let err: unknown;
    try {
      compileSplit([b('ok', 1), b('bad', w)], 'route "r"');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WeftError);
    expect((err as WeftError).code).toBe('WEFT_ERR_CONFIG_INVALID');
    expect((err as WeftError).message).toContain('backends[1].weight');
  });
});

describe('chooseWeighted', () => {
  it('90/10 over 2000 seeded picks lands within 3 points', () => {
    for (const seed of [1, 42, 20240601]) {
      const c = counts([b('stable', 90), b('canary', 10)], 2000, seed);
      const canaryShare = (c.get('canary') ?? 0) / 2000;
      expect(canaryShare).toBeGreaterThanOrEqual(0.07);
      expect(canaryShare).toBeLessThanOrEqual(0.13);
      expect((c.get('stable') ?? 0) + (c.get('canary') ?? 0)).toBe(2000);
    }
  });

  it('follows uneven multi-way weights', () => {
    const c = counts([b('a', 1), b('b', 2), b('c', 7)], 10_000, 7);
    expect((c.get('a') ?? 0) / 10_000).toBeCloseTo(0.1, 1);
    expect((c.get('b') ?? 0) / 10_000).toBeCloseTo(0.2, 1);
    expect((c.get('c') ?? 0) / 10_000).toBeCloseTo(0.7, 1);
  });

  it('never chooses a weight-0 backend, wherever it sits', () => {
    const c = counts([b('zero-first', 0), b('a', 1), b('zero-mid', 0), b('b', 1), b('zero-last', 0)], 2000, 3);
    expect([...c.keys()].sort()).toEqual(['a', 'b']);
  });

  it('all weights 0 (or no backends) -> undefined, without consuming randomness', () => {
    let calls = 0;
    const random = () => {
      calls++;
      return 0.5;
    };
    expect(chooseWeighted(compileSplit([b('a', 0), b('b', 0)]), random)).toBeUndefined();
    expect(chooseWeighted(compileSplit([]), random)).toBeUndefined();
    expect(calls).toBe(0);
  });

  it('a single backend is always chosen', () => {
    const split = compileSplit([b('only', 5)]);
    for (const r of [0, 0.5, 0.999999]) expect(chooseWeighted(split, () => r)?.service).toBe('only');
  });

  it('boundaries: random 0 picks the first, 0.999999 (and even 1) the last', () => {
    const split = compileSplit([b('a', 1), b('b', 1), b('c', 1)]);
    expect(chooseWeighted(split, () => 0)?.service).toBe('a');
    expect(chooseWeighted(split, () => 0.999999)?.service).toBe('c');
    expect(chooseWeighted(split, () => 1)?.service).toBe('c');
  });

  it('maps random to backends by cumulative weight', () => {
    const split = compileSplit([b('a', 1), b('b', 3)]); // a: [0, 0.25), b: [0.25, 1)
    expect(chooseWeighted(split, () => 0.2499)?.service).toBe('a');
    expect(chooseWeighted(split, () => 0.25)?.service).toBe('b');
    expect(chooseWeighted(split, () => 0.9)?.service).toBe('b');
  });

  it('binary search agrees with a linear scan over many backends', () => {
    const backends = Array.from({ length: 37 }, (_, i) => b(`s${i}`, i % 5));
    const split = compileSplit(backends);
    const random = mulberry32(99);
    for (let k = 0; k < 2000; k++) {
      const r = random();
      const target = r * split.total;
      let acc = 0;
      let want: WeightedBackend | undefined;
      for (const x of backends) {
        acc += x.weight;
        if (x.weight > 0 && acc > target) {
          want = x;
          break;
        }
      }
      expect(chooseWeighted(split, () => r)).toBe(want);
    }
  });
});
