import { describe, expect, it } from 'vitest';
import {
  parseQuantity,
  regexProblem,
  resolveHttpRouteGroup,
  resolveTrafficSplit,
  scaleWeights,
  smiVersion,
} from './split-resolve.ts';

function split(version: string, spec: unknown, namespace?: string): unknown {
  return {
    apiVersion: `split.smi-spec.io/${version}`,
    kind: 'TrafficSplit',
    metadata: { name: 'web', ...(namespace === undefined ? {} : { namespace }) },
    spec,
  };
}

const reasons = (s: { problems: readonly { reason: string }[] }): string[] => s.problems.map((p) => p.reason);
const fields = (s: { problems: readonly { field: string }[] }): string[] => s.problems.map((p) => p.field);

describe('parseQuantity', () => {
  it.each([
    ['500m', 0.5],
    ['1', 1],
    ['1k', 1000],
    ['1.5k', 1500],
    ['2Ki', 2048],
    ['1e3', 1000],
    ['250u', 0.00025],
    ['+3', 3],
    ['.5', 0.5],
    [7, 7],
    [0.25, 0.25],
  ] as const)('%s -> %s', (q, n) => {
    expect(parseQuantity(q)).toBeCloseTo(n, 12);
  });

  it.each(['', 'abc', '1x', '5 m', 'm', '1kk', null, undefined, {}, [], Number.NaN, Number.POSITIVE_INFINITY])(
    'rejects %s',
    (q) => {
      expect(parseQuantity(q)).toBeUndefined();
    },
  );
});

describe('scaleWeights', () => {
  it('scales quantities to integers preserving ratios, reduced by their GCD', () => {
    expect(scaleWeights([0.5, 0.5])).toEqual([1, 1]);
    expect(scaleWeights([0.9, 0.1])).toEqual([9, 1]);
    expect(scaleWeights([1, 0.001])).toEqual([1000, 1]);
    expect(scaleWeights([0.75, 0.25, 0])).toEqual([3, 1, 0]);
  });

  it('keeps a tiny positive weight positive and a zero zero', () => {
    expect(scaleWeights([1, 1e-9])).toEqual([1000, 1]);
    expect(scaleWeights([0, 0])).toEqual([0, 0]);
    expect(scaleWeights([])).toEqual([]);
  });

  it('stays within uint32 for huge quantities', () => {
    const out = scaleWeights([1e18, 5e17]);
    expect(out).toEqual([2, 1]);
    const big = scaleWeights([1e18, 3]);
    expect(Math.max(...big)).toBeLessThanOrEqual(0xffffffff);
    expect(big[1]).toBeGreaterThan(0);
  });
});

describe('smiVersion', () => {
  it('accepts the group with v1alpha1..v1alpha4 only', () => {
    expect(smiVersion('split.smi-spec.io/v1alpha3', 'split.smi-spec.io')).toBe('v1alpha3');
    expect(smiVersion('split.smi-spec.io/v1alpha5', 'split.smi-spec.io')).toBeUndefined();
    expect(smiVersion('specs.smi-spec.io/v1alpha3', 'split.smi-spec.io')).toBeUndefined();
    expect(smiVersion('v1alpha3', 'split.smi-spec.io')).toBeUndefined();
    expect(smiVersion(3, 'split.smi-spec.io')).toBeUndefined();
  });
});

