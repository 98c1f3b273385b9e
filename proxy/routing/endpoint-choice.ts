// Endpoint choice: power of two choices (P2C) over peak-EWMA latency, as in
// Finagle's and linkerd2-proxy's (tower) balancers.
//
// Every endpoint has a latency estimate (`ewma`, ms) and a count of requests
// in flight (`pending`). Its cost is ewma * (pending + 1). A pick draws two
// distinct endpoints at random and takes the cheaper one, which is O(1), needs
// no global ordering, and avoids herding onto one "best" endpoint.
//
// Peak EWMA: an observed RTT above the estimate replaces it at once (react to
// slowness immediately); a lower one pulls the estimate down gradually, with
// weight exp(-elapsed / decayMs) on the old value. Reading the cost decays the
// estimate towards 0 in the same way (an observation of 0), so an endpoint
// that has not been used for a while is probed again. A new endpoint starts at
// defaultRttMs. A failed request (ok = false: connect error, reset, timeout)
// counts as at least failurePenaltyMs, so fast failures do not attract load.
//
// Failure handling (failure accrual, as linkerd2-proxy's; Envoy's outlier
// detection ejects on 5 consecutive errors too). Each consecutive failure
// puts the endpoint out for a backoff of backoffBaseMs * 2^(failures - 1), at
// most backoffMaxMs (250 ms, 500 ms, 1 s, 2 s, 4 s, ... 30 s by default):
//   - while out with fewer than `ejectAfter` consecutive failures it is
//     "failing": it loses every comparison against an endpoint that is not,
//     whatever their costs, so a dead endpoint that refuses at once is never
//     cheaper than a healthy busy one (with P2C over >= 3 endpoints it is not
//     picked at all while two others are healthy);
//   - from `ejectAfter` consecutive failures on it is ejected: not picked at
//     all while out;
//   - when its backoff has passed it is probed: its estimate is reset to
//     defaultRttMs and it competes normally, so a request soon goes to it;
//     a success takes it back (failures forgotten), a failure puts it out
//     again for twice as long;
//   - when every candidate is ejected, ejection is ignored (fail open, as
//     Envoy's panic threshold): a request still has somewhere to go;
//   - `avoid` (the endpoints this request already failed on) are skipped
//     when any other candidate remains: a retry never lands on the endpoint
//     that just failed unless it is the only one.
//
// Time (`now`, ms) and randomness (`random` in [0, 1)) are parameters; the
// only state is the per-endpoint map, keyed by "address:port".

export interface EndpointBalancerOptions {
  /** Decay time constant of the estimate, ms. Default 10 000. */
  decayMs?: number;
  /** Estimate for an endpoint with no observation yet, ms. Default 30. */
  defaultRttMs?: number;
  /** RTT recorded for a failed request, at least, ms. Default 1 000. */
  failurePenaltyMs?: number;
  /** Consecutive failures that eject an endpoint (before that it is only demoted). Default 5. */
  ejectAfter?: number;
  /** How long the first failure puts an endpoint out, ms; doubled by each further one. Default 250. */
  backoffBaseMs?: number;
  /** Longest backoff, ms. Default 30 000. */
  backoffMaxMs?: number;
  /** Told when an endpoint is ejected (its `ejectAfter`-th consecutive failure, and each failed probe after). */
  onEject?: (key: string, failures: number, backoffMs: number) => void;
}

export interface EndpointState {
  /** Peak-EWMA latency estimate, ms, as of `stamp`. */
  ewma: number;
  /** When `ewma` was last updated, ms. */
  stamp: number;
  /** Requests started and not yet ended. */
  pending: number;
  /** Failures since the last success. */
  failures: number;
  /** Out (demoted, or ejected from `ejectAfter` failures on) until this time, ms; 0 when not out. */
  outUntil: number;
}

