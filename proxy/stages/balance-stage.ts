// Outbound stage 6: the endpoint of the chosen backend, by power of two
// choices over peak-EWMA latency, skipping ejected endpoints (failure
// accrual: routing/endpoint-choice.ts). Each attempt picks again, avoiding
// the endpoints this request already failed on when another exists, so a
// retry never lands on the endpoint that just failed. A 5xx, a connection
// failure, a timeout, or a gRPC call answered at once with UNAVAILABLE counts
// as a failure of the endpoint. No endpoints:
// WEFT_ERR_NO_ENDPOINTS (503).
// A pinned endpoint (a call by pod IP) is used as is.
import { WeftError, findWeftError } from '../../proto/errors.ts';
import type { EndpointBalancer } from '../routing/endpoint-choice.ts';
import type { Layer } from '../exchange.ts';
import { GRPC_STATUS, grpcStatusOf } from '../h2/grpc-status.ts';

export function balanceStage(balancer: EndpointBalancer, random: () => number, now: () => number): Layer {
  return (next) => async (ex) => {
    if (ex.pinned !== undefined) {
      ex.endpoint = ex.pinned;
      return next(ex);
    }
    const backend = ex.backend;
    if (backend === undefined) return next(ex);
    const port = backend.port === 0 ? ex.port : backend.port;
    const set = backend.service.endpointsFor(port);
    if (set === undefined) {
      throw new WeftError('WEFT_ERR_NO_ROUTE', `${backend.service.id} exposes no port ${port}`);
    }
    const t0 = now();
    const key = balancer.pick(set.keys, random, t0, ex.failed);
    const endpoint = key === undefined ? undefined : set.byKey.get(key);
    if (key === undefined || endpoint === undefined) {
      throw new WeftError('WEFT_ERR_NO_ENDPOINTS', `${backend.service.id} has no endpoints`);
    }
    ex.endpoint = endpoint;
    balancer.start(key, t0);
    try {
      const res = await next(ex);
      const t1 = now();
      // An HTTP/2 session's one-time connect is not the endpoint's latency.
      const rtt = t1 - t0 - (ex.connectWaitMs ?? 0);
      const ok = (res.statusCode ?? 500) < 500 && !(ex.h2?.grpc === true && res.endStream === true && grpcStatusOf(res.headers) === GRPC_STATUS.UNAVAILABLE);
      balancer.end(key, t1, rtt, ok);
      if (!ok) (ex.failed ??= new Set()).add(key);
      return res;
    } catch (err) {
      // A caller that went away (a gRPC cancel) says nothing about the endpoint: neither a failure nor a latency.
      if (findWeftError(err)?.code === 'WEFT_ERR_CLIENT_CLOSED') {
        balancer.cancel(key);
        throw err;
      }
      const t1 = now();
      balancer.end(key, t1, t1 - t0, false);
      (ex.failed ??= new Set()).add(key);
      throw err;
    }
  };
}
