// Verifies the SVID of a TLS peer, on either side of a handshake, with the
// same rules: OpenSSL checks the chain against the trust bundle of the TLS
// context (names, signatures, validity of every certificate, purpose), and
// checkSvidLeaf the SVID itself (validity, not a CA, key usage, one SPIFFE
// URI SAN in the trust domain, the expected ID when there is one).
//
// Server side: the socket must come from a tls.Server with requestCert and
// rejectUnauthorized: false, so that the verdict (and the reason) is ours to
// give; Node only *records* OpenSSL's chain verdict in `authorized` /
// `authorizationError`. A bare `new tls.TLSSocket({ isServer: true })` records
// nothing and must not be used to accept peers.
// Client side: tls.connect with rejectUnauthorized: true and
// checkServerIdentity: (host, cert) => checkServerSvid(cert, ...).

import type { PeerCertificate, TLSSocket } from 'node:tls';
import { WeftError, type ErrorCode } from '../proto/errors.ts';
import { parseCertificate } from './svid-verify.ts';
import { checkSvidLeaf, type SvidLeafIdentity } from './svid-leaf.ts';

export interface PeerCheck {
  /** The mesh's trust domain: SVIDs of any other are refused. */
  trustDomain: string;
  /** Wall-clock time of the check. */
  now: Date;
  /** When set, the peer must present exactly this SPIFFE ID. */
  expectedId?: string | undefined;
}

/** OpenSSL's verification errors (as Node names them) mapped to identity codes; others are UNTRUSTED. */
const OPENSSL_CODES: Readonly<Record<string, ErrorCode>> = {
  CERT_HAS_EXPIRED: 'WEFT_ERR_SVID_EXPIRED',
  CERT_NOT_YET_VALID: 'WEFT_ERR_SVID_NOT_YET_VALID',
  INVALID_PURPOSE: 'WEFT_ERR_SVID_KEY_USAGE',
};

/** The identity code for an OpenSSL chain verification error (e.g. 'CERT_HAS_EXPIRED'). */
export function chainErrorCode(opensslCode: string): ErrorCode {
  return OPENSSL_CODES[opensslCode] ?? 'WEFT_ERR_SVID_UNTRUSTED';
}

/**
 * Verifies a TLS client's SVID after the handshake (see the file comment).
 * Throws a WeftError: WEFT_ERR_SVID_MISSING (no certificate), a chain error
 * (chainErrorCode), or a checkSvidLeaf code.
 */
export function verifyTlsClient(socket: TLSSocket, check: PeerCheck): SvidLeafIdentity {
  const leaf = socket.getPeerX509Certificate();
  if (leaf === undefined) throw new WeftError('WEFT_ERR_SVID_MISSING', 'the client presented no certificate');
  if (!socket.authorized) {
    const reason = socket.authorizationError as unknown;
    const opensslCode = reason instanceof Error ? ((reason as { code?: string }).code ?? reason.message) : String(reason);
    throw new WeftError(chainErrorCode(opensslCode), `client certificate chain refused: ${opensslCode}`);
  }
  return checkSvidLeaf(leaf, { now: check.now, trustDomain: check.trustDomain, expectedId: check.expectedId, role: 'client' });
}

/**
 * For tls.connect's checkServerIdentity (OpenSSL has verified the chain): the
 * server's SVID leaf, checked; an Error (a WeftError with an identity code)
 * ends the handshake, undefined accepts it.
 */
export function checkServerSvid(cert: PeerCertificate, check: PeerCheck): Error | undefined {
  try {
    if (cert.raw === undefined) return new WeftError('WEFT_ERR_SVID_MISSING', 'the server presented no certificate');
    checkSvidLeaf(parseCertificate(cert.raw), {
      now: check.now,
      trustDomain: check.trustDomain,
      expectedId: check.expectedId,
      role: 'server',
    });
    return undefined;
  } catch (err) {
    return err instanceof Error ? err : new WeftError('WEFT_ERR_SVID_MALFORMED', String(err));
  }
}
