// `weft install`'s rendering (deploy/*.ts), without a cluster: the shape of
// every object, the key material (webhook caBundle vs serving certificate,
// identity CA vs trust bundle), RBAC without wildcards, structural CRDs, the
// flags, the Dockerfile and the generated static files. The same objects are
// applied to a real kube-apiserver in test/cluster/install.test.ts.
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { checkCaMaterial, createCaMaterial, type CaMaterial } from '../control-plane/ca-material.ts';
import { HTTP_METHOD, NON_NEGATIVE_QUANTITY } from '../deploy/crds.ts';
import { generatedFiles } from '../deploy/generate.ts';
import { installMaterial, renderInstall, type InstallMaterial } from '../deploy/install.ts';
import { IDENTITY_SECRET_KEYS, SMI_VERSIONS } from '../deploy/names.ts';
import type { KubeObject } from '../deploy/objects.ts';
import { injectorDnsNames } from '../deploy/pki.ts';
import { prometheusConfig, prometheusYaml } from '../deploy/prometheus.ts';
import { podTargetGroups } from '../deploy/prometheus-pod-sd.ts';
import { installMain, installObjects, installYaml, parseInstallArgs, UsageError, weftVersion, type InstallArgs } from './install.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NOW = Date.now();

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => v as Obj;

function find(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (o === undefined) throw new Error(`no ${kind} ${name}`);
  return o;
}

const unb64 = (s: unknown): string => Buffer.from(String(s), 'base64').toString('utf8');

/** What makes a schema non-structural (apiextensions.k8s.io/v1), as paths; [] when structural. */
function structuralProblems(s: Obj, path: string): string[] {
  const out: string[] = [];
  const intOrString = s['x-kubernetes-int-or-string'] === true;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  if (s['type'] === undefined && !intOrString && !preserve) out.push(`${path}: no type`);
  if (intOrString && s['type'] !== undefined) out.push(`${path}: int-or-string with a type`);
  for (const junctor of ['anyOf', 'allOf', 'oneOf']) {
    for (const [i, sub] of ((s[junctor] as Obj[] | undefined) ?? []).entries()) {
      for (const banned of ['type', 'description', 'default', 'additionalProperties', 'nullable', 'properties', 'items']) {
        if (sub[banned] !== undefined) out.push(`${path}.${junctor}[${i}]: ${banned} inside a junctor`);
      }
    }
  }
  const props = (s['properties'] as Record<string, Obj> | undefined) ?? {};
  if (s['type'] === 'object') {
    for (const r of (s['required'] as string[] | undefined) ?? []) {
      if (props[r] === undefined && !preserve) out.push(`${path}: required ${r} is not a property`);
    }
    for (const junctor of ['anyOf', 'allOf', 'oneOf']) {
      for (const sub of (s[junctor] as Obj[] | undefined) ?? []) {
        for (const r of (sub['required'] as string[] | undefined) ?? []) {
          if (props[r] === undefined) out.push(`${path}.${junctor}: required ${r} is not a property`);
        }
      }
    }
  }
  for (const [k, v] of Object.entries(props)) out.push(...structuralProblems(v, `${path}.${k}`));
  if (s['type'] === 'array') {
    if (s['items'] === undefined) out.push(`${path}: array without items`);
    else out.push(...structuralProblems(obj(s['items']), `${path}[]`));
  }
  return out;
}

