// Outbound stage 5: a response timeout per attempt (headers must arrive in
// time). On expiry the attempt is aborted and fails with WEFT_ERR_TIMEOUT
// (504). Placed inside retries so each attempt gets its own deadline.
import { WeftError } from '../proto/errors.ts';
import type { Layer } from './exchange.ts';

export const timeoutStage: Layer = (next) => (ex) => {
  const ms = ex.route?.timeoutMs ?? ex.config.config.defaults.timeoutMs;
  if (ms <= 0) return next(ex);
  const controller = new AbortController();
  ex.signal = controller.signal;
  const timer = setTimeout(() => {
    controller.abort(new WeftError('WEFT_ERR_TIMEOUT', `no response within ${ms} ms`));
  }, ms);
  return next(ex).finally(() => clearTimeout(timer));
};
