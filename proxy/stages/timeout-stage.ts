// Outbound stage 5: a response timeout per attempt (headers must arrive in
// time). On expiry the attempt is aborted and fails with WEFT_ERR_TIMEOUT
// (504). Placed inside retries so each attempt gets its own deadline.
import { WeftError } from '../../proto/errors.ts';
import type { Deadline, Layer } from '../exchange.ts';

export const timeoutStage: Layer = (next) => (ex) => {
  const ms = ex.route?.timeoutMs ?? ex.config.config.defaults.timeoutMs;
  if (ms <= 0) return next(ex);
  const deadline: Deadline = { expired: undefined, onExpire: undefined };
  ex.deadline = deadline;
  const timer = setTimeout(() => {
    const err = new WeftError('WEFT_ERR_TIMEOUT', `no response within ${ms} ms`);
    deadline.expired = err;
    deadline.onExpire?.abort(err);
  }, ms);
  const done = (): void => clearTimeout(timer);
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
