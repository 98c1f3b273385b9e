// Outbound stage 5: a response timeout per attempt (headers must arrive in
// time). On expiry the attempt is aborted and fails with WEFT_ERR_TIMEOUT
// (504). Placed inside retries so each attempt gets its own deadline.
// As Envoy's route timeout, it starts once the request is complete (its
// body wholly received): a long upload is not a slow response. A body that
// stalls is the request-body idle timeout's (408, upstream-request.ts).
import { WeftError } from '../../proto/errors.ts';
import type { Deadline, Layer } from '../exchange.ts';

export const timeoutStage: Layer = (next) => (ex) => {
  const ms = ex.route?.timeoutMs ?? ex.config.config.defaults.timeoutMs;
  if (ms <= 0) return next(ex);
  const deadline: Deadline = { expired: undefined, onExpire: undefined };
  ex.deadline = deadline;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    timer = setTimeout(() => {
      const err = new WeftError('WEFT_ERR_TIMEOUT', `no response within ${ms} ms of the complete request`);
      deadline.expired = err;
      deadline.onExpire?.abort(err);
    }, ms);
  };
  const req = ex.req;
  const complete = ex.bodyless || req.complete;
  if (complete) arm();
  else req.once('end', arm);
  const done = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    if (!complete) req.removeListener('end', arm);
  };
  return next(ex).then(
    (res) => {
      done();
      return res;
    },
    (err: unknown) => {
      done();
      throw err;
    },
  );
};