describe('weft install rendering', () => {
  let material: InstallMaterial;
  let objects: KubeObject[];
  const options = {
    image: 'registry.example/weft:9.9.9',
    version: '9.9.9',
    trustDomain: 'cluster.local',
    imagePullPolicy: 'IfNotPresent' as const,
    logLevel: 'info',
    webhookFailurePolicy: 'Ignore' as const,
    inboundMode: 'PERMISSIVE' as const,
  };

  beforeAll(() => {
    material = installMaterial({}, 'cluster.local', NOW);
    objects = renderInstall(options, material);
  });

  it('renders every object with apiVersion, kind and metadata.name; namespaced ones in weft-system; CRDs first, webhook last', () => {
    const clusterScoped = new Set(['CustomResourceDefinition', 'Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration']);
    for (const o of objects) {
      expect(o.apiVersion, o.kind).toMatch(/^([a-z0-9.-]+\/)?v\d+((alpha|beta)\d+)?$/);
      expect(o.kind).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(o.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      if (clusterScoped.has(o.kind)) expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBeUndefined();
      else expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe('weft-system');
      expect(o.metadata.labels?.['app.kubernetes.io/part-of'], `${o.kind} ${o.metadata.name}`).toBe('weft');
    }
    const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.slice(0, 5)).toEqual([
      'CustomResourceDefinition/trafficsplits.split.smi-spec.io',
      'CustomResourceDefinition/httproutegroups.specs.smi-spec.io',
      'CustomResourceDefinition/tcproutes.specs.smi-spec.io',
      'CustomResourceDefinition/traffictargets.access.smi-spec.io',
      'Namespace/weft-system',
    ]);
    expect(ids.at(-1)).toBe('MutatingWebhookConfiguration/weft-injector');
    for (const want of [
      'ServiceAccount/weft-control-plane', 'ServiceAccount/weft-injector', 'ClusterRole/weft-control-plane',
      'ClusterRoleBinding/weft-control-plane', 'Role/weft-control-plane', 'RoleBinding/weft-control-plane',
      'ClusterRole/weft-injector', 'ClusterRoleBinding/weft-injector', 'Secret/weft-identity', 'ConfigMap/weft-trust-bundle',
      'Secret/weft-injector-tls', 'Service/weft-control-plane', 'Service/weft-injector', 'Deployment/weft-control-plane',
      'Deployment/weft-injector',
    ]) expect(ids).toContain(want);
  });

  it('the YAML stream parses back into the same objects, one document each', () => {
    const args: InstallArgs = { options, identity: {} };
    const text = installYaml(args, NOW);
    const docs = parseAllDocuments(text);
    for (const d of docs) expect(d.errors).toEqual([]);
    const parsed = docs.map((d) => d.toJS() as KubeObject);
    expect(parsed.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`));
    // (fresh keys per call: compare a keyless object exactly)
    expect(parsed.find((o) => o.kind === 'Deployment')).toEqual(objects.find((o) => o.kind === 'Deployment'));
  });

  it("the webhook's caBundle verifies the injector's serving certificate, which is valid for the injector Service's names", () => {
    const hook = obj((find(objects, 'MutatingWebhookConfiguration', 'weft-injector')['webhooks'] as Obj[])[0]);
    const caPem = unb64(obj(hook['clientConfig'])['caBundle']);
    const secret = obj(find(objects, 'Secret', 'weft-injector-tls')['data']);
    const cert = new X509Certificate(unb64(secret['tls.crt']));
    const ca = new X509Certificate(caPem);
    expect(ca.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(unb64(secret['ca.crt'])).toBe(caPem);
    expect(cert.checkPrivateKey(createPrivateKey(unb64(secret['tls.key'])))).toBe(true);
    for (const dns of injectorDnsNames()) expect(cert.checkHost(dns)).toBe(dns);
    expect(cert.validFromDate.getTime()).toBeLessThanOrEqual(NOW);
    expect(cert.validToDate.getTime()).toBeGreaterThan(NOW + 300 * 86_400_000);
    // And OpenSSL agrees (serverAuth purpose, the Service's name).
    const dir = mkdtempSync(join(tmpdir(), 'weft-install-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), caPem);
      writeFileSync(join(dir, 'cert.pem'), unb64(secret['tls.crt']));
      const r = spawnSync('openssl', ['verify', '-purpose', 'sslserver', '-verify_hostname', 'weft-injector.weft-system.svc', '-CAfile', join(dir, 'ca.pem'), join(dir, 'cert.pem')], { encoding: 'utf8' });
      if (r.error === undefined) expect(`${r.stdout}${r.stderr}`).toContain(': OK');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the webhook: pods CREATE only, sideEffects None, AdmissionReview v1, failurePolicy as asked, weft-system and opted-out pods never sent', () => {
    const hook = obj((find(objects, 'MutatingWebhookConfiguration', 'weft-injector')['webhooks'] as Obj[])[0]);
    expect(hook['rules']).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
    expect(hook['sideEffects']).toBe('None');
    expect(hook['admissionReviewVersions']).toEqual(['v1']);
    expect(hook['failurePolicy']).toBe('Ignore');
    expect(obj(obj(hook['clientConfig'])['service'])).toEqual({ name: 'weft-injector', namespace: 'weft-system', path: '/mutate', port: 443 });
    const nsLabels = find(objects, 'Namespace', 'weft-system').metadata.labels ?? {};
    const exprs = obj(hook['namespaceSelector'])['matchExpressions'] as { key: string; operator: string; values: string[] }[];
    // weft-system's own label excludes it on every Kubernetes version.
    expect(exprs.some((e) => e.operator === 'NotIn' && e.values.includes(nsLabels[e.key] ?? '\0'))).toBe(true);
    const fail = renderInstall({ ...options, webhookFailurePolicy: 'Fail' }, material);
    expect(obj((find(fail, 'MutatingWebhookConfiguration', 'weft-injector')['webhooks'] as Obj[])[0])['failurePolicy']).toBe('Fail');
    // The injector Service maps 443 to the container's 8443.
    const svc = obj(find(objects, 'Service', 'weft-injector')['spec']);
    expect(svc['ports']).toEqual([{ name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
    const dep = find(objects, 'Deployment', 'weft-injector');
    const c = obj(((obj(obj(obj(dep['spec'])['template'])['spec'])['containers']) as Obj[])[0]);
    expect(c['ports']).toContainEqual({ name: 'webhook', containerPort: 8443, protocol: 'TCP' });
  });

  it('Secret weft-identity holds a CA that passes the control plane\'s checks; ConfigMap weft-trust-bundle holds its anchor', () => {
    const data = obj(find(objects, 'Secret', 'weft-identity')['data']);
    const ca: CaMaterial = {
      anchorPem: unb64(data[IDENTITY_SECRET_KEYS.anchor]),
      anchorKeyPem: unb64(data[IDENTITY_SECRET_KEYS.anchorKey]),
      issuerPem: unb64(data[IDENTITY_SECRET_KEYS.issuer]),
      issuerKeyPem: unb64(data[IDENTITY_SECRET_KEYS.issuerKey]),
    };
    expect(() => checkCaMaterial(ca, NOW)).not.toThrow();
    const bundle = String(obj(find(objects, 'ConfigMap', 'weft-trust-bundle')['data'])['ca-bundle.crt']);
    expect(new X509Certificate(bundle).fingerprint256).toBe(new X509Certificate(ca.anchorPem).fingerprint256);
    expect(bundle).not.toContain('PRIVATE KEY');
  });

  it('RBAC: no wildcards; Secrets only in weft-system and only by name (except create); ServiceAccounts bound to their roles', () => {
    const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
    expect(roles).toHaveLength(3);
    for (const role of roles) {
      for (const rule of role['rules'] as { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[]) {
        for (const field of [rule.apiGroups, rule.resources, rule.verbs]) {
          for (const v of field) expect(v, `${role.kind} ${role.metadata.name}`).not.toContain('*');
        }
        expect(rule.verbs).not.toContain('escalate');
        expect(rule.verbs).not.toContain('bind');
        expect(rule.verbs).not.toContain('impersonate');
        if (rule.resources.includes('secrets')) {
          expect(role.kind, 'secrets in a ClusterRole').toBe('Role');
          if (rule.verbs.some((v) => v !== 'create')) expect(rule.resourceNames).toEqual(['weft-identity']);
        }
        if (rule.resources.includes('configmaps') && rule.verbs.some((v) => v !== 'create')) {
          expect(rule.resourceNames).toEqual(['weft-trust-bundle']);
        }
      }
    }
    for (const b of objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
      expect(obj(b['roleRef'])['name']).toBe(b.metadata.name);
      expect(b['subjects']).toEqual([{ kind: 'ServiceAccount', name: b.metadata.name, namespace: 'weft-system' }]);
    }
    const injectorRules = find(objects, 'ClusterRole', 'weft-injector')['rules'];
    expect(injectorRules).toEqual([{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }]);
  });

  it('the CRDs are structural, serve v1alpha1..v1alpha4 (TrafficTarget: ..v1alpha3), store exactly one (the newest), with TrafficSplit and TrafficTarget status subresources', () => {
    for (const crd of objects.filter((o) => o.kind === 'CustomResourceDefinition')) {
      expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
      const spec = obj(crd['spec']);
      expect(obj(spec['conversion'])).toEqual({ strategy: 'None' });
      const versions = spec['versions'] as Obj[];
      const access = spec['group'] === 'access.smi-spec.io';
      const want = access ? SMI_VERSIONS.slice(0, 3) : [...SMI_VERSIONS];
      expect(versions.map((v) => v['name'])).toEqual(want);
      expect(versions.every((v) => v['served'] === true)).toBe(true);
      expect(versions.filter((v) => v['storage'] === true).map((v) => v['name'])).toEqual([want.at(-1)]);
      for (const v of versions) {
        const schema = obj(obj(v['schema'])['openAPIV3Schema']);
        expect(schema['type']).toBe('object');
        expect(structuralProblems(schema, `${crd.metadata.name}/${String(v['name'])}`)).toEqual([]);
        // conversion None: every version must accept what any version stored.
        expect(schema).toEqual(obj(obj(versions[0]?.['schema'])['openAPIV3Schema']));
      }
      const names = obj(spec['names']);
      expect(`${String(names['plural'])}.${String(spec['group'])}`).toBe(crd.metadata.name);
    }
    const ts = obj(find(objects, 'CustomResourceDefinition', 'trafficsplits.split.smi-spec.io')['spec']);
    for (const v of ts['versions'] as Obj[]) expect(v['subresources']).toEqual({ status: {} });
    const tt = obj(find(objects, 'CustomResourceDefinition', 'traffictargets.access.smi-spec.io')['spec']);
    for (const v of tt['versions'] as Obj[]) expect(v['subresources']).toEqual({ status: {} });
    const tsSchema = obj(obj((ts['versions'] as Obj[])[0]?.['schema'])['openAPIV3Schema']);
    expect(obj(obj(tsSchema['properties'])['spec'])['required']).toEqual(['service', 'backends']);
  });

  it('TrafficSplit weights: the quantity pattern takes 500m, 1, 1k, 2.5, 1e3 and refuses -1, abc, 1.2.3; methods are tokens or *', () => {
    const q = new RegExp(NON_NEGATIVE_QUANTITY);
    for (const ok of ['500m', '1', '0', '1k', '2.5', '1e3', '+3', '.5', '1Ki']) expect(q.test(ok), ok).toBe(true);
    for (const bad of ['-1', 'abc', '1.2.3', '', '5 m', '1x']) expect(q.test(bad), bad).toBe(false);
    const m = new RegExp(HTTP_METHOD);
    for (const ok of ['GET', '*', 'PROPFIND', 'M-SEARCH']) expect(m.test(ok), ok).toBe(true);
    for (const bad of ['', 'GET POST', 'G(T']) expect(m.test(bad), bad).toBe(false);
  });

  it("the Deployments run the image's files: the build of an existing source, compiled in the Dockerfile's build stage, with the given image", () => {
    const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:24-slim AS build$/m);
    expect(dockerfile).toMatch(/^RUN node deploy\/dist-build\.ts$/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/src\/dist\/ \.\/$/m);
    expect(dockerfile).toMatch(/apt-get install[^\n]*iptables/);
    const copied = [...dockerfile.matchAll(/^COPY (\S+)\/ \1\/$/gm)].map((m) => m[1]);
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    const compiled = build.include.map((g) => g.split('/')[0]);
    const sourceOf = (file: string): string => String(file).replace(/^\/weft\//, '').replace(/\.js$/, '.ts');
    for (const dep of objects.filter((o) => o.kind === 'Deployment')) {
      const c = obj(((obj(obj(obj(dep['spec'])['template'])['spec'])['containers']) as Obj[])[0]);
      expect(c['image']).toBe('registry.example/weft:9.9.9');
      const command = c['command'] as string[];
      expect(command[0]).toBe('node');
      expect(command.at(-1)).toMatch(/^\/weft\/.*\.js$/);
      const rel = sourceOf(command.at(-1) ?? '');
      expect(existsSync(join(ROOT, rel)), rel).toBe(true);
      expect(copied).toContain(rel.split('/')[0]);
      expect(compiled).toContain(rel.split('/')[0]);
      expect(obj(c['securityContext'])['runAsNonRoot']).toBe(true);
      expect(obj(obj(dep['spec'])['selector'])['matchLabels']).toEqual(
        Object.fromEntries(Object.entries(obj(obj(obj(dep['spec'])['template'])['metadata'])['labels'] as Obj).filter(([k]) => k === 'weft.dev/control-plane-component')),
      );
    }
    // The injected containers' commands (injector/patch.ts defaults) are in the image too.
    for (const dir of ['proxy', 'injector', 'proto', 'identity']) {
      expect(copied).toContain(dir);
      expect(compiled).toContain(dir);
    }
  });

  it("each Deployment's environment is what its main.ts reads (injector/main.ts, control-plane/main.ts)", () => {
    for (const [name, mainFile] of [['weft-injector', 'injector/main.ts'], ['weft-control-plane', 'control-plane/main.ts']] as const) {
      const main = readFileSync(join(ROOT, mainFile), 'utf8');
      const dep = find(objects, 'Deployment', name);
      const c = obj(((obj(obj(obj(dep['spec'])['template'])['spec'])['containers']) as Obj[])[0]);
      for (const e of c['env'] as { name: string }[]) expect(main, `${mainFile} reads ${e.name}`).toMatch(new RegExp(`env(\\.|\\[')${e.name}\\b`));
    }
  });

  it('deploy/crds.yaml and deploy/prometheus.yml are what deploy/generate.ts renders (run `node deploy/generate.ts`)', () => {
    for (const [name, text] of Object.entries(generatedFiles())) {
      expect(readFileSync(join(ROOT, 'deploy', name), 'utf8'), `deploy/${name} is stale`).toBe(text);
    }
  });
});

describe('weft install flags', () => {
  let dir: string;
  let given: CaMaterial;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'weft-install-flags-'));
    given = createCaMaterial({ trustDomain: 'example.org', now: NOW });
    writeFileSync(join(dir, 'anchor.pem'), given.anchorPem);
    writeFileSync(join(dir, 'anchor-key.pem'), given.anchorKeyPem ?? '');
    writeFileSync(join(dir, 'issuer.pem'), given.issuerPem);
    writeFileSync(join(dir, 'issuer-key.pem'), given.issuerKeyPem);
    const other = createCaMaterial({ trustDomain: 'example.org', now: NOW });
    writeFileSync(join(dir, 'other-issuer.pem'), other.issuerPem);
    writeFileSync(join(dir, 'other-issuer-key.pem'), other.issuerKeyPem);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (argv: string[]): { code: number; out: string; err: string } => {
    let out = '';
    let err = '';
    const code = installMain(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
    return { code, out, err };
  };
  const identityOf = (yamlText: string): Obj => {
    const secret = parseAllDocuments(yamlText).map((d) => d.toJS() as KubeObject).find((o) => o.metadata.name === 'weft-identity');
    return obj(secret?.['data']);
  };

  it('defaults: image weft:<package version>, trust domain cluster.local, Ignore', () => {
    const args = parseInstallArgs([]);
    expect(args.options).toEqual({
      image: `weft:${weftVersion()}`,
      version: weftVersion(),
      trustDomain: 'cluster.local',
      imagePullPolicy: 'IfNotPresent',
      logLevel: 'info',
      webhookFailurePolicy: 'Ignore',
      inboundMode: 'PERMISSIVE',
    });
  });

  it('--inbound-mode strict sets the cluster default on the control plane; a bad value is a usage error', () => {
    expect(parseInstallArgs(['--inbound-mode', 'strict']).options.inboundMode).toBe('STRICT');
    const objs = installObjects(parseInstallArgs(['--inbound-mode', 'STRICT']), NOW);
    const cp = objs.find((o) => o.kind === 'Deployment' && (o.metadata as { name: string }).name === 'weft-control-plane') as unknown as {
      spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value: string }> }> } } };
    };
    expect(cp.spec.template.spec.containers[0]?.env).toContainEqual({ name: 'WEFT_INBOUND_MODE', value: 'STRICT' });
    expect(() => parseInstallArgs(['--inbound-mode', 'sometimes'])).toThrow(UsageError);
  });

  it('--identity-trust-anchor-pem with the issuer pair installs them as given (no anchor key in the cluster)', () => {
    const r = run(['--trust-domain', 'example.org', '--identity-trust-anchor-pem', join(dir, 'anchor.pem'),
      '--identity-issuer-pem', join(dir, 'issuer.pem'), '--identity-issuer-key-pem', join(dir, 'issuer-key.pem')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const data = identityOf(r.out);
    expect(unb64(data[IDENTITY_SECRET_KEYS.anchor])).toBe(given.anchorPem);
    expect(unb64(data[IDENTITY_SECRET_KEYS.issuer])).toBe(given.issuerPem);
    expect(data[IDENTITY_SECRET_KEYS.anchorKey]).toBeUndefined();
    expect(r.out).toContain('value: example.org');
  });

  it('--identity-trust-anchor-pem with its key makes a new issuer under that anchor', () => {
    const r = run(['--identity-trust-anchor-pem', join(dir, 'anchor.pem'), '--identity-trust-anchor-key-pem', join(dir, 'anchor-key.pem')]);
    expect(r.code).toBe(0);
    const data = identityOf(r.out);
    const issuer = unb64(data[IDENTITY_SECRET_KEYS.issuer]);
    expect(issuer).not.toBe(given.issuerPem);
    expect(new X509Certificate(issuer).verify(new X509Certificate(given.anchorPem).publicKey)).toBe(true);
  });

  it('refuses an issuer without anchor, an anchor alone, and an issuer another anchor signed (exit 1, naming the problem)', () => {
    const noAnchor = run(['--identity-issuer-pem', join(dir, 'issuer.pem'), '--identity-issuer-key-pem', join(dir, 'issuer-key.pem')]);
    expect(noAnchor.code).toBe(1);
    expect(noAnchor.err).toContain('--identity-trust-anchor-pem');
    expect(noAnchor.out).toBe('');
    const alone = run(['--identity-trust-anchor-pem', join(dir, 'anchor.pem')]);
    expect(alone.code).toBe(1);
    expect(alone.err).toContain('WEFT_ERR_CA_INVALID');
    const mismatched = run(['--identity-trust-anchor-pem', join(dir, 'anchor.pem'),
      '--identity-issuer-pem', join(dir, 'other-issuer.pem'), '--identity-issuer-key-pem', join(dir, 'other-issuer-key.pem')]);
    expect(mismatched.code).toBe(1);
    expect(mismatched.err).toContain('issuer was not signed by the trust anchor');
  });

  it('bad flags exit 2 with the usage: unknown flag, bad pull policy, missing file, bad trust domain exits 1', () => {
    for (const argv of [['--bogus'], ['--image-pull-policy', 'Sometimes'], ['--webhook-failure-policy', 'Maybe'], ['--identity-trust-anchor-pem', join(dir, 'nope.pem')]]) {
      const r = run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toContain('usage: weft install');
    }
    const td = run(['--trust-domain', 'Not A Domain']);
    expect(td.code).toBe(1);
    expect(td.err).toContain('WEFT_ERR_SPIFFE_ID_INVALID');
  });

  it('`node cli/main.ts install` prints the YAML on stdout and exits 0', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'cli', 'main.ts'), 'install', '--image', 'weft:test'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as KubeObject);
    expect(docs).toHaveLength(21);
    expect(r.stdout).toContain('image: weft:test');
  });
});

