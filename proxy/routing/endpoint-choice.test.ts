import { describe, expect, it } from 'vitest';
import { createEndpointBalancer, endpointKey, type EndpointBalancer } from './endpoint-choice.ts';
import { mulberry32 } from '../../test/harness/seeded-random.ts';

/** Serves `n` sequential requests, one every `stepMs`, each taking latency(key, now). */
function simulate(
  lb: EndpointBalancer,
  keys: string[],
  n: number,
  random: () => number,
  latency: (key: string, now: number) => number,
  stepMs = 10,
  t0 = 0,
): { picks: Map<string, number>; order: string[] } {
  const picks = new Map<string, number>();
  const order: string[] = [];
  let now = t0;
  for (let i = 0; i < n; i++) {
    const key = lb.pick(keys, random, now);
    expect(key).toBeDefined();
    lb.start(key!, now);
    const rtt = latency(key!, now);
    lb.end(key!, now + rtt, rtt, true);
    picks.set(key!, (picks.get(key!) ?? 0) + 1);
    order.push(key!);
    now += stepMs;
  }
  return { picks, order };
}

const KEYS = ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080'];

describe('endpointKey', () => {
  it('is address:port', () => {
    expect(endpointKey({ address: '10.1.2.3', port: 80 })).toBe('10.1.2.3:80');
  });
});

describe('pick', () => {
  it('no endpoints -> undefined; one -> it, without drawing randomness', () => {
    const lb = createEndpointBalancer();
    const random = () => {
      throw new Error('random must not be called');
    };
    expect(lb.pick([], random, 0)).toBeUndefined();
    expect(lb.pick(['only:1'], random, 0)).toBe('only:1');
  });

  it('compares two distinct candidates, even when random repeats', () => {
    for (const r of [0, 0.5, 0.999999, 1]) {
      const lb = createEndpointBalancer();
      const keys = ['a:1', 'b:1', 'c:1', 'd:1', 'e:1'];
      lb.pick(keys, () => r, 0);
      // Costs are read (state created) for exactly the two candidates.
      expect(lb.size).toBe(2);
    }
  });

  it('with two endpoints, always takes the cheaper one', () => {
    const lb = createEndpointBalancer();
    lb.start('a:1', 0);
    lb.end('a:1', 100, 100, true); // a: 100 ms
    lb.start('b:1', 0);
    lb.end('b:1', 5, 5, true); // b: stays at 30 ms (5 < 30 decays slowly)
    const random = mulberry32(1);
    for (let i = 0; i < 50; i++) expect(lb.pick(['a:1', 'b:1'], random, 200)).toBe('b:1');
  });

  it('a slow endpoint gets far fewer picks than fast ones', () => {
    const lb = createEndpointBalancer();
    const slow = KEYS[0]!;
    const { picks } = simulate(lb, KEYS, 3000, mulberry32(7), (k) => (k === slow ? 250 : 10));
    const slowShare = (picks.get(slow) ?? 0) / 3000;
    expect(slowShare).toBeLessThan(0.05); // uniform would be 1/3
    expect(picks.get(KEYS[1]!)! + picks.get(KEYS[2]!)!).toBeGreaterThan(2850);
  });

  it('endpoints with equal latency share the load', () => {
    const lb = createEndpointBalancer();
    const { picks } = simulate(lb, KEYS, 3000, mulberry32(11), () => 10);
    for (const k of KEYS) {
      expect(picks.get(k)! / 3000).toBeGreaterThan(0.25);
      expect(picks.get(k)! / 3000).toBeLessThan(0.42);
    }
  });

  it('pending requests shift picks away from a loaded endpoint', () => {
    const lb = createEndpointBalancer();
    // Same latency history for both.
    for (const k of ['a:1', 'b:1']) {
      lb.start(k, 0);
      lb.end(k, 20, 20, true);
    }
    lb.start('a:1', 20);
    lb.start('a:1', 20); // a has 2 in flight
    const random = mulberry32(5);
    for (let i = 0; i < 20; i++) expect(lb.pick(['a:1', 'b:1'], random, 30)).toBe('b:1');
    // With its in-flight requests done, a is as good as b again.
    lb.end('a:1', 40, 20, true);
    lb.end('a:1', 40, 20, true);
    expect(lb.peek('a:1')?.pending).toBe(0);
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) seen.add(lb.pick(['a:1', 'b:1', 'c:1'], random, 40)!);
    expect(seen.has('a:1')).toBe(true);
  });

  it('cost is ewma * (pending + 1)', () => {
    const lb = createEndpointBalancer({ defaultRttMs: 30 });
    expect(lb.cost('a:1', 0)).toBeCloseTo(30, 9);
    lb.start('a:1', 0);
    lb.start('a:1', 0);
    expect(lb.cost('a:1', 0)).toBeCloseTo(90, 9);
  });

  it('is deterministic for a given seed', () => {
    const run = (seed: number) =>
      simulate(createEndpointBalancer(), KEYS, 500, mulberry32(seed), (k, now) => (k === KEYS[1] ? 40 : 5 + (now % 7)))
        .order;
    expect(run(123)).toEqual(run(123));
    expect(run(123)).not.toEqual(run(124));
  });

  it('a slow endpoint that recovers is probed again once its estimate decays', () => {
    const lb = createEndpointBalancer({ decayMs: 10_000 });
    const slow = KEYS[0]!;
    const { order } = simulate(lb, KEYS, 6000, mulberry32(3), (k, now) => (k === slow && now < 10_000 ? 300 : 10));
    // 6000 requests x 10 ms = 60 s; slow for the first 10 s only.
    const lastHalf = order.slice(3000);
    expect(lastHalf.filter((k) => k === slow).length).toBeGreaterThan(300);
  });
});

