import { describe, expect, it } from 'vitest';
import { emptyClusterState, type ClusterState, type HTTPRouteGroup, type TCPRoute, type TrafficTarget } from './cluster-state.ts';
import { authzFor, targetStatuses } from './authz-compile.ts';

const TD = 'cluster.local';
const id = (sa: string, ns = 'demo'): string => `spiffe://${TD}/ns/${ns}/sa/${sa}`;
const WEB = { namespace: 'demo', serviceAccount: 'web', podName: 'web-v1-1' };

function tt(name: string, sources: Array<[string, string?]>, rules: TrafficTarget['rules'], o: { dest?: string; port?: number; problems?: TrafficTarget['problems'] } = {}): TrafficTarget {
  return {
    name,
    namespace: 'demo',
    apiVersion: 'access.smi-spec.io/v1alpha3',
    destination: { serviceAccount: o.dest ?? 'web', namespace: 'demo', port: o.port ?? 0 },
    sources: sources.map(([sa, ns]) => ({ serviceAccount: sa, namespace: ns ?? 'demo' })),
    rules,
    problems: o.problems ?? [],
  };
}
const group: HTTPRouteGroup = {
  name: 'api',
  namespace: 'demo',
  apiVersion: 'specs.smi-spec.io/v1alpha4',
  matches: [
    { name: 'read', pathRegex: '/api/', methods: ['GET'], headers: [] },
    { name: 'write', pathRegex: '/api/', methods: ['POST', 'PUT'], headers: [{ name: 'x-tenant', regex: 't-.*' }] },
  ],
  problems: [],
};
const db: TCPRoute = { name: 'db', namespace: 'demo', apiVersion: 'specs.smi-spec.io/v1alpha4', ports: [5432], problems: [] };
const anyPort: TCPRoute = { name: 'any', namespace: 'demo', apiVersion: 'specs.smi-spec.io/v1alpha4', ports: [], problems: [] };

const state = (o: Partial<ClusterState>): ClusterState => ({ ...emptyClusterState(), httpRouteGroups: [group], tcpRoutes: [db, anyPort], ...o });

describe('authzFor: TrafficTargets compiled per proxy', () => {
  it('no TrafficTarget names the workload: not targeted, the default policy', () => {
    expect(authzFor(state({ trafficTargets: [tt('other', [['client']], [{ kind: 'TCPRoute', name: 'db' }], { dest: 'db' })] }), WEB, { trustDomain: TD })).toEqual({
      defaultPolicy: 'ALL_UNAUTHENTICATED',
      targeted: false,
      authzRules: [],
    });
  });

  it('multiple targets, each its own rule with its sources as SPIFFE IDs (a source in another namespace is that namespace\'s)', () => {
    const a = authzFor(
      state({
        trafficTargets: [
          tt('readers', [['client'], ['prom', 'monitoring']], [{ kind: 'HTTPRouteGroup', name: 'api', matches: ['read'] }]),
          tt('writers', [['admin']], [{ kind: 'HTTPRouteGroup', name: 'api', matches: [] }], { port: 8080 }),
        ],
      }),
      WEB,
      { trustDomain: TD },
    );
    expect(a.targeted).toBe(true);
    expect(a.authzRules).toEqual([
      {
        name: 'demo/readers',
        sources: [id('client'), id('prom', 'monitoring')],
        port: 0,
        http: [{ methods: ['GET'], headers: [], path: { regex: '(?:/api/).*' } }],
        tcp: false,
        tcpPorts: [],
      },
      {
        name: 'demo/writers',
        sources: [id('admin')],
        port: 8080,
        http: [
          { methods: ['GET'], headers: [], path: { regex: '(?:/api/).*' } },
          { methods: ['POST', 'PUT'], headers: [{ name: 'x-tenant', regex: 't-.*' }], path: { regex: '(?:/api/).*' } },
        ],
        tcp: false,
        tcpPorts: [],
      },
    ]);
  });

  it('TCP rules: the TCPRoute ports, or every port', () => {
    const a = authzFor(state({ trafficTargets: [tt('db', [['client']], [{ kind: 'TCPRoute', name: 'db' }]), tt('all', [['ops']], [{ kind: 'TCPRoute', name: 'any' }])] }), WEB, { trustDomain: TD });
    expect(a.authzRules.map((r) => [r.name, r.tcp, r.tcpPorts])).toEqual([
      ['demo/db', true, [5432]],
      ['demo/all', true, []],
    ]);
  });

  it('a target naming a missing route group, a match the group lacks, a missing TCPRoute or an invalid group allows nothing, yet targets the workload', () => {
    const bad: HTTPRouteGroup = { ...group, name: 'broken', problems: [{ reason: 'InvalidSpec', field: 'spec.matches[0].pathRegex', message: 'bad' }] };
    const a = authzFor(
      state({
        httpRouteGroups: [group, bad],
        trafficTargets: [
          tt('a-missing', [['client']], [{ kind: 'HTTPRouteGroup', name: 'nope', matches: [] }]),
          tt('b-no-such-match', [['client']], [{ kind: 'HTTPRouteGroup', name: 'api', matches: ['delete'] }]),
          tt('c-no-tcproute', [['client']], [{ kind: 'TCPRoute', name: 'nope' }]),
          tt('d-invalid-group', [['client']], [{ kind: 'HTTPRouteGroup', name: 'broken', matches: [] }]),
        ],
      }),
      WEB,
      { trustDomain: TD },
    );
    expect(a.targeted).toBe(true);
    for (const r of a.authzRules) {
      expect(r.http, r.name).toEqual([]);
      expect(r.tcp, r.name).toBe(false);
    }
  });

  it('a target with problems targets the workload and allows no one', () => {
    const a = authzFor(state({ trafficTargets: [tt('broken', [['client']], [{ kind: 'TCPRoute', name: 'db' }], { problems: [{ reason: 'InvalidSpec', field: 'spec.sources', message: 'x' }] })] }), WEB, { trustDomain: TD });
    expect(a.targeted).toBe(true);
    expect(a.authzRules).toEqual([{ name: 'demo/broken', sources: [], port: 0, http: [], tcp: false, tcpPorts: [] }]);
  });

  it('a target in another namespace never names this workload (its destination is its own namespace)', () => {
    const other = { ...tt('elsewhere', [['client']], [{ kind: 'TCPRoute', name: 'db' }]), namespace: 'prod', destination: { serviceAccount: 'web', namespace: 'prod', port: 0 } };
    expect(authzFor(state({ trafficTargets: [other] }), WEB, { trustDomain: TD }).targeted).toBe(false);
  });

  it('default policy: pod annotation, else the workload template, else the namespace, else the cluster default; an invalid value is ignored', () => {
    const ann = (v: string) => ({ 'config.weft.dev/default-inbound-policy': v });
    const base = emptyClusterState();
    const ns = { name: 'demo', labels: {}, annotations: ann('deny') };
    const pod = { ...({} as ClusterState['pods'][number]), name: 'web-v1-1', namespace: 'demo', annotations: ann('all-authenticated') };
    expect(authzFor(base, WEB, { trustDomain: TD, defaultInboundPolicy: 'CLUSTER_AUTHENTICATED' }).defaultPolicy).toBe('CLUSTER_AUTHENTICATED');
    expect(authzFor({ ...base, namespaces: [ns] }, WEB, { trustDomain: TD }).defaultPolicy).toBe('DENY');
    expect(authzFor({ ...base, namespaces: [ns], pods: [pod] }, WEB, { trustDomain: TD }).defaultPolicy).toBe('ALL_AUTHENTICATED');
    expect(authzFor({ ...base, namespaces: [{ ...ns, annotations: ann('sometimes') }] }, WEB, { trustDomain: TD }).defaultPolicy).toBe('ALL_UNAUTHENTICATED');
    expect(authzFor({ ...base, namespaces: [{ ...ns, annotations: ann('Cluster-Authenticated') }] }, WEB, { trustDomain: TD }).defaultPolicy).toBe('CLUSTER_AUTHENTICATED');
  });
});

