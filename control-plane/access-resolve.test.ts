import { describe, expect, it } from 'vitest';
import { resolveTcpRoute, resolveTrafficTarget } from './access-resolve.ts';

const target = (apiVersion: string, spec: unknown, namespace = 'demo'): unknown => ({ apiVersion, kind: 'TrafficTarget', metadata: { name: 'tt', namespace }, spec });
const SPEC = {
  destination: { kind: 'ServiceAccount', name: 'web', namespace: 'demo' },
  sources: [
    { kind: 'ServiceAccount', name: 'client', namespace: 'demo' },
    { kind: 'ServiceAccount', name: 'ops' },
    { kind: 'ServiceAccount', name: 'prom', namespace: 'monitoring' },
  ],
  rules: [
    { kind: 'HTTPRouteGroup', name: 'api', matches: ['read'] },
    { kind: 'TCPRoute', name: 'db' },
  ],
};

describe('resolveTrafficTarget', () => {
  it.each(['v1alpha2', 'v1alpha3'])('%s: destination, sources (another namespace, or the target\'s), rules', (v) => {
    const t = resolveTrafficTarget(target(`access.smi-spec.io/${v}`, SPEC));
    expect(t.problems).toEqual([]);
    expect(t.destination).toEqual({ serviceAccount: 'web', namespace: 'demo', port: 0 });
    expect(t.sources).toEqual([
      { serviceAccount: 'client', namespace: 'demo' },
      { serviceAccount: 'ops', namespace: 'demo' },
      { serviceAccount: 'prom', namespace: 'monitoring' },
    ]);
    expect(t.rules).toEqual([
      { kind: 'HTTPRouteGroup', name: 'api', matches: ['read'] },
      { kind: 'TCPRoute', name: 'db' },
    ]);
  });

  it('v1alpha1 calls the rules `specs`', () => {
    const { rules, ...rest } = SPEC;
    const t = resolveTrafficTarget(target('access.smi-spec.io/v1alpha1', { ...rest, specs: rules }));
    expect(t.problems).toEqual([]);
    expect(t.rules).toHaveLength(2);
  });

  it('a destination port', () => {
    const t = resolveTrafficTarget(target('access.smi-spec.io/v1alpha3', { ...SPEC, destination: { ...SPEC.destination, port: 8080 } }));
    expect(t.destination.port).toBe(8080);
  });

  it.each<[string, unknown, string]>([
    ['an unknown version', target('access.smi-spec.io/v1alpha4', SPEC), 'apiVersion'],
    ['a destination in another namespace', target('access.smi-spec.io/v1alpha3', { ...SPEC, destination: { ...SPEC.destination, namespace: 'other' } }), 'spec.destination.namespace'],
    ['a destination that is not a ServiceAccount', target('access.smi-spec.io/v1alpha3', { ...SPEC, destination: { kind: 'Pod', name: 'web' } }), 'spec.destination.kind'],
    ['no sources', target('access.smi-spec.io/v1alpha3', { ...SPEC, sources: [] }), 'spec.sources'],
    ['a bad source name', target('access.smi-spec.io/v1alpha3', { ...SPEC, sources: [{ kind: 'ServiceAccount', name: 'Bad_Name' }] }), 'spec.sources[0].name'],
    ['no rules', target('access.smi-spec.io/v1alpha3', { ...SPEC, rules: [] }), 'spec.rules'],
    ['a rule of another kind', target('access.smi-spec.io/v1alpha3', { ...SPEC, rules: [{ kind: 'UDPRoute', name: 'x' }] }), 'spec.rules[0].kind'],
    ['matches that are not names', target('access.smi-spec.io/v1alpha3', { ...SPEC, rules: [{ kind: 'HTTPRouteGroup', name: 'api', matches: [1] }] }), 'spec.rules[0].matches[0]'],
    ['a port out of range', target('access.smi-spec.io/v1alpha3', { ...SPEC, destination: { ...SPEC.destination, port: 70000 } }), 'spec.destination.port'],
    ['no spec', target('access.smi-spec.io/v1alpha3', undefined), 'spec'],
  ])('%s is a problem naming its field', (_what, raw, field) => {
    const t = resolveTrafficTarget(raw);
    expect(t.problems.map((p) => p.field)).toContain(field);
  });
});

describe('resolveTcpRoute', () => {
  it('v1alpha4 ports; none: every port', () => {
    expect(resolveTcpRoute({ apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'TCPRoute', metadata: { name: 'db', namespace: 'demo' }, spec: { matches: { ports: [5432, 5432, 6379] } } })).toEqual({
      name: 'db',
      namespace: 'demo',
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      ports: [5432, 6379],
      problems: [],
    });
    expect(resolveTcpRoute({ apiVersion: 'specs.smi-spec.io/v1alpha3', kind: 'TCPRoute', metadata: { name: 'any' }, spec: {} }).ports).toEqual([]);
  });

  it('a bad port is a problem', () => {
    const r = resolveTcpRoute({ apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'TCPRoute', metadata: { name: 'db' }, spec: { matches: { ports: [0] } } });
    expect(r.problems.map((p) => p.field)).toEqual(['spec.matches.ports[0]']);
  });
});