export interface EndpointBalancer {
  /**
   * Chooses among `keys` (the endpoints currently in config): undefined for
   * none; else, among those neither ejected nor in `avoid` (all of them when
   * that leaves none), the only one, or the better of two distinct random
   * ones (not failing first, then cheaper).
   */
  pick(keys: readonly string[], random: () => number, now: number, avoid?: ReadonlySet<string>): string | undefined;
  /** A request to `key` starts. */
  start(key: string, now: number): void;
  /** A request to `key` ends after `rttMs`; ok = false for a failure. */
  end(key: string, now: number, rttMs: number, ok: boolean): void;
  /** A request to `key` was abandoned by its caller: it is no longer in flight, and nothing is learned from it. */
  cancel(key: string): void;
  /** Drops the state of every endpoint not in `keepKeys`. */
  prune(keepKeys: Iterable<string>): void;
  /** Current cost of `key` at `now` (decays its estimate, like pick does). */
  cost(key: string, now: number): number;
  /** Read-only view of one endpoint's state (for tests and the admin page). */
  peek(key: string): Readonly<EndpointState> | undefined;
  /** Whether `key` is ejected at `now` (out with `ejectAfter` failures or more). */
  ejected(key: string, now: number): boolean;
  /** Number of endpoints with state. */
  readonly size: number;
}

/** The balancer's key for an endpoint. */
export function endpointKey(ep: { readonly address: string; readonly port: number }): string {
  return `${ep.address}:${ep.port}`;
}

// Keeps cost proportional to pending load even when an idle estimate has
// decayed to (almost) 0.
const MIN_EWMA_MS = 1e-3;

