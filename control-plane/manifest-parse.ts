// Parses Kubernetes-shaped YAML (or JSON) manifests into ClusterState
// objects, for the file source. Pure (text in, objects and errors out).
//
// Kinds: v1 Namespace, v1 Service, apps/v1 Deployment, v1 ServiceAccount
// (accepted and ignored, so that cluster manifests load unchanged),
// split.smi-spec.io/v1alpha1..v1alpha4 TrafficSplit,
// specs.smi-spec.io/v1alpha1..v1alpha4 HTTPRouteGroup and TCPRoute,
// access.smi-spec.io/v1alpha1..v1alpha3 TrafficTarget, and v1 List of them.
// Validation follows what the API server would refuse (missing fields, wrong
// types, bad names, a selector that does not match its template) so that a
// folder that loads here also applies to a cluster. Every problem is a
// ManifestError (WEFT_ERR_MANIFEST_INVALID) naming the file, the document
// (1-based) and the field; one per broken document.
import { parsePortList } from '../proto/port-list.ts';
import { OPAQUE_PORTS_ANNOTATION } from '../proto/mesh.ts';
import { parseAllDocuments } from 'yaml';
import { WeftError } from '../proto/errors.ts';
import type {
  ClusterService,
  ContainerPort,
  EnvVar,
  HTTPRouteGroup,
  TCPRoute,
  TrafficTarget,
  Namespace,
  ServicePortSpec,
  SplitProblem,
  TrafficSplit,
  Workload,
} from './cluster-state.ts';
import { resolveHttpRouteGroup, resolveTrafficSplit, ROUTE_GROUP_GROUP, smiVersion, TRAFFIC_SPLIT_GROUP } from './split-resolve.ts';
import { ACCESS_GROUP, accessVersion, resolveTcpRoute, resolveTrafficTarget } from './access-resolve.ts';

/** A malformed manifest: where, and which field. */
export class ManifestError extends WeftError {
  readonly file: string;
  /** 1-based index of the YAML document in the file (0: the file itself). */
  readonly document: number;
  /** Path of the offending field, e.g. "spec.ports[0].port"; '' for the document. */
  readonly field: string;
  constructor(file: string, document: number, field: string, message: string, options?: { cause?: unknown }) {
    super('WEFT_ERR_MANIFEST_INVALID', message, options);
    this.name = 'ManifestError';
    this.file = file;
    this.document = document;
    this.field = field;
  }
}

export interface ServiceAccountRef {
  readonly name: string;
  readonly namespace: string;
}

export type ManifestObject =
  | { readonly kind: 'Namespace'; readonly object: Namespace }
  | { readonly kind: 'Service'; readonly object: ClusterService }
  | { readonly kind: 'Deployment'; readonly object: Workload }
  | { readonly kind: 'ServiceAccount'; readonly object: ServiceAccountRef }
  | { readonly kind: 'TrafficSplit'; readonly object: TrafficSplit }
  | { readonly kind: 'HTTPRouteGroup'; readonly object: HTTPRouteGroup }
  | { readonly kind: 'TrafficTarget'; readonly object: TrafficTarget }
  | { readonly kind: 'TCPRoute'; readonly object: TCPRoute };

export interface ParsedManifests {
  readonly objects: ManifestObject[];
  readonly errors: ManifestError[];
}

type Obj = Record<string, unknown>;

/** Thrown inside one document's validation; becomes a ManifestError. */
class FieldError extends Error {
  readonly field: string;
  constructor(field: string, why: string) {
    super(why);
    this.field = field;
  }
}

function fail(field: string, why: string): never {
  throw new FieldError(field, why);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function join(base: string, field: string): string {
  if (field === '') return base;
  return base === '' ? field : field.startsWith('[') ? `${base}${field}` : `${base}.${field}`;
}

function obj(v: unknown, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, `must be an object (got ${describe(v)})`);
  return v as Obj;
}