describe('resolveTrafficSplit', () => {
  it('v1alpha1: quantities become integer weights', () => {
    const s = resolveTrafficSplit(
      split('v1alpha1', {
        service: 'web',
        backends: [
          { service: 'web-v1', weight: '900m' },
          { service: 'web-v2', weight: '100m' },
        ],
      }),
    );
    expect(s.problems).toEqual([]);
    expect(s).toMatchObject({ name: 'web', namespace: 'default', apiVersion: 'split.smi-spec.io/v1alpha1', service: 'web' });
    expect(s.backends).toEqual([
      { service: 'web-v1', weight: 9 },
      { service: 'web-v2', weight: 1 },
    ]);
  });

  it('v1alpha1: mixes units and plain numbers', () => {
    const s = resolveTrafficSplit(
      split('v1alpha1', {
        service: 'web',
        backends: [
          { service: 'a', weight: '1' },
          { service: 'b', weight: 500 },
          { service: 'c', weight: '500m' },
          { service: 'd', weight: '0' },
        ],
      }),
    );
    expect(s.problems).toEqual([]);
    expect(s.backends.map((b) => b.weight)).toEqual([2, 1000, 1, 0]);
  });

  it.each(['v1alpha2', 'v1alpha3', 'v1alpha4'])('%s: integer weights are kept as they are', (v) => {
    const s = resolveTrafficSplit(
      split(v, {
        service: 'web',
        backends: [
          { service: 'web-v1', weight: 90 },
          { service: 'web-v2', weight: 10 },
          { service: 'web-v3', weight: 0 },
        ],
      }, 'demo'),
    );
    expect(s.problems).toEqual([]);
    expect(s.namespace).toBe('demo');
    expect(s.backends).toEqual([
      { service: 'web-v1', weight: 90 },
      { service: 'web-v2', weight: 10 },
      { service: 'web-v3', weight: 0 },
    ]);
  });

  it.each([
    ['v1alpha1', undefined, 'spec.backends[0].weight'],
    ['v1alpha1', '-1', 'spec.backends[0].weight'],
    ['v1alpha1', 'lots', 'spec.backends[0].weight'],
    ['v1alpha2', -5, 'spec.backends[0].weight'],
    ['v1alpha2', '90', 'spec.backends[0].weight'],
    ['v1alpha3', 0.5, 'spec.backends[0].weight'],
    ['v1alpha4', null, 'spec.backends[0].weight'],
    ['v1alpha4', 2 ** 33, 'spec.backends[0].weight'],
    ['v1alpha4', true, 'spec.backends[0].weight'],
  ] as const)('%s weight %s is InvalidWeight on that split, never a throw', (v, weight, field) => {
    const s = resolveTrafficSplit(
      split(v, {
        service: 'web',
        backends: [{ service: 'web-v1', ...(weight === undefined ? {} : { weight }) }, { service: 'web-v2', weight: 1 }],
      }),
    );
    expect(reasons(s)).toEqual(['InvalidWeight']);
    expect(fields(s)).toEqual([field]);
    expect(s.backends).toHaveLength(2);
  });

  it('structural problems are InvalidSpec with the field', () => {
    expect(fields(resolveTrafficSplit(split('v1alpha4', undefined)))).toEqual(['spec']);
    expect(fields(resolveTrafficSplit(split('v1alpha4', { backends: [] })))).toEqual(['spec.service']);
    expect(fields(resolveTrafficSplit(split('v1alpha4', { service: 'web', backends: 'x' })))).toEqual(['spec.backends']);
    expect(fields(resolveTrafficSplit(split('v1alpha4', { service: 'web', backends: [{ weight: 1 }] })))).toEqual([
      'spec.backends[0].service',
    ]);
    expect(fields(resolveTrafficSplit(split('v1alpha4', { service: 'web', backends: [7] })))).toEqual(['spec.backends[0]']);
    const bad = resolveTrafficSplit(split('v1beta1', { service: 'web', backends: [] }));
    expect(reasons(bad)).toEqual(['InvalidSpec']);
    expect(fields(bad)).toEqual(['apiVersion']);
  });

  it('never throws on garbage', () => {
    for (const raw of [undefined, null, 42, 'split', [], { spec: { backends: [null, [], 'x'] } }]) {
      const s = resolveTrafficSplit(raw);
      expect(s.problems.length).toBeGreaterThan(0);
    }
  });

  it('an empty backend list is valid (the translator reports it)', () => {
    const s = resolveTrafficSplit(split('v1alpha2', { service: 'web', backends: [] }));
    expect(s.problems).toEqual([]);
    expect(s.backends).toEqual([]);
  });

  it('v1alpha3+: reads HTTPRouteGroup references, with optional match names', () => {
    const s = resolveTrafficSplit(
      split('v1alpha4', {
        service: 'web',
        matches: [
          { kind: 'HTTPRouteGroup', name: 'ab', apiGroup: 'specs.smi-spec.io' },
          { kind: 'HTTPRouteGroup', name: 'api', matches: ['get-users'] },
        ],
        backends: [{ service: 'web-v2', weight: 1 }],
      }),
    );
    expect(s.problems).toEqual([]);
    expect(s.matches).toEqual([
      { kind: 'HTTPRouteGroup', name: 'ab', matches: [] },
      { kind: 'HTTPRouteGroup', name: 'api', matches: ['get-users'] },
    ]);
  });

  it('v1alpha3+: bad references are InvalidSpec', () => {
    const s = resolveTrafficSplit(
      split('v1alpha3', {
        service: 'web',
        matches: [{ kind: 'TCPRoute', name: 'x' }, { kind: 'HTTPRouteGroup' }, { kind: 'HTTPRouteGroup', name: 'g', matches: [1] }],
        backends: [],
      }),
    );
    expect(fields(s)).toEqual(['spec.matches[0].kind', 'spec.matches[1].name', 'spec.matches[2].matches']);
    expect(new Set(reasons(s))).toEqual(new Set(['InvalidSpec']));
  });

  it('v1alpha1/v1alpha2 have no matches: the field is ignored', () => {
    const s = resolveTrafficSplit(
      split('v1alpha2', { service: 'web', matches: [{ kind: 'HTTPRouteGroup', name: 'ab' }], backends: [] }),
    );
    expect(s.problems).toEqual([]);
    expect(s.matches).toEqual([]);
  });
});

