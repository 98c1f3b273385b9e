import { describe, expect, it } from 'vitest';
import type { ClusterState } from './cluster-state.ts';
import {
  DEFAULT_ROUTE_DEFAULTS,
  inboundPolicy,
  translate,
  translateCluster,
  type SplitStatus,
  type TranslateOptions,
} from './config-translator.ts';
import {
  canaryState,
  endpoints,
  NS,
  pod,
  port,
  routeGroup,
  service,
  split,
  state,
  workload,
} from './testdata/builders.ts';

const OPTS: TranslateOptions = { trustDomain: 'cluster.local', trustBundlePem: ['PEM'], version: 'v1' };
const CLIENT = { namespace: NS, podName: 'client-a', serviceAccount: 'client' };

const id = (sa: string, ns = NS): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;

function svc(s: ClusterState, name: string, opts: TranslateOptions = OPTS) {
  const found = translate(s, CLIENT, opts).config.services.find((x) => x.name === name);
  if (found === undefined) throw new Error(`no service ${name}`);
  return found;
}

function status(s: ClusterState, name = 'web'): SplitStatus {
  const found = translate(s, CLIENT, OPTS).splitStatus.find((x) => x.name === name);
  if (found === undefined) throw new Error(`no status for ${name}`);
  return found;
}