describe('peak EWMA', () => {
  it('a new endpoint starts at defaultRttMs', () => {
    const lb = createEndpointBalancer({ defaultRttMs: 42 });
    lb.start('a:1', 1000);
    expect(lb.peek('a:1')).toMatchObject({ ewma: 42, stamp: 1000, pending: 1, failures: 0, outUntil: 0 });
  });

  it('an RTT above the estimate replaces it at once', () => {
    const lb = createEndpointBalancer({ defaultRttMs: 30 });
    lb.start('a:1', 0);
    lb.end('a:1', 1, 500, true);
    expect(lb.peek('a:1')?.ewma).toBe(500);
  });

  it('an RTT below the estimate is blended with weight exp(-elapsed/decay)', () => {
    const lb = createEndpointBalancer({ defaultRttMs: 30, decayMs: 10_000 });
    lb.start('a:1', 0);
    lb.end('a:1', 10_000, 10, true);
    const w = Math.exp(-1);
    expect(lb.peek('a:1')?.ewma).toBeCloseTo(30 * w + 10 * (1 - w), 9);
    expect(lb.peek('a:1')?.stamp).toBe(10_000);
  });

  it('an RTT below the estimate right after the last update barely moves it', () => {
    const lb = createEndpointBalancer({ defaultRttMs: 30 });
    lb.start('a:1', 0);
    lb.end('a:1', 0, 1, true);
    expect(lb.peek('a:1')?.ewma).toBe(30);
  });

  it('an idle endpoint\'s cost decays towards 0', () => {
    const lb = createEndpointBalancer({ defaultRttMs: 30, decayMs: 1000 });
    lb.start('a:1', 0);
    lb.end('a:1', 0, 200, true);
    expect(lb.cost('a:1', 1000)).toBeCloseTo(200 * Math.exp(-1), 6);
    expect(lb.cost('a:1', 1e9)).toBeGreaterThan(0);
  });

  it('fully decayed estimates still rank by pending load', () => {
    const lb = createEndpointBalancer({ decayMs: 1 });
    lb.start('a:1', 0);
    lb.start('a:1', 0);
    lb.start('b:1', 0);
    lb.end('b:1', 0, 1, true);
    const late = 1e7; // exp(-1e7) underflows to 0
    expect(lb.cost('a:1', late)).toBeGreaterThan(lb.cost('b:1', late));
    for (let i = 0; i < 10; i++) expect(lb.pick(['a:1', 'b:1'], mulberry32(i), late)).toBe('b:1');
  });

  it('a fast failure is penalised rather than rewarded', () => {
    const lb = createEndpointBalancer({ defaultRttMs: 30, failurePenaltyMs: 1000 });
    lb.start('bad:1', 0);
    lb.end('bad:1', 1, 1, false); // connection refused in 1 ms
    expect(lb.peek('bad:1')?.ewma).toBe(1000);
    lb.start('good:1', 0);
    lb.end('good:1', 20, 20, true);
    for (let i = 0; i < 10; i++) expect(lb.pick(['bad:1', 'good:1'], mulberry32(i), 30)).toBe('good:1');
  });

  it('a slow failure keeps its (higher) RTT', () => {
    const lb = createEndpointBalancer({ failurePenaltyMs: 1000 });
    lb.start('a:1', 0);
    lb.end('a:1', 5000, 5000, false);
    expect(lb.peek('a:1')?.ewma).toBe(5000);
  });

  it('a clock going backwards does not inflate the estimate', () => {
    const lb = createEndpointBalancer({ defaultRttMs: 30 });
    lb.start('a:1', 1000);
    lb.end('a:1', 500, 10, true);
    expect(lb.peek('a:1')?.ewma).toBe(30);
    expect(lb.peek('a:1')?.stamp).toBe(1000);
  });
});

