import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManifestError, parseManifests, type ManifestObject } from './manifest-parse.ts';

const DEMO = new URL('./testdata/demo/', import.meta.url);

function ok(text: string): ManifestObject[] {
  const r = parseManifests(text, 'x.yaml');
  expect(r.errors.map((e) => e.message)).toEqual([]);
  return r.objects;
}

/** The single error of `text`: its code, document and field. */
function err(text: string): { code: string; document: number; field: string; file: string } {
  const r = parseManifests(text, 'x.yaml');
  expect(r.errors).toHaveLength(1);
  const e = r.errors[0]!;
  expect(e).toBeInstanceOf(ManifestError);
  return { code: e.code, document: e.document, field: e.field, file: e.file };
}

const SERVICE = `
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: http
`;

const DEPLOYMENT = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-v1
  namespace: demo
spec:
  replicas: 2
  selector:
    matchLabels: { app: web, version: v1 }
  template:
    metadata:
      labels: { app: web, version: v1 }
      annotations: { config.weft.dev/proxy-log-level: debug }
    spec:
      serviceAccountName: web
      containers:
        - name: web
          image: example/web:1
          command: ["weft-demo", "server"]
          args: ["--verbose"]
          env:
            - { name: PORT, value: "8080" }
            - name: POD_NAME
              valueFrom: { fieldRef: { fieldPath: metadata.name } }
          ports:
            - { name: http, containerPort: 8080 }
`;

describe('parseManifests: kinds', () => {
  it('Service', () => {
    expect(ok(SERVICE)).toEqual([
      {
        kind: 'Service',
        object: {
          name: 'web',
          namespace: 'demo',
          clusterIp: '',
          selector: { app: 'web' },
          ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
        },
      },
    ]);
  });

  it('Service defaults: namespace default, targetPort = port', () => {
    const [o] = ok('apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec: {ports: [{port: 5432}]}\n');
    expect(o).toEqual({
      kind: 'Service',
      object: { name: 'db', namespace: 'default', clusterIp: '', selector: {}, ports: [{ name: '', port: 5432, targetPort: 5432, protocol: 'TCP' }] },
    });
  });

  it('Service with config.weft.dev/opaque-ports (ranges); an invalid list is refused naming the annotation', () => {
    const [o] = ok(
      'apiVersion: v1\nkind: Service\nmetadata: {name: db, annotations: {config.weft.dev/opaque-ports: "5432, 7000-7001"}}\nspec: {ports: [{port: 5432}]}\n',
    );
    expect((o?.object as { opaquePorts?: number[] }).opaquePorts).toEqual([5432, 7000, 7001]);
    const e = err('apiVersion: v1\nkind: Service\nmetadata: {name: db, annotations: {config.weft.dev/opaque-ports: "pg"}}\nspec: {ports: [{port: 5432}]}\n');
    expect(e.code).toBe('WEFT_ERR_MANIFEST_INVALID');
    expect(e.field).toBe('metadata.annotations["config.weft.dev/opaque-ports"]');
  });

  it('Deployment', () => {
    expect(ok(DEPLOYMENT)).toEqual([
      {
        kind: 'Deployment',
        object: {
          name: 'web-v1',
          namespace: 'demo',
          replicas: 2,
          selector: { app: 'web', version: 'v1' },
          labels: { app: 'web', version: 'v1' },
          annotations: { 'config.weft.dev/proxy-log-level': 'debug' },
          serviceAccount: 'web',
          containerName: 'web',
          image: 'example/web:1',
          command: ['weft-demo', 'server'],
          args: ['--verbose'],
          env: [{ name: 'PORT', value: '8080' }],
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
        },
      },
    ]);
  });

  it('Deployment defaults: 1 replica, default service account', () => {
    const [o] = ok(
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: c}\nspec:\n  selector: {matchLabels: {app: c}}\n  template:\n    metadata: {labels: {app: c}}\n    spec: {containers: [{name: c}]}\n',
    );
    expect(o?.kind === 'Deployment' && o.object).toMatchObject({ replicas: 1, serviceAccount: 'default', command: [], env: [], ports: [] });
  });

  it('Namespace, ServiceAccount, TrafficSplit, HTTPRouteGroup and List', () => {
    const objs = ok(`
