// The parts of `weft check` that judge what it read, without a cluster (the
// whole command runs against a real apiserver in test/cluster/install.test.ts):
// the injector certificate vs the webhook's caBundle, the identity CA, the
// trust bundle, the RBAC permissions it asks the authorizer about, the output.
import { describe, expect, it } from 'vitest';
import { createCaMaterial } from '../control-plane/ca-material.ts';
import { buildLeafCert } from '../identity/cert-builder.ts';
import { generateRsaKeyPair } from '../identity/key-pair.ts';
import { IDENTITY_SECRET_KEYS } from '../deploy/names.ts';
import { CONTROL_PLANE_CLUSTER_RULES, CONTROL_PLANE_NAMESPACE_RULES } from '../deploy/rbac.ts';
import { createInjectorTls } from '../deploy/pki.ts';
import { checkIdentity, checkInjectorCert, checkTrustBundle, formatResult, permissionsOf, summary } from './check.ts';

const NOW = Date.now();
const DAY = 86_400_000;

describe('weft check verdicts', () => {
  const tls = createInjectorTls(NOW);
  const other = createInjectorTls(NOW);
  const ca = createCaMaterial({ trustDomain: 'cluster.local', now: NOW });

  it('injector certificate: ok with its own CA in the caBundle; fails with another CA, an empty bundle, or the wrong name; warns near expiry', () => {
    const good = checkInjectorCert(tls.certPem, tls.caPem, tls.caPem, NOW);
    expect(good.cert.status).toBe('ok');
    expect(good.bundle.status).toBe('ok');
    // A bundle with several CAs, one of them right.
    expect(checkInjectorCert(tls.certPem, tls.caPem, `${other.caPem}\n${tls.caPem}`, NOW).bundle.status).toBe('ok');
    const wrongCa = checkInjectorCert(tls.certPem, tls.caPem, other.caPem, NOW);
    expect(wrongCa.bundle).toMatchObject({ status: 'fail', detail: expect.stringContaining('cannot call the injector') });
    expect(checkInjectorCert(tls.certPem, tls.caPem, undefined, NOW).bundle.status).toBe('fail');
    expect(checkInjectorCert(tls.certPem, other.caPem, tls.caPem, NOW).cert).toMatchObject({ status: 'fail', detail: expect.stringContaining('ca.crt') });
    expect(checkInjectorCert(tls.certPem, tls.caPem, tls.caPem, NOW + 340 * DAY).cert.status).toBe('warn');
    expect(checkInjectorCert(tls.certPem, tls.caPem, tls.caPem, NOW + 400 * DAY).cert.status).toBe('fail');
    const key = generateRsaKeyPair();
    const wrongName = buildLeafCert({
      publicKeyPem: key.publicKeyPem,
      signer: { certPem: ca.anchorPem, keyPem: ca.anchorKeyPem ?? '' },
      dnsNames: ['injector.elsewhere.svc'],
      notBefore: new Date(NOW - DAY),
      notAfter: new Date(NOW + DAY),
    });
    expect(checkInjectorCert(wrongName, ca.anchorPem, ca.anchorPem, NOW).cert).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('not valid for weft-injector.weft-system.svc'),
    });
    expect(checkInjectorCert('garbage', undefined, undefined, NOW).cert.status).toBe('fail');
  });

  it('identity: a full CA is ok (renewable); without anchor key near issuer expiry warns; missing keys and mismatches fail', () => {
    const data = {
      [IDENTITY_SECRET_KEYS.anchor]: ca.anchorPem,
      [IDENTITY_SECRET_KEYS.anchorKey]: ca.anchorKeyPem,
      [IDENTITY_SECRET_KEYS.issuer]: ca.issuerPem,
      [IDENTITY_SECRET_KEYS.issuerKey]: ca.issuerKeyPem,
    };
    expect(checkIdentity(data, NOW)).toMatchObject({ status: 'ok', detail: expect.stringContaining('the control plane renews the issuer') });
    const noAnchorKey = { ...data, [IDENTITY_SECRET_KEYS.anchorKey]: undefined };
    expect(checkIdentity(noAnchorKey, NOW).status).toBe('ok');
    expect(checkIdentity(noAnchorKey, NOW + 330 * DAY).status).toBe('warn');
    expect(checkIdentity(data, NOW + 400 * DAY)).toMatchObject({ status: 'fail', detail: expect.stringContaining('expired') });
    expect(checkIdentity({ ...data, [IDENTITY_SECRET_KEYS.issuerKey]: undefined }, NOW)).toMatchObject({
      status: 'fail',
      detail: `missing keys: ${IDENTITY_SECRET_KEYS.issuerKey}`,
    });
    const other2 = createCaMaterial({ trustDomain: 'cluster.local', now: NOW });
    expect(checkIdentity({ ...data, [IDENTITY_SECRET_KEYS.issuer]: other2.issuerPem, [IDENTITY_SECRET_KEYS.issuerKey]: other2.issuerKeyPem }, NOW).status).toBe('fail');
  });

  it('trust bundle: must parse, hold a live certificate and the installed anchor', () => {
    expect(checkTrustBundle(ca.anchorPem, ca.anchorPem, NOW).status).toBe('ok');
    expect(checkTrustBundle(`${tls.caPem}${ca.anchorPem}`, ca.anchorPem, NOW)).toMatchObject({ status: 'ok', detail: '2 certificate(s)' });
    expect(checkTrustBundle(tls.caPem, ca.anchorPem, NOW)).toMatchObject({ status: 'fail', detail: expect.stringContaining('not in it') });
    expect(checkTrustBundle(undefined, ca.anchorPem, NOW).status).toBe('fail');
    expect(checkTrustBundle('not a certificate', ca.anchorPem, NOW)).toMatchObject({ status: 'fail', detail: expect.stringContaining('no certificate') });
    expect(checkTrustBundle('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', undefined, NOW).status).toBe('fail');
    expect(checkTrustBundle(ca.anchorPem, ca.anchorPem, NOW + 11 * 365 * DAY).status).toBe('fail');
  });

  it('permissionsOf expands rules into SubjectAccessReview attributes (subresources split, names kept, namespace set)', () => {
    const perms = permissionsOf(CONTROL_PLANE_CLUSTER_RULES);
    expect(perms).toContainEqual({ group: 'split.smi-spec.io', resource: 'trafficsplits', subresource: 'status', verb: 'patch' });
    expect(perms).toContainEqual({ group: 'authentication.k8s.io', resource: 'tokenreviews', verb: 'create' });
    expect(perms).toContainEqual({ group: '', resource: 'configmaps', verb: 'update', name: 'weft-trust-bundle' });
    expect(permissionsOf(CONTROL_PLANE_NAMESPACE_RULES, 'weft-system')).toContainEqual({
      group: '', resource: 'secrets', verb: 'get', namespace: 'weft-system', name: 'weft-identity',
    });
  });

  it('formats a checklist line per result and a summary that fails on a failure only', () => {
    expect(formatResult({ group: 'g', name: 'a thing', status: 'ok' })).toBe('✓ a thing\n');
    expect(formatResult({ group: 'g', name: 'a thing', status: 'warn', detail: 'hmm' })).toBe('‼ a thing (hmm)\n');
    expect(formatResult({ group: 'g', name: 'a thing', status: 'fail', detail: 'no' })).toBe('✗ a thing (no)\n');
    expect(summary([{ group: 'g', name: 'a', status: 'ok' }, { group: 'g', name: 'b', status: 'warn' }])).toContain('results are ✓ (2 checks, 0 failed, 1 warning)');
    expect(summary([{ group: 'g', name: 'a', status: 'fail' }])).toContain('results are ✗ (1 checks, 1 failed, 0 warnings)');
  });
});
