// `weft inject FILE|-`: the webhook's patch, applied offline to YAML, for
// GitOps users who commit injected manifests (as with `linkerd inject`).
//
// Every workload's pod template (Pods, Deployments, StatefulSets,
// DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs, and the
// items of Lists) gets `weft.dev/inject: enabled` and is then injected by
// injector/patch.ts exactly as the webhook would inject its pods, with the
// object's metadata.namespace (default "default") as an unannotated
// namespace. So: an explicit opt-out (`weft.dev/inject: disabled`) is
// respected, hostNetwork and kube-system/weft-system objects and
// already-injected templates pass through unchanged, and running it twice
// changes nothing. The webhook later sees the marker annotation and leaves
// such pods alone. Other kinds pass through byte for byte.
//
// Edits go into the YAML documents themselves, so comments and formatting
// survive; untouched documents are copied verbatim, and in an injected one
// every line outside the injected fields comes out as written (yaml-splice.ts,
// checked to mean the same as the library's own rendering), so that a GitOps
// diff shows exactly the injection. The whole input is
// processed before anything is written: on malformed YAML or an invalid
// annotation, the error names the document (1-based) and nothing reaches
// stdout.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { LineCounter, Parser, isCollection, isMap, isSeq, parseAllDocuments, type Document } from 'yaml';
import { WeftError, findWeftError } from '../proto/errors.ts';
import { INJECT_KEY } from '../injector/annotations.ts';
import { parsePointer, type JsonPatchOp } from '../injector/json-patch.ts';
import { injectionPatch, type Decision, type InjectOptions } from '../injector/patch.ts';
import { parseKubeVersion, supportsNativeSidecars } from '../injector/kube-version.ts';
import { preserveLayout } from './yaml-splice.ts';

/** Where the pod template sits in each workload kind. */
const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
  // Argo Rollouts (argoproj.io/v1alpha1), injected like a Deployment.
  Rollout: ['spec', 'template'],
};

export interface InjectedObject {
  /** 1-based index of the YAML document. */
  document: number;
  kind: string;
  name: string;
  decision: Decision | 'passed-through';
  reason: string;
  warnings: string[];
}

type Path = (string | number)[];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function manifestError(document: number, message: string, cause?: unknown): WeftError {
  return new WeftError('WEFT_ERR_MANIFEST_INVALID', `document ${document}: ${message}`, cause === undefined ? {} : { cause });
}

/** The plain JS value at `path` in the document (aliases resolved). */
function jsAt(doc: Document, path: Path): unknown {
  let v: unknown = doc.toJS({ maxAliasCount: 1000 });
  for (const k of path) {
    if (Array.isArray(v) && typeof k === 'number') v = v[k];
    else if (isObject(v) && typeof k === 'string') v = v[k];
    else return undefined;
  }
  return v;
}

/**
 * Turns flow collections (`{a: 1}`, `[x]`) on the way to `path` into block
 * style, so that what is added there prints as ordinary block YAML; the
 * untouched flow collections below stay as written.
 */
function blockify(doc: Document, path: Path): void {
  for (let i = 0; i <= path.length; i++) {
    const node = i === 0 ? doc.contents : doc.getIn(path.slice(0, i), true);
    if (isCollection(node)) node.flow = false;
  }
}

/** Applies the injector's `add` ops to the YAML document under `prefix`, keeping comments and layout. */
function applyToYaml(doc: Document, prefix: Path, ops: readonly JsonPatchOp[]): void {
  for (const op of ops) {
    if (op.op !== 'add') throw new Error(`unexpected patch op ${op.op}`);
    const tokens = parsePointer(op.path);
    const last = tokens[tokens.length - 1] as string;
    const parentPath = [...prefix, ...tokens.slice(0, -1)];
    blockify(doc, parentPath);
    const parent = parentPath.length === 0 ? doc.contents : doc.getIn(parentPath, true);
    const node = doc.createNode(op.value);
    if (isSeq(parent)) {
      if (last === '-') parent.items.push(node);
      else parent.items.splice(Number(last), 0, node);
    } else {
      doc.setIn([...prefix, ...tokens], node);
    }
  }
}

/**
 * The injected document in its author's layout: only the injected fields
 * differ from what was written (yaml-splice.ts), if that text means exactly
 * what the library's rendering means; else the library's rendering.
 */
function keepLayout(original: string, before: string, after: string): string {
  const spliced = preserveLayout(original, before, after);
  if (spliced === undefined) return after;
  const same = (a: string, b: string): boolean => {
    const pa = parseAllDocuments(a);
    const pb = parseAllDocuments(b);
    if (!Array.isArray(pa) || !Array.isArray(pb) || pa.length !== pb.length) return false;
    if (pa.some((d) => d.errors.length > 0)) return false;
    return JSON.stringify(pa.map((d) => d.toJS())) === JSON.stringify(pb.map((d) => d.toJS()));
  };
  return same(spliced, after) ? spliced : after;
}

