// TypeScript shape of mesh.proto's messages in their proto3 JSON mapping
// (lowerCamelCase fields, enums as names). Kept in step with mesh.proto by
// mesh.test.ts, which round-trips a full object through the .proto schema.

export interface ProxyConfig {
  version: string;
  services: Service[];
  inbound: InboundPolicy;
  trustBundlePem: string[];
  egress: EgressPolicy;
  defaults: RouteDefaults;
}

export interface Service {
  name: string;
  namespace: string;
  clusterIp: string;
  ports: ServicePort[];
  routes: Route[];
  endpoints: Endpoint[];
  aliases: string[];
}

export interface ServicePort {
  name: string;
  port: number;
  targetPort: number;
  /** Connections to this port are opaque TCP: no protocol detection (config.weft.dev/opaque-ports on the Service). */
  opaque?: boolean;
}

export interface Route {
  name: string;
  matches: HttpMatch[];
  backends: WeightedBackend[];
  timeoutMs: number;
  retry?: RetryPolicy | undefined;
}

export interface HttpMatch {
  path?: PathMatch | undefined;
  methods: string[];
  headers: HeaderMatch[];
}

export type PathMatch = { exact: string } | { prefix: string } | { regex: string };

export type HeaderMatch = { name: string } & ({ exact: string } | { regex: string });

export interface WeightedBackend {
  service: string;
  weight: number;
  port: number;
}

export interface RetryPolicy {
  maxRetries: number;
  budgetRatio: number;
  minRetriesPerSecond: number;
  /** gRPC statuses (numbers) after which a call that got no response message is retried. Default [14] (UNAVAILABLE). */
  retryableGrpcStatuses?: number[];
}

export interface RouteDefaults {
  timeoutMs: number;
  retry: RetryPolicy;
  connectTimeoutMs: number;
}

export interface Endpoint {
  address: string;
  port: number;
  identity: string;
  proxyPort: number;
  pod: string;
  deployment: string;
  serviceAccount: string;
  namespace: string;
}

export type InboundMode = 'PERMISSIVE' | 'STRICT';

/**
 * The one default inbound mode (the proto enum's zero value, a static config
 * file without one, the control plane without --inbound-mode): PERMISSIVE, as
 * Istio's and Linkerd's, so that meshing a namespace never breaks an unmeshed
 * caller. `config.weft.dev/inbound-mode` on a pod, else its namespace, else
 * `weft install --inbound-mode` overrides it.
 */
export const DEFAULT_INBOUND_MODE: InboundMode = 'PERMISSIVE';

/** The annotation listing opaque ports, on a pod, a namespace (the injector) or a Service (the control plane). */
export const OPAQUE_PORTS_ANNOTATION = 'config.weft.dev/opaque-ports';

/** The annotation that sets a namespace's or pod's inbound mode. */
export const INBOUND_MODE_ANNOTATION = 'config.weft.dev/inbound-mode';

export interface InboundPolicy {
  mode: InboundMode;
  allowedIdentities: string[];
  appPorts: number[];
  identity: string;
  /** Who may call when no TrafficTarget names this workload. Default ALL_UNAUTHENTICATED. */
  defaultPolicy?: DefaultInboundPolicy;
  /** Some TrafficTarget names this workload: only authzRules allow. */
  targeted?: boolean;
  authzRules?: AuthzRule[];
}

export type DefaultInboundPolicy = 'ALL_UNAUTHENTICATED' | 'ALL_AUTHENTICATED' | 'CLUSTER_AUTHENTICATED' | 'DENY';

/** The annotation (pod, then namespace) and `weft install --default-inbound-policy` value: kebab-case names. */
export const DEFAULT_INBOUND_POLICY_ANNOTATION = 'config.weft.dev/default-inbound-policy';

/** One TrafficTarget's grant (mesh.proto AuthzRule). */
export interface AuthzRule {
  name: string;
  sources: string[];
  port: number;
  http: HttpMatch[];
  tcp: boolean;
  tcpPorts: number[];
}

export interface EgressPolicy {
  allow: boolean;
}

// Config stream

export type ProxyMessage = { subscribe: Subscribe } | { ack: Ack };

export interface Subscribe {
  namespace: string;
  pod: string;
  serviceAccount: string;
  version: string;
  token: string;
}

export interface Ack {
  version: string;
  ok: boolean;
  error: string;
}

export interface ConfigUpdate {
  config: ProxyConfig;
  /** Set when the proxy must drain and exit (mesh.proto rule 5); absent or null otherwise. */
  shutdown?: Shutdown | null;
}

/** Why the control plane asks a proxy to shut down (mesh.proto `Shutdown.reason`). */
export type ShutdownReason = 'WorkloadSucceeded' | 'WorkloadFailed';

export interface Shutdown {
  /** A ShutdownReason from this control plane; any string from another. */
  reason: string;
}

/** The injected proxy's container name: the injector adds it, the control plane recognises meshed pods by it. */
export const PROXY_CONTAINER = 'weft-proxy';

// Identity

export interface CertifyRequest {
  identity: string;
  token: string;
  csrPem: string;
}

export interface CertifyResponse {
  leafPem: string;
  intermediatesPem: string[];
  validUntilUnixMs: number;
}

/** Ports fixed by DESIGN.md. */
/**
 * Ports whose connections skip protocol detection and are always opaque TCP
 * (server-first protocols: SMTP, MySQL, Galera, PostgreSQL, Redis,
 * Elasticsearch transport, memcached), as Linkerd's default.
 * `config.weft.dev/opaque-ports` replaces the list.
 */
export const DEFAULT_OPAQUE_PORTS: readonly number[] = [25, 587, 3306, 4444, 5432, 6379, 9300, 11211];

/** One original kubelet probe of an app container, as the injector hands it to the proxy (ports resolved). */
export type AppProbe =
  | { httpGet: { port: number; path: string; scheme: 'HTTP' | 'HTTPS'; host?: string; httpHeaders?: Array<{ name: string; value: string }> } }
  | { tcpSocket: { port: number; host?: string } }
  | { grpc: { port: number; service?: string } };

/** The proxy's environment variable holding the pod's original probes (JSON; injector/probe-rewrite.ts). */
export const APP_PROBES_ENV = 'WEFT_APP_PROBES';

export const PORTS = {
  proxyOutbound: 4140,
  proxyInbound: 4143,
  proxyAdmin: 4191,
  proxyUid: 2102,
  controlPlaneGrpc: 8086,
  controlPlaneAdmin: 9990,
  injectorWebhook: 8443,
} as const;
