// Kubelet probes of an injected pod, made to work in every inbound mode and to
// tell the truth (Istio's approach, chosen over Linkerd's): each httpGet,
// tcpSocket and grpc probe of an app container is rewritten to an httpGet of
// the proxy's admin port (4191, which weft-init never redirects)
//   /app-health/<container>/<livez|readyz|startupz>
// and the original probe goes to the proxy in WEFT_APP_PROBES. The proxy then
// probes the app from inside the pod (loopback, never intercepted) and
// answers with the app's verdict: a dead port or a failing handler fails.
// Why not Linkerd's (let plaintext probe requests through to the app port):
// a tcpSocket probe cannot be made truthful that way (the proxy accepts the
// connection whatever the app does), and letting a port's plaintext through
// in STRICT mode for the probe's sake opens it to anyone.
// exec probes are left alone. Pure: the pod's containers in, JSON Patch
// operations and the probe table out.

import type { AppProbe } from '../proto/mesh.ts';
export const PROBE_KINDS = {
  livenessProbe: 'livez',
  readinessProbe: 'readyz',
  startupProbe: 'startupz',
} as const;


export interface ProbeRewrite {
  /** JSON Patch operations on the pod as it was received (container indices before injection). */
  ops: Array<{ op: 'replace'; path: string; value: unknown }>;
  /** "<container>/<livez|readyz|startupz>" -> the original probe. */
  probes: Record<string, AppProbe>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A probe's port: a number, or the name of one of the container's ports. undefined: unresolvable. */
function resolvePort(port: unknown, container: Obj): number | undefined {
  if (typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536) return port;
  if (typeof port === 'string' && /^[0-9]+$/.test(port)) return resolvePort(Number(port), container);
  if (typeof port === 'string' && Array.isArray(container['ports'])) {
    for (const p of container['ports']) {
      if (isObj(p) && p['name'] === port) return resolvePort(p['containerPort'], container);
    }
  }
  return undefined;
}

function originalProbe(probe: Obj, container: Obj): AppProbe | undefined {
  const http = probe['httpGet'];
  if (isObj(http)) {
    const port = resolvePort(http['port'], container);
    if (port === undefined) return undefined;
    const headers = Array.isArray(http['httpHeaders'])
      ? http['httpHeaders'].filter(isObj).map((h) => ({ name: String(h['name'] ?? ''), value: String(h['value'] ?? '') }))
      : undefined;
    return {
      httpGet: {
        port,
        path: typeof http['path'] === 'string' && http['path'] !== '' ? http['path'] : '/',
        scheme: http['scheme'] === 'HTTPS' ? 'HTTPS' : 'HTTP',
        ...(typeof http['host'] === 'string' && http['host'] !== '' ? { host: http['host'] } : {}),
        ...(headers !== undefined && headers.length > 0 ? { httpHeaders: headers } : {}),
      },
    };
  }
  const tcp = probe['tcpSocket'];
  if (isObj(tcp)) {
    const port = resolvePort(tcp['port'], container);
    if (port === undefined) return undefined;
    return { tcpSocket: { port, ...(typeof tcp['host'] === 'string' && tcp['host'] !== '' ? { host: tcp['host'] } : {}) } };
  }
  const grpc = probe['grpc'];
  if (isObj(grpc)) {
    const port = resolvePort(grpc['port'], container);
    if (port === undefined) return undefined;
    return { grpc: { port, ...(typeof grpc['service'] === 'string' && grpc['service'] !== '' ? { service: grpc['service'] } : {}) } };
  }
  return undefined;
}

/** Escapes one JSON Pointer segment (RFC 6901). */
function segment(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The rewrite of every app container's probes (see the file comment). */
export function rewriteProbes(containers: readonly Obj[], adminPort: number): ProbeRewrite {
  const ops: ProbeRewrite['ops'] = [];
  const probes: Record<string, AppProbe> = {};
  containers.forEach((container, i) => {
    const name = typeof container['name'] === 'string' ? container['name'] : `container-${i}`;
    for (const [field, kind] of Object.entries(PROBE_KINDS)) {
      const probe = container[field];
      if (!isObj(probe)) continue;
      const original = originalProbe(probe, container);
      if (original === undefined) continue;
      const { httpGet: _h, tcpSocket: _t, grpc: _g, ...timing } = probe;
      probes[`${name}/${kind}`] = original;
      ops.push({
        op: 'replace',
        path: `/spec/containers/${i}/${segment(field)}`,
        value: { ...timing, httpGet: { path: `/app-health/${name}/${kind}`, port: adminPort, scheme: 'HTTP' } },
      });
    }
  });
  return { ops, probes };
}
