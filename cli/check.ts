// `weft check`: verifies a Weft installation through the Kubernetes API
// (@kubernetes/client-node) and prints a checklist, ✓ / ‼ (warning) / ✗.
// Exit 0 when nothing failed (warnings allowed), 1 on a failure, 2 on bad
// flags. What it looks at, in order (a group whose prerequisite failed is
// still run: every problem shows at once):
//   kubernetes-api  the apiserver answers
//   crds            both SMI CRDs exist, are Established and serve v1alpha1..v1alpha4
//   namespace       weft-system
//   rbac            ServiceAccounts, (Cluster)Roles and bindings exist; each
//                   ServiceAccount is allowed exactly what deploy/rbac.ts grants
//                   (SubjectAccessReview per rule) and cannot read Secrets
//                   outside weft-system
//   identity        Secret weft-identity holds a CA valid now; ConfigMap
//                   weft-trust-bundle parses and holds its trust anchor
//   injector        the serving certificate is valid for the Service's name and
//                   the webhook's caBundle verifies it
//   workloads       Services and Deployments exist; Deployments available
//                   (without nodes: a warning, unless --wait)
import { X509Certificate } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  VersionApi,
  type V1Deployment,
} from '@kubernetes/client-node';
import { checkCaMaterial, type CaMaterial } from '../control-plane/ca-material.ts';
import {
  CONTROL_PLANE,
  CRD_NAMES,
  IDENTITY_SECRET,
  IDENTITY_SECRET_KEYS,
  INJECTOR,
  INJECTOR_TLS_SECRET,
  MESH_NAMESPACE,
  PORT,
  SMI_VERSIONS,
  ACCESS_VERSIONS,
  TRUST_BUNDLE_CONFIGMAP,
  TRUST_BUNDLE_KEY,
  WEBHOOK_CONFIGURATION,
  WEBHOOK_NAME,
  WEBHOOK_PATH,
} from '../deploy/names.ts';
import {
  CONTROL_PLANE_CLUSTER_RULES,
  CONTROL_PLANE_NAMESPACE_RULES,
  INJECTOR_CLUSTER_RULES,
  type PolicyRule,
} from '../deploy/rbac.ts';
import { injectorDnsNames, signedBy } from '../deploy/pki.ts';
import { weftVersion, type Io } from './install.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  group: string;
  name: string;
  status: CheckStatus;
  /** What was found (version, expiry, what is missing). */
  detail?: string;
}

export const CHECK_USAGE = 'weft check [--kubeconfig FILE] [--context NAME] [--wait SECONDS] [--output text|json]';

const DAY_MS = 24 * 3_600_000;
/** The injector certificate and a non-renewable issuer warn this long before they expire. */
export const EXPIRY_WARNING_MS = 60 * DAY_MS;
const REQUEST_TIMEOUT_MS = 15_000;

export interface CheckOptions {
  /** Wait up to this long for the Deployments to become available (0: look once). */
  waitMs: number;
  /** Unix ms, for certificate validity. */
  now: number;
  /** Told of each result as it comes (the text output streams). */
  onResult?: (r: CheckResult) => void;
}

function statusCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
}

