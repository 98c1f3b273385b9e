// Where the request path is composed. Read top to bottom: each stage wraps
// the ones below it, and the order matters.
import type { EndpointBalancer } from './routing/endpoint-choice.ts';
import type { Handler, Layer } from './exchange.ts';
import { routeStage } from './stages/route-stage.ts';
import { splitStage } from './stages/split-stage.ts';
import { retryStage } from './stages/retry-stage.ts';
import { timeoutStage } from './stages/timeout-stage.ts';
import { balanceStage } from './stages/balance-stage.ts';
import { authorizeStage, type AuthzHook } from './stages/authorize-stage.ts';
import { appUnavailableStage } from './stages/app-unavailable-stage.ts';
import { targetStage } from './stages/target-stage.ts';

export interface StackDeps {
  /** The namespace of this proxy's workload: bare service names resolve there first. */
  namespace: string;
  balancer: EndpointBalancer;
  random: () => number;
  now: () => number;
}

function compose(layers: Layer[], inner: Handler): Handler {
  return layers.reduceRight<Handler>((next, layer) => layer(next), inner);
}

/** Outbound (app -> mesh). */
export function outboundStack(deps: StackDeps, forward: Handler): Handler {
  return compose(
    [
      // 0. Target: which service the authority names (or egress, which skips
      //    the service stages below and goes straight to forward).
      targetStage(deps.namespace),
      // 1. Logical route: path/method/header matches pick the route, which
      //    carries the split, the timeout and the retry policy below.
      routeStage,
      // 2. Concrete backend by split weight, once per request: a retry stays
      //    on the same backend service so a canary's share is not skewed by
      //    its own failures being retried elsewhere.
      splitStage(deps.random),
      // 3. Retries wrap the timeout, so each attempt gets a full deadline,
      //    and wrap endpoint choice, so each attempt may pick another endpoint.
      retryStage(deps.now),
      // 4. Per-attempt response timeout (504).
      timeoutStage(deps.now),
      // 5. Endpoint by P2C over peak-EWMA; the latency it learns includes the
      //    TLS connect when a new HTTP/1.1 connection is needed (an endpoint
      //    whose pooled connections are all busy costs more), not an HTTP/2
      //    session's one-time connect.
      balanceStage(deps.balancer, deps.random, deps.now),
    ],
    forward,
  );
}

/**
 * Inbound (mesh -> app): authorize the client identity and the call (each
 * verdict to `onVerdict`), then forward to the app; an app that takes no
 * connection is 503 WEFT_ERR_APP_UNAVAILABLE.
 */
export function inboundStack(forward: Handler, onVerdict: AuthzHook): Handler {
  return compose([authorizeStage(onVerdict), appUnavailableStage], forward);
}