describe('Prometheus scrape configuration (deploy/prometheus.ts)', () => {
  it('the HTTP-discovery variant passes `promtool check config`, with the same relabelling as the Kubernetes one', () => {
    const k8s = prometheusConfig() as { scrape_configs: Obj[] };
    const http = prometheusConfig({ httpSdUrl: 'http://127.0.0.1:1/' }) as { scrape_configs: Obj[] };
    expect(k8s.scrape_configs.map((j) => j['job_name'])).toEqual(['weft-proxy', 'weft-control-plane']);
    for (const [i, job] of k8s.scrape_configs.entries()) {
      expect(job['kubernetes_sd_configs']).toBeDefined();
      const relabels = job['relabel_configs'] as Obj[];
      expect(http.scrape_configs[i]?.['relabel_configs']).toEqual(relabels);
      expect(http.scrape_configs[i]?.['http_sd_configs']).toEqual([{ url: 'http://127.0.0.1:1/', refresh_interval: '5s' }]);
    }
    const dir = mkdtempSync(join(tmpdir(), 'weft-prom-'));
    try {
      writeFileSync(join(dir, 'prometheus.yml'), prometheusYaml({ httpSdUrl: 'http://127.0.0.1:1/' }));
      const r = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
      if (r.error !== undefined) return; // no promtool here (CI installs Debian's prometheus)
      expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pod discovery publishes what Prometheus\'s Kubernetes discovery would: a target per container port, sanitized labels, no IP no target', () => {
    const pod = {
      metadata: {
        name: 'web-v1-5d9c7b8f6d-x2x4z',
        namespace: 'demo',
        uid: 'u1',
        labels: { app: 'web', 'pod-template-hash': '5d9c7b8f6d' },
        annotations: { 'weft.dev/proxy-version': '0.1.0' },
        ownerReferences: [{ kind: 'ReplicaSet', name: 'web-v1-5d9c7b8f6d', controller: true }],
      },
      spec: {
        nodeName: 'n1',
        initContainers: [{ name: 'weft-init', image: 'weft:1' }],
        containers: [
          { name: 'app', image: 'demo:1', ports: [{ name: 'http', containerPort: 8080 }] },
          { name: 'weft-proxy', image: 'weft:1', ports: [{ name: 'weft-admin', containerPort: 4191, protocol: 'TCP' }] },
        ],
      },
      status: { podIP: '198.18.0.5', hostIP: '198.18.0.1', phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    };
    const groups = podTargetGroups(pod);
    expect(groups.map((g) => g.targets[0])).toEqual(['198.18.0.5:8080', '198.18.0.5:4191', '198.18.0.5']);
    const proxy = groups[1]?.labels ?? {};
    expect(proxy).toMatchObject({
      __meta_kubernetes_namespace: 'demo',
      __meta_kubernetes_pod_name: 'web-v1-5d9c7b8f6d-x2x4z',
      __meta_kubernetes_pod_ready: 'true',
      __meta_kubernetes_pod_phase: 'Running',
      __meta_kubernetes_pod_controller_kind: 'ReplicaSet',
      __meta_kubernetes_pod_controller_name: 'web-v1-5d9c7b8f6d',
      __meta_kubernetes_pod_label_pod_template_hash: '5d9c7b8f6d',
      __meta_kubernetes_pod_labelpresent_app: 'true',
      __meta_kubernetes_pod_annotation_weft_dev_proxy_version: '0.1.0',
      __meta_kubernetes_pod_container_name: 'weft-proxy',
      __meta_kubernetes_pod_container_port_name: 'weft-admin',
      __meta_kubernetes_pod_container_port_number: '4191',
      __meta_kubernetes_pod_container_init: 'false',
    });
    expect(groups[2]?.labels['__meta_kubernetes_pod_container_init']).toBe('true');
    expect(podTargetGroups({ ...pod, status: { phase: 'Pending' } })).toEqual([]);
    expect(podTargetGroups({ ...pod, status: { podIP: 'fd00::5' } })[0]?.targets).toEqual(['[fd00::5]:8080']);
  });
});
