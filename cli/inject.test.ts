// `weft inject`: the webhook's patch on YAML workloads, in process and
// through the `weft` command.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { findWeftError } from '../proto/errors.ts';
import { applyPatch } from '../injector/json-patch.ts';
import { injectionPatch, type InjectOptions } from '../injector/patch.ts';
import { injectManifests, runInject } from './inject.ts';

const OPTS: InjectOptions = { proxyImage: 'ghcr.io/weft/weft:0.1.0', proxyVersion: '0.1.0' };
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(join(tmpdir(), 'weft-inject-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const podSpec = `
      containers:
        - name: app # the app
          image: example/app:1
          ports:
            - containerPort: 8080`;

const deployment = (name: string, extra = '') => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: demo
spec:
  replicas: 2
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}${extra}
    spec:${podSpec}
`;

const service = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}   # flow style, kept as written
spec:
  ports: [{port: 80, targetPort: 8080}]
`;

type Obj = Record<string, any>;
const docs = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJS() as Obj);
const names = (spec: Obj | undefined, key: 'containers' | 'initContainers' | 'volumes'): string[] =>
  ((spec?.[key] ?? []) as { name: string }[]).map((c) => c.name);

async function run(args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (err += c));
  const code = await runInject(args, { stdin: Readable.from([stdin]), stdout, stderr });
  return { code, stdout: out, stderr: err };
}

describe('injectManifests', () => {
  it('injects a Deployment template: opt-in annotation, marker, weft-init, weft-proxy first, volumes; comments kept', () => {
    const { output, objects } = injectManifests(deployment('web'), OPTS);
    const [d] = docs(output);
    const t = d?.spec.template;
    expect(t.metadata.annotations).toEqual({
      'weft.dev/inject': 'enabled',
      'weft.dev/proxy-version': '0.1.0',
      'kubectl.kubernetes.io/default-container': 'app',
    });
    expect(names(t.spec, 'containers')).toEqual(['weft-proxy', 'app']);
    expect(names(t.spec, 'initContainers')).toEqual(['weft-init']);
    expect(names(t.spec, 'volumes')).toEqual(['weft-identity-token', 'weft-trust-bundle']);
    expect(output).toContain('- name: app # the app');
    expect(d?.spec.replicas).toBe(2);
    expect(objects).toEqual([{ document: 1, kind: 'Deployment', name: 'web', decision: 'injected', reason: expect.any(String), warnings: [] }]);
  });

  it('produces exactly what the webhook patch produces for the same template', () => {
    const [d] = docs(injectManifests(deployment('web'), OPTS).output);
    const template = docs(deployment('web'))[0]?.spec.template;
    template.metadata.annotations = { 'weft.dev/inject': 'enabled' };
    const r = injectionPatch(template, { name: 'demo' }, OPTS);
    expect(d?.spec.template).toEqual(applyPatch(template, r.patch));
  });

  it('handles every workload kind, Lists and multi-document files; other kinds pass through byte for byte', () => {
    const spec = `spec:${podSpec.replace(/\n {6}/g, '\n        ')}`;
    const input = [
      service,
      deployment('web'),
      `apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    ${spec.replace(/\n/g, '\n  ')}\n`,
      `apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds}\nspec:\n  selector: {matchLabels: {app: ds}}\n  template:\n    metadata: {labels: {app: ds}}\n    ${spec.replace(/\n/g, '\n  ')}\n`,
      `apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: rs}\nspec:\n  selector: {matchLabels: {app: rs}}\n  template:\n    metadata: {labels: {app: rs}}\n    ${spec.replace(/\n/g, '\n  ')}\n`,
      `apiVersion: batch/v1\nkind: Job\nmetadata: {name: job}\nspec:\n  template:\n    ${spec.replace(/\n/g, '\n  ')}\n`,
      `apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: cron}\nspec:\n  schedule: "* * * * *"\n  jobTemplate:\n    spec:\n      template:\n        ${spec.replace(/\n/g, '\n      ')}\n`,
      `apiVersion: v1\nkind: Pod\nmetadata: {name: pod}\n${spec.replace(/\n {8}/g, '\n    ').replace(/\n {4}/g, '\n  ')}\n`,
      `apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: cm}\n  - apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: listed}\n    spec:\n      selector: {matchLabels: {app: l}}\n      template:\n        metadata: {labels: {app: l}}\n        ${spec.replace(/\n/g, '\n    ')}\n`,
    ].join('---\n');
    const { output, objects } = injectManifests(input, OPTS);
    const out = docs(output);
    expect(out).toHaveLength(9);
    expect(output.startsWith(service)).toBe(true);
    const templates = [
      out[1]?.spec.template, out[2]?.spec.template, out[3]?.spec.template, out[4]?.spec.template, out[5]?.spec.template,
      out[6]?.spec.jobTemplate.spec.template, out[7], out[8]?.items[1].spec.template,
    ];
    for (const t of templates) {
      expect(names(t.spec, 'containers')).toEqual(['weft-proxy', 'app']);
      expect(t.metadata.annotations['weft.dev/proxy-version']).toBe('0.1.0');
    }
    expect(out[8]?.items[0]).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } });
    expect(objects.filter((o) => o.decision === 'injected').map((o) => `${o.document}:${o.kind}/${o.name}`)).toEqual([
      '2:Deployment/web', '3:StatefulSet/db', '4:DaemonSet/ds', '5:ReplicaSet/rs', '6:Job/job', '7:CronJob/cron', '8:Pod/pod', '9:Deployment/listed',
    ]);
  });

  it('is idempotent: injecting its own output changes nothing', () => {
    const once = injectManifests(`${service}---\n${deployment('web')}`, OPTS).output;
    const twice = injectManifests(once, OPTS);
    expect(twice.output).toBe(once);
    expect(twice.objects.find((o) => o.kind === 'Deployment')?.decision).toBe('already-injected');
  });

  it('leaves opted-out, hostNetwork and kube-system workloads byte for byte unchanged', () => {
    const optOut = deployment('batch', '\n      annotations:\n        weft.dev/inject: disabled');
    const labelOptOut = deployment('batch2').replace('labels: {app: batch2}', 'labels: {app: batch2, weft.dev/inject: disabled}');
    const hostNet = deployment('agent').replace('    spec:\n      containers', '    spec:\n      hostNetwork: true\n      containers');
    const system = deployment('dns').replace('namespace: demo', 'namespace: kube-system');
    for (const input of [optOut, labelOptOut, hostNet, system]) {
      const { output, objects } = injectManifests(input, OPTS);
      expect(output).toBe(input);
      expect(objects[0]?.decision).not.toBe('injected');
    }
  });

  it('honours config annotations on the template', () => {
    const input = deployment('web', '\n      annotations:\n        config.weft.dev/skip-outbound-ports: "5432"\n        config.weft.dev/proxy-memory-limit: 64Mi');
    const t = docs(injectManifests(input, OPTS).output)[0]?.spec.template;
    expect(t.spec.initContainers[0].args).toContain('5432');
    expect(t.spec.containers[0].resources).toEqual({ limits: { memory: '64Mi' } });
    expect(t.metadata.annotations['weft.dev/inject']).toBe('enabled');
  });

  it('reads JSON too', () => {
    const obj = parse(deployment('web'));
    const [d] = docs(injectManifests(JSON.stringify(obj), OPTS).output);
    expect(names(d?.spec.template.spec, 'containers')).toEqual(['weft-proxy', 'app']);
  });

  it('refuses malformed YAML naming the document, and an invalid annotation naming document and key', () => {
    const bad = `${service}---\n${deployment('web')}---\nkind: Deployment\nmetadata: {name: [oops\n`;
    let err: unknown;
    try {
      injectManifests(bad, OPTS);
    } catch (e) {
      err = e;
    }
    expect(findWeftError(err)?.code).toBe('WEFT_ERR_MANIFEST_INVALID');
    expect((err as Error).message).toMatch(/^document 3: malformed YAML at line \d+, column \d+/);

    const invalid = deployment('web', '\n      annotations:\n        config.weft.dev/skip-inbound-ports: http');
    expect(() => injectManifests(`${service}---\n${invalid}`, OPTS)).toThrow(/document 2: Deployment web: config.weft.dev\/skip-inbound-ports/);
    expect(() => injectManifests('kind: Deployment\nmetadata: {name: x}\nspec: {}\n', OPTS)).toThrow(/document 1: Deployment x: no pod template/);
  });

  it('passes an empty input through', () => {
    expect(injectManifests('', OPTS).output).toBe('');
    expect(injectManifests('# nothing\n', OPTS).output).toBe('# nothing\n');
  });
});

describe('runInject', () => {
  it('reads a file, writes YAML to stdout and a report to stderr', async () => {
    const file = join(tmp, 'app.yaml');
    writeFileSync(file, `${service}---\n${deployment('web')}`);
    const r = await run([file]);
    expect(r.code).toBe(0);
    expect(docs(r.stdout)[1]?.spec.template.spec.containers[0].name).toBe('weft-proxy');
    expect(r.stderr).toBe('deployment "web" injected\n');
  });

  it('reads stdin for -, with --proxy-image and --quiet', async () => {
    const r = await run(['-', '--proxy-image', 'reg.example/weft:9', '--quiet'], deployment('web'));
    expect(r.code).toBe(0);
    expect(docs(r.stdout)[0]?.spec.template.spec.containers[0].image).toBe('reg.example/weft:9');
    expect(r.stderr).toBe('');
  });

  it('exits 1 with nothing on stdout when any document is malformed', async () => {
    const r = await run(['-'], `${deployment('web')}---\n: : :\n  - [\n`);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^weft inject: stdin: document 2: malformed YAML/);
    expect(r.stderr).toContain('WEFT_ERR_MANIFEST_INVALID');
  });

  it('exits 1 for a missing file and 2 for bad usage', async () => {
    expect((await run([join(tmp, 'nope.yaml')])).code).toBe(1);
    expect((await run([])).code).toBe(2);
    expect((await run(['a', 'b'])).code).toBe(2);
    expect((await run(['-', '--bogus'])).code).toBe(2);
  });

  it('--kubernetes-version: a native sidecar from 1.29, the classic one before (the default); a bad version is usage', async () => {
    const cronJob = [
      'apiVersion: batch/v1',
      'kind: CronJob',
      'metadata: {name: report, namespace: batch}',
      'spec:',
      '  schedule: "0 3 * * *"',
      '  jobTemplate:',
      '    spec:',
      '      template:',
      '        spec:',
      '          restartPolicy: OnFailure',
      '          initContainers: [{name: fetch, image: fetch}]',
      '          containers: [{name: report, image: report}]',
      '',
    ].join('\n');
    const podOf = (out: string): Obj | undefined => docs(out)[0]?.spec.jobTemplate.spec.template.spec;
    const native = await run(['-', '--kubernetes-version', 'v1.29.0', '--quiet'], cronJob);
    expect(native.code).toBe(0);
    expect(names(podOf(native.stdout), 'initContainers')).toEqual(['fetch', 'weft-init', 'weft-proxy']);
    expect(podOf(native.stdout)?.initContainers[2].restartPolicy).toBe('Always');
    expect(names(podOf(native.stdout), 'containers')).toEqual(['report']);
    for (const args of [['--kubernetes-version', '1.28'], []]) {
      const classic = await run(['-', ...args, '--quiet'], cronJob);
      expect(classic.code).toBe(0);
      expect(names(podOf(classic.stdout), 'containers')).toEqual(['weft-proxy', 'report']);
      expect(names(podOf(classic.stdout), 'initContainers')).toEqual(['fetch', 'weft-init']);
    }
    const bad = await run(['-', '--kubernetes-version', 'latest'], cronJob);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('WEFT_ERR_INJECT_VERSION_INVALID');
  });

  it('runs as `weft inject -` through cli/main.ts', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'cli', 'main.ts'), 'inject', '-'], { input: deployment('web'), encoding: 'utf8' });
    expect(r.stderr).toContain('deployment "web" injected');
    expect(r.status).toBe(0);
    expect(docs(r.stdout)[0]?.spec.template.spec.initContainers[0].name).toBe('weft-init');
  });
});

describe('weft inject: Argo Rollouts', () => {
  it('injects an argoproj.io Rollout like a Deployment; a workloadRef Rollout and a foreign "Rollout" pass through', () => {
    const rollout = [
      'apiVersion: argoproj.io/v1alpha1',
      'kind: Rollout',
      'metadata: {name: web, namespace: demo, annotations: {weft.dev/inject: enabled}}',
      'spec:',
      '  strategy: {canary: {steps: [{setWeight: 20}]}}',
      '  selector: {matchLabels: {app: web}}',
      '  template:',
      '    metadata: {labels: {app: web}, annotations: {weft.dev/inject: enabled}}',
      '    spec:',
      '      containers: [{name: app, image: web}]',
      '',
    ].join('\n');
    const byRef = 'apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: ref}\nspec:\n  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n';
    const foreign = 'apiVersion: example.com/v1\nkind: Rollout\nmetadata: {name: other}\nspec: {}\n';
    const { output, objects } = injectManifests([rollout, byRef, foreign].join('---\n'), OPTS);
    const out = docs(output);
    expect(names(out[0]?.spec.template.spec, 'containers')).toEqual(['weft-proxy', 'app']);
    expect(objects.map((o) => `${o.kind}/${o.name}:${o.decision}`)).toEqual(['Rollout/web:injected', 'Rollout/ref:passed-through', 'Rollout/other:passed-through']);
    expect(objects[1]?.reason).toMatch(/workloadRef/);
    expect(output.endsWith(foreign)).toBe(true);
  });
});

describe('weft inject: the author\'s layout is kept', () => {
  it('on a multi-document file with comments and odd indentation, every line outside the injected fields is unchanged', () => {
    const input = [
      '# the web tier',
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '    name: web        # four-space indentation',
      '    namespace: demo',
      'spec:',
      '    replicas: 2',
      '    selector:',
      '        matchLabels: {app: web}',
      '    template:',
      '        metadata:',
      '            labels:',
      '                app: web',
      '            annotations:',
      '                weft.dev/inject: enabled',
      '        spec:',
      '            containers:',
      '            -   name: app          # a list not indented under its key',
      '                image: "web:1"',
      '                args: ["--port",   "8080"]',
      '                ports:',
      '                -   containerPort: 8080',
      '            volumes:',
      '              - name: data',
      '                emptyDir: {}',
      '---',
      '# untouched',
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: { name: cm,   namespace: demo }',
      'data:',
      '   key:    value',
      '',
    ].join('\n');
    const { output, objects } = injectManifests(input, OPTS);
    expect(objects.map((o) => o.decision)).toEqual(['injected', 'passed-through']);
    const inLines = input.split('\n');
    const outLines = output.split('\n');
    // Every input line is in the output, unchanged and in order; what was added is the injection only.
    let k = 0;
    for (const line of outLines) if (k < inLines.length && line === inLines[k]) k++;
    expect(inLines.slice(k)).toEqual([]);
    const added = outLines.length - inLines.length;
    expect(added).toBeGreaterThan(20);
    // And it means exactly what the injector's patch means.
    const out = docs(output);
    expect(names(out[0]?.spec.template.spec, 'containers')).toEqual(['weft-proxy', 'app']);
    expect(names(out[0]?.spec.template.spec, 'volumes')).toEqual(['data', 'weft-identity-token', 'weft-trust-bundle']);
    expect(out[0]?.spec.template.spec.containers[1].args).toEqual(['--port', '8080']);
  });
});
