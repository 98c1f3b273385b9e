import { describe, expect, it } from 'vitest';
import { emptyClusterState, type ClusterState } from './cluster-state.ts';
import { pod } from './testdata/builders.ts';
import { meshedNamespaces } from './trust-bundle-publisher.ts';

describe('meshedNamespaces', () => {
  it('namespaces that opt in (annotation or label), or hold a meshed or opted-in pod', () => {
    const state: ClusterState = {
      ...emptyClusterState(),
      namespaces: [
        { name: 'a', labels: {}, annotations: { 'weft.dev/inject': 'enabled' } },
        { name: 'b', labels: { 'weft.dev/inject': 'enabled' }, annotations: {} },
        { name: 'c', labels: {}, annotations: { 'weft.dev/inject': 'disabled' } },
        { name: 'plain', labels: {}, annotations: {} },
      ],
      pods: [
        { ...pod('x', '198.18.0.1', {}), namespace: 'd', meshed: true },
        { ...pod('y', '198.18.0.2', {}), namespace: 'e', meshed: false, annotations: { 'weft.dev/inject': 'enabled' } },
        { ...pod('z', '198.18.0.3', {}), namespace: 'plain', meshed: false },
      ],
    };
    expect(meshedNamespaces(state)).toEqual(['a', 'b', 'd', 'e']);
  });
});