function optObj(v: unknown, field: string): Obj {
  return v === undefined || v === null ? {} : obj(v, field);
}

function list(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(field, `must be a list (got ${describe(v)})`);
  return v;
}

function str(v: unknown, field: string, def?: string): string {
  if ((v === undefined || v === null) && def !== undefined) return def;
  if (typeof v !== 'string') fail(field, v === undefined ? 'is required' : `must be a string (got ${describe(v)})`);
  return v;
}

function int(v: unknown, field: string, min: number, max: number, def?: number): number {
  if ((v === undefined || v === null) && def !== undefined) return def;
  if (v === undefined || v === null) fail(field, 'is required');
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(field, `must be a whole number from ${min} to ${max} (got ${describe(v)})`);
  }
  return v;
}

function strings(v: unknown, field: string): string[] {
  return list(v, field).map((x, i) => str(x, `${field}[${i}]`));
}

function stringMap(v: unknown, field: string): Record<string, string> {
  const o = optObj(v, field);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string') fail(`${field}.${k}`, `must be a string (got ${describe(val)}; quote it)`);
    out[k] = val;
  }
  return out;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function dnsName(v: unknown, field: string, kind: 'label' | '1035' | 'subdomain'): string {
  const s = str(v, field);
  const ok =
    kind === 'label'
      ? DNS_LABEL.test(s) && s.length <= 63
      : kind === '1035'
        ? DNS_1035_LABEL.test(s) && s.length <= 63
        : DNS_SUBDOMAIN.test(s) && s.length <= 253;
  if (!ok) {
    const what =
      kind === 'subdomain'
        ? 'lower-case letters, digits, "-" and "." (at most 253)'
        : `lower-case letters, digits and "-", starting with a ${kind === '1035' ? 'letter' : 'letter or digit'} (at most 63)`;
    fail(field, `${JSON.stringify(s)} is not a valid name: use ${what}`);
  }
  return s;
}

function portName(v: unknown, field: string): string {
  if (v === undefined || v === null || v === '') return '';
  const s = str(v, field);
  if (!PORT_NAME.test(s) || s.length > 15 || !/[a-z]/.test(s) || s.includes('--')) {
    fail(field, `${JSON.stringify(s)} is not a valid port name (at most 15 lower-case letters, digits and "-", with a letter)`);
  }
  return s;
}

function protocol(v: unknown, field: string): string {
  const p = str(v, field, 'TCP');
  if (p !== 'TCP' && p !== 'UDP' && p !== 'SCTP') fail(field, `must be TCP, UDP or SCTP (got ${describe(v)})`);
  return p;
}

interface Meta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

function metadata(o: Obj, nameKind: 'label' | '1035' | 'subdomain', namespaced: boolean): Meta {
  const m = obj(o.metadata, 'metadata');
  const name = dnsName(m.name, 'metadata.name', nameKind);
  let namespace = '';
  if (namespaced) {
    namespace = m.namespace === undefined || m.namespace === null ? 'default' : dnsName(m.namespace, 'metadata.namespace', 'label');
  }
  return {
    name,
    namespace,
    labels: stringMap(m.labels, 'metadata.labels'),
    annotations: stringMap(m.annotations, 'metadata.annotations'),
  };
}

function namespaceObject(o: Obj): Namespace {
  const m = metadata(o, 'label', false);
  return { name: m.name, labels: m.labels, annotations: m.annotations };
}

function servicePort(v: unknown, field: string): ServicePortSpec {
  const p = obj(v, field);
  const port = int(p.port, `${field}.port`, 1, 65535);
  let targetPort: number | string = port;
  if (typeof p.targetPort === 'string') {
    targetPort = portName(p.targetPort, `${field}.targetPort`);
    if (targetPort === '') fail(`${field}.targetPort`, 'must not be empty');
  } else if (p.targetPort !== undefined && p.targetPort !== null) {
    targetPort = int(p.targetPort, `${field}.targetPort`, 1, 65535);
  }
  return { name: portName(p.name, `${field}.name`), port, targetPort, protocol: protocol(p.protocol, `${field}.protocol`) };
}