export function createEndpointBalancer(options: EndpointBalancerOptions = {}): EndpointBalancer {
  const decayMs = options.decayMs ?? 10_000;
  const defaultRttMs = options.defaultRttMs ?? 30;
  const failurePenaltyMs = options.failurePenaltyMs ?? 1_000;
  const ejectAfter = options.ejectAfter ?? 5;
  const backoffBaseMs = options.backoffBaseMs ?? 250;
  const backoffMaxMs = options.backoffMaxMs ?? 30_000;
  const onEject = options.onEject;
  if (
    !(decayMs > 0) ||
    !(defaultRttMs >= 0) ||
    !(failurePenaltyMs >= 0) ||
    !(ejectAfter >= 1) ||
    !(backoffBaseMs > 0) ||
    !(backoffMaxMs >= backoffBaseMs)
  ) {
    throw new RangeError(
      'createEndpointBalancer: decayMs must be > 0, defaultRttMs and failurePenaltyMs >= 0, ejectAfter >= 1, 0 < backoffBaseMs <= backoffMaxMs',
    );
  }
  const states = new Map<string, EndpointState>();
  /** Endpoints with outUntil > 0 (out, or due to be probed): while 0, pick takes its fast path. */
  let outCount = 0;
  /** Candidates of a pick that skips some (reused: pick is synchronous). */
  const eligible: string[] = [];

  function stateOf(key: string, now: number): EndpointState {
    let s = states.get(key);
    if (s === undefined) {
      s = { ewma: defaultRttMs, stamp: now, pending: 0, failures: 0, outUntil: 0 };
      states.set(key, s);
    }
    return s;
  }

  /** Whether `s` is out at `now`; a backoff that has run out makes it due to be probed (estimate reset). */
  function isOut(s: EndpointState, now: number): boolean {
    if (s.outUntil === 0) return false;
    if (now < s.outUntil) return true;
    s.outUntil = 0;
    outCount--;
    s.ewma = defaultRttMs;
    s.stamp = now;
    return false;
  }

  function isEjectedState(s: EndpointState, now: number): boolean {
    return s.failures >= ejectAfter && isOut(s, now);
  }

  /** The better of a and b: not failing (out) first, then cheaper; ties to a. */
  function better(a: string, b: string, now: number): string {
    const sa = stateOf(a, now);
    const sb = stateOf(b, now);
    const fa = isOut(sa, now);
    const fb = isOut(sb, now);
    if (fa !== fb) return fa ? b : a;
    return costOf(sb, now) < costOf(sa, now) ? b : a;
  }

  function p2c(keys: readonly string[], random: () => number, now: number): string | undefined {
    const n = keys.length;
    if (n === 0) return undefined;
    if (n === 1) return keys[0];
    let i = Math.floor(random() * n);
    if (i >= n) i = n - 1;
    let j = Math.floor(random() * (n - 1));
    if (j >= n - 1) j = n - 2;
    if (j >= i) j++;
    // Ties go to the first draw, which is itself uniformly random.
    return better(keys[i]!, keys[j]!, now);
  }

  /** Folds one observation into the estimate (peak EWMA). */
  function observe(s: EndpointState, now: number, rtt: number): void {
    if (rtt > s.ewma) {
      s.ewma = rtt;
    } else {
      const elapsed = now > s.stamp ? now - s.stamp : 0;
      const w = Math.exp(-elapsed / decayMs);
      s.ewma = s.ewma * w + rtt * (1 - w);
    }
    if (now > s.stamp) s.stamp = now;
  }

  function costOf(s: EndpointState, now: number): number {
    observe(s, now, 0);
    const ewma = s.ewma > MIN_EWMA_MS ? s.ewma : MIN_EWMA_MS;
    return ewma * (s.pending + 1);
  }

  return {
    pick(keys, random, now, avoid) {
      if (keys.length <= 1) return keys[0];
      if (outCount === 0 && (avoid === undefined || avoid.size === 0)) return p2c(keys, random, now);
      eligible.length = 0;
      for (const key of keys) {
        if (avoid?.has(key) === true) continue;
        const s = states.get(key);
        if (s !== undefined && isEjectedState(s, now)) continue;
        eligible.push(key);
      }
      if (eligible.length > 0) return p2c(eligible, random, now);
      // Everything left is ejected or already failed this request: ignore ejection, then avoidance.
      for (const key of keys) if (avoid?.has(key) !== true) eligible.push(key);
      return p2c(eligible.length > 0 ? eligible : keys, random, now);
    },
    start(key, now) {
      stateOf(key, now).pending++;
    },
    end(key, now, rttMs, ok) {
      // State pruned while the request was in flight: nothing to update.
      const s = states.get(key);
      if (s === undefined) return;
      if (s.pending > 0) s.pending--;
      let rtt = Number.isFinite(rttMs) && rttMs > 0 ? rttMs : 0;
      if (!ok && rtt < failurePenaltyMs) rtt = failurePenaltyMs;
      observe(s, now, rtt);
      if (ok) {
        s.failures = 0;
        if (s.outUntil !== 0) {
          s.outUntil = 0;
          outCount--;
        }
        return;
      }
      // Already out (a request that was in flight failing late): the backoff stands.
      if (s.outUntil !== 0 && now < s.outUntil) return;
      s.failures++;
      const backoff = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(s.failures - 1, 30));
      if (s.outUntil === 0) outCount++;
      s.outUntil = now + backoff;
      if (s.failures >= ejectAfter) onEject?.(key, s.failures, backoff);
    },
    cancel(key) {
      const s = states.get(key);
      if (s !== undefined && s.pending > 0) s.pending--;
    },
    prune(keepKeys) {
      const keep = keepKeys instanceof Set ? (keepKeys as ReadonlySet<string>) : new Set(keepKeys);
      for (const [key, s] of states) {
        if (keep.has(key)) continue;
        if (s.outUntil !== 0) outCount--;
        states.delete(key);
      }
    },
    ejected(key, now) {
      const s = states.get(key);
      return s !== undefined && isEjectedState(s, now);
    },
    cost(key, now) {
      return costOf(stateOf(key, now), now);
    },
    peek(key) {
      const s = states.get(key);
      return s === undefined ? undefined : { ...s };
    },
    get size() {
      return states.size;
    },
  };
}
