// An SMI HTTPRouteGroup match as the proxy's HttpMatch (mesh.proto). Pure;
// shared by the split translator and the authorization compiler.
import type { HttpMatch } from '../proto/mesh.ts';
import type { RouteMatch } from './cluster-state.ts';

export function toHttpMatch(m: RouteMatch): HttpMatch {
  const match: HttpMatch = {
    methods: [...m.methods],
    headers: m.headers.map((h) => ({ name: h.name, regex: h.regex })),
  };
  // SMI anchors pathRegex at the start of the path only; the proxy anchors
  // both ends, so let the match run on to the end.
  if (m.pathRegex !== '') match.path = { regex: `(?:${m.pathRegex}).*` };
  return match;
}