function serviceObject(o: Obj): ClusterService {
  const m = metadata(o, '1035', true);
  const spec = obj(o.spec, 'spec');
  const clusterIp = str(spec.clusterIP, 'spec.clusterIP', '');
  const ports = list(spec.ports, 'spec.ports').map((p, i) => servicePort(p, `spec.ports[${i}]`));
  if (ports.length === 0 && clusterIp !== 'None') fail('spec.ports', 'needs at least one port (or clusterIP: None)');
  if (ports.length > 1) {
    const names = new Set<string>();
    const numbers = new Set<string>();
    ports.forEach((p, i) => {
      if (p.name === '') fail(`spec.ports[${i}].name`, 'is required when a service has several ports');
      if (names.has(p.name)) fail(`spec.ports[${i}].name`, `duplicate port name ${JSON.stringify(p.name)}`);
      names.add(p.name);
      const k = `${p.port}/${p.protocol}`;
      if (numbers.has(k)) fail(`spec.ports[${i}].port`, `duplicate port ${k}`);
      numbers.add(k);
    });
  }
  const opaque = m.annotations[OPAQUE_PORTS_ANNOTATION];
  let opaquePorts: number[] | undefined;
  if (opaque !== undefined) {
    try {
      opaquePorts = parsePortList(opaque);
    } catch (err) {
      fail(`metadata.annotations["${OPAQUE_PORTS_ANNOTATION}"]`, (err as Error).message);
    }
  }
  return {
    name: m.name,
    namespace: m.namespace,
    clusterIp,
    ports,
    selector: stringMap(spec.selector, 'spec.selector'),
    ...(opaquePorts !== undefined ? { opaquePorts } : {}),
  };
}

function containerPort(v: unknown, field: string): ContainerPort {
  const p = obj(v, field);
  return {
    name: portName(p.name, `${field}.name`),
    containerPort: int(p.containerPort, `${field}.containerPort`, 1, 65535),
    protocol: protocol(p.protocol, `${field}.protocol`),
  };
}

function envVars(v: unknown, field: string): EnvVar[] {
  const out: EnvVar[] = [];
  list(v, field).forEach((e, i) => {
    const f = `${field}[${i}]`;
    const o = obj(e, f);
    const name = str(o.name, `${f}.name`);
    if (name === '') fail(`${f}.name`, 'must not be empty');
    if (o.valueFrom !== undefined && o.valueFrom !== null) {
      obj(o.valueFrom, `${f}.valueFrom`);
      if (o.value !== undefined && o.value !== null) fail(f, 'set value or valueFrom, not both');
      return; // resolved by Kubernetes only
    }
    out.push({ name, value: str(o.value, `${f}.value`, '') });
  });
  return out;
}