describe('targetStatuses: TrafficTarget conditions', () => {
  const pods = (...sas: string[]): ClusterState['pods'] => sas.map((sa, i) => ({ ...({} as ClusterState['pods'][number]), name: `p-${i}`, namespace: 'demo', serviceAccount: sa, annotations: {} }));
  const cond = (s: ReturnType<typeof targetStatuses>[number], type: string) => s.conditions.find((c) => c.type === type);

  it('accepted, resolved, service accounts found', () => {
    const [s] = targetStatuses(state({ pods: pods('web', 'client'), trafficTargets: [tt('ok', [['client']], [{ kind: 'HTTPRouteGroup', name: 'api', matches: ['read'] }, { kind: 'TCPRoute', name: 'db' }])] }));
    expect(s?.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Accepted', 'True', 'Accepted'],
      ['ResolvedRefs', 'True', 'ResolvedRefs'],
      ['ServiceAccountsFound', 'True', 'ServiceAccountsFound'],
    ]);
  });

  it.each<[string, TrafficTarget['rules'], string]>([
    ['a missing route group', [{ kind: 'HTTPRouteGroup', name: 'nope', matches: [] }], 'RouteGroupNotFound'],
    ['a match the group lacks', [{ kind: 'HTTPRouteGroup', name: 'api', matches: ['delete'] }], 'MatchNotFound'],
    ['a missing TCPRoute', [{ kind: 'TCPRoute', name: 'nope' }], 'TCPRouteNotFound'],
  ])('%s: ResolvedRefs False with its reason', (_what, rules, reason) => {
    const [s] = targetStatuses(state({ pods: pods('web', 'client'), trafficTargets: [tt('x', [['client']], rules)] }));
    expect(cond(s!, 'ResolvedRefs')).toMatchObject({ status: 'False', reason });
  });

  it('an unknown ServiceAccount (no pod or Deployment runs as it): ServiceAccountsFound False naming it', () => {
    const [s] = targetStatuses(state({ pods: pods('web'), trafficTargets: [tt('x', [['clent']], [{ kind: 'TCPRoute', name: 'db' }])] }));
    expect(cond(s!, 'ServiceAccountsFound')).toMatchObject({ status: 'False', reason: 'ServiceAccountNotFound' });
    expect(cond(s!, 'ServiceAccountsFound')?.message).toContain('demo/clent');
  });

  it('a target with problems: Accepted False, InvalidSpec', () => {
    const [s] = targetStatuses(state({ trafficTargets: [tt('bad', [['client']], [], { problems: [{ reason: 'InvalidSpec', field: 'spec.rules', message: 'must be a non-empty list' }] })] }));
    expect(s?.conditions).toHaveLength(1);
    expect(cond(s!, 'Accepted')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(cond(s!, 'Accepted')?.message).toContain('spec.rules');
  });
});
