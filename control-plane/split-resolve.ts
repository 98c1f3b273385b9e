// Normalises SMI TrafficSplit and HTTPRouteGroup objects of every version
// into ClusterState's shapes. Pure; never throws: what is wrong with one
// object becomes a problem on that object (reported as a status condition by
// the translator, or as a manifest error by the file source), so one bad split
// never costs the whole snapshot.
//
// Versions:
// - split.smi-spec.io/v1alpha1: weights are Kubernetes quantities ("500m",
//   "1", "1k", 2). They are scaled to integers, preserving ratios: x1000,
//   rounded (a positive weight stays at least 1), reduced by their GCD.
// - v1alpha2..v1alpha4: weights are whole numbers.
// - v1alpha3, v1alpha4: `spec.matches` references HTTPRouteGroups
//   ({kind: HTTPRouteGroup, name}); Weft also reads an optional `matches: [names]`
//   on each reference to pick some of the group's matches.
// - specs.smi-spec.io HTTPRouteGroup: `matches` at the top level (v1alpha1,
//   v1alpha2) or under `spec` (v1alpha3, v1alpha4); headers as a list of
//   one-entry maps (v1alpha2, v1alpha3) or as one map (v1alpha4); either is
//   accepted in any version.
import type {
  HTTPRouteGroup,
  RouteHeaderMatch,
  RouteMatch,
  SplitBackend,
  SplitMatchRef,
  SplitProblem,
  TrafficSplit,
} from './cluster-state.ts';

export const TRAFFIC_SPLIT_GROUP = 'split.smi-spec.io';
export const ROUTE_GROUP_GROUP = 'specs.smi-spec.io';
export const SMI_VERSIONS = ['v1alpha1', 'v1alpha2', 'v1alpha3', 'v1alpha4'] as const;
export type SmiVersion = (typeof SMI_VERSIONS)[number];

/** Largest weight after normalisation (the proto's uint32). */
export const MAX_WEIGHT = 0xffffffff;
/** Scale of v1alpha1 quantities: "1m" becomes 1, "1" becomes 1000. */
const QUANTITY_SCALE = 1000;
/** Largest scaled v1alpha1 weight (leaves room to sum them). */
const MAX_SCALED = 1_000_000_000;

type Obj = Record<string, unknown>;

const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** "split.smi-spec.io/v1alpha2" -> "v1alpha2" when the group matches, else undefined. */
export function smiVersion(apiVersion: unknown, group: string): SmiVersion | undefined {
  if (typeof apiVersion !== 'string') return undefined;
  const slash = apiVersion.indexOf('/');
  if (slash === -1 || apiVersion.slice(0, slash) !== group) return undefined;
  const v = apiVersion.slice(slash + 1);
  return (SMI_VERSIONS as readonly string[]).includes(v) ? (v as SmiVersion) : undefined;
}

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;
const SUFFIX: Readonly<Record<string, number>> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * Parses a Kubernetes quantity ("500m", "1", "1.5k", "2Ki", "1e3", or a JSON
 * number) into a number. Undefined when it is not one.
 */
