// The pure parts of the Secret/ConfigMap CA store; the store itself runs
// against a real apiserver in test/cluster/identity-token-review.test.ts.
import { describe, expect, it } from 'vitest';
import { createCaMaterial } from './ca-material.ts';
import { CA_FILES } from './ca-store.ts';
import { caFilesFromSecretData, caSecretData, pemCertificates } from './kube-ca-store.ts';

describe('CA Secret data', () => {
  const material = createCaMaterial({ trustDomain: 'cluster.local', now: Date.now() });

  it('round-trips the material under the CA file names (the Secret mounts as a --ca-dir)', () => {
    const data = caSecretData(material);
    expect(Object.keys(data).sort()).toEqual([CA_FILES.anchorKey, CA_FILES.anchor, CA_FILES.issuerKey, CA_FILES.issuer].sort());
    expect(caFilesFromSecretData(data)).toEqual({
      anchorPem: material.anchorPem,
      anchorKeyPem: material.anchorKeyPem,
      issuerPem: material.issuerPem,
      issuerKeyPem: material.issuerKeyPem,
    });
  });

  it('leaves out the anchor key when there is none; empty values count as missing', () => {
    const data = caSecretData({ ...material, anchorKeyPem: undefined });
    expect(data).not.toHaveProperty(CA_FILES.anchorKey);
    expect(caFilesFromSecretData({ ...data, [CA_FILES.issuer]: '' }).issuerPem).toBeUndefined();
    expect(caFilesFromSecretData(undefined)).toEqual({ anchorPem: undefined, anchorKeyPem: undefined, issuerPem: undefined, issuerKeyPem: undefined });
  });

  it('pemCertificates splits and normalises a bundle', () => {
    const bundle = `${material.anchorPem.replace(/\n/g, '\r\n')}\n${material.issuerPem}`;
    const norm = (pem: string): string => pem.replace(/\r/g, '').trim();
    expect(pemCertificates(bundle)).toEqual([norm(material.anchorPem), norm(material.issuerPem)]);
    expect(pemCertificates('nothing')).toEqual([]);
  });
});
