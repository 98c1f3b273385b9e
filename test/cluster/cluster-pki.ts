// Certificates and keys for a test cluster: one CA that signs the apiserver's
// serving certificate and the client certificates (admin in system:masters),
// and the ServiceAccount token signing key. Keys come from Node's crypto (fast);
// node-forge assembles and signs the certificates. Test-only.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface KeyPem {
  /** PKCS#1 RSA private key PEM. */
  keyPem: string;
  /** PKIX (SPKI) public key PEM. */
  publicKeyPem: string;
}

export interface CertAndKey extends KeyPem {
  certPem: string;
}

export interface ClusterPki {
  ca: CertAndKey;
  /** Serving certificate of the apiserver (127.0.0.1, localhost, kubernetes.default.svc...). */
  apiserver: CertAndKey;
  /** CN=weft-admin, O=system:masters. */
  admin: CertAndKey;
  /** The ServiceAccount token signing key (RS256). */
  serviceAccount: KeyPem;
}

export function generateRsaKey(modulusLength = 2048): KeyPem {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength });
  return {
    keyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

interface CertRequest {
  commonName: string;
  organizations?: readonly string[];
  key: KeyPem;
  /** Absent: self-signed. */
  issuer?: CertAndKey;
  isCa?: boolean;
  serverAuth?: boolean;
  clientAuth?: boolean;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
}

function serialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive
  return bytes.toString('hex');
}

function signCert(req: CertRequest): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(req.key.publicKeyPem);
  cert.serialNumber = serialHex();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now + 365 * 24 * 60 * 60 * 1000);
  const subject: forge.pki.CertificateField[] = [
    ...(req.organizations ?? []).map((o) => ({ name: 'organizationName', value: o })),
    { name: 'commonName', value: req.commonName },
  ];
  cert.setSubject(subject);
  const issuerCert = req.issuer ? forge.pki.certificateFromPem(req.issuer.certPem) : undefined;
  cert.setIssuer(issuerCert ? issuerCert.subject.attributes : subject);

  const extensions: object[] = [
    { name: 'basicConstraints', cA: req.isCa === true, critical: true },
    req.isCa
      ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ];
  if (req.serverAuth || req.clientAuth) {
    extensions.push({ name: 'extKeyUsage', serverAuth: req.serverAuth === true, clientAuth: req.clientAuth === true });
  }
  const altNames = [
    ...(req.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(req.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  if (altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames });
  if (issuerCert) {
    extensions.push({
      name: 'authorityKeyIdentifier',
      keyIdentifier: issuerCert.generateSubjectKeyIdentifier().getBytes(),
    });
  }
  cert.setExtensions(extensions);
  const signingKey = forge.pki.privateKeyFromPem((req.issuer ?? req.key).keyPem);
  cert.sign(signingKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

export interface ClusterPkiOptions {
  /** Extra SANs for the serving certificate. */
  extraDnsNames?: readonly string[];
  extraIpAddresses?: readonly string[];
}

export function createClusterPki(opts: ClusterPkiOptions = {}): ClusterPki {
  const caKey = generateRsaKey();
  const ca: CertAndKey = { ...caKey, certPem: signCert({ commonName: 'weft-test-cluster-ca', key: caKey, isCa: true }) };
  const serverKey = generateRsaKey();
  const apiserver: CertAndKey = {
    ...serverKey,
    certPem: signCert({
      commonName: 'kube-apiserver',
      key: serverKey,
      issuer: ca,
      serverAuth: true,
      dnsNames: [
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
        ...(opts.extraDnsNames ?? []),
      ],
      ipAddresses: ['127.0.0.1', ...(opts.extraIpAddresses ?? [])],
    }),
  };
  const adminKey = generateRsaKey();
  const admin: CertAndKey = {
    ...adminKey,
    certPem: signCert({
      commonName: 'weft-admin',
      organizations: ['system:masters'],
      key: adminKey,
      issuer: ca,
      clientAuth: true,
    }),
  };
  return { ca, apiserver, admin, serviceAccount: generateRsaKey() };
}

/** Issues a serving certificate from the cluster CA (e.g. the real node's kubelet). */
export function issueServingCert(ca: CertAndKey, commonName: string, ipAddresses: readonly string[], dnsNames: readonly string[] = []): CertAndKey {
  const key = generateRsaKey();
  return { ...key, certPem: signCert({ commonName, key, issuer: ca, serverAuth: true, ipAddresses: [...ipAddresses], dnsNames: [...dnsNames] }) };
}

/** Issues a client certificate from the cluster CA (e.g. a less privileged user for RBAC tests). */
export function issueClientCert(ca: CertAndKey, user: string, groups: readonly string[] = []): CertAndKey {
  const key = generateRsaKey();
  return { ...key, certPem: signCert({ commonName: user, organizations: groups, key, issuer: ca, clientAuth: true }) };
}

/**
 * The `kid` the apiserver puts in the tokens it signs: base64url(sha256(DER
 * PKIX public key)), as in k8s.io/kubernetes/pkg/serviceaccount/jwt.go.
 */
export function serviceAccountKeyId(publicKeyPem: string): string {
  const der = Buffer.from(
    publicKeyPem
      .replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '')
      .replace(/\s+/g, ''),
    'base64',
  );
  return createHash('sha256').update(der).digest('base64url');
}
