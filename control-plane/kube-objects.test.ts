import { describe, expect, it } from 'vitest';
import {
  clusterStateFromKube,
  createKubeMapMemo,
  endpointsFromSlice,
  httpRouteGroupFromKube,
  mergeEndpointGroups,
  namespaceFromKube,
  ownerWorkloadOf,
  podFromKube,
  serviceFromKube,
  trafficSplitFromKube,
  workloadFromDeployment,
  type KubeObjects,
} from './kube-objects.ts';

const meta = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  namespace: 'demo',
  uid: `uid-${name}`,
  resourceVersion: '1',
  ...extra,
});

function slice(name: string, service: string, endpoints: unknown[], ports: unknown[] = [{ name: 'http', port: 8080, protocol: 'TCP' }], apiVersion = 'discovery.k8s.io/v1beta1'): unknown {
  return {
    apiVersion,
    kind: 'EndpointSlice',
    metadata: meta(name, { labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } }),
    addressType: 'IPv4',
    endpoints,
    ports,
  };
}

const ep = (ip: string, pod: string, ready?: boolean): unknown => ({
  addresses: [ip],
  conditions: ready === undefined ? {} : { ready },
  targetRef: { kind: 'Pod', name: pod, namespace: 'demo', uid: `uid-${pod}` },
  topology: { 'kubernetes.io/hostname': 'node-1' },
});

function pod(name: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string>; containers?: unknown[]; status?: Record<string, unknown>; owner?: unknown; sa?: string; deleting?: boolean } = {}): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: meta(name, {
      labels: extra.labels ?? { app: 'web' },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ...(extra.owner ? { ownerReferences: [extra.owner] } : {}),
      ...(extra.deleting ? { deletionTimestamp: '2026-11-01T00:00:00Z' } : {}),
      creationTimestamp: '2026-11-01T00:00:00Z',
    }),
    spec: {
      ...(extra.sa === undefined ? {} : { serviceAccountName: extra.sa }),
      containers: extra.containers ?? [{ name: 'app', image: 'web:1', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }],
    },
    status: extra.status ?? {
      phase: 'Running',
      podIP: '198.18.0.10',
      podIPs: [{ ip: '198.18.0.10' }],
      conditions: [
        { type: 'Ready', status: 'True' },
        { type: 'PodScheduled', status: 'True' },
      ],
    },
  };
}

