// Keeps the CA's material in a directory as PEM files, so that a restarted
// control plane keeps its trust anchor (and the proxies keep trusting it):
//
//   anchor.pem       trust anchor certificate            0644
//   anchor-key.pem   trust anchor key (optional)         0600
//   issuer.pem       issuer (intermediate) certificate   0644
//   issuer-key.pem   issuer key                          0600
//
// An empty directory gets a new CA. A directory holding an anchor without its
// key (written by `weft install`, or a mounted Secret) is used as is; with the
// anchor key, a missing or nearly expired issuer is renewed under the same
// anchor. Material can also be provided directly (no files). Every file is
// written to a temporary name and renamed, keys before certificates, so an
// interrupted write never leaves a certificate without its key.

import { X509Certificate, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WeftError } from '../proto/errors.ts';
import {
  checkCaMaterial,
  checkTrustDomain,
  createCaMaterial,
  renewIssuer,
  type CaMaterial,
  type CheckedCa,
} from './ca-material.ts';

export const CA_FILES = {
  anchor: 'anchor.pem',
  anchorKey: 'anchor-key.pem',
  issuer: 'issuer.pem',
  issuerKey: 'issuer-key.pem',
} as const;

const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const DIR_MODE = 0o700;

/** The issuer is renewed (when the anchor key is at hand) once it has less than this left. */
export const DEFAULT_ISSUER_RENEW_BEFORE_MS = 30 * 24 * 3_600_000;

export type LoadOrCreateCaOptions = {
  trustDomain: string;
  /** Unix ms. */
  now: number;
  anchorLifetimeMs?: number;
  issuerLifetimeMs?: number;
  issuerRenewBeforeMs?: number;
} & (
  | { /** Where the CA's files live (created if missing). */ dir: string; provided?: undefined }
  | { /** Externally provided material, used as is; nothing is written. */ provided: CaMaterial; dir?: undefined }
);

/** How the CA came to be: new, read back, read back with a new issuer, or handed in. */
export type CaSource = 'created' | 'loaded' | 'issuer-renewed' | 'provided';

export interface LoadedCa extends CheckedCa {
  source: CaSource;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new WeftError('WEFT_ERR_CA_INVALID', `cannot read ${path}`, { cause: err });
  }
}

async function writeAtomic(dir: string, name: string, data: string, mode: number): Promise<void> {
  const target = join(dir, name);
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, data, { mode, flag: 'wx' });
    await chmod(tmp, mode); // exact, whatever the umask
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new WeftError('WEFT_ERR_CA_INVALID', `cannot write ${target}`, { cause: err });
  }
}

/** The CA files present in `dir` (undefined for a missing file). */
export async function readCaFiles(dir: string): Promise<{
  anchorPem: string | undefined;
  anchorKeyPem: string | undefined;
  issuerPem: string | undefined;
  issuerKeyPem: string | undefined;
}> {
  const [anchorPem, anchorKeyPem, issuerPem, issuerKeyPem] = await Promise.all([
    readOptional(join(dir, CA_FILES.anchor)),
    readOptional(join(dir, CA_FILES.anchorKey)),
    readOptional(join(dir, CA_FILES.issuer)),
    readOptional(join(dir, CA_FILES.issuerKey)),
  ]);
  return { anchorPem, anchorKeyPem, issuerPem, issuerKeyPem };
}

/**
 * Writes the material to `dir` (created with mode 0700 if missing); keys 0600.
 * With `only: 'issuer'`, just the issuer's two files. Throws WEFT_ERR_CA_INVALID.
 */
export async function writeCaFiles(dir: string, material: CaMaterial, options?: { only?: 'issuer' }): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  if (options?.only !== 'issuer') {
    if (material.anchorKeyPem !== undefined) await writeAtomic(dir, CA_FILES.anchorKey, material.anchorKeyPem, KEY_MODE);
    await writeAtomic(dir, CA_FILES.anchor, material.anchorPem, CERT_MODE);
  }
  await writeAtomic(dir, CA_FILES.issuerKey, material.issuerKeyPem, KEY_MODE);
  await writeAtomic(dir, CA_FILES.issuer, material.issuerPem, CERT_MODE);
}

