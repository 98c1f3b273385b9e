// The pod's original kubelet probes, as the injector rewrote them to the
// admin port (injector/probe-rewrite.ts; WEFT_APP_PROBES): parsed and checked
// once at start. Pure.
import type { AppProbe } from '../../proto/mesh.ts';

export type { AppProbe };
import { WeftError } from '../../proto/errors.ts';


type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0 && v < 65536;
const optString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function bad(key: string, why: string): WeftError {
  return new WeftError('WEFT_ERR_CONFIG_INVALID', `app probes: ${key}: ${why}`);
}

function parseOne(key: string, v: unknown): AppProbe {
  if (!isObj(v)) throw bad(key, 'not an object');
  if (isObj(v['httpGet'])) {
    const h = v['httpGet'];
    if (!isPort(h['port'])) throw bad(key, 'httpGet.port is not a port');
    const path = typeof h['path'] === 'string' && h['path'].startsWith('/') ? h['path'] : '/';
    const headers = Array.isArray(h['httpHeaders'])
      ? h['httpHeaders'].filter(isObj).map((x) => ({ name: String(x['name'] ?? ''), value: String(x['value'] ?? '') })).filter((x) => x.name !== '')
      : [];
    const host = optString(h['host']);
    return {
      httpGet: {
        port: h['port'],
        path,
        scheme: h['scheme'] === 'HTTPS' ? 'HTTPS' : 'HTTP',
        ...(host !== undefined ? { host } : {}),
        ...(headers.length > 0 ? { httpHeaders: headers } : {}),
      },
    };
  }
  if (isObj(v['tcpSocket'])) {
    const t = v['tcpSocket'];
    if (!isPort(t['port'])) throw bad(key, 'tcpSocket.port is not a port');
    const host = optString(t['host']);
    return { tcpSocket: { port: t['port'], ...(host !== undefined ? { host } : {}) } };
  }
  if (isObj(v['grpc'])) {
    const g = v['grpc'];
    if (!isPort(g['port'])) throw bad(key, 'grpc.port is not a port');
    const service = optString(g['service']);
    return { grpc: { port: g['port'], ...(service !== undefined ? { service } : {}) } };
  }
  throw bad(key, 'neither httpGet, tcpSocket nor grpc');
}

/** "<container>/<livez|readyz|startupz>" -> probe. Throws WEFT_ERR_CONFIG_INVALID. */
export function parseAppProbes(json: string): Map<string, AppProbe> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (cause) {
    throw new WeftError('WEFT_ERR_CONFIG_INVALID', 'app probes: not JSON', { cause });
  }
  if (!isObj(raw)) throw new WeftError('WEFT_ERR_CONFIG_INVALID', 'app probes: not an object');
  const out = new Map<string, AppProbe>();
  for (const [key, v] of Object.entries(raw)) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/(livez|readyz|startupz)$/.test(key)) throw bad(key, 'not "<container>/<livez|readyz|startupz>"');
    out.set(key, parseOne(key, v));
  }
  return out;
}