describe('namespaceFromKube / serviceFromKube', () => {
  it('maps a namespace, keeping string labels and annotations, dropping last-applied-configuration', () => {
    expect(
      namespaceFromKube({
        metadata: {
          name: 'demo',
          labels: { 'weft.dev/inject': 'enabled', bad: 3 },
          annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"huge":true}', a: 'b' },
        },
      }),
    ).toEqual({ name: 'demo', labels: { 'weft.dev/inject': 'enabled' }, annotations: { a: 'b' } });
    expect(namespaceFromKube({ metadata: {} })).toBeUndefined();
    expect(namespaceFromKube('nonsense')).toBeUndefined();
  });

  it('reads a service\'s config.weft.dev/opaque-ports (an invalid list is left out)', () => {
    const svc = (v: string) =>
      serviceFromKube({ metadata: { ...meta('db'), annotations: { 'config.weft.dev/opaque-ports': v } }, spec: { ports: [{ port: 5432 }] } });
    expect(svc('5432,9000-9001')?.opaquePorts).toEqual([5432, 9000, 9001]);
    expect(svc('pg')?.opaquePorts).toBeUndefined();
  });

  it('maps a service: ports with targetPort defaulting to port, protocol to TCP; selector', () => {
    expect(
      serviceFromKube({
        metadata: meta('web'),
        spec: {
          clusterIP: '198.19.255.10',
          selector: { app: 'web' },
          ports: [
            { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
            { name: 'admin', port: 9000 },
            { name: 'bad', port: 0 },
          ],
        },
      }),
    ).toEqual({
      name: 'web',
      namespace: 'demo',
      clusterIp: '198.19.255.10',
      selector: { app: 'web' },
      ports: [
        { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
        { name: 'admin', port: 9000, targetPort: 9000, protocol: 'TCP' },
      ],
    });
    expect(serviceFromKube({ metadata: { name: 'x' }, spec: {} })).toBeUndefined(); // no namespace
    expect(serviceFromKube({ metadata: meta('ext'), spec: { type: 'ExternalName', externalName: 'example' } })).toEqual({
      name: 'ext',
      namespace: 'demo',
      clusterIp: '',
      ports: [],
      selector: {},
    });
  });
});

describe('endpointsFromSlice', () => {
  it('reads v1beta1 and v1 slices the same way', () => {
    const eps = [ep('198.18.0.11', 'web-b', true), ep('198.18.0.10', 'web-a')];
    const v1beta1 = endpointsFromSlice(slice('web-abc', 'web', eps));
    const v1 = endpointsFromSlice(slice('web-abc', 'web', eps.map((e) => ({ ...(e as object), topology: undefined, nodeName: 'node-1' })), undefined, 'discovery.k8s.io/v1'));
    expect(v1beta1).toEqual({
      service: 'web',
      namespace: 'demo',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      addresses: [
        { ip: '198.18.0.11', ready: true, podName: 'web-b' },
        // readiness unknown means ready (EndpointSlice API)
        { ip: '198.18.0.10', ready: true, podName: 'web-a' },
      ],
    });
    expect(v1).toEqual(v1beta1);
  });

  it('marks not-ready and terminating endpoints; skips empty addresses, null ports, FQDN slices and orphans', () => {
    const s = endpointsFromSlice(
      slice(
        'web-x',
        'web',
        [ep('198.18.0.1', 'a', false), { addresses: ['198.18.0.2'], conditions: { ready: true, terminating: true } }, { addresses: [] }],
        [{ name: null, port: null, protocol: 'TCP' }, { name: null, port: 80 }],
      ),
    );
    expect(s?.addresses).toEqual([
      { ip: '198.18.0.1', ready: false, podName: 'a' },
      { ip: '198.18.0.2', ready: false, podName: '' },
    ]);
    expect(s?.ports).toEqual([{ name: '', port: 80, protocol: 'TCP' }]);
    expect(endpointsFromSlice({ ...(slice('f', 'web', []) as object), addressType: 'FQDN' })).toBeUndefined();
    expect(endpointsFromSlice({ metadata: meta('orphan'), endpoints: [] })).toBeUndefined();
  });

  it('merges the slices of one service with the same ports, so moving endpoints between slices is no change', () => {
    const a = [endpointsFromSlice(slice('web-1', 'web', [ep('198.18.0.10', 'a'), ep('198.18.0.9', 'b')]))!, endpointsFromSlice(slice('web-2', 'web', [ep('198.18.0.12', 'c')]))!];
    const b = [endpointsFromSlice(slice('web-1', 'web', [ep('198.18.0.12', 'c')]))!, endpointsFromSlice(slice('web-3', 'web', [ep('198.18.0.9', 'b'), ep('198.18.0.10', 'a')]))!];
    expect(mergeEndpointGroups(a)).toEqual(mergeEndpointGroups(b));
    expect(mergeEndpointGroups(a)).toHaveLength(1);
    expect(mergeEndpointGroups(a)[0]!.addresses.map((x) => x.ip)).toEqual(['198.18.0.9', '198.18.0.10', '198.18.0.12']);
    // a duplicate (mid-move) counts as ready if any copy is
    const dup = mergeEndpointGroups([endpointsFromSlice(slice('s1', 'web', [ep('198.18.0.1', 'a', false)]))!, endpointsFromSlice(slice('s2', 'web', [ep('198.18.0.1', 'a', true)]))!]);
    expect(dup[0]!.addresses).toEqual([{ ip: '198.18.0.1', ready: true, podName: 'a' }]);
    // different ports stay apart
    const apart = mergeEndpointGroups([
      endpointsFromSlice(slice('s1', 'web', [ep('198.18.0.1', 'a')], [{ name: 'http', port: 8080 }]))!,
      endpointsFromSlice(slice('s2', 'web', [ep('198.18.0.2', 'b')], [{ name: 'http', port: 9090 }]))!,
    ]);
    expect(apart).toHaveLength(2);
  });
});

describe('podFromKube', () => {
  it('maps a running, ready pod: IP, service account, app ports, owner Deployment via its ReplicaSet', () => {
    const p = podFromKube(
      pod('web-7d9f8-abcde', {
        labels: { app: 'web', 'pod-template-hash': '7d9f8' },
        sa: 'web',
        owner: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8', controller: true, uid: 'rs' },
      }),
    );
    expect(p).toEqual({
      name: 'web-7d9f8-abcde',
      namespace: 'demo',
      ip: '198.18.0.10',
      labels: { app: 'web', 'pod-template-hash': '7d9f8' },
      annotations: {},
      serviceAccount: 'web',
      ownerWorkload: 'web',
      meshed: false,
      ready: true,
      ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
    });
  });

  it('is meshed with the weft-proxy container or the proxy-version annotation; proxy ports are not app ports', () => {
    const withContainer = podFromKube(
      pod('a', {
        containers: [
          { name: 'app', ports: [{ containerPort: 8080 }] },
          { name: 'weft-proxy', ports: [{ name: 'weft-inbound', containerPort: 4143 }, { name: 'weft-admin', containerPort: 4191 }] },
        ],
      }),
    );
    expect(withContainer?.meshed).toBe(true);
    expect(withContainer?.ports).toEqual([{ name: '', containerPort: 8080, protocol: 'TCP' }]);
    expect(podFromKube(pod('b', { annotations: { 'weft.dev/proxy-version': '0.1.0' } }))?.meshed).toBe(true);
    expect(podFromKube(pod('c'))?.meshed).toBe(false);
    expect(podFromKube(pod('c'))?.serviceAccount).toBe('default');
  });

  it('is not ready while pending, not Ready, terminating or finished; a finished pod has no IP', () => {
    expect(podFromKube(pod('p', { status: { phase: 'Pending' } }))).toMatchObject({ ip: '', ready: false });
    expect(podFromKube(pod('p', { status: { phase: 'Running', podIP: '198.18.0.3', conditions: [{ type: 'Ready', status: 'False' }] } }))).toMatchObject({ ip: '198.18.0.3', ready: false });
    expect(podFromKube(pod('p', { deleting: true }))).toMatchObject({ ip: '198.18.0.10', ready: false });
    expect(podFromKube(pod('p', { status: { phase: 'Succeeded', podIP: '198.18.0.3', conditions: [{ type: 'Ready', status: 'True' }] } }))).toMatchObject({ ip: '', ready: false });
  });

  it('names the owner workload for other controllers and bare ReplicaSets', () => {
    const owned = (kind: string, name: string, labels: Record<string, string> = {}): string =>
      ownerWorkloadOf({ metadata: { labels, ownerReferences: [{ kind, name, controller: true }] } });
    expect(owned('StatefulSet', 'db')).toBe('db');
    expect(owned('ReplicaSet', 'bare-rs')).toBe('bare-rs');
    expect(owned('ReplicaSet', 'web-abc12', { 'pod-template-hash': 'abc12' })).toBe('web');
    expect(ownerWorkloadOf({ metadata: { ownerReferences: [{ kind: 'ReplicaSet', name: 'x', controller: false }] } })).toBe('');
    expect(ownerWorkloadOf({ metadata: {} })).toBe('');
  });
});

describe('workloadFromDeployment', () => {
  it('maps the first non-proxy container', () => {
    const w = workloadFromDeployment({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta('web'),
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' }, annotations: { 'weft.dev/inject': 'enabled' } },
          spec: {
            serviceAccountName: 'web',
            containers: [
              { name: 'weft-proxy', image: 'weft' },
              { name: 'app', image: 'web:1', command: ['node'], args: ['app.js'], env: [{ name: 'A', value: '1' }, { name: 'B', valueFrom: {} }], ports: [{ containerPort: 8080, name: 'http' }] },
            ],
          },
        },
      },
    });
    expect(w).toEqual({
      name: 'web',
      namespace: 'demo',
      replicas: 3,
      selector: { app: 'web' },
      labels: { app: 'web' },
      annotations: { 'weft.dev/inject': 'enabled' },
      serviceAccount: 'web',
      containerName: 'app',
      image: 'web:1',
      command: ['node'],
      args: ['app.js'],
      env: [{ name: 'A', value: '1' }],
      ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
    });
    expect(workloadFromDeployment({ metadata: meta('empty'), spec: {} })).toMatchObject({ replicas: 1, containerName: '', ports: [] });
  });
});

