// The certificates a mesh peer must refuse, each claiming an identity the
// verifier would otherwise accept: one table for every TLS endpoint (inbound,
// outbound, the control-plane channel), each row with the identity code the
// refusal must carry. A self-signed leaf comes from the real `openssl req`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ErrorCode } from '../../proto/errors.ts';
import { createTestPki, type TestPki } from '../../identity/test-pki.ts';

export interface Credential {
  /** Certificate chain, leaf first, as PEM. */
  certChainPem: string;
  keyPem: string;
}

export interface BadSvid {
  name: string;
  /** The identity code of the refusal. */
  code: ErrorCode;
  make(): Credential;
}

const HOUR = 3_600_000;

function credential(leaf: { chainPem: string[]; keyPem: string }): Credential {
  return { certChainPem: leaf.chainPem.join(''), keyPem: leaf.keyPem };
}

/** A self-signed, non-CA certificate with one URI SAN (`spiffeId`) and an SVID's key usages, made by openssl. */
export function selfSignedSvid(spiffeId: string): Credential {
  const dir = mkdtempSync(join(tmpdir(), 'weft-self-signed-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/O=impostor',
      '-addext', `subjectAltName=${spiffeId.startsWith('spiffe://') ? `URI:${spiffeId}` : spiffeId}`,
      '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
      '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
    ], { stdio: 'pipe' });
    return { certChainPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Every way an SVID claiming `spiffeId` (in `pki`'s trust domain) must fail.
 * `role` is the role the holder plays in TLS, for the extended-key-usage row.
 */
export function badSvids(pki: TestPki, spiffeId: string, role: 'client' | 'server'): BadSvid[] {
  const path = spiffeId.replace(/^spiffe:\/\/[^/]+/, '');
  const foreign = (): TestPki => createTestPki();
  return [
    { name: 'a leaf from a foreign CA', code: 'WEFT_ERR_SVID_UNTRUSTED', make: () => credential(foreign().issueLeaf({ spiffeId })) },
    { name: 'a self-signed leaf', code: 'WEFT_ERR_SVID_UNTRUSTED', make: () => selfSignedSvid(spiffeId) },
    {
      name: 'an expired leaf',
      code: 'WEFT_ERR_SVID_EXPIRED',
      make: () => credential(pki.issueLeaf({ spiffeId, notBefore: new Date(Date.now() - 2 * HOUR), notAfter: new Date(Date.now() - HOUR) })),
    },
    {
      name: 'a not-yet-valid leaf',
      code: 'WEFT_ERR_SVID_NOT_YET_VALID',
      make: () => credential(pki.issueLeaf({ spiffeId, notBefore: new Date(Date.now() + HOUR), notAfter: new Date(Date.now() + 2 * HOUR) })),
    },
    {
      name: 'a leaf with two URI SANs',
      code: 'WEFT_ERR_SVID_SAN',
      make: () => credential(pki.issueLeaf({ uris: [spiffeId, `${spiffeId}-other`] })),
    },
    {
      name: 'a leaf with a DNS SAN only',
      code: 'WEFT_ERR_SVID_SAN',
      make: () => credential(pki.issueLeaf({ uris: [], dnsNames: ['web.demo.svc.cluster.local'] })),
    },
    { name: 'a CA certificate', code: 'WEFT_ERR_SVID_IS_CA', make: () => credential(pki.issueLeaf({ spiffeId, isCa: true })) },
    {
      name: 'a leaf from another trust domain',
      code: 'WEFT_ERR_SVID_UNTRUSTED',
      make: () => credential(pki.issueLeaf({ spiffeId: `spiffe://other.example${path}` })),
    },
    {
      name: 'a leaf that may sign certificates (keyCertSign)',
      code: 'WEFT_ERR_SVID_KEY_USAGE',
      make: () => credential(pki.issueLeaf({ spiffeId, keyUsage: { digitalSignature: true, keyCertSign: true } })),
    },
    {
      name: 'a leaf without digitalSignature',
      code: 'WEFT_ERR_SVID_KEY_USAGE',
      make: () => credential(pki.issueLeaf({ spiffeId, keyUsage: { keyEncipherment: true } })),
    },
    {
      name: 'a leaf without a key usage extension',
      code: 'WEFT_ERR_SVID_KEY_USAGE',
      make: () => credential(pki.issueLeaf({ spiffeId, keyUsage: null })),
    },
    {
      name: `a leaf whose extended key usage excludes TLS ${role}s`,
      code: 'WEFT_ERR_SVID_KEY_USAGE',
      make: () => credential(pki.issueLeaf({ spiffeId, extKeyUsage: role === 'client' ? { serverAuth: true } : { clientAuth: true } })),
    },
  ];
}
