// Checks a PKCS#10 certificate signing request (PEM) sent to Identity.Certify
// and returns the one thing the CA takes from it: the public key. The SPIFFE ID
// comes from the authenticated token, never from the CSR; the CSR's subject
// and every other extension are ignored. Checks, cheapest first:
//   size (<= 16 KiB of PEM) -> one PEM block -> DER -> RSA key of 2048..8192
//   bits -> SHA-2 RSA signature that verifies (proof of possession) ->
//   requested extensions: no CA request (basicConstraints CA:TRUE or
//   keyCertSign), and SANs either absent (fine: the ID comes from the token)
//   or exactly one URI SAN equal to the authenticated ID.
// node-forge parses the CSR; it reads only RSA keys, so other key types are
// refused before parsing (the CA's certificate builder encodes only RSA keys).

import { createPublicKey } from 'node:crypto';
import forge from 'node-forge';
import { WeftError, type ErrorCode } from '../proto/errors.ts';

/** Largest CSR accepted, in bytes of PEM text. */
export const CSR_MAX_PEM_BYTES = 16 * 1024;
export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 8192;
const RSA_MIN_EXPONENT = 65537n;
const RSA_MAX_EXPONENT = 2n ** 32n;

const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const SIGNATURE_OIDS: ReadonlySet<string> = new Set([
  '1.2.840.113549.1.1.11', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13', // sha512WithRSAEncryption
]);
const KEY_ALGORITHM_NAMES: Readonly<Record<string, string>> = {
  '1.2.840.10045.2.1': 'EC',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
  '1.2.840.113549.1.1.10': 'RSA-PSS',
  '1.2.840.10040.4.1': 'DSA',
};
const PEM_TYPES: ReadonlySet<string> = new Set(['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);

/** GeneralName tags, as forge reports them. */
const SAN_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'otherName',
  1: 'email',
  2: 'DNS',
  3: 'x400Address',
  4: 'directoryName',
  5: 'ediPartyName',
  6: 'URI',
  7: 'IP',
  8: 'registeredID',
};
const SAN_URI = 6;

interface ForgeExtension {
  id?: string;
  cA?: boolean;
  keyCertSign?: boolean;
  altNames?: { type: number; value?: unknown }[];
}

// forge's typings know only the boolean `strict` argument; forge >= 1.3 takes options.
const fromDer = forge.asn1.fromDer as unknown as (
  bytes: string,
  options: { strict: boolean; parseAllBytes: boolean },
) => forge.asn1.Asn1;

function fail(code: ErrorCode, message: string, cause?: unknown): WeftError {
  return new WeftError(code, message, cause === undefined ? undefined : { cause });
}

/** The SubjectPublicKeyInfo algorithm OID, read from the raw ASN.1 (forge only parses RSA). */
function keyAlgorithmOid(csr: forge.asn1.Asn1): string {
  const child = (node: forge.asn1.Asn1 | undefined, i: number): forge.asn1.Asn1 | undefined =>
    node !== undefined && Array.isArray(node.value) ? node.value[i] : undefined;
  const oid = child(child(child(child(csr, 0), 2), 0), 0);
  if (oid === undefined || oid.type !== forge.asn1.Type.OID || typeof oid.value !== 'string') {
    throw fail('WEFT_ERR_CSR_INVALID', 'CSR is not a PKCS#10 CertificationRequest');
  }
  return forge.asn1.derToOid(oid.value);
}

function parse(csrPem: string): forge.pki.CertificateSigningRequest {
  let blocks: forge.pem.ObjectPEM[];
  try {
    blocks = forge.pem.decode(csrPem);
  } catch (cause) {
    throw fail('WEFT_ERR_CSR_INVALID', 'CSR is not valid PEM', cause);
  }
  const block = blocks[0];
  if (block === undefined || blocks.length !== 1) {
    throw fail('WEFT_ERR_CSR_INVALID', `expected one PEM block, found ${blocks.length}`);
  }
  if (!PEM_TYPES.has(block.type)) throw fail('WEFT_ERR_CSR_INVALID', `PEM block is ${block.type}, not a CERTIFICATE REQUEST`);
  if (block.procType != null || (block.headers?.length ?? 0) > 0) throw fail('WEFT_ERR_CSR_INVALID', 'PEM headers are not allowed');

  let asn: forge.asn1.Asn1;
  try {
    asn = fromDer(block.body, { strict: true, parseAllBytes: true });
  } catch (cause) {
    throw fail('WEFT_ERR_CSR_INVALID', 'CSR is not valid DER', cause);
  }
  const algorithm = keyAlgorithmOid(asn);
  if (algorithm !== OID_RSA_ENCRYPTION) {
    throw fail(
      'WEFT_ERR_CSR_KEY_UNSUPPORTED',
      `CSR key type ${KEY_ALGORITHM_NAMES[algorithm] ?? algorithm} is not supported; use RSA (${RSA_MIN_BITS} bits or more)`,
    );
  }
  try {
    return forge.pki.certificationRequestFromAsn1(asn);
  } catch (cause) {
    throw fail('WEFT_ERR_CSR_INVALID', 'CSR is not a PKCS#10 CertificationRequest', cause);
  }
}

/** Returns the key as SPKI PEM once it is strong enough (and not absurdly large). */
function checkKey(csr: forge.pki.CertificateSigningRequest): string {
  let details: { modulusLength?: number; publicExponent?: bigint } | undefined;
  let publicKeyPem: string;
  try {
    const key = createPublicKey(forge.pki.publicKeyToPem(csr.publicKey as forge.pki.PublicKey));
    details = key.asymmetricKeyDetails;
    publicKeyPem = key.export({ type: 'spki', format: 'pem' }).toString();
  } catch (cause) {
    throw fail('WEFT_ERR_CSR_INVALID', 'CSR public key cannot be read', cause);
  }
  const bits = details?.modulusLength ?? 0;
  const exponent = details?.publicExponent ?? 0n;
  if (bits < RSA_MIN_BITS) throw fail('WEFT_ERR_CSR_KEY_WEAK', `RSA key of ${bits} bits; at least ${RSA_MIN_BITS} required`);
  if (bits > RSA_MAX_BITS) throw fail('WEFT_ERR_CSR_KEY_UNSUPPORTED', `RSA key of ${bits} bits; at most ${RSA_MAX_BITS} accepted`);
  if (exponent % 2n === 0n || exponent < RSA_MIN_EXPONENT) {
    throw fail('WEFT_ERR_CSR_KEY_WEAK', `RSA public exponent ${exponent} is even or below ${RSA_MIN_EXPONENT}`);
  }
  if (exponent >= RSA_MAX_EXPONENT) throw fail('WEFT_ERR_CSR_KEY_UNSUPPORTED', 'RSA public exponent of more than 32 bits');
  return publicKeyPem;
}

function checkSignature(csr: forge.pki.CertificateSigningRequest): void {
  const oid = csr.signatureOid ?? '';
  if (!SIGNATURE_OIDS.has(oid)) {
    throw fail('WEFT_ERR_CSR_SIGNATURE', `CSR signature algorithm ${oid} is not supported; use SHA-256/384/512 with RSA`);
  }
  let ok: boolean;
  try {
    ok = csr.verify();
  } catch (cause) {
    throw fail('WEFT_ERR_CSR_SIGNATURE', 'CSR signature cannot be verified', cause);
  }
  if (!ok) throw fail('WEFT_ERR_CSR_SIGNATURE', 'CSR signature does not match its public key and content');
}

function requestedExtensions(csr: forge.pki.CertificateSigningRequest): ForgeExtension[] {
  const out: ForgeExtension[] = [];
  for (const attr of csr.attributes as unknown as { type?: string; extensions?: ForgeExtension[] }[]) {
    if (attr.type === OID_EXTENSION_REQUEST) out.push(...(attr.extensions ?? []));
  }
  return out;
}

function checkExtensions(csr: forge.pki.CertificateSigningRequest, spiffeId: string): void {
  const extensions = requestedExtensions(csr);
  for (const ext of extensions) {
    if (ext.id === OID_BASIC_CONSTRAINTS && ext.cA === true) {
      throw fail('WEFT_ERR_CSR_CA', 'CSR requests a CA certificate (basicConstraints CA:TRUE)');
    }
    if (ext.id === OID_KEY_USAGE && ext.keyCertSign === true) {
      throw fail('WEFT_ERR_CSR_CA', 'CSR requests a CA certificate (keyUsage keyCertSign)');
    }
  }
  const sans = extensions.filter((e) => e.id === OID_SUBJECT_ALT_NAME);
  if (sans.length === 0) return; // the ID comes from the token
  if (sans.length > 1) throw fail('WEFT_ERR_CSR_SAN', 'CSR carries more than one subjectAltName extension');
  const names = sans[0]?.altNames ?? [];
  const only = names[0];
  if (names.length !== 1 || only === undefined || only.type !== SAN_URI) {
    const kinds = names.map((n) => SAN_TYPE_NAMES[n.type] ?? `type ${n.type}`).join(', ');
    throw fail('WEFT_ERR_CSR_SAN', `CSR SANs must be exactly one URI, the workload's SPIFFE ID; found [${kinds}]`);
  }
  if (only.value !== spiffeId) {
    throw fail('WEFT_ERR_CERTIFY_DENIED', `CSR asks for ${String(only.value)}; the caller is ${spiffeId}`);
  }
}

/**
 * Checks `csrPem` for a workload authenticated as `spiffeId` and returns its
 * public key (SPKI PEM), the only thing the CA uses. Throws a WeftError:
 * WEFT_ERR_CSR_TOO_LARGE, WEFT_ERR_CSR_INVALID (not one parseable PEM CSR),
 * WEFT_ERR_CSR_KEY_UNSUPPORTED (not RSA, > 8192 bits), WEFT_ERR_CSR_KEY_WEAK
 * (< 2048 bits, small or even exponent), WEFT_ERR_CSR_SIGNATURE (bad or
 * non-SHA-2 self-signature), WEFT_ERR_CSR_CA (asks for a CA),
 * WEFT_ERR_CSR_SAN (SANs other than one URI), WEFT_ERR_CERTIFY_DENIED (the
 * URI SAN is another identity).
 */
export function checkCsr(csrPem: string, spiffeId: string): string {
  if (typeof csrPem !== 'string' || csrPem.trim() === '') throw fail('WEFT_ERR_CSR_INVALID', 'CSR is empty');
  const size = Buffer.byteLength(csrPem, 'utf8');
  if (size > CSR_MAX_PEM_BYTES) {
    throw fail('WEFT_ERR_CSR_TOO_LARGE', `CSR of ${size} bytes; at most ${CSR_MAX_PEM_BYTES} accepted`);
  }
  const csr = parse(csrPem);
  const publicKeyPem = checkKey(csr);
  checkSignature(csr);
  checkExtensions(csr, spiffeId);
  return publicKeyPem;
}
