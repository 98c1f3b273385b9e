import { describe, expect, it } from 'vitest';
import { emptyClusterState, selectorMatches, sortClusterState } from './cluster-state.ts';
import { createStaticSource } from './cluster-source.ts';
import { canaryState, pod, service } from './testdata/builders.ts';

describe('selectorMatches', () => {
  it('needs every selector label; an empty selector selects nothing', () => {
    expect(selectorMatches({ app: 'web' }, { app: 'web', version: 'v1' })).toBe(true);
    expect(selectorMatches({ app: 'web', version: 'v2' }, { app: 'web', version: 'v1' })).toBe(false);
    expect(selectorMatches({ app: 'web' }, {})).toBe(false);
    expect(selectorMatches({}, { app: 'web' })).toBe(false);
  });
});

describe('sortClusterState', () => {
  it('orders every list so equal contents serialise equally', () => {
    const s = canaryState();
    const shuffled = {
      ...s,
      services: [...s.services].reverse(),
      pods: [...s.pods].reverse(),
      endpoints: [...s.endpoints].reverse(),
      workloads: [...s.workloads].reverse(),
    };
    expect(JSON.stringify(sortClusterState(shuffled))).toBe(JSON.stringify(sortClusterState(s)));
    expect(sortClusterState(s).services.map((x) => x.name)).toEqual(['web', 'web-v1', 'web-v2']);
  });

  it('orders by namespace first', () => {
    const s = sortClusterState({
      ...emptyClusterState(),
      services: [service('a', {}, { namespace: 'z' }), service('b', {}, { namespace: 'a' })],
      pods: [pod('a', '', {}, { namespace: 'z' }), pod('b', '', {}, { namespace: 'a' })],
    });
    expect(s.services.map((x) => `${x.namespace}/${x.name}`)).toEqual(['a/b', 'z/a']);
    expect(s.pods.map((x) => `${x.namespace}/${x.name}`)).toEqual(['a/b', 'z/a']);
  });
});

describe('createStaticSource', () => {
  it('emits its state once on start', async () => {
    const s = canaryState();
    const src = createStaticSource(s);
    const seen: unknown[] = [];
    await src.start((x) => seen.push(x));
    expect(seen).toEqual([s]);
    expect(src.current()).toBe(s);
    await src.close();
  });
});
