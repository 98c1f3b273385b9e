// The control plane and the injector as Kubernetes workloads: their
// Deployments and Services, the Secrets and ConfigMap they read, and the
// MutatingWebhookConfiguration that sends pod creations to the injector.
// One image runs everything (deploy/Dockerfile); the compiled build is in
// /weft, so each container's command is `node /weft/<component>/main.js`
// and its settings are WEFT_* environment variables read by that main.
import {
  COMPONENT_LABEL,
  CONTROL_PLANE,
  CONTROL_PLANE_UID,
  IDENTITY_SECRET,
  IDENTITY_SECRET_KEYS,
  IMAGE_INSTALL_DIR,
  INJECTOR,
  INJECTOR_TLS_SECRET,
  MESH_NAMESPACE,
  PART_OF_LABELS,
  PORT,
  TRUST_BUNDLE_CONFIGMAP,
  TRUST_BUNDLE_KEY,
  WEBHOOK_CONFIGURATION,
  WEBHOOK_NAME,
  WEBHOOK_OPT_OUT_LABEL,
  WEBHOOK_PATH,
} from './names.ts';
import type { KubeObject } from './objects.ts';
import { nodeArgs } from '../proto/entry-points.ts';
import type { InboundMode } from '../proto/mesh.ts';
import type { CaMaterial } from '../control-plane/ca-material.ts';
import type { InjectorTls } from './pki.ts';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';
export type FailurePolicy = 'Ignore' | 'Fail';

export interface ComponentOptions {
  image: string;
  /** The Weft version: labels, and the injected weft.dev/proxy-version. */
  version: string;
  imagePullPolicy: PullPolicy;
  trustDomain: string;
  logLevel: string;
  webhookFailurePolicy: FailurePolicy;
  inboundMode: InboundMode;
}

/** The injector's plain-HTTP admin port (/ready, /live, /metrics), for probes and Prometheus. */
export const INJECTOR_ADMIN_PORT = 9995;
export const INJECTOR_TLS_DIR = '/var/run/weft/tls';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function labels(component: string, version: string): Record<string, string> {
  return {
    ...PART_OF_LABELS,
    'app.kubernetes.io/name': component,
    'app.kubernetes.io/version': version,
    [COMPONENT_LABEL]: component === CONTROL_PLANE ? 'control-plane' : 'injector',
  };
}

function selector(component: string): Record<string, string> {
  return { [COMPONENT_LABEL]: component === CONTROL_PLANE ? 'control-plane' : 'injector' };
}

const env = (name: string, value: string): Record<string, unknown> => ({ name, value });

const containerSecurity = {
  runAsUser: CONTROL_PLANE_UID,
  runAsGroup: CONTROL_PLANE_UID,
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
};

function deployment(
  component: string,
  o: ComponentOptions,
  container: Record<string, unknown>,
  volumes: Record<string, unknown>[],
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: component, namespace: MESH_NAMESPACE, labels: labels(component, o.version) },
    spec: {
      replicas: 1,
      selector: { matchLabels: selector(component) },
      template: {
        metadata: {
          labels: labels(component, o.version),
          // Belt and braces: weft-system is never injected anyway.
          annotations: { 'weft.dev/inject': 'disabled' },
        },
        spec: {
          serviceAccountName: component,
          securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: component,
              image: o.image,
              imagePullPolicy: o.imagePullPolicy,
              securityContext: containerSecurity,
              terminationMessagePolicy: 'FallbackToLogsOnError',
              ...container,
              volumeMounts: [
                { name: 'tmp', mountPath: '/tmp' },
                ...((container['volumeMounts'] as unknown[] | undefined) ?? []),
              ],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: {} }, ...volumes],
        },
      },
    },
  };
}

export function controlPlaneDeployment(o: ComponentOptions): KubeObject {
  return deployment(
    CONTROL_PLANE,
    o,
    {
      command: ['node', ...nodeArgs(IMAGE_INSTALL_DIR, 'controlPlane')],
      // No --source-dir: the control plane watches the cluster it runs in
      // (in-cluster ServiceAccount), keeps its CA in Secret weft-identity and
      // publishes the trust bundle in ConfigMap weft-trust-bundle, both in
      // weft-system (its defaults).
      env: [
        env('WEFT_TRUST_DOMAIN', o.trustDomain),
        env('WEFT_GRPC_ADDR', `0.0.0.0:${PORT.controlPlaneGrpc}`),
        env('WEFT_ADMIN_ADDR', `0.0.0.0:${PORT.controlPlaneAdmin}`),
        env('WEFT_INBOUND_MODE', o.inboundMode),
        env('WEFT_LOG_LEVEL', o.logLevel),
      ],
      ports: [
        { name: 'grpc', containerPort: PORT.controlPlaneGrpc, protocol: 'TCP' },
        { name: 'admin-http', containerPort: PORT.controlPlaneAdmin, protocol: 'TCP' },
      ],
      readinessProbe: { httpGet: { path: '/ready', port: PORT.controlPlaneAdmin }, periodSeconds: 5, failureThreshold: 3 },
      livenessProbe: {
        httpGet: { path: '/live', port: PORT.controlPlaneAdmin },
        initialDelaySeconds: 10,
        periodSeconds: 10,
        failureThreshold: 3,
      },
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
    },
    [],
  );
}