describe('trafficSplitFromKube', () => {
  const ts = (version: string, spec: unknown): unknown => ({
    apiVersion: `split.smi-spec.io/${version}`,
    kind: 'TrafficSplit',
    metadata: meta('web-split'),
    spec,
  });

  it('reads each version as written', () => {
    expect(trafficSplitFromKube(ts('v1alpha1', { service: 'web', backends: [{ service: 'web-v1', weight: '500m' }, { service: 'web-v2', weight: '1500m' }] }))).toMatchObject({
      backends: [{ service: 'web-v1', weight: 1 }, { service: 'web-v2', weight: 3 }],
      problems: [],
    });
    expect(trafficSplitFromKube(ts('v1alpha2', { service: 'web', backends: [{ service: 'web-v1', weight: 90 }, { service: 'web-v2', weight: 10 }] }))).toMatchObject({
      apiVersion: 'split.smi-spec.io/v1alpha2',
      backends: [{ service: 'web-v1', weight: 90 }, { service: 'web-v2', weight: 10 }],
      matches: [],
      problems: [],
    });
    expect(
      trafficSplitFromKube(ts('v1alpha3', { service: 'web', matches: [{ kind: 'HTTPRouteGroup', name: 'canary' }], backends: [{ service: 'web-v2', weight: 1 }] })),
    ).toMatchObject({ matches: [{ kind: 'HTTPRouteGroup', name: 'canary', matches: [] }], problems: [] });
  });

  it('reads a body written in v1alpha1 but served as v1alpha4 (conversion: None) by its shape', () => {
    const s = trafficSplitFromKube(ts('v1alpha4', { service: 'web', backends: [{ service: 'web-v1', weight: '500m' }, { service: 'web-v2', weight: '500m' }] }));
    expect(s).toMatchObject({ apiVersion: 'split.smi-spec.io/v1alpha4', backends: [{ weight: 1 }, { weight: 1 }], problems: [] });
  });

  it('reads matches of a v1alpha3 body served as v1alpha1 or v1alpha2', () => {
    const s = trafficSplitFromKube(ts('v1alpha2', { service: 'web', matches: [{ kind: 'HTTPRouteGroup', name: 'canary' }], backends: [{ service: 'web-v2', weight: 1 }] }));
    expect(s).toMatchObject({ matches: [{ name: 'canary' }], problems: [] });
    const bad = trafficSplitFromKube(ts('v1alpha1', { service: 'web', matches: [{ kind: 'Nope', name: 'x' }], backends: [{ service: 'web-v2', weight: 'lots' }] }));
    expect(bad?.problems.map((p) => p.field).sort()).toEqual(['spec.backends[0].weight', 'spec.matches[0].kind']);
  });

  it('keeps a broken split with its problems; leaves out one without a name', () => {
    expect(trafficSplitFromKube(ts('v1alpha4', { service: 'web', backends: [{ service: 'a', weight: -1 }] }))?.problems).toEqual([
      { reason: 'InvalidWeight', field: 'spec.backends[0].weight', message: 'must not be negative (got -1)' },
    ]);
    expect(trafficSplitFromKube({ apiVersion: 'split.smi-spec.io/v1alpha4', metadata: {} })).toBeUndefined();
    expect(trafficSplitFromKube({ apiVersion: 'other/v1', metadata: meta('x') })?.problems[0]?.field).toBe('apiVersion');
  });
});

