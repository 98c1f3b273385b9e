// This proxy's TLS material: its own certificate chain and key, the trust
// anchors it verifies peers against, and the trust domain (that of its own
// SPIFFE ID) outside which no peer is accepted. Shared by the inbound
// listener (server side) and the upstream pool (client side).
import { parseSpiffeId } from '../../identity/spiffe-id.ts';
import { parseCertificate, splitPemCertificates } from '../../identity/svid-verify.ts';
import { uriSans } from '../../identity/subject-alt-name.ts';

export interface TlsMaterial {
  certChainPem: string;
  keyPem: string;
  trustBundlePem: string[];
  /** The trust domain of our own SVID: peers must belong to it. '' when ours has none: no peer is accepted. */
  trustDomain: string;
}

/**
 * The trust domain of the SVID leading `certChainPem`: that of its first URI
 * SAN that is a SPIFFE ID (our own certificate is not ours to judge; peers
 * judge it). '' when it has none, or cannot be read: then no peer can match.
 */
export function trustDomainOf(certChainPem: string): string {
  const leaf = splitPemCertificates(certChainPem)[0];
  if (leaf === undefined) return '';
  let uris: string[];
  try {
    uris = uriSans(parseCertificate(leaf).subjectAltName);
  } catch {
    return '';
  }
  for (const uri of uris) {
    try {
      return parseSpiffeId(uri).trustDomain;
    } catch {
      // not a SPIFFE ID: try the next
    }
  }
  return '';
}
