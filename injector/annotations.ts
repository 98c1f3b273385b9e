// The annotation and label keys the injector reads (DESIGN.md, Ports and
// names) and their parsers. Each parser takes the raw string and the key it
// came from, and throws an InjectError naming that key when the value is not
// valid, so the caller decides whether that is a denial (pod) or a warning
// (namespace).
import type { LogLevel } from '../proto/log.ts';
import { InjectError } from './inject-error.ts';

export const INJECT_KEY = 'weft.dev/inject';
export const PROXY_VERSION_KEY = 'weft.dev/proxy-version';
export const DEFAULT_CONTAINER_KEY = 'kubectl.kubernetes.io/default-container';

const CONFIG = 'config.weft.dev/';
export const CONFIG_KEYS = {
  skipInboundPorts: `${CONFIG}skip-inbound-ports`,
  skipOutboundPorts: `${CONFIG}skip-outbound-ports`,
  opaquePorts: `${CONFIG}opaque-ports`,
  cpuRequest: `${CONFIG}proxy-cpu-request`,
  cpuLimit: `${CONFIG}proxy-cpu-limit`,
  memoryRequest: `${CONFIG}proxy-memory-request`,
  memoryLimit: `${CONFIG}proxy-memory-limit`,
  logLevel: `${CONFIG}proxy-log-level`,
  // Read by the control plane (pod over namespace over cluster default); validated here at admission.
  inboundMode: `${CONFIG}inbound-mode`,
} as const;

export type InjectMode = 'enabled' | 'disabled';

/** `enabled` / `disabled` (case and surrounding space ignored); anything else is an error. */
export function parseInjectMode(value: string, key: string): InjectMode {
  const v = value.trim().toLowerCase();
  if (v === 'enabled' || v === 'disabled') return v;
  throw new InjectError(
    'WEFT_ERR_INJECT_ANNOTATION_INVALID',
    `${key}: ${JSON.stringify(value)} is not "enabled" or "disabled"`,
    { key },
  );
}

/**
 * The injection setting of one object (pod or namespace), from its annotation
 * and its label. Both may be given when they agree; when they disagree that is
 * a conflict (WEFT_ERR_INJECT_CONFLICT), since no one can tell which was meant.
 */
export function injectModeOf(
  what: string,
  labels: Readonly<Record<string, string>>,
  annotations: Readonly<Record<string, string>>,
): InjectMode | undefined {
  const a = annotations[INJECT_KEY];
  const l = labels[INJECT_KEY];
  const fromAnnotation = a === undefined ? undefined : parseInjectMode(a, INJECT_KEY);
  const fromLabel = l === undefined ? undefined : parseInjectMode(l, INJECT_KEY);
  if (fromAnnotation !== undefined && fromLabel !== undefined && fromAnnotation !== fromLabel) {
    throw new InjectError(
      'WEFT_ERR_INJECT_CONFLICT',
      `${what}: annotation ${INJECT_KEY}=${fromAnnotation} conflicts with label ${INJECT_KEY}=${fromLabel}; remove one`,
      { key: INJECT_KEY },
    );
  }
  return fromAnnotation ?? fromLabel;
}

/** A TCP port or an inclusive range of them. */
export interface PortRange {
  from: number;
  to: number;
}

function port(s: string, key: string, whole: string): number {
  if (!/^\d{1,5}$/.test(s)) {
    throw new InjectError('WEFT_ERR_INJECT_ANNOTATION_INVALID', `${key}: ${JSON.stringify(whole)}: ${JSON.stringify(s)} is not a port number`, { key });
  }
  const n = Number(s);
  if (n < 1 || n > 65535) {
    throw new InjectError('WEFT_ERR_INJECT_ANNOTATION_INVALID', `${key}: ${JSON.stringify(whole)}: port ${n} is out of range 1-65535`, { key });
  }
  return n;
}

/**
 * A comma-separated list of ports and ranges: "25,3306, 8000-8100". Empty
 * entries are ignored; order is kept, duplicates removed.
 */
export function parsePortList(value: string, key: string): PortRange[] {
  const out: PortRange[] = [];
  const seen = new Set<string>();
  for (const raw of value.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const dash = item.indexOf('-');
    let r: PortRange;
    if (dash === -1) {
      const p = port(item, key, value);
      r = { from: p, to: p };
    } else {
      r = { from: port(item.slice(0, dash).trim(), key, value), to: port(item.slice(dash + 1).trim(), key, value) };
      if (r.from > r.to) {
        throw new InjectError('WEFT_ERR_INJECT_ANNOTATION_INVALID', `${key}: ${JSON.stringify(value)}: range ${item} runs backwards`, { key });
      }
    }
    const id = `${r.from}-${r.to}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(r);
  }
  return out;
}

/** "8080" or "8000-8100", as weft-init's flags and `iptables --dport` take them ("8000:8100"). */
export function formatPortRange(r: PortRange, sep: '-' | ':' = '-'): string {
  return r.from === r.to ? String(r.from) : `${r.from}${sep}${r.to}`;
}

// Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity):
// a non-negative decimal number with an optional binary (Ki..Ei), decimal
// (m, k, M..E) or exponent suffix. Signs are refused: a proxy with a negative
// request makes no sense.
const QUANTITY = /^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const SUFFIX: Record<string, number> = {
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};

/** The quantity's value (cores or bytes) for comparison; throws on an invalid quantity. */
export function parseQuantity(value: string, key: string): number {
  const m = QUANTITY.exec(value.trim());
  if (m === null) {
    throw new InjectError(
      'WEFT_ERR_INJECT_ANNOTATION_INVALID',
      `${key}: ${JSON.stringify(value)} is not a Kubernetes quantity (examples: 100m, 0.5, 64Mi, 1G)`,
      { key },
    );
  }
  const num = Number(m[1]);
  const suffix = m[2];
  if (suffix === undefined) return num;
  const factor = SUFFIX[suffix];
  // Not a named suffix: an exponent ("1e3", "1E3"; a bare "E" is exa, above).
  return factor !== undefined ? num * factor : num * 10 ** Number(suffix.slice(1));
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'off'];

export function parseProxyLogLevel(value: string, key: string): LogLevel {
  const v = value.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new InjectError(
    'WEFT_ERR_INJECT_ANNOTATION_INVALID',
    `${key}: ${JSON.stringify(value)} is not one of ${LOG_LEVELS.join(', ')}`,
    { key },
  );
}

/** `strict` / `permissive` (case and surrounding space ignored); anything else is an error. */
export function parseInboundMode(value: string, key: string): 'strict' | 'permissive' {
  const v = value.trim().toLowerCase();
  if (v === 'strict' || v === 'permissive') return v;
  throw new InjectError('WEFT_ERR_INJECT_ANNOTATION_INVALID', `${key}: ${JSON.stringify(value)} is not strict or permissive`, { key });
}