describe('pending accounting and prune', () => {
  it('start increments and end decrements pending, never below 0', () => {
    const lb = createEndpointBalancer();
    lb.start('a:1', 0);
    lb.start('a:1', 0);
    expect(lb.peek('a:1')?.pending).toBe(2);
    lb.end('a:1', 1, 1, true);
    lb.end('a:1', 1, 1, true);
    lb.end('a:1', 1, 1, true);
    expect(lb.peek('a:1')?.pending).toBe(0);
  });

  it('prune drops state for endpoints no longer in config', () => {
    const lb = createEndpointBalancer();
    for (const k of KEYS) lb.start(k, 0);
    lb.prune([KEYS[0]!, 'new:1']);
    expect(lb.size).toBe(1);
    expect(lb.peek(KEYS[0]!)?.pending).toBe(1);
    expect(lb.peek(KEYS[1]!)).toBeUndefined();
    lb.prune(new Set<string>());
    expect(lb.size).toBe(0);
  });

  it('ending a request to a pruned endpoint is a no-op', () => {
    const lb = createEndpointBalancer();
    lb.start('gone:1', 0);
    lb.prune([]);
    lb.end('gone:1', 10, 10, true);
    expect(lb.peek('gone:1')).toBeUndefined();
    expect(lb.size).toBe(0);
  });

  it('peek returns a copy', () => {
    const lb = createEndpointBalancer();
    lb.start('a:1', 0);
    const snap = lb.peek('a:1') as { pending: number };
    snap.pending = 99;
    expect(lb.peek('a:1')?.pending).toBe(1);
  });

  it('rejects nonsensical options', () => {
    expect(() => createEndpointBalancer({ decayMs: 0 })).toThrow(RangeError);
    expect(() => createEndpointBalancer({ defaultRttMs: -1 })).toThrow(RangeError);
  });
});