apiVersion: v1
kind: Namespace
metadata: {name: demo, annotations: {weft.dev/inject: enabled}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: demo}
---
apiVersion: split.smi-spec.io/v1alpha1
kind: TrafficSplit
metadata: {name: web, namespace: demo}
spec:
  service: web
  backends: [{service: web-v1, weight: 900m}, {service: web-v2, weight: 100m}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: ab, namespace: demo}
spec:
  matches: [{name: ff, headers: {user-agent: ".*Firefox.*"}}]
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Namespace
    metadata: {name: prod}
`);
    expect(objs.map((o) => o.kind)).toEqual(['Namespace', 'ServiceAccount', 'TrafficSplit', 'HTTPRouteGroup', 'Namespace']);
    expect(objs[0]).toEqual({ kind: 'Namespace', object: { name: 'demo', labels: {}, annotations: { 'weft.dev/inject': 'enabled' } } });
    const ts = objs[2];
    expect(ts?.kind === 'TrafficSplit' && ts.object.backends).toEqual([
      { service: 'web-v1', weight: 9 },
      { service: 'web-v2', weight: 1 },
    ]);
  });

  it('JSON files, comments, empty documents', () => {
    expect(ok('{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"demo"}}')).toHaveLength(1);
    expect(ok('# nothing here\n---\n---\n')).toEqual([]);
    expect(ok('')).toEqual([]);
  });

  it('parses the bundled demo', () => {
    const kinds: string[] = [];
    for (const f of ['namespace.yaml', 'web.yaml', 'client.yaml', 'split.yaml']) {
      kinds.push(...ok(readFileSync(new URL(f, DEMO), 'utf8')).map((o) => `${o.kind}/${o.object.name}`));
    }
    expect(kinds).toEqual([
      'Namespace/demo',
      'ServiceAccount/web',
      'ServiceAccount/client',
      'Service/web',
      'Service/web-v1',
      'Service/web-v2',
      'Deployment/web-v1',
      'Deployment/web-v2',
      'Deployment/client',
      'TrafficSplit/web',
    ]);
  });
});

describe('parseManifests: errors name file, document and field', () => {
  it('bad YAML', () => {
    const e = err('apiVersion: v1\nkind: Service\nmetadata: {name: web\n');
    expect(e).toMatchObject({ code: 'WEFT_ERR_MANIFEST_INVALID', file: 'x.yaml', document: 1, field: '' });
  });

  it('duplicate keys are bad YAML', () => {
    expect(err('apiVersion: v1\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n').document).toBe(1);
  });

  it('counts documents from 1 and keeps the good ones', () => {
    const r = parseManifests(`${SERVICE}---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {ports: [{port: 0}]}\n---${SERVICE}`, 'f.yaml');
    expect(r.objects).toHaveLength(2);
    expect(r.errors.map((e) => [e.document, e.field])).toEqual([[2, 'spec.ports[0].port']]);
    expect(r.errors[0]?.message).toContain('f.yaml');
  });

  it.each([
    ['not an object', '- a\n- b\n', ''],
    ['no kind', 'apiVersion: v1\nmetadata: {name: a}\n', 'kind'],
    ['no apiVersion', 'kind: Service\nmetadata: {name: a}\n', 'apiVersion'],
    ['unknown kind', 'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n', 'kind'],
    ['unknown apiVersion', 'apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: a}\n', 'apiVersion'],
    ['split apiVersion', 'apiVersion: split.smi-spec.io/v1\nkind: TrafficSplit\nmetadata: {name: a}\n', 'apiVersion'],
    ['no metadata', 'apiVersion: v1\nkind: Namespace\n', 'metadata'],
    ['no name', 'apiVersion: v1\nkind: Namespace\nmetadata: {}\n', 'metadata.name'],
    ['bad name', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: Demo_1}\n', 'metadata.name'],
    ['service name starts with a digit', 'apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec: {ports: [{port: 80}]}\n', 'metadata.name'],
    ['bad namespace', 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, namespace: "x.y"}\n', 'metadata.namespace'],
    ['label not a string', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {v: 2}}\n', 'metadata.labels.v'],
    ['service without spec', 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\n', 'spec'],
    ['service without ports', 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {}\n', 'spec.ports'],
    ['port as a string', 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: "80"}]}\n', 'spec.ports[0].port'],
    ['port out of range', 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 70000}]}\n', 'spec.ports[0].port'],
    ['bad protocol', 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80, protocol: HTTP}]}\n', 'spec.ports[0].protocol'],
    ['bad targetPort name', 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80, targetPort: "Web_Port"}]}\n', 'spec.ports[0].targetPort'],
    ['unnamed ports', 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}, {port: 81}]}\n', 'spec.ports[0].name'],
    ['selector not a map', 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {selector: [a], ports: [{port: 80}]}\n', 'spec.selector'],
  ])('%s', (_what, text, field) => {
    expect(err(text)).toMatchObject({ code: 'WEFT_ERR_MANIFEST_INVALID', document: 1, field });
  });

  const deployment = (patch: (d: string) => string): string => patch(DEPLOYMENT);
  it.each([
    ['replicas as a string', (d: string) => d.replace('replicas: 2', 'replicas: "2"'), 'spec.replicas'],
    ['negative replicas', (d: string) => d.replace('replicas: 2', 'replicas: -1'), 'spec.replicas'],
    ['no selector', (d: string) => d.replace('    matchLabels: { app: web, version: v1 }\n', '    {}\n'), 'spec.selector.matchLabels'],
    ['selector not matching the template', (d: string) => d.replace('labels: { app: web, version: v1 }', 'labels: { app: web }'), 'spec.template.metadata.labels'],
    ['no containers', (d: string) => d.replace(/containers:[\s\S]*$/, 'containers: []\n'), 'spec.template.spec.containers'],
    ['command not strings', (d: string) => d.replace('["weft-demo", "server"]', '["weft-demo", 7]'), 'spec.template.spec.containers[0].command[1]'],
    ['env value not a string', (d: string) => d.replace('value: "8080"', 'value: 8080'), 'spec.template.spec.containers[0].env[0].value'],
    ['container port missing', (d: string) => d.replace('containerPort: 8080', 'hostPort: 8080'), 'spec.template.spec.containers[0].ports[0].containerPort'],
    ['bad service account', (d: string) => d.replace('serviceAccountName: web', 'serviceAccountName: Web_SA'), 'spec.template.spec.serviceAccountName'],
  ])('Deployment: %s', (_what, patch, field) => {
    expect(err(deployment(patch))).toMatchObject({ code: 'WEFT_ERR_MANIFEST_INVALID', field });
  });

  it.each([
    ['negative weight', 'v1alpha4', '{service: web, backends: [{service: a, weight: -1}]}', 'spec.backends[0].weight'],
    ['non-numeric weight', 'v1alpha2', '{service: web, backends: [{service: a, weight: lots}]}', 'spec.backends[0].weight'],
    ['missing weight', 'v1alpha3', '{service: web, backends: [{service: a}]}', 'spec.backends[0].weight'],
    ['bad quantity', 'v1alpha1', '{service: web, backends: [{service: a, weight: 5x}]}', 'spec.backends[0].weight'],
    ['missing service', 'v1alpha4', '{backends: []}', 'spec.service'],
    ['backends not a list', 'v1alpha4', '{service: web, backends: {a: 1}}', 'spec.backends'],
  ])('TrafficSplit: %s', (_what, version, spec, field) => {
    const text = `apiVersion: split.smi-spec.io/${version}\nkind: TrafficSplit\nmetadata: {name: web}\nspec: ${spec}\n`;
    expect(err(text)).toMatchObject({ code: 'WEFT_ERR_MANIFEST_INVALID', field });
  });

  it('HTTPRouteGroup: bad regex', () => {
    const text = 'apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata: {name: g}\nspec: {matches: [{name: m, pathRegex: "/a/("}]}\n';
    expect(err(text)).toMatchObject({ field: 'spec.matches[0].pathRegex' });
  });

  it('List items are named by index', () => {
    const text = 'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Namespace\n    metadata: {name: ok}\n  - apiVersion: v1\n    kind: Namespace\n    metadata: {name: Bad}\n';
    expect(err(text)).toMatchObject({ field: 'items[1].metadata.name' });
  });
});