function describeError(err: unknown): string {
  const code = statusCode(err);
  if (code === 404) return 'not found';
  if (code === 403) return 'forbidden (does your kubeconfig user have read access?)';
  const body = (err as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      const msg = (JSON.parse(body) as { message?: unknown }).message;
      if (typeof msg === 'string') return `HTTP ${code}: ${msg}`;
    } catch {
      // not JSON
    }
  }
  return code !== undefined ? `HTTP ${code}` : (err as Error).message;
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${REQUEST_TIMEOUT_MS / 1000} s`)), REQUEST_TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** base64 (as the API sends bytes) or PEM text -> PEM text. */
function pemOf(v: string | undefined): string | undefined {
  if (v === undefined || v === '') return undefined;
  return v.includes('-----BEGIN') ? v : Buffer.from(v, 'base64').toString('utf8');
}

/** Every certificate of a PEM bundle (throws on a malformed one). */
export function parseBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

function days(ms: number): string {
  return `${Math.floor(ms / DAY_MS)} days`;
}

/** The checks of an injector serving certificate against its CA and the webhook's caBundle. */
export function checkInjectorCert(
  certPem: string,
  caPem: string | undefined,
  caBundlePem: string | undefined,
  now: number,
): { cert: CheckResult; bundle: CheckResult } {
  const group = 'injector';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    const bad: CheckResult = { group, name: 'serving certificate parses', status: 'fail', detail: (err as Error).message };
    return { cert: bad, bundle: { group, name: 'webhook caBundle verifies the serving certificate', status: 'fail', detail: 'no certificate' } };
  }
  const names = (cert.subjectAltName ?? '').split(/,\s*/).map((s) => s.replace(/^DNS:/, ''));
  const wanted = injectorDnsNames()[0] as string;
  let certResult: CheckResult;
  const notAfter = cert.validToDate.getTime();
  if (!names.includes(wanted)) {
    certResult = { group, name: 'serving certificate', status: 'fail', detail: `not valid for ${wanted} (SANs: ${cert.subjectAltName ?? 'none'})` };
  } else if (now < cert.validFromDate.getTime() || now >= notAfter) {
    certResult = { group, name: 'serving certificate', status: 'fail', detail: `not valid now (${cert.validFrom} .. ${cert.validTo})` };
  } else if (caPem !== undefined && !signedBy(certPem, caPem)) {
    certResult = { group, name: 'serving certificate', status: 'fail', detail: 'not signed by the ca.crt of its Secret' };
  } else if (notAfter - now < EXPIRY_WARNING_MS) {
    certResult = {
      group,
      name: 'serving certificate',
      status: 'warn',
      detail: `expires in ${days(notAfter - now)} (${cert.validTo}): re-run weft install with your --identity-* flags`,
    };
  } else {
    certResult = { group, name: 'serving certificate', status: 'ok', detail: `${wanted}, expires ${cert.validToDate.toISOString().slice(0, 10)}` };
  }
  let bundle: CheckResult;
  if (caBundlePem === undefined) {
    bundle = { group, name: 'webhook caBundle verifies the serving certificate', status: 'fail', detail: 'caBundle is empty' };
  } else {
    let cas: X509Certificate[] = [];
    try {
      cas = parseBundle(caBundlePem);
    } catch (err) {
      bundle = { group, name: 'webhook caBundle verifies the serving certificate', status: 'fail', detail: `caBundle: ${(err as Error).message}` };
      return { cert: certResult, bundle };
    }
    const ok = cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
    bundle = ok
      ? { group, name: 'webhook caBundle verifies the serving certificate', status: 'ok' }
      : {
          group,
          name: 'webhook caBundle verifies the serving certificate',
          status: 'fail',
          detail: `none of its ${cas.length} certificate(s) signed it: the apiserver cannot call the injector`,
        };
  }
  return { cert: certResult, bundle };
}

/** The CA of Secret weft-identity (PEM text per key) checked at `now`. */
export function checkIdentity(data: Record<string, string | undefined>, now: number): CheckResult {
  const group = 'identity';
  const name = `Secret ${IDENTITY_SECRET} holds a valid CA`;
  const anchorPem = data[IDENTITY_SECRET_KEYS.anchor];
  const issuerPem = data[IDENTITY_SECRET_KEYS.issuer];
  const issuerKeyPem = data[IDENTITY_SECRET_KEYS.issuerKey];
  const missing = [
    [IDENTITY_SECRET_KEYS.anchor, anchorPem],
    [IDENTITY_SECRET_KEYS.issuer, issuerPem],
    [IDENTITY_SECRET_KEYS.issuerKey, issuerKeyPem],
  ].filter(([, v]) => v === undefined).map(([k]) => k);
  if (anchorPem === undefined || issuerPem === undefined || issuerKeyPem === undefined) {
    return { group, name, status: 'fail', detail: `missing keys: ${missing.join(', ')}` };
  }
  const material: CaMaterial = { anchorPem, anchorKeyPem: data[IDENTITY_SECRET_KEYS.anchorKey], issuerPem, issuerKeyPem };
  try {
    const ca = checkCaMaterial(material, now);
    const left = ca.issuerNotAfterUnixMs - now;
    const renewable = material.anchorKeyPem !== undefined;
    const detail = `issuer expires ${new Date(ca.issuerNotAfterUnixMs).toISOString().slice(0, 10)}, anchor ${new Date(ca.anchorNotAfterUnixMs).toISOString().slice(0, 10)}`;
    if (!renewable && left < EXPIRY_WARNING_MS) {
      return { group, name, status: 'warn', detail: `${detail}: the issuer expires in ${days(left)} and without the anchor key the control plane cannot renew it` };
    }
    return { group, name, status: 'ok', detail: `${detail}${renewable ? '; the control plane renews the issuer' : ''}` };
  } catch (err) {
    return { group, name, status: 'fail', detail: (err as Error).message };
  }
}

/** The trust bundle must parse and contain the installed trust anchor. */
export function checkTrustBundle(bundlePem: string | undefined, anchorPem: string | undefined, now: number): CheckResult {
  const group = 'identity';
  const name = `ConfigMap ${TRUST_BUNDLE_CONFIGMAP} holds the trust anchor`;
  if (bundlePem === undefined) return { group, name, status: 'fail', detail: `no key ${TRUST_BUNDLE_KEY}` };
  let certs: X509Certificate[];
  try {
    certs = parseBundle(bundlePem);
  } catch (err) {
    return { group, name, status: 'fail', detail: `${TRUST_BUNDLE_KEY} does not parse: ${(err as Error).message}` };
  }
  if (certs.length === 0) return { group, name, status: 'fail', detail: `${TRUST_BUNDLE_KEY} holds no certificate` };
  const expired = certs.filter((c) => c.validToDate.getTime() <= now);
  if (expired.length === certs.length) return { group, name, status: 'fail', detail: 'every certificate in it has expired' };
  if (anchorPem !== undefined) {
    let anchor: X509Certificate;
    try {
      anchor = new X509Certificate(anchorPem);
    } catch {
      return { group, name, status: 'fail', detail: 'the Secret\'s trust anchor does not parse' };
    }
    if (!certs.some((c) => c.fingerprint256 === anchor.fingerprint256)) {
      return { group, name, status: 'fail', detail: `the trust anchor of Secret ${IDENTITY_SECRET} is not in it: proxies would not trust the control plane` };
    }
  }
  return { group, name, status: 'ok', detail: `${certs.length} certificate(s)` };
}

/** Why a Deployment is not available, from its status conditions. */
function unavailableReason(d: V1Deployment): string {
  const conds = d.status?.conditions ?? [];
  const bad = conds.find((c) => c.type === 'Available' && c.status !== 'True') ?? conds.find((c) => c.status !== 'True');
  const replicas = `${d.status?.availableReplicas ?? 0}/${d.spec?.replicas ?? 1} available`;
  return bad?.message !== undefined ? `${replicas}: ${bad.message}` : replicas;
}

interface SarSubject {
  user: string;
  groups: string[];
}

function serviceAccountSubject(name: string): SarSubject {
  return {
    user: `system:serviceaccount:${MESH_NAMESPACE}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${MESH_NAMESPACE}`, 'system:authenticated'],
  };
}

interface Permission {
  group: string;
  resource: string;
  subresource?: string;
  verb: string;
  namespace?: string;
  name?: string;
}

/** Every (verb, resource[, name]) a rule grants, as SubjectAccessReview attributes. */
export function permissionsOf(rules: readonly PolicyRule[], namespace?: string): Permission[] {
  const out: Permission[] = [];
  for (const r of rules) {
    for (const group of r.apiGroups) {
      for (const res of r.resources) {
        const [resource, subresource] = res.split('/') as [string, string | undefined];
        for (const verb of r.verbs) {
          const names = r.resourceNames ?? [undefined];
          for (const name of names) {
            out.push({
              group,
              resource,
              verb,
              ...(subresource !== undefined ? { subresource } : {}),
              ...(namespace !== undefined ? { namespace } : {}),
              ...(name !== undefined ? { name } : {}),
            });
          }
        }
      }
    }
  }
  return out;
}

function describePermission(p: Permission): string {
  const res = `${p.resource}${p.subresource !== undefined ? `/${p.subresource}` : ''}${p.group !== '' ? `.${p.group}` : ''}`;
  return `${p.verb} ${res}${p.name !== undefined ? `/${p.name}` : ''}${p.namespace !== undefined ? ` in ${p.namespace}` : ''}`;
}

export async function runChecks(kc: KubeConfig, opts: CheckOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (r: CheckResult): void => {
    results.push(r);
    opts.onResult?.(r);
  };
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const rbacApi = kc.makeApiClient(RbacAuthorizationV1Api);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const adm = kc.makeApiClient(AdmissionregistrationV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);

  // kubernetes-api
  try {
    const v = await withTimeout(kc.makeApiClient(VersionApi).getCode(), 'GET /version');
    add({ group: 'kubernetes-api', name: 'can reach the Kubernetes API', status: 'ok', detail: `${v.gitVersion} at ${kc.getCurrentCluster()?.server ?? '?'}` });
  } catch (err) {
    add({ group: 'kubernetes-api', name: 'can reach the Kubernetes API', status: 'fail', detail: `${kc.getCurrentCluster()?.server ?? '(no cluster)'}: ${describeError(err)}` });
    return results; // nothing else can be looked at
  }

  /** Reads one object; on failure adds a failed check named `name` and returns undefined. */
  async function read<T>(group: string, name: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await withTimeout(fn(), name);
    } catch (err) {
      add({ group, name, status: 'fail', detail: describeError(err) });
      return undefined;
    }
  }

  // crds
  const crdVersions: Array<[string, readonly string[]]> = [
    [CRD_NAMES.trafficSplit, SMI_VERSIONS],
    [CRD_NAMES.httpRouteGroup, SMI_VERSIONS],
    [CRD_NAMES.tcpRoute, SMI_VERSIONS],
    [CRD_NAMES.trafficTarget, ACCESS_VERSIONS],
  ];
  for (const [crdName, versions] of crdVersions) {
    const name = `CRD ${crdName}`;
    const crd = await read('crds', name, () => ext.readCustomResourceDefinition({ name: crdName }));
    if (crd === undefined) continue;
    const established = crd.status?.conditions?.find((c) => c.type === 'Established')?.status === 'True';
    const served = crd.spec.versions.filter((v) => v.served).map((v) => v.name);
    const missing = versions.filter((v) => !served.includes(v));
    const storage = crd.spec.versions.find((v) => v.storage)?.name ?? '?';
    if (!established) add({ group: 'crds', name, status: 'fail', detail: 'not Established' });
    else if (missing.length > 0) add({ group: 'crds', name, status: 'fail', detail: `does not serve ${missing.join(', ')}` });
    else add({ group: 'crds', name, status: 'ok', detail: `serves ${served.join(', ')}; stores ${storage}` });
  }

  // namespace
  const ns = await read('namespace', `Namespace ${MESH_NAMESPACE}`, () => core.readNamespace({ name: MESH_NAMESPACE }));
  if (ns !== undefined) add({ group: 'namespace', name: `Namespace ${MESH_NAMESPACE}`, status: 'ok' });

  // rbac: objects
  for (const sa of [CONTROL_PLANE, INJECTOR]) {
    const name = `ServiceAccount ${sa}`;
    if ((await read('rbac', name, () => core.readNamespacedServiceAccount({ name: sa, namespace: MESH_NAMESPACE }))) !== undefined) {
      add({ group: 'rbac', name, status: 'ok' });
    }
  }
  const rbacObjects: [string, () => Promise<unknown>][] = [
    [`ClusterRole ${CONTROL_PLANE}`, () => rbacApi.readClusterRole({ name: CONTROL_PLANE })],
    [`ClusterRoleBinding ${CONTROL_PLANE}`, () => rbacApi.readClusterRoleBinding({ name: CONTROL_PLANE })],
    [`Role ${MESH_NAMESPACE}/${CONTROL_PLANE}`, () => rbacApi.readNamespacedRole({ name: CONTROL_PLANE, namespace: MESH_NAMESPACE })],
    [`RoleBinding ${MESH_NAMESPACE}/${CONTROL_PLANE}`, () => rbacApi.readNamespacedRoleBinding({ name: CONTROL_PLANE, namespace: MESH_NAMESPACE })],
    [`ClusterRole ${INJECTOR}`, () => rbacApi.readClusterRole({ name: INJECTOR })],
    [`ClusterRoleBinding ${INJECTOR}`, () => rbacApi.readClusterRoleBinding({ name: INJECTOR })],
  ];
  let allThere = true;
  for (const [name, fn] of rbacObjects) if ((await read('rbac', name, fn)) === undefined) allThere = false;
  if (allThere) add({ group: 'rbac', name: 'ClusterRoles, Role and their bindings', status: 'ok' });

  // rbac: what each ServiceAccount may do, asked of the authorizer itself
  const allowed = async (subject: SarSubject, p: Permission): Promise<boolean> => {
    const review = await withTimeout(
      authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: subject.user,
            groups: subject.groups,
            resourceAttributes: {
              group: p.group,
              resource: p.resource,
              verb: p.verb,
              ...(p.subresource !== undefined ? { subresource: p.subresource } : {}),
              ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
              ...(p.name !== undefined ? { name: p.name } : {}),
            },
          },
        },
      }),
      'SubjectAccessReview',
    );
    return review.status?.allowed === true;
  };
  const grants: [string, Permission[]][] = [
    [CONTROL_PLANE, [...permissionsOf(CONTROL_PLANE_CLUSTER_RULES), ...permissionsOf(CONTROL_PLANE_NAMESPACE_RULES, MESH_NAMESPACE)]],
    [INJECTOR, permissionsOf(INJECTOR_CLUSTER_RULES)],
  ];
  for (const [sa, perms] of grants) {
    const name = `${sa} may do what it needs`;
    try {
      const subject = serviceAccountSubject(sa);
      const denied: Permission[] = [];
      for (const p of perms) if (!(await allowed(subject, p))) denied.push(p);
      add(
        denied.length === 0
          ? { group: 'rbac', name, status: 'ok', detail: `${perms.length} permissions` }
          : { group: 'rbac', name, status: 'fail', detail: `denied: ${denied.map(describePermission).join('; ')}` },
      );
      const secretsElsewhere: Permission = { group: '', resource: 'secrets', verb: 'get', namespace: 'default', name: 'any' };
      const tooMuch = await allowed(subject, secretsElsewhere);
      add(
        tooMuch
          ? { group: 'rbac', name: `${sa} cannot read Secrets outside ${MESH_NAMESPACE}`, status: 'warn', detail: 'it can: some other binding grants more than Weft needs' }
          : { group: 'rbac', name: `${sa} cannot read Secrets outside ${MESH_NAMESPACE}`, status: 'ok' },
      );
    } catch (err) {
      add({ group: 'rbac', name, status: 'fail', detail: `SubjectAccessReview: ${describeError(err)}` });
    }
  }

  // identity
  let anchorPem: string | undefined;
  const idSecret = await read('identity', `Secret ${IDENTITY_SECRET} holds a valid CA`, () =>
    core.readNamespacedSecret({ name: IDENTITY_SECRET, namespace: MESH_NAMESPACE }),
  );
  if (idSecret !== undefined) {
    const data: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(idSecret.data ?? {})) data[k] = pemOf(v);
    anchorPem = data[IDENTITY_SECRET_KEYS.anchor];
    add(checkIdentity(data, opts.now));
  }
  const bundleName = `ConfigMap ${TRUST_BUNDLE_CONFIGMAP} holds the trust anchor`;
  const bundle = await read('identity', bundleName, () =>
    core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: MESH_NAMESPACE }),
  );
  if (bundle !== undefined) add(checkTrustBundle(bundle.data?.[TRUST_BUNDLE_KEY], anchorPem, opts.now));

  // injector
  const tlsName = `Secret ${INJECTOR_TLS_SECRET}`;
  const tls = await read('injector', tlsName, () => core.readNamespacedSecret({ name: INJECTOR_TLS_SECRET, namespace: MESH_NAMESPACE }));
  const webhookName = `MutatingWebhookConfiguration ${WEBHOOK_CONFIGURATION}`;
  const mwc = await read('injector', webhookName, () => adm.readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION }));
  const hook = mwc?.webhooks?.find((w) => w.name === WEBHOOK_NAME);
  if (mwc !== undefined) {
    const svc = hook?.clientConfig.service;
    if (hook === undefined) add({ group: 'injector', name: webhookName, status: 'fail', detail: `no webhook named ${WEBHOOK_NAME}` });
    else if (svc?.name !== INJECTOR || svc.namespace !== MESH_NAMESPACE || (svc.path ?? '/') !== WEBHOOK_PATH) {
      add({ group: 'injector', name: webhookName, status: 'fail', detail: `calls ${svc === undefined ? hook.clientConfig.url ?? '?' : `${svc.namespace}/${svc.name}${svc.path ?? ''}`}, not ${MESH_NAMESPACE}/${INJECTOR}${WEBHOOK_PATH}` });
    } else {
      add({ group: 'injector', name: webhookName, status: 'ok', detail: `pods CREATE -> ${MESH_NAMESPACE}/${INJECTOR}${WEBHOOK_PATH}, failurePolicy ${hook.failurePolicy ?? 'Fail'}` });
    }
  }
  if (tls !== undefined) {
    const certPem = pemOf(tls.data?.['tls.crt']);
    if (certPem === undefined) add({ group: 'injector', name: tlsName, status: 'fail', detail: 'no tls.crt' });
    else {
      const r = checkInjectorCert(certPem, pemOf(tls.data?.['ca.crt']), pemOf(hook?.clientConfig.caBundle), opts.now);
      add(r.cert);
      if (hook !== undefined) add(r.bundle);
    }
  }

  // workloads: Services
  const wantedPorts: [string, number[]][] = [
    [CONTROL_PLANE, [PORT.controlPlaneGrpc, PORT.controlPlaneAdmin]],
    [INJECTOR, [PORT.injectorService]],
  ];
  for (const [svcName, ports] of wantedPorts) {
    const name = `Service ${svcName}`;
    const svc = await read('workloads', name, () => core.readNamespacedService({ name: svcName, namespace: MESH_NAMESPACE }));
    if (svc === undefined) continue;
    const have = (svc.spec?.ports ?? []).map((p) => p.port);
    const missing = ports.filter((p) => !have.includes(p));
    add(missing.length === 0
      ? { group: 'workloads', name, status: 'ok', detail: `ports ${have.join(', ')}` }
      : { group: 'workloads', name, status: 'fail', detail: `missing ports ${missing.join(', ')}` });
  }

  // workloads: Deployments
  const deadline = Date.now() + opts.waitMs;
  let nodeCount: number | undefined;
  for (const depName of [CONTROL_PLANE, INJECTOR]) {
    const name = `Deployment ${depName}`;
    let d = await read('workloads', name, () => apps.readNamespacedDeployment({ name: depName, namespace: MESH_NAMESPACE }));
    if (d === undefined) continue;
    while ((d.status?.availableReplicas ?? 0) < 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2000));
      d = (await read('workloads', name, () => apps.readNamespacedDeployment({ name: depName, namespace: MESH_NAMESPACE }))) ?? d;
    }
    const version = d.metadata?.labels?.['app.kubernetes.io/version'];
    const image = d.spec?.template.spec?.containers[0]?.image ?? '?';
    if ((d.status?.availableReplicas ?? 0) >= 1) {
      add({ group: 'workloads', name, status: 'ok', detail: `available, ${image}` });
    } else {
      nodeCount ??= await withTimeout(core.listNode(), 'list nodes').then((l) => l.items.length, () => -1);
      const reason = unavailableReason(d);
      if (nodeCount === 0 && opts.waitMs === 0) {
        add({ group: 'workloads', name, status: 'warn', detail: `not available (no nodes?): ${reason}` });
      } else {
        add({ group: 'workloads', name, status: 'fail', detail: `not available${opts.waitMs > 0 ? ` after ${opts.waitMs / 1000} s` : ' (still starting? weft check --wait 300)'}: ${reason}` });
      }
    }
    const cli = weftVersion();
    if (version !== undefined && version !== cli) {
      add({ group: 'workloads', name: `${depName} runs this CLI's version`, status: 'warn', detail: `installed ${version}, CLI ${cli}` });
    }
  }
  return results;
}

