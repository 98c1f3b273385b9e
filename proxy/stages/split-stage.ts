// Outbound stage 3: the concrete backend service, chosen by split weight.
// Unusable backends were already left out when the config was compiled.
import { WeftError } from '../../proto/errors.ts';
import { chooseWeighted } from '../routing/weighted-choice.ts';
import type { Layer } from '../exchange.ts';

export function splitStage(random: () => number): Layer {
  return (next) => (ex) => {
    const route = ex.route;
    if (route === undefined || ex.pinned !== undefined) return next(ex);
    const backend = chooseWeighted(route.split, random);
    if (backend === undefined) {
      return Promise.reject(new WeftError('WEFT_ERR_NO_ENDPOINTS', `route ${route.label} of ${ex.service?.id} has no backend`));
    }
    ex.backend = backend;
    return next(ex);
  };
}