function deploymentObject(o: Obj): Workload {
  const m = metadata(o, 'subdomain', true);
  const spec = obj(o.spec, 'spec');
  const replicas = int(spec.replicas, 'spec.replicas', 0, 10_000, 1);
  const selector = obj(spec.selector, 'spec.selector');
  if (selector.matchExpressions !== undefined && selector.matchExpressions !== null) {
    fail('spec.selector.matchExpressions', 'is not supported; use matchLabels');
  }
  const matchLabels = stringMap(selector.matchLabels, 'spec.selector.matchLabels');
  if (Object.keys(matchLabels).length === 0) fail('spec.selector.matchLabels', 'is required');
  const template = obj(spec.template, 'spec.template');
  const tmeta = optObj(template.metadata, 'spec.template.metadata');
  const labels = stringMap(tmeta.labels, 'spec.template.metadata.labels');
  const annotations = stringMap(tmeta.annotations, 'spec.template.metadata.annotations');
  for (const [k, v] of Object.entries(matchLabels)) {
    if (labels[k] !== v) fail('spec.template.metadata.labels', `must match spec.selector.matchLabels (${k}: ${v})`);
  }
  const pod = obj(template.spec, 'spec.template.spec');
  const sa = pod.serviceAccountName ?? pod.serviceAccount;
  const serviceAccount =
    sa === undefined || sa === null || sa === '' ? 'default' : dnsName(sa, 'spec.template.spec.serviceAccountName', 'subdomain');
  const containers = list(pod.containers, 'spec.template.spec.containers');
  if (containers.length === 0) fail('spec.template.spec.containers', 'needs at least one container');
  const f = 'spec.template.spec.containers[0]';
  const c = obj(containers[0], f);
  return {
    name: m.name,
    namespace: m.namespace,
    replicas,
    selector: matchLabels,
    labels,
    annotations,
    serviceAccount,
    containerName: dnsName(c.name, `${f}.name`, 'label'),
    image: str(c.image, `${f}.image`, ''),
    command: strings(c.command, `${f}.command`),
    args: strings(c.args, `${f}.args`),
    env: envVars(c.env, `${f}.env`),
    ports: list(c.ports, `${f}.ports`).map((p, i) => containerPort(p, `${f}.ports[${i}]`)),
  };
}

/** The file source refuses what the normaliser flags: the first problem names the field. */
function failOnProblems(problems: readonly SplitProblem[]): void {
  const [first, ...rest] = problems;
  if (first === undefined) return;
  fail(first.field, [first.message, ...rest.map((p) => `${p.field}: ${p.message}`)].join('; '));
}

function splitObject(o: Obj): TrafficSplit {
  const m = metadata(o, 'subdomain', true);
  const split = resolveTrafficSplit({ ...o, metadata: { name: m.name, namespace: m.namespace } });
  failOnProblems(split.problems);
  return split;
}

function routeGroupObject(o: Obj): HTTPRouteGroup {
  const m = metadata(o, 'subdomain', true);
  const group = resolveHttpRouteGroup({ ...o, metadata: { name: m.name, namespace: m.namespace } });
  failOnProblems(group.problems);
  return group;
}

const KINDS: Readonly<Record<string, { versions: (v: string) => boolean; parse: (o: Obj) => ManifestObject }>> = {
  Namespace: { versions: (v) => v === 'v1', parse: (o) => ({ kind: 'Namespace', object: namespaceObject(o) }) },
  Service: { versions: (v) => v === 'v1', parse: (o) => ({ kind: 'Service', object: serviceObject(o) }) },
  ServiceAccount: {
    versions: (v) => v === 'v1',
    parse: (o) => {
      const m = metadata(o, 'subdomain', true);
      return { kind: 'ServiceAccount', object: { name: m.name, namespace: m.namespace } };
    },
  },
  Deployment: { versions: (v) => v === 'apps/v1', parse: (o) => ({ kind: 'Deployment', object: deploymentObject(o) }) },
  TrafficSplit: {
    versions: (v) => smiVersion(v, TRAFFIC_SPLIT_GROUP) !== undefined,
    parse: (o) => ({ kind: 'TrafficSplit', object: splitObject(o) }),
  },
  HTTPRouteGroup: {
    versions: (v) => smiVersion(v, ROUTE_GROUP_GROUP) !== undefined,
    parse: (o) => ({ kind: 'HTTPRouteGroup', object: routeGroupObject(o) }),
  },
  TrafficTarget: {
    versions: (v) => accessVersion(v) !== undefined,
    parse: (o) => {
      const m = metadata(o, 'subdomain', true);
      const target = resolveTrafficTarget({ ...o, metadata: { name: m.name, namespace: m.namespace } });
      failOnProblems(target.problems);
      return { kind: 'TrafficTarget', object: target };
    },
  },
  TCPRoute: {
    versions: (v) => smiVersion(v, ROUTE_GROUP_GROUP) !== undefined,
    parse: (o) => {
      const m = metadata(o, 'subdomain', true);
      const route = resolveTcpRoute({ ...o, metadata: { name: m.name, namespace: m.namespace } });
      failOnProblems(route.problems);
      return { kind: 'TCPRoute', object: route };
    },
  },
};