const MARK: Record<CheckStatus, string> = { ok: '✓', warn: '‼', fail: '✗' };

export function formatResult(r: CheckResult): string {
  return `${MARK[r.status]} ${r.name}${r.detail !== undefined ? ` (${r.detail})` : ''}\n`;
}

export function summary(results: readonly CheckResult[]): string {
  const fails = results.filter((r) => r.status === 'fail').length;
  const warns = results.filter((r) => r.status === 'warn').length;
  const counts = `${results.length} checks, ${fails} failed, ${warns} warning${warns === 1 ? '' : 's'}`;
  return fails === 0 ? `\nStatus check results are ${MARK.ok} (${counts})\n` : `\nStatus check results are ${MARK.fail} (${counts})\n`;
}

/** `weft check ARGS`: the exit code (0 all passed, 1 a check failed, 2 bad flags or kubeconfig). */
export async function checkMain(argv: readonly string[], io: Io = process): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        wait: { type: 'string', default: '0' },
        output: { type: 'string', default: 'text' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    io.stderr.write(`weft check: ${(err as Error).message}\nusage: ${CHECK_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(`usage: ${CHECK_USAGE}\n`);
    return 0;
  }
  const wait = Number(values.wait);
  if (!Number.isFinite(wait) || wait < 0 || (values.output !== 'text' && values.output !== 'json')) {
    io.stderr.write(`weft check: --wait takes seconds, --output text or json\nusage: ${CHECK_USAGE}\n`);
    return 2;
  }
  const kc = new KubeConfig();
  try {
    if (values.kubeconfig !== undefined) kc.loadFromFile(values.kubeconfig);
    else kc.loadFromDefault();
    if (values.context !== undefined) kc.setCurrentContext(values.context);
    if (kc.getCurrentCluster() === null) throw new Error('no current cluster in the kubeconfig');
  } catch (err) {
    io.stderr.write(`weft check: cannot load the kubeconfig: ${(err as Error).message}\n`);
    return 2;
  }
  const text = values.output === 'text';
  let group = '';
  const results = await runChecks(kc, {
    waitMs: wait * 1000,
    now: Date.now(),
    onResult: (r) => {
      if (!text) return;
      if (r.group !== group) {
        io.stdout.write(`${group === '' ? '' : '\n'}${r.group}\n${'-'.repeat(r.group.length)}\n`);
        group = r.group;
      }
      io.stdout.write(formatResult(r));
    },
  });
  io.stdout.write(text ? summary(results) : `${JSON.stringify({ results }, null, 2)}\n`);
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}