/** type -> "status/reason" */
function conditions(st: SplitStatus): Record<string, string> {
  return Object.fromEntries(st.conditions.map((c) => [c.type, `${c.status}/${c.reason}`]));
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Canary state with the given split backends instead of 90/10. */
function withBackends(backends: Array<{ service: string; weight: number }>, extra: Partial<ClusterState> = {}): ClusterState {
  const s = canaryState();
  return { ...s, trafficSplits: [split('web', 'web', backends)], ...extra };
}

describe('translate: services and endpoints', () => {
  it('turns every service into a proxy service with its ready endpoints and metric labels', () => {
    const { config } = translate(canaryState(), CLIENT, OPTS);
    expect(config.services.map((s) => `${s.namespace}/${s.name}`)).toEqual(['demo/web', 'demo/web-v1', 'demo/web-v2']);
    const v1 = config.services[1]!;
    expect(v1).toEqual({
      name: 'web-v1',
      namespace: 'demo',
      clusterIp: '',
      ports: [{ name: 'http', port: 80, targetPort: 8080 }],
      routes: [],
      aliases: [],
      endpoints: [
        {
          address: '127.0.1.1',
          port: 8080,
          identity: id('web'),
          proxyPort: 4143,
          pod: 'web-v1-a',
          deployment: 'web-v1',
          serviceAccount: 'web',
          namespace: 'demo',
        },
        {
          address: '127.0.1.2',
          port: 8080,
          identity: id('web'),
          proxyPort: 4143,
          pod: 'web-v1-b',
          deployment: 'web-v1',
          serviceAccount: 'web',
          namespace: 'demo',
        },
      ],
    });
  });

  it('fills the rest of the config from the options', () => {
    const { config } = translate(canaryState(), CLIENT, { ...OPTS, version: '42', trustBundlePem: ['A', 'B'] });
    expect(config.version).toBe('42');
    expect(config.trustBundlePem).toEqual(['A', 'B']);
    expect(config.egress).toEqual({ allow: true });
    expect(config.defaults).toEqual(DEFAULT_ROUTE_DEFAULTS);
    const other = translate(canaryState(), CLIENT, {
      ...OPTS,
      egressAllow: false,
      defaults: { timeoutMs: 5, connectTimeoutMs: 6, retry: { maxRetries: 0, budgetRatio: 0, minRetriesPerSecond: 0 } },
    }).config;
    expect(other.egress.allow).toBe(false);
    expect(other.defaults.timeoutMs).toBe(5);
  });

  it('an unmeshed pod is called in plaintext (identity "")', () => {
    const s = canaryState();
    const pods = s.pods.map((p) => (p.name === 'web-v2-a' ? { ...p, meshed: false } : p));
    const ep = svc({ ...s, pods }, 'web-v2').endpoints[0]!;
    expect(ep.identity).toBe('');
    expect(ep.pod).toBe('web-v2-a');
  });

  it('marks the service ports its config.weft.dev/opaque-ports names as opaque', () => {
    const s = state({
      services: [service('db', { app: 'db' }, { ports: [{ name: 'pg', port: 5432, targetPort: 5432, protocol: 'TCP' }, { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], opaquePorts: [5432] })],
    });
    expect(svc(s, 'db').ports).toEqual([
      { name: 'pg', port: 5432, targetPort: 5432, opaque: true },
      { name: 'http', port: 80, targetPort: 8080 },
    ]);
  });

  it('only ready addresses become endpoints', () => {
    const s = state({
      services: [service('web', { app: 'web' })],
      pods: [pod('web-a', '127.0.1.1', { app: 'web' }), pod('web-b', '127.0.1.2', { app: 'web' })],
      endpoints: [
        endpoints('web', [
          { ip: '127.0.1.1', podName: 'web-a' },
          { ip: '127.0.1.2', podName: 'web-b', ready: false },
        ]),
      ],
    });
    expect(svc(s, 'web').endpoints.map((e) => e.address)).toEqual(['127.0.1.1']);
  });

  it('an address without a known pod is plaintext, labelled with what the address says', () => {
    const s = state({
      services: [service('db', {})],
      endpoints: [endpoints('db', [{ ip: '198.18.0.9', podName: 'db-0' }, { ip: '198.18.0.10' }])],
    });
    expect(svc(s, 'db').endpoints).toEqual([
      { address: '198.18.0.9', port: 8080, identity: '', proxyPort: 4143, pod: 'db-0', deployment: '', serviceAccount: '', namespace: NS },
      { address: '198.18.0.10', port: 8080, identity: '', proxyPort: 4143, pod: '', deployment: '', serviceAccount: '', namespace: NS },
    ]);
  });

  it('finds the pod by IP when the address names none', () => {
    const s = state({
      services: [service('web', { app: 'web' })],
      pods: [pod('web-a', '127.0.1.1', { app: 'web' })],
      endpoints: [endpoints('web', [{ ip: '127.0.1.1' }])],
    });
    expect(svc(s, 'web').endpoints[0]).toMatchObject({ identity: id('web'), pod: 'web-a' });
  });

  it('uses the given proxy inbound port and trust domain', () => {
    const ep = svc(canaryState(), 'web-v2', { ...OPTS, proxyInboundPort: 14143, trustDomain: 'corp.example' }).endpoints[0]!;
    expect(ep.proxyPort).toBe(14143);
    expect(ep.identity).toBe('spiffe://corp.example/ns/demo/sa/web');
  });

  it('a named targetPort becomes the number it resolved to on the endpoints', () => {
    const s = state({
      services: [service('web', { app: 'web' }, { ports: [port({ targetPort: 'http' })] })],
      pods: [pod('web-a', '127.0.1.1', { app: 'web' })],
      endpoints: [endpoints('web', [{ ip: '127.0.1.1', podName: 'web-a' }], [{ name: 'http', port: 8081 }])],
    });
    const out = svc(s, 'web');
    expect(out.ports).toEqual([{ name: 'http', port: 80, targetPort: 8081 }]);
    expect(out.endpoints[0]?.port).toBe(8081);
    // Nothing to resolve against: 0 ("same as port"); there is nothing to call anyway.
    const none = svc(state({ services: [service('web', { app: 'web' }, { ports: [port({ targetPort: 'http' })] })] }), 'web');
    expect(none.ports[0]?.targetPort).toBe(0);
  });

  it('multi-port services: each port maps to its endpoint port by name', () => {
    const s = state({
      services: [
        service('web', { app: 'web' }, {
          ports: [port({ name: 'http', port: 80, targetPort: 8080 }), port({ name: 'admin', port: 9000, targetPort: 9001 })],
        }),
      ],
      pods: [pod('web-a', '127.0.1.1', { app: 'web' })],
      endpoints: [
        endpoints('web', [{ ip: '127.0.1.1', podName: 'web-a' }], [
          { name: 'admin', port: 9001 },
          { name: 'http', port: 8080 },
        ]),
      ],
    });
    const out = svc(s, 'web');
    expect(out.ports).toEqual([
      { name: 'http', port: 80, targetPort: 8080 },
      { name: 'admin', port: 9000, targetPort: 9001 },
    ]);
    expect(out.endpoints.map((e) => `${e.address}:${e.port}`)).toEqual(['127.0.1.1:8080', '127.0.1.1:9001']);
  });

  it('deduplicates an address listed in several groups', () => {
    const s = state({
      services: [service('web', {})],
      endpoints: [endpoints('web', [{ ip: '10.9.0.1' }]), endpoints('web', [{ ip: '10.9.0.1' }, { ip: '10.9.0.2' }])],
    });
    expect(svc(s, 'web').endpoints.map((e) => e.address)).toEqual(['10.9.0.1', '10.9.0.2']);
  });

  it('orders endpoints by address numerically', () => {
    const s = state({
      services: [service('web', {})],
      endpoints: [endpoints('web', [{ ip: '127.0.0.10' }, { ip: '127.0.0.9' }, { ip: '127.0.1.2' }])],
    });
    expect(svc(s, 'web').endpoints.map((e) => e.address)).toEqual(['127.0.0.9', '127.0.0.10', '127.0.1.2']);
  });

  it('headless ClusterIP becomes ""; a cluster domain other than cluster.local adds an alias', () => {
    const s = state({ services: [service('web', {}, { clusterIp: 'None' }), service('api', {}, { clusterIp: '10.96.0.7' })] });
    const out = translate(s, CLIENT, { ...OPTS, clusterDomain: 'corp.internal' }).config.services;
    expect(out.map((x) => [x.name, x.clusterIp, x.aliases])).toEqual([
      ['api', '10.96.0.7', ['api.demo.svc.corp.internal']],
      ['web', '', ['web.demo.svc.corp.internal']],
    ]);
  });

  it('a service without ports takes every endpoint port', () => {
    const s = state({
      services: [service('raw', {}, { ports: [], clusterIp: 'None' })],
      endpoints: [endpoints('raw', [{ ip: '10.9.0.1' }], [{ name: '', port: 7000 }])],
    });
    expect(svc(s, 'raw')).toMatchObject({ ports: [], endpoints: [{ address: '10.9.0.1', port: 7000 }] });
  });

  it('an empty cluster gives an empty config, not an error', () => {
    const { config, splitStatus } = translate(state(), CLIENT, OPTS);
    expect(config.services).toEqual([]);
    expect(splitStatus).toEqual([]);
  });
});

describe('translate: traffic splits', () => {
  it('a split without matches is one catch-all route with the weighted backends', () => {
    expect(svc(canaryState(), 'web').routes).toEqual([
      {
        name: 'web',
        matches: [],
        backends: [
          { service: 'web-v1.demo', weight: 90, port: 0 },
          { service: 'web-v2.demo', weight: 10, port: 0 },
        ],
        timeoutMs: 0,
      },
    ]);
    // Backends themselves keep the implicit route to their endpoints.
    expect(svc(canaryState(), 'web-v1').routes).toEqual([]);
    const st = status(canaryState());
    expect(conditions(st)).toEqual({
      Accepted: 'True/Accepted',
      ResolvedRefs: 'True/ResolvedRefs',
      BackendsReady: 'True/BackendsReady',
      Routed: 'True/WeightsApplied',
    });
    expect(st.backends).toEqual([
      { service: 'web-v1', weight: 90, routed: true, reason: '' },
      { service: 'web-v2', weight: 10, routed: true, reason: '' },
    ]);
  });

  it('weight 0 gets no traffic', () => {
    const s = withBackends([
      { service: 'web-v1', weight: 100 },
      { service: 'web-v2', weight: 0 },
    ]);
    expect(svc(s, 'web').routes[0]?.backends).toEqual([{ service: 'web-v1.demo', weight: 100, port: 0 }]);
    expect(status(s).backends[1]).toEqual({ service: 'web-v2', weight: 0, routed: false, reason: '' });
    expect(conditions(status(s)).Routed).toBe('True/WeightsApplied');
  });

  it('a missing backend gets no traffic while the others have some', () => {
    const s = withBackends([
      { service: 'web-v1', weight: 50 },
      { service: 'web-v3', weight: 50 },
    ]);
    expect(svc(s, 'web').routes[0]?.backends).toEqual([{ service: 'web-v1.demo', weight: 50, port: 0 }]);
    const st = status(s);
    expect(conditions(st)).toMatchObject({ Accepted: 'True/Accepted', ResolvedRefs: 'False/BackendNotFound', Routed: 'True/WeightsApplied' });
    expect(st.backends[1]).toMatchObject({ service: 'web-v3', routed: false, reason: 'BackendNotFound' });
  });

  it('a backend without ready endpoints gets no traffic while the others have some', () => {
    const base = canaryState();
    const s = { ...base, endpoints: base.endpoints.filter((e) => e.service !== 'web-v2') };
    expect(svc(s, 'web').routes[0]?.backends.map((b) => b.service)).toEqual(['web-v1.demo']);
    expect(conditions(status(s))).toMatchObject({ BackendsReady: 'False/BackendNoEndpoints', Routed: 'True/WeightsApplied' });
    expect(status(s).backends[1]?.reason).toBe('BackendNoEndpoints');

    // Not ready is the same as absent.
    const notReady = {
      ...base,
      endpoints: base.endpoints.map((e) =>
        e.service === 'web-v2' ? { ...e, addresses: e.addresses.map((a) => ({ ...a, ready: false })) } : e,
      ),
    };
    expect(conditions(status(notReady)).BackendsReady).toBe('False/BackendNoEndpoints');
  });

  it('all weights zero: traffic goes to the root service', () => {
    const s = withBackends([
      { service: 'web-v1', weight: 0 },
      { service: 'web-v2', weight: 0 },
    ]);
    expect(svc(s, 'web').routes).toEqual([{ name: 'web', matches: [], backends: [], timeoutMs: 0 }]);
    expect(conditions(status(s)).Routed).toBe('False/AllWeightsZero');
    // No backends at all is the same case.
    expect(conditions(status(withBackends([]))).Routed).toBe('False/AllWeightsZero');
  });

  it('no usable backend: traffic goes to the root service', () => {
    const base = canaryState();
    const s = {
      ...base,
      endpoints: base.endpoints.filter((e) => e.service === 'web'),
      trafficSplits: [split('web', 'web', [{ service: 'web-v1', weight: 1 }, { service: 'gone', weight: 1 }])],
    };
    expect(svc(s, 'web').routes[0]?.backends).toEqual([]);
    expect(conditions(status(s))).toMatchObject({
      ResolvedRefs: 'False/BackendNotFound',
      BackendsReady: 'False/BackendNoEndpoints',
      Routed: 'False/NoUsableBackend',
    });
  });

  it('a backend exposing none of the root ports is left out (BackendPortMismatch)', () => {
    const base = canaryState();
    const s = {
      ...base,
      services: base.services.map((x) => (x.name === 'web-v2' ? { ...x, ports: [port({ port: 1024 })] } : x)),
    };
    expect(svc(s, 'web').routes[0]?.backends.map((b) => b.service)).toEqual(['web-v1.demo']);
    const st = status(s);
    expect(conditions(st).ResolvedRefs).toBe('False/BackendPortMismatch');
    expect(st.backends[1]).toMatchObject({ routed: false, reason: 'BackendPortMismatch' });
  });

  it('a backend lacking only some root ports still gets traffic, with a condition', () => {
    const base = canaryState();
    const two = [port({ name: 'http', port: 80 }), port({ name: 'grpc', port: 81, targetPort: 8081 })];
    const s = {
      ...base,
      services: base.services.map((x) => (x.name === 'web' || x.name === 'web-v1' ? { ...x, ports: two } : x)),
    };
    expect(svc(s, 'web').routes[0]?.backends.map((b) => b.service)).toEqual(['web-v1.demo', 'web-v2.demo']);
    expect(conditions(status(s)).ResolvedRefs).toBe('False/BackendPortMismatch');
    expect(status(s).backends.every((b) => b.routed)).toBe(true);
  });

  it('an invalid split is not applied (InvalidWeight) and costs nothing else', () => {
    const s: ClusterState = {
      ...canaryState(),
      trafficSplits: [
        split('web', 'web', [{ service: 'web-v1', weight: 0 }], {
          problems: [{ reason: 'InvalidWeight', field: 'spec.backends[0].weight', message: 'must not be negative' }],
        }),
        split('other', 'web-v1', [{ service: 'web-v2', weight: 1 }]),
      ],
    };
    const out = translate(s, CLIENT, OPTS);
    expect(out.config.services.find((x) => x.name === 'web')?.routes).toEqual([]);
    expect(out.config.services.find((x) => x.name === 'web-v1')?.routes).toHaveLength(1);
    expect(conditions(status(s))).toEqual({ Accepted: 'False/InvalidWeight' });
    expect(conditions(status(s, 'other')).Accepted).toBe('True/Accepted');
    const spec = { ...s, trafficSplits: [split('web', '', [], { problems: [{ reason: 'InvalidSpec', field: 'spec.service', message: 'x' }] })] };
    expect(conditions(status(spec))).toEqual({ Accepted: 'False/InvalidSpec' });
  });

  it('a split whose root service is missing is not applied', () => {
    const s = { ...canaryState(), trafficSplits: [split('web', 'nope', [{ service: 'web-v1', weight: 1 }])] };
    expect(conditions(status(s))).toEqual({ Accepted: 'False/RootServiceNotFound' });
    expect(translate(s, CLIENT, OPTS).config.services.every((x) => x.routes.length === 0)).toBe(true);
  });

  it('splits are namespaced: same names elsewhere are other services', () => {
    const s = { ...canaryState(), trafficSplits: [split('web', 'web', [{ service: 'web-v1', weight: 1 }], { namespace: 'prod' })] };
    expect(conditions(status(s))).toEqual({ Accepted: 'False/RootServiceNotFound' });
  });

  it('two splits without matches on one root: the first by name wins, the other is a Conflict', () => {
    const s = {
      ...canaryState(),
      trafficSplits: [
        split('b-split', 'web', [{ service: 'web-v2', weight: 1 }]),
        split('a-split', 'web', [{ service: 'web-v1', weight: 1 }]),
      ],
    };
    expect(svc(s, 'web').routes).toEqual([
      { name: 'a-split', matches: [], backends: [{ service: 'web-v1.demo', weight: 1, port: 0 }], timeoutMs: 0 },
    ]);
    expect(conditions(status(s, 'b-split'))).toEqual({ Accepted: 'False/Conflict' });
  });

  it('never divides by zero nor throws, whatever the weights', () => {
    for (const weights of [
      [0, 0],
      [0, 1],
      [1, 0],
      [0xffffffff, 0xffffffff],
    ] as const) {
      const out = translate(canaryState([weights[0], weights[1]]), CLIENT, OPTS);
      for (const r of out.config.services.flatMap((x) => x.routes)) {
        for (const b of r.backends) expect(Number.isInteger(b.weight) && b.weight > 0).toBe(true);
      }
      expect(JSON.stringify(out)).not.toMatch(/NaN|Infinity|null/);
    }
  });
});

describe('translate: HTTPRouteGroup matches', () => {
  const groups = [
    routeGroup('ab', [
      { name: 'firefox', headers: [{ name: 'user-agent', regex: '.*Firefox.*' }] },
      { name: 'api', pathRegex: '/api/', methods: ['GET', 'HEAD'] },
    ]),
  ];

  function abState(matches = [{ kind: 'HTTPRouteGroup' as const, name: 'ab', matches: [] as string[] }], extra: Partial<ClusterState> = {}) {
    return {
      ...canaryState(),
      httpRouteGroups: groups,
      trafficSplits: [
        split('ab-test', 'web', [
          { service: 'web-v1', weight: 0 },
          { service: 'web-v2', weight: 100 },
        ], { matches }),
      ],
      ...extra,
    };
  }

  it('one route per match with the split backends, then a default route to the root', () => {
    expect(svc(abState(), 'web').routes).toEqual([
      {
        name: 'ab-test/ab/firefox',
        matches: [{ methods: [], headers: [{ name: 'user-agent', regex: '.*Firefox.*' }] }],
        backends: [{ service: 'web-v2.demo', weight: 100, port: 0 }],
        timeoutMs: 0,
      },
      {
        name: 'ab-test/ab/api',
        // SMI anchors pathRegex at the start only; the proxy at both ends.
        matches: [{ path: { regex: '(?:/api/).*' }, methods: ['GET', 'HEAD'], headers: [] }],
        backends: [{ service: 'web-v2.demo', weight: 100, port: 0 }],
        timeoutMs: 0,
      },
      { name: 'default', matches: [], backends: [], timeoutMs: 0 },
    ]);
    expect(conditions(status(abState(), 'ab-test'))).toMatchObject({ Accepted: 'True/Accepted', Routed: 'True/WeightsApplied' });
  });

  it('match names pick some of the group; unknown ones are MatchNotFound', () => {
    const s = abState([{ kind: 'HTTPRouteGroup', name: 'ab', matches: ['api', 'nope'] }]);
    expect(svc(s, 'web').routes.map((r) => r.name)).toEqual(['ab-test/ab/api', 'default']);
    expect(conditions(status(s, 'ab-test')).ResolvedRefs).toBe('False/MatchNotFound');
  });

  it('a missing group routes nothing of the split (NoMatches): the root keeps its traffic', () => {
    const s = abState([{ kind: 'HTTPRouteGroup', name: 'missing', matches: [] }]);
    expect(svc(s, 'web').routes).toEqual([]);
    expect(conditions(status(s, 'ab-test'))).toMatchObject({ ResolvedRefs: 'False/RouteGroupNotFound', Routed: 'False/NoMatches' });
  });

  it('an invalid group is not used (RouteGroupInvalid)', () => {
    const bad = { ...routeGroup('ab', []), problems: [{ reason: 'InvalidSpec' as const, field: 'spec.matches[0].pathRegex', message: 'bad' }] };
    const s = abState(undefined, { httpRouteGroups: [bad] });
    expect(svc(s, 'web').routes).toEqual([]);
    expect(conditions(status(s, 'ab-test')).ResolvedRefs).toBe('False/RouteGroupInvalid');
  });

  it('match routes come first, then the catch-all of a split without matches', () => {
    const s = {
      ...abState(),
      trafficSplits: [
        ...abState().trafficSplits,
        split('canary', 'web', [
          { service: 'web-v1', weight: 9 },
          { service: 'web-v2', weight: 1 },
        ]),
      ],
    };
    const routes = svc(s, 'web').routes;
    expect(routes.map((r) => r.name)).toEqual(['ab-test/ab/firefox', 'ab-test/ab/api', 'canary']);
    expect(routes[2]?.backends.map((b) => b.weight)).toEqual([9, 1]);
  });

  it('a match with weights all zero sends matched requests to the root too', () => {
    const s = {
      ...abState(),
      trafficSplits: [split('ab-test', 'web', [{ service: 'web-v2', weight: 0 }], { matches: [{ kind: 'HTTPRouteGroup', name: 'ab', matches: [] }] })],
    };
    expect(svc(s, 'web').routes.map((r) => r.backends)).toEqual([[], [], []]);
    expect(conditions(status(s, 'ab-test')).Routed).toBe('False/AllWeightsZero');
  });
});

describe('translate: purity and order', () => {
  it('does not modify its input and gives equal output for equal input', () => {
    const s = deepFreeze(canaryState());
    const one = translate(s, CLIENT, OPTS);
    const two = translate(s, CLIENT, OPTS);
    expect(two).toEqual(one);
    // An equal state in other objects gives an equal config.
    expect(translate(structuredClone(canaryState()), CLIENT, OPTS)).toEqual(one);
  });

  it('shares the per-cluster part between proxies of one state, frozen', () => {
    const s = canaryState();
    const a = translate(s, CLIENT, OPTS);
    const b = translate(s, { namespace: NS, podName: 'web-v1-a', serviceAccount: 'web' }, OPTS);
    expect(b.config.services).toBe(a.config.services);
    expect(Object.isFrozen(a.config.services[0]?.endpoints[0])).toBe(true);
    expect(b.config.inbound).not.toEqual(a.config.inbound);
    // Options that change the services are not shared.
    const c = translate(s, CLIENT, { ...OPTS, proxyInboundPort: 1 });
    expect(c.config.services).not.toBe(a.config.services);
    expect(c.config.services[1]?.endpoints[0]?.proxyPort).toBe(1);
    // translateCluster itself returns fresh objects.
    expect(translateCluster(s, OPTS).services).not.toBe(translateCluster(s, OPTS).services);
  });

  it('does not depend on the order of the state lists', () => {
    const s = {
      ...abStateForOrder(),
    };
    const reversed: ClusterState = {
      namespaces: [...s.namespaces].reverse(),
      services: [...s.services].reverse(),
      endpoints: [...s.endpoints].reverse().map((e) => ({ ...e, addresses: [...e.addresses].reverse() })),
      pods: [...s.pods].reverse(),
      workloads: [...s.workloads].reverse(),
      trafficSplits: [...s.trafficSplits].reverse(),
      httpRouteGroups: [...s.httpRouteGroups].reverse(),
      trafficTargets: [...s.trafficTargets].reverse(),
      tcpRoutes: [...s.tcpRoutes].reverse(),
    };
    expect(JSON.stringify(translate(reversed, CLIENT, OPTS))).toBe(JSON.stringify(translate(s, CLIENT, OPTS)));
  });

  function abStateForOrder(): ClusterState {
    const base = canaryState();
    return {
      ...base,
      services: [...base.services, service('api', { app: 'api' }, { namespace: 'aaa' })],
      httpRouteGroups: [routeGroup('g', [{ name: 'm', pathRegex: '/x' }])],
      trafficSplits: [
        ...base.trafficSplits,
        split('z', 'web', [{ service: 'web-v2', weight: 1 }], { matches: [{ kind: 'HTTPRouteGroup', name: 'g', matches: [] }] }),
        split('y', 'web-v1', [{ service: 'web-v2', weight: 1 }]),
      ],
    };
  }

  it('split statuses are sorted by namespace and name', () => {
    const s = {
      ...canaryState(),
      trafficSplits: [split('b', 'web', []), split('a', 'web-v1', []), split('c', 'x', [], { namespace: 'aaa' })],
    };
    expect(translate(s, CLIENT, OPTS).splitStatus.map((x) => `${x.namespace}/${x.name}`)).toEqual(['aaa/c', 'demo/a', 'demo/b']);
  });

  it('translateCluster is the proxy-independent part', () => {
    const all = translateCluster(canaryState(), OPTS);
    expect(translate(canaryState(), CLIENT, OPTS).config.services).toEqual(all.services);
  });
});

describe('inboundPolicy', () => {
  it("is the proxy's own identity, PERMISSIVE by default (the cluster default when set), any mesh identity, its pod's app ports", () => {
    const p = inboundPolicy(canaryState(), { namespace: NS, podName: 'web-v1-a', serviceAccount: 'web' }, OPTS);
    expect(p).toEqual({ mode: 'PERMISSIVE', allowedIdentities: [], appPorts: [8080], identity: id('web'), defaultPolicy: 'ALL_UNAUTHENTICATED', targeted: false, authzRules: [] });
    expect(inboundPolicy(canaryState(), { namespace: NS, podName: 'web-v1-a', serviceAccount: 'web' }, { ...OPTS, inboundMode: 'STRICT' }).mode).toBe(
      'STRICT',
    );
  });

  it('takes the inbound mode from the pod, else its namespace, else the cluster default; ignores invalid values', () => {
    const key = 'config.weft.dev/inbound-mode';
    const s = (nsMode: string | undefined, podMode: string | undefined): ClusterState =>
      state({
        namespaces: [{ name: NS, labels: {}, annotations: nsMode === undefined ? {} : { [key]: nsMode } }],
        pods: [pod('web-a', '127.0.1.1', { app: 'web' }, { serviceAccount: 'web', annotations: podMode === undefined ? {} : { [key]: podMode } })],
      });
    const mode = (st: ClusterState, clusterDefault?: 'STRICT' | 'PERMISSIVE'): string =>
      inboundPolicy(st, { namespace: NS, podName: 'web-a', serviceAccount: 'web' }, { ...OPTS, ...(clusterDefault ? { inboundMode: clusterDefault } : {}) }).mode;
    expect(mode(s(undefined, undefined))).toBe('PERMISSIVE');
    expect(mode(s('strict', undefined))).toBe('STRICT');
    expect(mode(s('strict', 'permissive'))).toBe('PERMISSIVE');
    expect(mode(s(undefined, 'Strict'))).toBe('STRICT');
    expect(mode(s('permissive', undefined), 'STRICT')).toBe('PERMISSIVE');
    expect(mode(s('sometimes', undefined), 'STRICT')).toBe('STRICT');
    expect(mode(s(undefined, 'bogus'))).toBe('PERMISSIVE');
  });

  it('keeps the declared order of container ports (the first is the default), TCP only, no duplicates', () => {
    const s = state({
      pods: [
        pod('web-a', '127.0.1.1', { app: 'web' }, {
          ports: [
            { name: 'http', containerPort: 9090, protocol: 'TCP' },
            { name: 'dns', containerPort: 53, protocol: 'UDP' },
            { name: 'admin', containerPort: 8080, protocol: 'TCP' },
            { name: 'again', containerPort: 9090, protocol: 'TCP' },
          ],
        }),
      ],
    });
    expect(inboundPolicy(s, { namespace: NS, podName: 'web-a', serviceAccount: 'web' }, OPTS).appPorts).toEqual([9090, 8080]);
  });

  it("falls back to the pod's workload, then to the target ports of services selecting it", () => {
    const noPorts = pod('web-a', '127.0.1.1', { app: 'web' }, { ports: [], ownerWorkload: 'web' });
    const s1 = state({ pods: [noPorts], workloads: [workload('web', { app: 'web' }, { ports: [{ name: '', containerPort: 7000, protocol: 'TCP' }] })] });
    expect(inboundPolicy(s1, { namespace: NS, podName: 'web-a', serviceAccount: 'web' }, OPTS).appPorts).toEqual([7000]);
    const s2 = state({
      pods: [noPorts],
      services: [
        service('web', { app: 'web' }, { ports: [port({ targetPort: 7001 }), port({ name: 'named', port: 81, targetPort: 'http' })] }),
        service('other', { app: 'other' }, { ports: [port({ targetPort: 7002 })] }),
      ],
    });
    expect(inboundPolicy(s2, { namespace: NS, podName: 'web-a', serviceAccount: 'web' }, OPTS).appPorts).toEqual([7001]);
  });

  it('without a pod name: the workloads of the service account', () => {
    const s = canaryState();
    expect(inboundPolicy(s, { namespace: NS, serviceAccount: 'web' }, OPTS).appPorts).toEqual([8080]);
    expect(inboundPolicy(s, { namespace: NS, serviceAccount: 'client' }, OPTS).appPorts).toEqual([]);
    expect(inboundPolicy(s, { namespace: NS, serviceAccount: 'nobody' }, OPTS)).toMatchObject({ appPorts: [], identity: id('nobody') });
  });

  it('an unknown pod with a service account still gets its identity', () => {
    const p = inboundPolicy(state(), { namespace: 'prod', podName: 'x', serviceAccount: 'api' }, OPTS);
    expect(p.identity).toBe(id('api', 'prod'));
    expect(p.appPorts).toEqual([]);
  });

  it('an identity that cannot be formed is "", never a throw', () => {
    expect(inboundPolicy(state(), { namespace: NS, serviceAccount: 'a/b' }, OPTS).identity).toBe('');
    // e.g. a caller that only wants the split statuses
    const out = translate(canaryState(), { namespace: '', serviceAccount: '' }, OPTS);
    expect(out.config.inbound.identity).toBe('');
    expect(out.splitStatus).toHaveLength(1);
  });
});