export function parseQuantity(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = QUANTITY.exec(v.trim());
  if (m === null) return undefined;
  let n = Number(m[1]);
  if (m[2] !== undefined) n *= 10 ** Number(m[2].slice(1));
  else if (m[3] !== undefined) n *= SUFFIX[m[3]] ?? 1;
  return Number.isFinite(n) ? n : undefined;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Scales non-negative weights to integers preserving their ratios: x1000 (less
 * when the largest would exceed 1e9), rounded, positive ones at least 1, then
 * divided by their greatest common divisor.
 */
export function scaleWeights(weights: readonly number[]): number[] {
  const max = Math.max(0, ...weights);
  if (max === 0) return weights.map(() => 0);
  const factor = Math.min(QUANTITY_SCALE, MAX_SCALED / max);
  const scaled = weights.map((w) => (w > 0 ? Math.max(1, Math.round(w * factor)) : 0));
  const d = scaled.reduce((acc, w) => (w > 0 ? gcd(acc, w) : acc), 0);
  return d > 1 ? scaled.map((w) => w / d) : scaled;
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as an error message names it. */
export function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

export function meta(raw: Obj, defaultNamespace: string): { name: string; namespace: string } {
  const m = isObj(raw.metadata) ? raw.metadata : {};
  const name = typeof m.name === 'string' ? m.name : '';
  const namespace = typeof m.namespace === 'string' && m.namespace !== '' ? m.namespace : defaultNamespace;
  return { name, namespace };
}

/**
 * Normalises a TrafficSplit object (as read from YAML or the API server).
 * `defaultNamespace` applies when metadata.namespace is unset.
 */
export function resolveTrafficSplit(raw: unknown, defaultNamespace = 'default'): TrafficSplit {
  const problems: SplitProblem[] = [];
  const problem = (reason: SplitProblem['reason'], field: string, message: string): void => {
    problems.push({ reason, field, message });
  };
  const o = isObj(raw) ? raw : {};
  const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : '';
  const { name, namespace } = meta(o, defaultNamespace);
  const version = smiVersion(apiVersion, TRAFFIC_SPLIT_GROUP);
  if (version === undefined) {
    problem('InvalidSpec', 'apiVersion', `must be ${TRAFFIC_SPLIT_GROUP}/v1alpha1..v1alpha4 (got ${describe(o.apiVersion)})`);
  }
  const spec = isObj(o.spec) ? o.spec : undefined;
  if (spec === undefined) problem('InvalidSpec', 'spec', `must be an object (got ${describe(o.spec)})`);
  const s = spec ?? {};

  let service = '';
  if (typeof s.service === 'string' && s.service !== '') service = s.service;
  else if (spec !== undefined) problem('InvalidSpec', 'spec.service', `must be a service name (got ${describe(s.service)})`);

  // Backends: weights parsed per version; scaled for v1alpha1.
  const names: string[] = [];
  const values: number[] = [];
  let weightsOk = true;
  if (Array.isArray(s.backends)) {
    s.backends.forEach((b: unknown, i) => {
      const field = `spec.backends[${i}]`;
      if (!isObj(b)) {
        problem('InvalidSpec', field, `must be an object (got ${describe(b)})`);
        weightsOk = false;
        return;
      }
      if (typeof b.service === 'string' && b.service !== '') names.push(b.service);
      else {
        problem('InvalidSpec', `${field}.service`, `must be a service name (got ${describe(b.service)})`);
        names.push('');
      }
      const w = version === 'v1alpha1' ? parseQuantity(b.weight) : b.weight;
      if (b.weight === undefined || b.weight === null) {
        problem('InvalidWeight', `${field}.weight`, 'is required');
      } else if (typeof w !== 'number' || !Number.isFinite(w)) {
        problem(
          'InvalidWeight',
          `${field}.weight`,
          version === 'v1alpha1' ? `must be a quantity such as 1, 500m or 1k (got ${describe(b.weight)})` : `must be a whole number (got ${describe(b.weight)})`,
        );
      } else if (w < 0) {
        problem('InvalidWeight', `${field}.weight`, `must not be negative (got ${describe(b.weight)})`);
      } else if (version !== 'v1alpha1' && !Number.isInteger(w)) {
        problem('InvalidWeight', `${field}.weight`, `must be a whole number (got ${describe(b.weight)})`);
      } else if (version !== 'v1alpha1' && w > MAX_WEIGHT) {
        problem('InvalidWeight', `${field}.weight`, `must be at most ${MAX_WEIGHT} (got ${describe(b.weight)})`);
      } else {
        values.push(w);
        return;
      }
      weightsOk = false;
      values.push(0);
    });
  } else if (spec !== undefined) {
    problem('InvalidSpec', 'spec.backends', `must be a list (got ${describe(s.backends)})`);
  }
  const weights = version === 'v1alpha1' && weightsOk ? scaleWeights(values) : values;
  const backends: SplitBackend[] = names.map((service, i) => ({ service, weight: weights[i] ?? 0 }));

  // Matches (v1alpha3+). Earlier versions have no such field; it is ignored.
  const matches: SplitMatchRef[] = [];
  if ((version === 'v1alpha3' || version === 'v1alpha4') && s.matches !== undefined && s.matches !== null) {
    if (!Array.isArray(s.matches)) {
      problem('InvalidSpec', 'spec.matches', `must be a list (got ${describe(s.matches)})`);
    } else {
      s.matches.forEach((m: unknown, i) => {
        const field = `spec.matches[${i}]`;
        if (!isObj(m)) return problem('InvalidSpec', field, `must be an object (got ${describe(m)})`);
        if (m.kind !== 'HTTPRouteGroup') {
          return problem('InvalidSpec', `${field}.kind`, `must be HTTPRouteGroup (got ${describe(m.kind)})`);
        }
        if (typeof m.name !== 'string' || m.name === '') {
          return problem('InvalidSpec', `${field}.name`, `must be an HTTPRouteGroup name (got ${describe(m.name)})`);
        }
        const picked: string[] = [];
        if (m.matches !== undefined && m.matches !== null) {
          if (!Array.isArray(m.matches) || m.matches.some((x) => typeof x !== 'string' || x === '')) {
            return problem('InvalidSpec', `${field}.matches`, 'must be a list of match names');
          }
          picked.push(...(m.matches as string[]));
        }
        matches.push({ kind: 'HTTPRouteGroup', name: m.name, matches: picked });
      });
    }
  }

  return { name, namespace, apiVersion, service, backends, matches, problems };
}

function headerList(v: unknown, field: string, problem: (field: string, message: string) => void): RouteHeaderMatch[] {
  if (v === undefined || v === null) return [];
  // v1alpha4: one map; v1alpha2/3: a list of one-entry maps.
  const entries: Array<[string, unknown, string]> = [];
  if (isObj(v)) {
    for (const [k, val] of Object.entries(v)) entries.push([k, val, `${field}.${k}`]);
  } else if (Array.isArray(v)) {
    v.forEach((item: unknown, i) => {
      if (!isObj(item)) return problem(`${field}[${i}]`, `must be a map of header name to regex (got ${describe(item)})`);
      for (const [k, val] of Object.entries(item)) entries.push([k, val, `${field}[${i}].${k}`]);
    });
  } else {
    problem(field, `must be a map of header name to regex (got ${describe(v)})`);
    return [];
  }
  const out: RouteHeaderMatch[] = [];
  for (const [name, value, f] of entries) {
    if (!HTTP_TOKEN.test(name)) {
      problem(f, `invalid header name ${JSON.stringify(name)}`);
      continue;
    }
    if (typeof value !== 'string') {
      problem(f, `must be a regular expression string (got ${describe(value)})`);
      continue;
    }
    const bad = regexProblem(value);
    if (bad !== undefined) {
      problem(f, `invalid regular expression ${JSON.stringify(value)}: ${bad}`);
      continue;
    }
    out.push({ name: name.toLowerCase(), regex: value });
  }
  return out;
}

/** Why `source` is not a valid regular expression, or undefined. */
export function regexProblem(source: string): string | undefined {
  try {
    new RegExp(source);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Normalises an HTTPRouteGroup object. */
export function resolveHttpRouteGroup(raw: unknown, defaultNamespace = 'default'): HTTPRouteGroup {
  const problems: SplitProblem[] = [];
  const problem = (field: string, message: string): void => {
    problems.push({ reason: 'InvalidSpec', field, message });
  };
  const o = isObj(raw) ? raw : {};
  const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : '';
  const { name, namespace } = meta(o, defaultNamespace);
  if (smiVersion(apiVersion, ROUTE_GROUP_GROUP) === undefined) {
    problem('apiVersion', `must be ${ROUTE_GROUP_GROUP}/v1alpha1..v1alpha4 (got ${describe(o.apiVersion)})`);
  }
  const spec = isObj(o.spec) ? o.spec : undefined;
  const fromSpec = spec !== undefined && spec.matches !== undefined && spec.matches !== null;
  const list = fromSpec ? spec.matches : o.matches;
  const base = fromSpec ? 'spec.matches' : 'matches';
  const matches: RouteMatch[] = [];
  if (list === undefined || list === null) {
    problem('spec.matches', 'is required');
  } else if (!Array.isArray(list)) {
    problem(base, `must be a list (got ${describe(list)})`);
  } else {
    const seen = new Set<string>();
    list.forEach((m: unknown, i) => {
      const field = `${base}[${i}]`;
      if (!isObj(m)) return problem(field, `must be an object (got ${describe(m)})`);
      if (typeof m.name !== 'string' || m.name === '') return problem(`${field}.name`, `must be a match name (got ${describe(m.name)})`);
      if (seen.has(m.name)) return problem(`${field}.name`, `duplicate match name ${JSON.stringify(m.name)}`);
      seen.add(m.name);
      let pathRegex = '';
      if (m.pathRegex !== undefined && m.pathRegex !== null) {
        if (typeof m.pathRegex !== 'string') return problem(`${field}.pathRegex`, `must be a string (got ${describe(m.pathRegex)})`);
        const bad = regexProblem(m.pathRegex);
        if (bad !== undefined) return problem(`${field}.pathRegex`, `invalid regular expression ${JSON.stringify(m.pathRegex)}: ${bad}`);
        pathRegex = m.pathRegex;
      }
      const methods: string[] = [];
      if (m.methods !== undefined && m.methods !== null) {
        if (!Array.isArray(m.methods)) return problem(`${field}.methods`, `must be a list (got ${describe(m.methods)})`);
        for (const [j, method] of m.methods.entries()) {
          if (typeof method !== 'string' || (method !== '*' && !HTTP_TOKEN.test(method))) {
            return problem(`${field}.methods[${j}]`, `invalid HTTP method ${describe(method)}`);
          }
          methods.push(method.toUpperCase());
        }
      }
      const headers = headerList(m.headers, `${field}.headers`, problem);
      matches.push({
        name: m.name,
        pathRegex,
        // "*" anywhere means any method.
        methods: methods.includes('*') ? [] : [...new Set(methods)],
        headers,
      });
    });
  }
  return { name, namespace, apiVersion, matches, problems };
}
