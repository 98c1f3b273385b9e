// Outbound stage 2: the first of the service's routes that accepts the
// request (path, method, headers). A service with routes that none accepts
// is WEFT_ERR_NO_ROUTE (404).
import { WeftError } from '../../proto/errors.ts';
import { matchRoute } from '../routing/route-match.ts';
import type { Layer } from '../exchange.ts';

export const routeStage: Layer = (next) => (ex) => {
  const service = ex.service;
  if (service === undefined) return next(ex); // egress: no routes
  const req = ex.req;
  const hit = matchRoute(service.compiledRoutes.length > 0 ? service.compiledRoutes : [], {
    path: req.url ?? '/',
    method: req.method ?? 'GET',
    headers: req.headers,
  });
  if (service.compiledRoutes.length > 0 && hit === undefined) {
    return Promise.reject(new WeftError('WEFT_ERR_NO_ROUTE', `no route of ${service.id} matches ${req.method} ${req.url}`));
  }
  ex.route = service.routes[hit === undefined ? 0 : hit.index];
  return next(ex);
};
