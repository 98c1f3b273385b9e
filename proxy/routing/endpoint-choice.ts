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
// Time (`now`, ms) and randomness (`random` in [0, 1)) are parameters; the
// only state is the per-endpoint map, keyed by "address:port".

export interface EndpointBalancerOptions {
  /** Decay time constant of the estimate, ms. Default 10 000. */
  decayMs?: number;
  /** Estimate for an endpoint with no observation yet, ms. Default 30. */
  defaultRttMs?: number;
  /** RTT recorded for a failed request, at least, ms. Default 1 000. */
  failurePenaltyMs?: number;
}

export interface EndpointState {
  /** Peak-EWMA latency estimate, ms, as of `stamp`. */
  ewma: number;
  /** When `ewma` was last updated, ms. */
  stamp: number;
  /** Requests started and not yet ended. */
  pending: number;
}

export interface EndpointBalancer {
  /**
   * Chooses among `keys` (the endpoints currently in config): undefined for
   * none, the only one for one, else the cheaper of two distinct random ones.
   */
  pick(keys: readonly string[], random: () => number, now: number): string | undefined;
  /** A request to `key` starts. */
  start(key: string, now: number): void;
  /** A request to `key` ends after `rttMs`; ok = false for a failure. */
  end(key: string, now: number, rttMs: number, ok: boolean): void;
  /** Drops the state of every endpoint not in `keepKeys`. */
  prune(keepKeys: Iterable<string>): void;
  /** Current cost of `key` at `now` (decays its estimate, like pick does). */
  cost(key: string, now: number): number;
  /** Read-only view of one endpoint's state (for tests and the admin page). */
  peek(key: string): Readonly<EndpointState> | undefined;
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
  if (!(decayMs > 0) || !(defaultRttMs >= 0) || !(failurePenaltyMs >= 0)) {
    throw new RangeError('createEndpointBalancer: decayMs must be > 0, defaultRttMs and failurePenaltyMs >= 0');
  }
  const states = new Map<string, EndpointState>();

  function stateOf(key: string, now: number): EndpointState {
    let s = states.get(key);
    if (s === undefined) {
      s = { ewma: defaultRttMs, stamp: now, pending: 0 };
      states.set(key, s);
    }
    return s;
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
    pick(keys, random, now) {
      const n = keys.length;
      if (n === 0) return undefined;
      if (n === 1) return keys[0];
      let i = Math.floor(random() * n);
      if (i >= n) i = n - 1;
      let j = Math.floor(random() * (n - 1));
      if (j >= n - 1) j = n - 2;
      if (j >= i) j++;
      const a = keys[i]!;
      const b = keys[j]!;
      // Ties go to the first draw, which is itself uniformly random.
      return costOf(stateOf(b, now), now) < costOf(stateOf(a, now), now) ? b : a;
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
    },
    prune(keepKeys) {
      const keep = keepKeys instanceof Set ? (keepKeys as ReadonlySet<string>) : new Set(keepKeys);
      for (const key of states.keys()) {
        if (!keep.has(key)) states.delete(key);
      }
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