/** The text of each document of `text`, exactly as written (leading comments go with the first). */
function documentTexts(text: string, count: number): string[] {
  const starts = [...new Parser().parse(text)].filter((t) => t.type === 'document').map((t) => t.offset);
  if (starts.length !== count) return [];
  starts[0] = 0;
  return starts.map((s, i) => text.slice(s, starts[i + 1] ?? text.length));
}

/** Injects one pod template (at `at` in `doc`); returns what happened. */
function injectTemplate(
  doc: Document,
  at: Path,
  kind: string,
  name: string,
  namespace: string,
  index: number,
  opts: InjectOptions,
): InjectedObject {
  const base = { document: index, kind, name };
  const template = jsAt(doc, at);
  if (!isObject(template)) throw manifestError(index, `${kind} ${name}: no pod template at ${at.join('.') || '(root)'}`);
  const meta = isObject(template.metadata) ? template.metadata : {};
  const labels = isObject(meta.labels) ? meta.labels : {};
  const annotations = isObject(meta.annotations) ? meta.annotations : {};
  // The template's own setting, if any, stands (an opt-out is respected, a
  // contradiction is an error); otherwise it opts in. Probe first, so that an
  // object that is not injected stays byte for byte the same.
  const ownSetting = Object.hasOwn(annotations, INJECT_KEY) || Object.hasOwn(labels, INJECT_KEY);
  const probe = structuredClone(template);
  if (!ownSetting) probe.metadata = { ...meta, annotations: { ...annotations, [INJECT_KEY]: 'enabled' } };
  let result;
  try {
    result = injectionPatch(probe, { name: namespace }, opts);
  } catch (err) {
    throw manifestError(index, `${kind} ${name}: ${(err as Error).message}`, err);
  }
  if (!result.inject) return { ...base, decision: result.decision, reason: result.reason, warnings: result.warnings };
  if (annotations[INJECT_KEY] !== 'enabled') {
    blockify(doc, [...at, 'metadata', 'annotations']);
    if (isMap(doc.getIn([...at, 'metadata', 'annotations'], true))) doc.setIn([...at, 'metadata', 'annotations', INJECT_KEY], 'enabled');
    else if (isMap(doc.getIn([...at, 'metadata'], true))) doc.setIn([...at, 'metadata', 'annotations'], doc.createNode({ [INJECT_KEY]: 'enabled' }));
    else doc.setIn([...at, 'metadata'], doc.createNode({ annotations: { [INJECT_KEY]: 'enabled' } }));
  }
  // Recompute against the document as it now is (the annotation map exists), then apply.
  const final = injectionPatch(jsAt(doc, at), { name: namespace }, opts);
  applyToYaml(doc, at, final.patch);
  return { ...base, decision: 'injected', reason: final.reason, warnings: final.warnings };
}

/** Injects every workload of one parsed object (recursing into Lists); returns whether the document changed. */
function injectObject(doc: Document, at: Path, index: number, opts: InjectOptions, out: InjectedObject[]): boolean {
  const value = jsAt(doc, at);
  if (!isObject(value)) return false;
  const kind = typeof value.kind === 'string' ? value.kind : '';
  const meta = isObject(value.metadata) ? value.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : '(unnamed)';
  if ((kind === 'List' || kind.endsWith('List')) && Array.isArray(value.items)) {
    let changed = false;
    value.items.forEach((_, i) => {
      if (injectObject(doc, [...at, 'items', i], index, opts, out)) changed = true;
    });
    return changed;
  }
  const templatePath = TEMPLATE_PATHS[kind];
  const apiVersion = typeof value.apiVersion === 'string' ? value.apiVersion : '';
  if (kind === 'Rollout' && !apiVersion.startsWith('argoproj.io/')) {
    out.push({ document: index, kind, name, decision: 'passed-through', reason: `not a workload (${apiVersion || 'no apiVersion'})`, warnings: [] });
    return false;
  }
  const spec = isObject(value.spec) ? value.spec : {};
  if (kind === 'Rollout' && spec.template === undefined && spec.workloadRef !== undefined) {
    // Its pods come from the Deployment it references: that is what gets injected.
    out.push({ document: index, kind, name, decision: 'passed-through', reason: 'its pod template is the referenced workload (spec.workloadRef): inject that one', warnings: [] });
    return false;
  }
  if (templatePath === undefined) {
    if (kind !== '') out.push({ document: index, kind, name, decision: 'passed-through', reason: 'not a workload', warnings: [] });
    return false;
  }
  const namespace = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default';
  const r = injectTemplate(doc, [...at, ...templatePath], kind, name, namespace, index, opts);
  out.push(r);
  return r.decision === 'injected';
}

/**
 * Injects the workloads of a YAML (or JSON) text, one or many documents.
 * Throws a WEFT_ERR_MANIFEST_INVALID WeftError naming the document on
 * malformed YAML or invalid annotations.
 */