describe('resolveHttpRouteGroup', () => {
  it('v1alpha4: spec.matches, headers as a map, "*" method means any', () => {
    const g = resolveHttpRouteGroup({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: 'ab', namespace: 'demo' },
      spec: {
        matches: [
          { name: 'firefox', headers: { 'User-Agent': '.*Firefox.*' } },
          { name: 'api', pathRegex: '/api/.*', methods: ['get', 'HEAD'] },
          { name: 'all', pathRegex: '.*', methods: ['*'] },
        ],
      },
    });
    expect(g.problems).toEqual([]);
    expect(g).toMatchObject({ name: 'ab', namespace: 'demo' });
    expect(g.matches).toEqual([
      { name: 'firefox', pathRegex: '', methods: [], headers: [{ name: 'user-agent', regex: '.*Firefox.*' }] },
      { name: 'api', pathRegex: '/api/.*', methods: ['GET', 'HEAD'], headers: [] },
      { name: 'all', pathRegex: '.*', methods: [], headers: [] },
    ]);
  });

  it('v1alpha2: top-level matches, headers as a list of one-entry maps', () => {
    const g = resolveHttpRouteGroup({
      apiVersion: 'specs.smi-spec.io/v1alpha2',
      kind: 'HTTPRouteGroup',
      metadata: { name: 'ab' },
      matches: [{ name: 'insiders', headers: [{ 'user-agent': '.*Android.*' }, { cookie: '^(.*?;)?(type=insider)(;.*)?$' }] }],
    });
    expect(g.problems).toEqual([]);
    expect(g.matches[0]?.headers).toEqual([
      { name: 'user-agent', regex: '.*Android.*' },
      { name: 'cookie', regex: '^(.*?;)?(type=insider)(;.*)?$' },
    ]);
  });

  it('reports bad regexes, methods, header names and duplicate names with their field', () => {
    const g = resolveHttpRouteGroup({
      apiVersion: 'specs.smi-spec.io/v1alpha3',
      metadata: { name: 'bad' },
      spec: {
        matches: [
          { name: 'a', pathRegex: '/api/(' },
          { name: 'b', methods: ['GE T'] },
          { name: 'c', headers: { 'bad header': 'x' } },
          { name: 'd', headers: { h: 5 } },
          { name: 'a' },
          { pathRegex: '/x' },
        ],
      },
    });
    expect(fields(g)).toEqual([
      'spec.matches[0].pathRegex',
      'spec.matches[1].methods[0]',
      'spec.matches[2].headers.bad header',
      'spec.matches[3].headers.h',
      'spec.matches[4].name',
      'spec.matches[5].name',
    ]);
  });

  it('a group without matches or with an unknown version has a problem', () => {
    expect(fields(resolveHttpRouteGroup({ apiVersion: 'specs.smi-spec.io/v1alpha4', metadata: { name: 'x' }, spec: {} }))).toEqual([
      'spec.matches',
    ]);
    expect(fields(resolveHttpRouteGroup({ apiVersion: 'specs.smi-spec.io/v2', metadata: { name: 'x' }, matches: [] }))).toEqual([
      'apiVersion',
    ]);
  });

  it('regexProblem', () => {
    expect(regexProblem('/a/.*')).toBeUndefined();
    expect(regexProblem('(')).toBeTypeOf('string');
  });
});