describe('failure accrual', () => {
  const fail = (lb: EndpointBalancer, key: string, now: number): void => {
    lb.start(key, now);
    lb.end(key, now, 0, false);
  };
  const succeed = (lb: EndpointBalancer, key: string, now: number, rtt = 5): void => {
    lb.start(key, now);
    lb.end(key, now + rtt, rtt, true);
  };

  it('a failing endpoint loses to a healthy one, however busy and slow the healthy one is', () => {
    const lb = createEndpointBalancer();
    // Healthy but slow (1.5 s) and busy (10 in flight).
    lb.start('ok:1', 0);
    lb.end('ok:1', 1500, 1500, true);
    for (let i = 0; i < 10; i++) lb.start('ok:1', 1500);
    fail(lb, 'dead:1', 1500); // refused at once
    expect(lb.cost('dead:1', 1600)).toBeLessThan(lb.cost('ok:1', 1600));
    const random = mulberry32(3);
    for (let i = 0; i < 100; i++) expect(lb.pick(['dead:1', 'ok:1'], random, 1600)).toBe('ok:1');
  });

  it('with three endpoints, one dead: after its first failure it is picked only to probe it, once per backoff', () => {
    const lb = createEndpointBalancer();
    const keys = ['a:1', 'b:1', 'dead:1'];
    const random = mulberry32(5);
    const deadPicks: number[] = [];
    for (let now = 0; now < 5000; now += 10) {
      const key = lb.pick(keys, random, now)!;
      if (key === 'dead:1') {
        deadPicks.push(now);
        fail(lb, key, now);
      } else {
        // Slowed to 1.5 s each: never ends within the run, so they stay busy.
        lb.start(key, now);
      }
    }
    // The first pick, then one probe as each backoff (250, 500, 1000, 2000 ms) runs out.
    expect(deadPicks).toHaveLength(5);
    const gaps = deadPicks.slice(1).map((t, i) => t - (deadPicks[i] as number));
    expect(gaps.map((g, i) => g >= 250 * 2 ** i && g < 250 * 2 ** i + 100)).toEqual([true, true, true, true]);
    expect(lb.ejected('dead:1', deadPicks.at(-1) as number)).toBe(true);
  });

  it('each failure puts it out for a doubling backoff; from the 5th it is ejected; then probed: a success takes it back', () => {
    const ejections: Array<[string, number, number]> = [];
    const lb = createEndpointBalancer({ backoffBaseMs: 100, backoffMaxMs: 1000, onEject: (k, f, b) => ejections.push([k, f, b]) });
    const keys = ['a:1', 'dead:1'];
    const random = mulberry32(9);
    let now = 0;
    // Failures 1..4: demoted (out for 100, 200, 400, 800 ms), not ejected.
    for (const backoff of [100, 200, 400, 800]) {
      fail(lb, 'dead:1', now);
      expect(lb.peek('dead:1')?.outUntil).toBe(now + backoff);
      expect(lb.ejected('dead:1', now)).toBe(false);
      for (let i = 0; i < 20; i++) expect(lb.pick(keys, random, now + backoff - 1)).toBe('a:1');
      // A late failure of a request that was in flight changes nothing.
      fail(lb, 'dead:1', now + 1);
      expect(lb.peek('dead:1')?.failures).toBe(backoff === 100 ? 1 : backoff === 200 ? 2 : backoff === 400 ? 3 : 4);
      now += backoff;
    }
    // The 5th: ejected for 1600 -> capped at 1000, and told.
    fail(lb, 'dead:1', now);
    expect(lb.ejected('dead:1', now)).toBe(true);
    expect(ejections).toEqual([['dead:1', 5, 1000]]);
    // Ejected: not picked even as the only other choice is busy and slow.
    for (let i = 0; i < 10; i++) lb.start('a:1', now);
    for (let i = 0; i < 20; i++) expect(lb.pick(keys, random, now + 999)).toBe('a:1');
    // Probed when the backoff has passed: its estimate is reset, it competes (and wins against the busy one).
    expect(lb.ejected('dead:1', now + 1000)).toBe(false);
    expect(lb.peek('dead:1')).toMatchObject({ outUntil: 0, ewma: 30 });
    expect(lb.pick(keys, random, now + 1000)).toBe('dead:1');
    // A failed probe: ejected again at once.
    now += 1000;
    fail(lb, 'dead:1', now);
    expect(lb.ejected('dead:1', now)).toBe(true);
    expect(ejections).toHaveLength(2);
    // It recovers: the next probe succeeds and takes it back with nothing held against it.
    now += 1000;
    succeed(lb, 'dead:1', now);
    expect(lb.peek('dead:1')).toMatchObject({ failures: 0, outUntil: 0 });
    fail(lb, 'dead:1', now);
    expect(lb.peek('dead:1')?.outUntil).toBe(now + 100);
  });

  it('when every candidate is ejected, ejection is ignored (a request still goes somewhere)', () => {
    const lb = createEndpointBalancer({ backoffBaseMs: 1 });
    for (const k of ['a:1', 'b:1']) for (let i = 0; i < 5; i++) fail(lb, k, i * 100);
    expect(lb.ejected('a:1', 401)).toBe(true);
    expect(lb.pick(['a:1', 'b:1'], mulberry32(1), 401)).toBeDefined();
  });

  it('avoids the endpoints a request already failed on, unless nothing else is left', () => {
    const lb = createEndpointBalancer();
    const random = mulberry32(2);
    for (let i = 0; i < 100; i++) expect(lb.pick(['a:1', 'b:1', 'c:1'], random, 0, new Set(['a:1']))).not.toBe('a:1');
    expect(lb.pick(['a:1', 'b:1'], random, 0, new Set(['a:1']))).toBe('b:1');
    expect(lb.pick(['a:1'], random, 0, new Set(['a:1']))).toBe('a:1');
    expect(lb.pick(['a:1', 'b:1'], random, 0, new Set(['a:1', 'b:1']))).toBeDefined();
  });

  it('prune forgets ejected endpoints too (the fast path comes back)', () => {
    const lb = createEndpointBalancer({ backoffBaseMs: 1 });
    for (let i = 0; i < 5; i++) fail(lb, 'dead:1', i * 100);
    lb.prune(['a:1']);
    expect(lb.peek('dead:1')).toBeUndefined();
    // No state for the pruned key: a pick over others must not consult it.
    expect(lb.pick(['a:1', 'b:1'], mulberry32(4), 1)).toBeDefined();
  });
});

describe('cancel: a request its caller abandoned', () => {
  it('is no longer in flight, and neither its latency nor a failure is learned', () => {
    const b = createEndpointBalancer({ decayMs: 10_000, defaultRttMs: 5 });
    b.start('a', 0);
    b.start('a', 0);
    const before = b.cost('a', 1);
    b.cancel('a');
    // One fewer in flight: the cost drops by one share, the estimate is unchanged.
    expect(b.cost('a', 1)).toBeCloseTo((before / 3) * 2, 6);
    // Failures before it still count: a cancel is not a success.
    b.end('a', 2, 1, false);
    b.start('a', 3);
    b.cancel('a');
    expect(b.cost('a', 4)).toBeGreaterThan(0);
  });
});
