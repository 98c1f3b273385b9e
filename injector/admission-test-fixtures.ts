// Shared by the admission tests: AdmissionReview bodies as the apiserver sends them.
import type { InjectOptions } from './patch.ts';

export const TEST_OPTIONS: InjectOptions = { proxyImage: 'ghcr.io/weft/weft:0.1.0', proxyVersion: '0.1.0' };

export interface ReviewOverrides {
  uid?: string;
  namespace?: string;
  operation?: string;
  resource?: { group: string; version: string; resource: string };
  kind?: { group: string; version: string; kind: string };
  subResource?: string;
}

export function testPod(annotations?: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'web-', ...(annotations !== undefined ? { annotations } : {}) },
    spec: { containers: [{ name: 'web', image: 'example/web:1' }] },
  };
}

export function admissionReview(object: unknown, o: ReviewOverrides = {}): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: o.uid ?? '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: o.kind ?? { group: '', version: 'v1', kind: 'Pod' },
      resource: o.resource ?? { group: '', version: 'v1', resource: 'pods' },
      ...(o.subResource !== undefined ? { subResource: o.subResource } : {}),
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: o.namespace ?? 'demo',
      operation: o.operation ?? 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: 'u', groups: ['system:serviceaccounts'] },
      object,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}
