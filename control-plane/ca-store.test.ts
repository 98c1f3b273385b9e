import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_ISSUER_LIFETIME_MS, createCaMaterial } from './ca-material.ts';
import { CA_FILES, loadOrCreateCa, readCaFiles, writeCaFiles } from './ca-store.ts';
import { codeOfAsync as codeOf } from '../test/harness/error-code.ts';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const DAY = 86_400_000;
const TD = 'cluster.local';

const roots: string[] = [];
async function freshDir(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'weft-ca-store-'));
  roots.push(root);
  return join(root, 'ca');
}
afterAll(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

describe('loadOrCreateCa with a directory', () => {
  it('creates a CA on first use, keys 0600, directory 0700, no temporary files left', async () => {
    const dir = await freshDir();
    const ca = await loadOrCreateCa({ dir, trustDomain: TD, now: NOW });
    expect(ca.source).toBe('created');
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(join(dir, CA_FILES.anchorKey))).toBe(0o600);
    expect(await mode(join(dir, CA_FILES.issuerKey))).toBe(0o600);
    expect(await mode(join(dir, CA_FILES.anchor))).toBe(0o644);
    expect(await mode(join(dir, CA_FILES.issuer))).toBe(0o644);
    expect((await readdir(dir)).sort()).toEqual(Object.values(CA_FILES).sort());
    expect(await readFile(join(dir, CA_FILES.anchor), 'utf8')).toBe(ca.material.anchorPem);
    expect(await readFile(join(dir, CA_FILES.issuerKey), 'utf8')).toBe(ca.material.issuerKeyPem);
  });

  it('a restart keeps the same trust anchor and issuer', async () => {
    const dir = await freshDir();
    const first = await loadOrCreateCa({ dir, trustDomain: TD, now: NOW });
    const second = await loadOrCreateCa({ dir, trustDomain: TD, now: NOW + DAY });
    expect(second.source).toBe('loaded');
    expect(second.material).toEqual(first.material);
  });

  it('renews a nearly expired issuer under the same anchor, and persists it', async () => {
    const dir = await freshDir();
    const first = await loadOrCreateCa({ dir, trustDomain: TD, now: NOW });
    const later = NOW + DEFAULT_ISSUER_LIFETIME_MS - 10 * DAY;
    const renewed = await loadOrCreateCa({ dir, trustDomain: TD, now: later });
    expect(renewed.source).toBe('issuer-renewed');
    expect(renewed.material.anchorPem).toBe(first.material.anchorPem);
    expect(renewed.material.issuerPem).not.toBe(first.material.issuerPem);
    expect(renewed.issuerNotAfterUnixMs).toBe(later + DEFAULT_ISSUER_LIFETIME_MS);
    const again = await loadOrCreateCa({ dir, trustDomain: TD, now: later });
    expect(again.source).toBe('loaded');
    expect(again.material.issuerPem).toBe(renewed.material.issuerPem);
    // And after expiry outright.
    const expired = await loadOrCreateCa({ dir, trustDomain: TD, now: later + DEFAULT_ISSUER_LIFETIME_MS + DAY });
    expect(expired.source).toBe('issuer-renewed');
  });

  it('creates a missing issuer when the anchor key is present', async () => {
    const dir = await freshDir();
    const first = await loadOrCreateCa({ dir, trustDomain: TD, now: NOW });
    await rm(join(dir, CA_FILES.issuer));
    await rm(join(dir, CA_FILES.issuerKey));
    const again = await loadOrCreateCa({ dir, trustDomain: TD, now: NOW });
    expect(again.source).toBe('issuer-renewed');
    expect(again.material.anchorPem).toBe(first.material.anchorPem);
  });

  it('uses files written elsewhere without the anchor key (weft install), and cannot renew them', async () => {
    const dir = await freshDir();
    const { anchorKeyPem: _kept, ...external } = createCaMaterial({ trustDomain: TD, now: NOW });
    await writeCaFiles(dir, external);
    expect((await readCaFiles(dir)).anchorKeyPem).toBeUndefined();
    const ca = await loadOrCreateCa({ dir, trustDomain: TD, now: NOW });
    expect(ca.source).toBe('loaded');
    const nearEnd = await loadOrCreateCa({ dir, trustDomain: TD, now: NOW + DEFAULT_ISSUER_LIFETIME_MS - DAY });
    expect(nearEnd.source).toBe('loaded');
    expect(await codeOf(loadOrCreateCa({ dir, trustDomain: TD, now: NOW + DEFAULT_ISSUER_LIFETIME_MS + DAY }))).toBe(
      'WEFT_ERR_CA_EXPIRED',
    );
  });

  it('refuses inconsistent directories instead of replacing anything', async () => {
    const material = createCaMaterial({ trustDomain: TD, now: NOW });
    const other = createCaMaterial({ trustDomain: TD, now: NOW });

    const issuerOnly = await freshDir();
    await writeCaFiles(issuerOnly, material);
    await rm(join(issuerOnly, CA_FILES.anchor));
    expect(await codeOf(loadOrCreateCa({ dir: issuerOnly, trustDomain: TD, now: NOW }))).toBe('WEFT_ERR_CA_INVALID');
    expect(await readFile(join(issuerOnly, CA_FILES.issuer), 'utf8')).toBe(material.issuerPem);

    const noIssuerKey = await freshDir();
    await writeCaFiles(noIssuerKey, material);
    await rm(join(noIssuerKey, CA_FILES.issuerKey));
    expect(await codeOf(loadOrCreateCa({ dir: noIssuerKey, trustDomain: TD, now: NOW }))).toBe('WEFT_ERR_CA_INVALID');

    const wrongKey = await freshDir();
    await writeCaFiles(wrongKey, { ...material, issuerKeyPem: other.issuerKeyPem });
    expect(await codeOf(loadOrCreateCa({ dir: wrongKey, trustDomain: TD, now: NOW }))).toBe('WEFT_ERR_CA_INVALID');

    const foreignIssuer = await freshDir();
    await writeCaFiles(foreignIssuer, { ...material, issuerPem: other.issuerPem, issuerKeyPem: other.issuerKeyPem });
    expect(await codeOf(loadOrCreateCa({ dir: foreignIssuer, trustDomain: TD, now: NOW }))).toBe('WEFT_ERR_CA_INVALID');

    const garbage = await freshDir();
    await writeCaFiles(garbage, material);
    await writeFile(join(garbage, CA_FILES.issuer), 'not a certificate');
    expect(await codeOf(loadOrCreateCa({ dir: garbage, trustDomain: TD, now: NOW }))).toBe('WEFT_ERR_CA_INVALID');

    const anchorOnly = await freshDir();
    await writeCaFiles(anchorOnly, { ...material, anchorKeyPem: undefined });
    await rm(join(anchorOnly, CA_FILES.issuer));
    await rm(join(anchorOnly, CA_FILES.issuerKey));
    expect(await codeOf(loadOrCreateCa({ dir: anchorOnly, trustDomain: TD, now: NOW }))).toBe('WEFT_ERR_CA_INVALID');
  });

  it('refuses an invalid trust domain', async () => {
    expect(await codeOf(loadOrCreateCa({ dir: await freshDir(), trustDomain: 'UPPER', now: NOW }))).toBe(
      'WEFT_ERR_SPIFFE_ID_INVALID',
    );
  });
});

describe('loadOrCreateCa with provided material', () => {
  it('checks and returns it, writing nothing', async () => {
    const material = createCaMaterial({ trustDomain: TD, now: NOW });
    const ca = await loadOrCreateCa({ provided: material, trustDomain: TD, now: NOW });
    expect(ca.source).toBe('provided');
    expect(ca.material).toBe(material);
    expect(new X509Certificate(ca.material.anchorPem).ca).toBe(true);
    const other = createCaMaterial({ trustDomain: TD, now: NOW });
    expect(
      await codeOf(loadOrCreateCa({ provided: { ...material, issuerKeyPem: other.issuerKeyPem }, trustDomain: TD, now: NOW })),
    ).toBe('WEFT_ERR_CA_INVALID');
  });
});
