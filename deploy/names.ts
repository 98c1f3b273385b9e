// The names every installed object, `weft install`, `weft check` and the
// tests agree on (DESIGN.md "Ports and names"). One place, so a rename is one
// edit. The Secret keys of the identity CA are the file names of
// control-plane/ca-store.ts: a Secret mounted as a directory is a CA dir.
import { PORTS } from '../proto/mesh.ts';
import { CA_FILES } from '../control-plane/ca-store.ts';

export const MESH_NAMESPACE = 'weft-system';

export const CONTROL_PLANE = 'weft-control-plane';
export const INJECTOR = 'weft-injector';

/** The identity CA (trust anchor, optional anchor key, issuer, issuer key). */
export const IDENTITY_SECRET = 'weft-identity';
export const IDENTITY_SECRET_KEYS = CA_FILES;

/** The trust anchors the proxies verify peers (and the control plane) with. */
export const TRUST_BUNDLE_CONFIGMAP = 'weft-trust-bundle';
export const TRUST_BUNDLE_KEY = 'ca-bundle.crt';

/** The injector's serving certificate (kubernetes.io/tls: tls.crt, tls.key, ca.crt). */
export const INJECTOR_TLS_SECRET = 'weft-injector-tls';
export const WEBHOOK_CONFIGURATION = 'weft-injector';
/** The webhook's name inside the configuration: must be a fully qualified name. */
export const WEBHOOK_NAME = 'injector.weft.dev';
export const WEBHOOK_PATH = '/mutate';

/** Namespaces labelled so are never sent to the webhook (weft-system is, at install). */
export const WEBHOOK_OPT_OUT_LABEL = 'weft.dev/admission-webhook';

export const PORT = {
  ...PORTS,
  injectorService: 443,
} as const;

export const CRD_NAMES = {
  trafficSplit: 'trafficsplits.split.smi-spec.io',
  httpRouteGroup: 'httproutegroups.specs.smi-spec.io',
  tcpRoute: 'tcproutes.specs.smi-spec.io',
  trafficTarget: 'traffictargets.access.smi-spec.io',
} as const;

/** access.smi-spec.io (TrafficTarget) has no v1alpha4: v1alpha3 is stored. */
export const ACCESS_VERSIONS = ['v1alpha1', 'v1alpha2', 'v1alpha3'] as const;
export const ACCESS_STORAGE_VERSION = 'v1alpha3';

export const SMI_VERSIONS = ['v1alpha1', 'v1alpha2', 'v1alpha3', 'v1alpha4'] as const;
/** The version etcd holds (conversion None: only the label differs). */
export const SMI_STORAGE_VERSION = 'v1alpha4';

/** Where the build (dist/) lives in the image: injector/patch.ts's installDir. */
export const IMAGE_INSTALL_DIR = '/weft';
/** uid of the control plane and injector containers (non-root, not the proxy's 2102). */
export const CONTROL_PLANE_UID = 2103;

export const COMPONENT_LABEL = 'weft.dev/control-plane-component';
export const PART_OF_LABELS = { 'app.kubernetes.io/part-of': 'weft' } as const;