const EXPECTED_VERSION: Readonly<Record<string, string>> = {
  Namespace: 'v1',
  Service: 'v1',
  ServiceAccount: 'v1',
  Deployment: 'apps/v1',
  TrafficSplit: `${TRAFFIC_SPLIT_GROUP}/v1alpha1..v1alpha4`,
  HTTPRouteGroup: `${ROUTE_GROUP_GROUP}/v1alpha1..v1alpha4`,
  TrafficTarget: `${ACCESS_GROUP}/v1alpha1..v1alpha3`,
  TCPRoute: `${ROUTE_GROUP_GROUP}/v1alpha1..v1alpha4`,
};

/** Validates one object (a document, or an item of a List). Throws FieldError. */
function parseObject(raw: unknown, out: ManifestObject[]): void {
  const o = obj(raw, '');
  const kind = str(o.kind, 'kind');
  const apiVersion = str(o.apiVersion, 'apiVersion');
  if (kind === 'List') {
    if (apiVersion !== 'v1') fail('apiVersion', `must be v1 for a List (got ${describe(apiVersion)})`);
    list(o.items, 'items').forEach((item, i) => {
      try {
        parseObject(item, out);
      } catch (err) {
        if (err instanceof FieldError) throw new FieldError(join(`items[${i}]`, err.field), err.message);
        throw err;
      }
    });
    return;
  }
  const k = KINDS[kind];
  if (k === undefined) fail('kind', `unsupported kind ${JSON.stringify(kind)} (supported: ${Object.keys(KINDS).join(', ')}, List)`);
  if (!k.versions(apiVersion)) {
    fail('apiVersion', `${kind} must be ${EXPECTED_VERSION[kind] ?? '?'} (got ${JSON.stringify(apiVersion)})`);
  }
  out.push(k.parse(o));
}

function label(raw: unknown): string {
  if (typeof raw !== 'object' || raw === null) return '';
  const o = raw as Obj;
  const name = typeof o.metadata === 'object' && o.metadata !== null ? (o.metadata as Obj).name : undefined;
  if (typeof o.kind !== 'string') return '';
  return typeof name === 'string' ? ` (${o.kind} ${name})` : ` (${o.kind})`;
}

/**
 * Parses every document of a manifest file. `file` names the file in errors.
 * A document that fails adds an error and no objects; the others still parse
 * (the file source treats a file with any error as broken as a whole).
 */
export function parseManifests(text: string, file: string): ParsedManifests {
  const objects: ManifestObject[] = [];
  const errors: ManifestError[] = [];
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    errors.push(new ManifestError(file, 0, '', `${file}: not valid YAML: ${(err as Error).message}`, { cause: err }));
    return { objects, errors };
  }
  let index = 0;
  for (const doc of docs) {
    index++;
    const yamlError = doc.errors[0];
    if (yamlError !== undefined) {
      errors.push(new ManifestError(file, index, '', `${file}: document ${index}: not valid YAML: ${yamlError.message}`, { cause: yamlError }));
      continue;
    }
    let raw: unknown;
    try {
      raw = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      errors.push(new ManifestError(file, index, '', `${file}: document ${index}: ${(err as Error).message}`, { cause: err }));
      continue;
    }
    if (raw === null || raw === undefined) continue; // empty document
    const found: ManifestObject[] = [];
    try {
      parseObject(raw, found);
      objects.push(...found);
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      errors.push(
        new ManifestError(file, index, err.field, `${file}: document ${index}${label(raw)}: ${err.field === '' ? '' : `${err.field}: `}${err.message}`, {
          cause: err,
        }),
      );
    }
  }
  return { objects, errors };
}