describe('httpRouteGroupFromKube / clusterStateFromKube', () => {
  it('maps an HTTPRouteGroup of any version', () => {
    const g = httpRouteGroupFromKube({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: meta('canary'),
      spec: { matches: [{ name: 'beta', pathRegex: '/api', methods: ['GET'], headers: { 'x-beta': 'yes' } }] },
    });
    expect(g).toMatchObject({ name: 'canary', namespace: 'demo', matches: [{ name: 'beta', headers: [{ name: 'x-beta', regex: 'yes' }] }], problems: [] });
  });

  const objects: KubeObjects = {
    namespaces: [{ metadata: { name: 'demo' } }, { metadata: { name: 'default' } }],
    services: [
      { metadata: meta('web'), spec: { clusterIP: '198.19.255.3', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
      { metadata: {} },
    ],
    endpointSlices: [slice('web-2', 'web', [ep('198.18.0.11', 'web-b')]), slice('web-1', 'web', [ep('198.18.0.10', 'web-a')])],
    pods: [pod('web-b', { status: { phase: 'Running', podIP: '198.18.0.11', conditions: [{ type: 'Ready', status: 'True' }] } }), pod('web-a')],
    deployments: [],
    trafficSplits: [],
    httpRouteGroups: [],
    trafficTargets: [],
    tcpRoutes: [],
  };

  it('assembles a sorted state, the same whatever the order of the objects', () => {
    const a = clusterStateFromKube(objects);
    const reversed: KubeObjects = Object.fromEntries(Object.entries(objects).map(([k, v]) => [k, [...(v as unknown[])].reverse()])) as unknown as KubeObjects;
    expect(JSON.stringify(clusterStateFromKube(reversed))).toBe(JSON.stringify(a));
    expect(a.namespaces.map((n) => n.name)).toEqual(['default', 'demo']);
    expect(a.services).toHaveLength(1);
    expect(a.endpoints).toEqual([
      {
        service: 'web',
        namespace: 'demo',
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        addresses: [
          { ip: '198.18.0.10', ready: true, podName: 'web-a' },
          { ip: '198.18.0.11', ready: true, podName: 'web-b' },
        ],
      },
    ]);
    expect(a.pods.map((p) => p.name)).toEqual(['web-a', 'web-b']);
  });

  it('maps each object once per identity with a memo, with the same result', () => {
    const memo = createKubeMapMemo();
    const first = clusterStateFromKube(objects, memo);
    const second = clusterStateFromKube(objects, memo);
    expect(second).toEqual(first);
    expect(second.pods[0]).toBe(first.pods[0]);
    expect(second).toEqual(clusterStateFromKube(objects));
  });
});
