// Everything `weft install` applies, as plain objects in apply order: CRDs,
// the namespace, RBAC, the key material (identity CA, trust bundle, injector
// serving certificate), the Services and Deployments, and last the webhook
// configuration (so it never points at an injector that does not exist yet).
// renderInstall is pure given its material; installMaterial makes that
// material (key generation and the clock live there).
import { checkTrustDomain, type CaMaterial } from '../control-plane/ca-material.ts';
import { crds } from './crds.ts';
import {
  controlPlaneDeployment,
  controlPlaneService,
  identitySecret,
  injectorDeployment,
  injectorService,
  injectorTlsSecret,
  trustBundleConfigMap,
  webhookConfiguration,
  type FailurePolicy,
  type PullPolicy,
} from './components.ts';
import type { KubeObject } from './objects.ts';
import { meshNamespace, rbac } from './rbac.ts';
import { DEFAULT_INBOUND_MODE, type InboundMode } from '../proto/mesh.ts';
import { createInjectorTls, resolveIdentity, type InjectorTls, type ProvidedIdentity } from './pki.ts';

export interface InstallOptions {
  /** The one image of every component (and of the injected containers). */
  image: string;
  /** The Weft version (labels, injected marker). */
  version: string;
  trustDomain: string;
  imagePullPolicy: PullPolicy;
  logLevel: string;
  webhookFailurePolicy: FailurePolicy;
  /** The cluster's default inbound mode (namespaces and pods override it with config.weft.dev/inbound-mode). */
  inboundMode: InboundMode;
}

export interface InstallMaterial {
  identity: CaMaterial;
  injectorTls: InjectorTls;
}

export const DEFAULT_INSTALL_OPTIONS: Omit<InstallOptions, 'image' | 'version'> = {
  trustDomain: 'cluster.local',
  imagePullPolicy: 'IfNotPresent',
  logLevel: 'info',
  webhookFailurePolicy: 'Ignore',
  inboundMode: DEFAULT_INBOUND_MODE,
};

/** The identity CA (given or new) and a new injector serving certificate. Throws WEFT_ERR_CA_*. */
export function installMaterial(given: ProvidedIdentity, trustDomain: string, now: number): InstallMaterial {
  checkTrustDomain(trustDomain);
  return { identity: resolveIdentity(given, trustDomain, now), injectorTls: createInjectorTls(now) };
}

export function renderInstall(opts: InstallOptions, material: InstallMaterial): KubeObject[] {
  const c = {
    image: opts.image,
    version: opts.version,
    imagePullPolicy: opts.imagePullPolicy,
    trustDomain: opts.trustDomain,
    logLevel: opts.logLevel,
    webhookFailurePolicy: opts.webhookFailurePolicy,
    inboundMode: opts.inboundMode,
  };
  return [
    ...crds(),
    meshNamespace(),
    ...rbac(),
    identitySecret(material.identity),
    trustBundleConfigMap(material.identity),
    injectorTlsSecret(material.injectorTls),
    controlPlaneService(opts.version),
    injectorService(opts.version),
    controlPlaneDeployment(c),
    injectorDeployment(c),
    webhookConfiguration(material.injectorTls, c),
  ];
}
