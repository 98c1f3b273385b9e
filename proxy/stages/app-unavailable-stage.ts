// Inbound stage: a request that could not be delivered to the app because no
// connection to it could be made (refused: the app crashed or is not
// listening yet; or the connect timed out) fails with WEFT_ERR_APP_UNAVAILABLE
// (503) instead of a 502: the client's proxy reads it in the weft-error
// header and knows that nothing reached the app, so it may retry any method
// on another endpoint (retry-stage.ts). A failure after the request was
// written stays what it was: the app may have acted on it.
import { WeftError, findWeftError } from '../../proto/errors.ts';
import type { Layer } from '../exchange.ts';

export const appUnavailableStage: Layer = (next) => (ex) =>
  next(ex).catch((err: unknown) => {
    const weft = findWeftError(err);
    if (weft?.code !== 'WEFT_ERR_UPSTREAM_CONNECT') throw err;
    throw new WeftError('WEFT_ERR_APP_UNAVAILABLE', `the app (port ${ex.appPort}) took no connection: ${weft.message}`, { cause: err });
  });
