import { describe, expect, it } from 'vitest';
import { chooseVersions } from './kube-discovery.ts';

const group = (name: string, versions: string[], preferred = versions[0]!): object => ({
  name,
  versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
  preferredVersion: { groupVersion: `${name}/${preferred}`, version: preferred },
});

describe('chooseVersions', () => {
  it('takes EndpointSlices v1 where served, else v1beta1 (1.20), else none', () => {
    expect(chooseVersions({ groups: [group('discovery.k8s.io', ['v1', 'v1beta1'])] }).endpointSlices).toBe('discovery.k8s.io/v1');
    expect(chooseVersions({ groups: [group('discovery.k8s.io', ['v1beta1'])] }).endpointSlices).toBe('discovery.k8s.io/v1beta1');
    expect(chooseVersions({ groups: [] }).endpointSlices).toBeUndefined();
  });

  it("takes the SMI groups' preferred version when Weft knows it, else the highest known one served", () => {
    const v = chooseVersions({
      groups: [
        group('split.smi-spec.io', ['v1alpha4', 'v1alpha3', 'v1alpha2', 'v1alpha1']),
        group('specs.smi-spec.io', ['v1alpha5', 'v1alpha3', 'v1alpha2'], 'v1alpha5'),
      ],
    });
    expect(v.trafficSplits).toBe('split.smi-spec.io/v1alpha4');
    expect(v.httpRouteGroups).toBe('specs.smi-spec.io/v1alpha3');
    expect(chooseVersions({ groups: [group('split.smi-spec.io', ['v1alpha2', 'v1alpha1'], 'v1alpha1')] }).trafficSplits).toBe('split.smi-spec.io/v1alpha1');
  });

  it('is none for CRDs not installed, and copes with junk', () => {
    expect(chooseVersions({ groups: [group('apps', ['v1'])] })).toEqual({ endpointSlices: undefined, trafficSplits: undefined, httpRouteGroups: undefined });
    expect(chooseVersions(undefined)).toEqual({ endpointSlices: undefined, trafficSplits: undefined, httpRouteGroups: undefined });
    expect(chooseVersions({ groups: 'nope' })).toEqual({ endpointSlices: undefined, trafficSplits: undefined, httpRouteGroups: undefined });
  });
});