export function injectManifests(text: string, opts: InjectOptions): { output: string; objects: InjectedObject[] } {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { prettyErrors: false, lineCounter });
  if (!Array.isArray(docs)) return { output: text, objects: [] }; // an empty stream
  docs.forEach((doc, i) => {
    const err = doc.errors[0];
    if (err !== undefined) {
      const { line, col } = lineCounter.linePos(err.pos[0]);
      throw manifestError(i + 1, `malformed YAML at line ${line}, column ${col}: ${err.message}`, err);
    }
  });
  const originals = documentTexts(text, docs.length);
  const objects: InjectedObject[] = [];
  let anyChanged = false;
  const parts = docs.map((doc, i) => {
    let changed: boolean;
    const before = doc.toString();
    try {
      changed = injectObject(doc, [], i + 1, opts, objects);
    } catch (err) {
      if (findWeftError(err)?.code === 'WEFT_ERR_MANIFEST_INVALID') throw err;
      throw manifestError(i + 1, (err as Error).message, err);
    }
    anyChanged ||= changed;
    const original = originals[i];
    if (original === undefined) return doc.toString();
    if (!changed) return original;
    return keepLayout(original, before, doc.toString());
  });
  return { output: anyChanged ? parts.join('') : text, objects };
}

export interface InjectIo {
  stdin: NodeJS.ReadableStream;
  stdout: Writable;
  stderr: Writable;
}

export const INJECT_USAGE =
  'weft inject FILE|- [--proxy-image IMAGE] [--proxy-version V] [--install-dir DIR] [--trust-domain D] [--mesh-namespace NS] [--kubernetes-version V] [--quiet]';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

function describe(o: InjectedObject): string {
  return `${o.kind.toLowerCase()} "${o.name}"`;
}

/** Runs `weft inject` with the arguments after `inject`; resolves to the exit code. */
export async function runInject(argv: readonly string[], io: InjectIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        'proxy-image': { type: 'string' },
        'proxy-version': { type: 'string' },
        'install-dir': { type: 'string' },
        'trust-domain': { type: 'string' },
        'mesh-namespace': { type: 'string' },
        'kubernetes-version': { type: 'string' },
        quiet: { type: 'boolean', short: 'q', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    io.stderr.write(`weft inject: ${(err as Error).message}\nusage: ${INJECT_USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(
      `usage: ${INJECT_USAGE}\n  Adds the Weft proxy to every pod template in FILE (- for stdin) whose pod or namespace says weft.dev/inject: enabled,\n  and writes the result to stdout; everything else is copied as it was.\n  --kubernetes-version V: the target cluster's version; from 1.29 the proxy is a native sidecar (an init container\n  with restartPolicy Always), else (and by default) a classic sidecar in spec.containers.\n`,
    );
    return 0;
  }
  let nativeSidecar = false;
  if (values['kubernetes-version'] !== undefined) {
    try {
      nativeSidecar = supportsNativeSidecars(parseKubeVersion(values['kubernetes-version']));
    } catch (err) {
      const w = findWeftError(err);
      io.stderr.write(`weft inject: --kubernetes-version: ${(err as Error).message}${w !== undefined ? ` (${w.code})` : ''}\nusage: ${INJECT_USAGE}\n`);
      return 2;
    }
  }
  if (positionals.length !== 1) {
    io.stderr.write(`weft inject: expected one FILE (or - for stdin)\nusage: ${INJECT_USAGE}\n`);
    return 2;
  }
  const file = positionals[0] as string;
  let text: string;
  try {
    text = file === '-' ? await readAll(io.stdin) : readFileSync(file, 'utf8');
  } catch (err) {
    io.stderr.write(`weft inject: cannot read ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  const version = values['proxy-version'] ?? packageVersion();
  const opts: InjectOptions = {
    // The same default as `weft install --image`.
    proxyImage: values['proxy-image'] ?? `weft:${version}`,
    proxyVersion: version,
    ...(values['install-dir'] !== undefined ? { installDir: values['install-dir'] } : {}),
    ...(values['trust-domain'] !== undefined ? { trustDomain: values['trust-domain'] } : {}),
    ...(values['mesh-namespace'] !== undefined ? { meshNamespace: values['mesh-namespace'] } : {}),
    ...(nativeSidecar ? { nativeSidecar } : {}),
  };
  let result;
  try {
    result = injectManifests(text, opts);
  } catch (err) {
    const w = findWeftError(err);
    io.stderr.write(`weft inject: ${file === '-' ? 'stdin' : file}: ${(w ?? (err as Error)).message}${w !== undefined ? ` (${w.code})` : ''}\n`);
    return 1;
  }
  // Resolve only once the output is handed to the OS, so the caller may exit at once.
  await new Promise<void>((resolve) => io.stdout.write(result.output, () => resolve()));
  if (!values.quiet) {
    for (const o of result.objects) {
      if (o.decision === 'passed-through') continue;
      io.stderr.write(o.decision === 'injected' ? `${describe(o)} injected\n` : `${describe(o)} skipped: ${o.reason}\n`);
      for (const w of o.warnings) io.stderr.write(`  warning: ${w}\n`);
    }
  }
  return 0;
}