/** Whether the issuer is missing or has less than `renewBeforeMs` left. Throws WEFT_ERR_CA_INVALID if it cannot be parsed. */
export function issuerNeedsRenewal(issuerPem: string | undefined, now: number, renewBeforeMs: number): boolean {
  if (issuerPem === undefined) return true;
  let notAfter: number;
  try {
    notAfter = new X509Certificate(issuerPem).validToDate.getTime();
  } catch (cause) {
    throw new WeftError('WEFT_ERR_CA_INVALID', 'issuer: cannot parse certificate', { cause });
  }
  return notAfter - now < renewBeforeMs;
}

/**
 * Loads the CA from `dir`, creating it on first use, or checks `provided`
 * material. Whatever it returns passed checkCaMaterial at `now`. Throws
 * WEFT_ERR_CA_INVALID (unreadable, inconsistent or mismatched files),
 * WEFT_ERR_CA_EXPIRED (expired and not renewable here) or
 * WEFT_ERR_SPIFFE_ID_INVALID (bad trust domain).
 */
export async function loadOrCreateCa(opts: LoadOrCreateCaOptions): Promise<LoadedCa> {
  checkTrustDomain(opts.trustDomain);
  if (opts.provided !== undefined) {
    return { ...checkCaMaterial(opts.provided, opts.now), source: 'provided' };
  }
  const dir = opts.dir;
  await mkdir(dir, { recursive: true, mode: DIR_MODE }).catch((cause: unknown) => {
    throw new WeftError('WEFT_ERR_CA_INVALID', `cannot create CA directory ${dir}`, { cause });
  });
  const files = await readCaFiles(dir);

  if (files.anchorPem === undefined) {
    if (files.issuerPem !== undefined) {
      throw new WeftError('WEFT_ERR_CA_INVALID', `${join(dir, CA_FILES.issuer)} exists without ${CA_FILES.anchor}`);
    }
    const material = createCaMaterial({
      trustDomain: opts.trustDomain,
      now: opts.now,
      ...(opts.anchorLifetimeMs === undefined ? {} : { anchorLifetimeMs: opts.anchorLifetimeMs }),
      ...(opts.issuerLifetimeMs === undefined ? {} : { issuerLifetimeMs: opts.issuerLifetimeMs }),
    });
    await writeCaFiles(dir, material);
    return { ...checkCaMaterial(material, opts.now), source: 'created' };
  }

  if (files.issuerPem !== undefined && files.issuerKeyPem === undefined) {
    throw new WeftError('WEFT_ERR_CA_INVALID', `${join(dir, CA_FILES.issuer)} exists without ${CA_FILES.issuerKey}`);
  }
  const renew =
    files.anchorKeyPem !== undefined &&
    issuerNeedsRenewal(files.issuerPem, opts.now, opts.issuerRenewBeforeMs ?? DEFAULT_ISSUER_RENEW_BEFORE_MS);
  if (renew) {
    const material = renewIssuer(
      { anchorPem: files.anchorPem, anchorKeyPem: files.anchorKeyPem },
      {
        trustDomain: opts.trustDomain,
        now: opts.now,
        ...(opts.issuerLifetimeMs === undefined ? {} : { issuerLifetimeMs: opts.issuerLifetimeMs }),
      },
    );
    const checked = checkCaMaterial(material, opts.now);
    await writeCaFiles(dir, material, { only: 'issuer' });
    return { ...checked, source: 'issuer-renewed' };
  }
  if (files.issuerPem === undefined || files.issuerKeyPem === undefined) {
    throw new WeftError(
      'WEFT_ERR_CA_INVALID',
      `${dir} has a trust anchor but no issuer, and no anchor key to create one`,
    );
  }
  const material: CaMaterial = {
    anchorPem: files.anchorPem,
    anchorKeyPem: files.anchorKeyPem,
    issuerPem: files.issuerPem,
    issuerKeyPem: files.issuerKeyPem,
  };
  return { ...checkCaMaterial(material, opts.now), source: 'loaded' };
}
