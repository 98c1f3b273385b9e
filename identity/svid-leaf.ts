// The checks an X.509 SVID leaf must pass whoever verifies the chain (our own
// path building in svid-verify.ts, or OpenSSL during a TLS handshake):
// validity at `now`, not a CA, key usage as the X509-SVID standard requires
// (digitalSignature set, keyCertSign and cRLSign not), an extended key usage
// that allows the peer's role when it lists any, exactly one URI SAN that is
// a SPIFFE ID, the expected trust domain, and optionally the expected ID.
// Pure: time comes in as `now`.

import type { X509Certificate } from 'node:crypto';
import { WeftError } from '../proto/errors.ts';
import { keyUsageOf } from './key-usage.ts';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.ts';
import { uriSans } from './subject-alt-name.ts';

/** The role the certificate's holder plays in TLS: it must be allowed by the extended key usage. */
export type SvidRole = 'client' | 'server';

const EKU_FOR_ROLE: Record<SvidRole, string> = {
  server: '1.3.6.1.5.5.7.3.1',
  client: '1.3.6.1.5.5.7.3.2',
};
const EKU_ANY = '2.5.29.37.0';

export interface SvidLeafCheck {
  now: Date;
  /** When set, the ID's trust domain must be this one (else WEFT_ERR_SVID_UNTRUSTED). */
  trustDomain?: string | undefined;
  /** When set, the ID must be exactly this one (else WEFT_ERR_IDENTITY_MISMATCH). */
  expectedId?: string | undefined;
  /** When set, an extended key usage, if present, must allow this role (else WEFT_ERR_SVID_KEY_USAGE). */
  role?: SvidRole | undefined;
}

export interface SvidLeafIdentity {
  spiffeId: string;
  identity: SpiffeId;
}

/** A short description of a certificate for error messages. */
export function describeCertificate(cert: X509Certificate): string {
  // An SVID may have an empty subject, which Node reports as undefined.
  const subject = cert.subject as string | undefined;
  return subject ? `"${subject.replace(/\n/g, ', ')}"` : `certificate with serial ${cert.serialNumber}`;
}

/** Throws WEFT_ERR_SVID_NOT_YET_VALID / _EXPIRED unless `cert` is valid at `now`. */
export function checkValidAt(cert: X509Certificate, now: Date): void {
  const t = now.getTime();
  if (Number.isNaN(t)) throw new TypeError('now must be a valid Date');
  if (t < cert.validFromDate.getTime()) {
    throw new WeftError(
      'WEFT_ERR_SVID_NOT_YET_VALID',
      `${describeCertificate(cert)} is not valid before ${cert.validFromDate.toISOString()}`,
    );
  }
  if (t > cert.validToDate.getTime()) {
    throw new WeftError('WEFT_ERR_SVID_EXPIRED', `${describeCertificate(cert)} expired at ${cert.validToDate.toISOString()}`);
  }
}

/** The SPIFFE ID of a certificate: its one URI SAN, validated. Throws WEFT_ERR_SVID_SAN / _MALFORMED. */
export function spiffeIdOf(cert: X509Certificate): SvidLeafIdentity {
  const uris = uriSans(cert.subjectAltName);
  if (uris.length !== 1) {
    throw new WeftError(
      'WEFT_ERR_SVID_SAN',
      `an SVID has exactly one URI SAN; ${describeCertificate(cert)} has ${uris.length}`,
    );
  }
  const spiffeId = uris[0] as string;
  try {
    return { spiffeId, identity: parseSpiffeId(spiffeId) };
  } catch (cause) {
    throw new WeftError('WEFT_ERR_SVID_SAN', `the URI SAN of ${describeCertificate(cert)} is not a valid SPIFFE ID`, {
      cause,
    });
  }
}

function checkKeyUsage(cert: X509Certificate, role: SvidRole | undefined): void {
  const usage = keyUsageOf(cert.raw);
  if (usage === undefined) {
    throw new WeftError('WEFT_ERR_SVID_KEY_USAGE', `${describeCertificate(cert)} has no key usage extension`);
  }
  if (!usage.digitalSignature) {
    throw new WeftError('WEFT_ERR_SVID_KEY_USAGE', `${describeCertificate(cert)} does not allow digitalSignature`);
  }
  if (usage.keyCertSign || usage.cRLSign) {
    throw new WeftError('WEFT_ERR_SVID_KEY_USAGE', `${describeCertificate(cert)} may sign certificates or CRLs`);
  }
  // Node's X509Certificate#keyUsage is the extended key usage (undefined when absent).
  const extended = cert.keyUsage as string[] | undefined;
  if (role !== undefined && extended !== undefined && extended.length > 0) {
    if (!extended.includes(EKU_FOR_ROLE[role]) && !extended.includes(EKU_ANY)) {
      throw new WeftError(
        'WEFT_ERR_SVID_KEY_USAGE',
        `${describeCertificate(cert)} is not for TLS ${role}s (extended key usage ${extended.join(', ')})`,
      );
    }
  }
}

/**
 * Checks an SVID leaf (see the file comment). Throws a WeftError:
 * WEFT_ERR_SVID_EXPIRED / _NOT_YET_VALID, WEFT_ERR_SVID_IS_CA,
 * WEFT_ERR_SVID_KEY_USAGE, WEFT_ERR_SVID_SAN, WEFT_ERR_SVID_UNTRUSTED (other
 * trust domain), WEFT_ERR_IDENTITY_MISMATCH.
 */
export function checkSvidLeaf(leaf: X509Certificate, check: SvidLeafCheck): SvidLeafIdentity {
  checkValidAt(leaf, check.now);
  if (leaf.ca) throw new WeftError('WEFT_ERR_SVID_IS_CA', `${describeCertificate(leaf)} is a CA certificate, not an SVID`);
  checkKeyUsage(leaf, check.role);
  const found = spiffeIdOf(leaf);
  if (check.trustDomain !== undefined && found.identity.trustDomain !== check.trustDomain) {
    throw new WeftError(
      'WEFT_ERR_SVID_UNTRUSTED',
      `SVID ${found.spiffeId} is outside the trust domain ${check.trustDomain}`,
    );
  }
  if (check.expectedId !== undefined && found.spiffeId !== check.expectedId) {
    throw new WeftError('WEFT_ERR_IDENTITY_MISMATCH', `peer is ${found.spiffeId}, expected ${check.expectedId}`);
  }
  return found;
}