export function injectorDeployment(o: ComponentOptions): KubeObject {
  return deployment(
    INJECTOR,
    o,
    {
      command: ['node', ...nodeArgs(IMAGE_INSTALL_DIR, 'injector')],
      env: [
        env('WEFT_INJECTOR_ADDR', `0.0.0.0:${PORT.injectorWebhook}`),
        env('WEFT_INJECTOR_ADMIN_ADDR', `0.0.0.0:${INJECTOR_ADMIN_PORT}`),
        env('WEFT_TLS_CERT', `${INJECTOR_TLS_DIR}/tls.crt`),
        env('WEFT_TLS_KEY', `${INJECTOR_TLS_DIR}/tls.key`),
        env('WEFT_PROXY_IMAGE', o.image),
        env('WEFT_PROXY_VERSION', o.version),
        env('WEFT_IMAGE_PULL_POLICY', o.imagePullPolicy),
        env('WEFT_INSTALL_DIR', IMAGE_INSTALL_DIR),
        env('WEFT_TRUST_DOMAIN', o.trustDomain),
        env('WEFT_MESH_NAMESPACE', MESH_NAMESPACE),
        env('WEFT_TRUST_BUNDLE_CONFIGMAP', TRUST_BUNDLE_CONFIGMAP),
        env('WEFT_LOG_LEVEL', o.logLevel),
      ],
      ports: [
        { name: 'webhook', containerPort: PORT.injectorWebhook, protocol: 'TCP' },
        { name: 'admin-http', containerPort: INJECTOR_ADMIN_PORT, protocol: 'TCP' },
      ],
      readinessProbe: { httpGet: { path: '/ready', port: INJECTOR_ADMIN_PORT }, periodSeconds: 5, failureThreshold: 3 },
      livenessProbe: {
        httpGet: { path: '/live', port: INJECTOR_ADMIN_PORT },
        initialDelaySeconds: 10,
        periodSeconds: 10,
        failureThreshold: 3,
      },
      resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } },
      volumeMounts: [{ name: 'tls', mountPath: INJECTOR_TLS_DIR, readOnly: true }],
    },
    [{ name: 'tls', secret: { secretName: INJECTOR_TLS_SECRET } }],
  );
}

export function controlPlaneService(version: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: CONTROL_PLANE, namespace: MESH_NAMESPACE, labels: labels(CONTROL_PLANE, version) },
    spec: {
      type: 'ClusterIP',
      selector: selector(CONTROL_PLANE),
      ports: [
        { name: 'grpc', port: PORT.controlPlaneGrpc, targetPort: 'grpc', protocol: 'TCP' },
        { name: 'admin-http', port: PORT.controlPlaneAdmin, targetPort: 'admin-http', protocol: 'TCP' },
      ],
    },
  };
}

export function injectorService(version: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: INJECTOR, namespace: MESH_NAMESPACE, labels: labels(INJECTOR, version) },
    spec: {
      type: 'ClusterIP',
      selector: selector(INJECTOR),
      ports: [{ name: 'webhook', port: PORT.injectorService, targetPort: 'webhook', protocol: 'TCP' }],
    },
  };
}

export function identitySecret(ca: CaMaterial): KubeObject {
  const data: Record<string, string> = {
    [IDENTITY_SECRET_KEYS.anchor]: b64(ca.anchorPem),
    [IDENTITY_SECRET_KEYS.issuer]: b64(ca.issuerPem),
    [IDENTITY_SECRET_KEYS.issuerKey]: b64(ca.issuerKeyPem),
  };
  if (ca.anchorKeyPem !== undefined) data[IDENTITY_SECRET_KEYS.anchorKey] = b64(ca.anchorKeyPem);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: IDENTITY_SECRET, namespace: MESH_NAMESPACE, labels: { ...PART_OF_LABELS } },
    type: 'Opaque',
    data,
  };
}

export function trustBundleConfigMap(ca: CaMaterial): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: TRUST_BUNDLE_CONFIGMAP, namespace: MESH_NAMESPACE, labels: { ...PART_OF_LABELS } },
    data: { [TRUST_BUNDLE_KEY]: ca.anchorPem.endsWith('\n') ? ca.anchorPem : `${ca.anchorPem}\n` },
  };
}

export function injectorTlsSecret(tls: InjectorTls): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: INJECTOR_TLS_SECRET, namespace: MESH_NAMESPACE, labels: { ...PART_OF_LABELS } },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(tls.certPem), 'tls.key': b64(tls.keyPem), 'ca.crt': b64(tls.caPem) },
  };
}

/**
 * Pods' CREATE goes to the injector, except in namespaces labelled
 * weft.dev/admission-webhook=disabled (weft-system is) and, on 1.21+ where
 * namespaces carry kubernetes.io/metadata.name, kube-system and weft-system
 * (on 1.20 that label is absent, NotIn matches, and the injector itself
 * refuses them). Pods labelled weft.dev/inject=disabled are not sent at all.
 * failurePolicy Ignore by default: with Fail, an injector outage blocks every
 * pod creation in the cluster (kube-system included on 1.20).
 */
export function webhookConfiguration(tls: InjectorTls, o: Pick<ComponentOptions, 'version' | 'webhookFailurePolicy'>): KubeObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: WEBHOOK_CONFIGURATION, labels: labels(INJECTOR, o.version) },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        clientConfig: {
          service: { name: INJECTOR, namespace: MESH_NAMESPACE, path: WEBHOOK_PATH, port: PORT.injectorService },
          caBundle: b64(tls.caPem),
        },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: {
          matchExpressions: [
            { key: WEBHOOK_OPT_OUT_LABEL, operator: 'NotIn', values: ['disabled'] },
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', MESH_NAMESPACE] },
          ],
        },
        objectSelector: { matchExpressions: [{ key: 'weft.dev/inject', operator: 'NotIn', values: ['disabled'] }] },
        matchPolicy: 'Equivalent',
        reinvocationPolicy: 'Never',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        failurePolicy: o.webhookFailurePolicy,
        timeoutSeconds: 10,
      },
    ],
  };
}
