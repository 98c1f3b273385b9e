// Pure: the apiserver's Kubernetes version, and what the injector makes of it.
//
// From 1.29 the kubelet runs native sidecars (KEP-753, SidecarContainers, on
// by default): an init container with `restartPolicy: Always` starts before
// the containers that follow it, keeps running beside the app containers, is
// not waited for when the pod completes and is stopped after them. The
// injector then adds weft-proxy that way (patch.ts, `nativeSidecar`), so a
// Job's pod completes by itself. Before 1.29 (1.28 has the feature behind an
// alpha gate, off by default) weft-proxy is a classic sidecar in
// spec.containers and the control plane ends it once a Job's app containers
// have finished (control-plane/workload-done.ts).
//
// Accepted spellings: a gitVersion ("v1.29.0", "v1.30.2-eks-a1b2c3",
// "v1.29.0+k3s1"), a bare "1.29" / "1.29.3", and the /version answer's
// major / minor fields, whose minor may end in "+" ("30+" on GKE and EKS).
import { InjectError } from './inject-error.ts';

export interface KubeVersion {
  readonly major: number;
  readonly minor: number;
}

/** The first version whose kubelet runs native sidecars by default. */
export const NATIVE_SIDECAR_SINCE: KubeVersion = { major: 1, minor: 29 };

const VERSION = /^v?(\d{1,4})\.(\d{1,4})\+?(?:\.\d{1,6})?(?:[-+][0-9A-Za-z.+-]*)?$/;

function invalidVersion(text: string, why: string): InjectError {
  return new InjectError('WEFT_ERR_INJECT_VERSION_INVALID', `${JSON.stringify(text)} is not a Kubernetes version (${why}); expected e.g. v1.29.0 or 1.30`);
}

/** "v1.29.0", "1.30+", "1.28.3-gke.100" -> { major, minor }; anything else is WEFT_ERR_INJECT_VERSION_INVALID. */
export function parseKubeVersion(text: string): KubeVersion {
  const m = VERSION.exec(text.trim());
  if (m === null) throw invalidVersion(text, 'not MAJOR.MINOR[.PATCH]');
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major < 1) throw invalidVersion(text, 'major version 0');
  return { major, minor };
}

/**
 * The version in an apiserver's GET /version answer: its gitVersion, else
 * major and minor (minor may end in "+"). WEFT_ERR_INJECT_VERSION_INVALID when
 * neither reads.
 */
export function kubeVersionOf(body: unknown): KubeVersion {
  const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  if (typeof b.gitVersion === 'string' && VERSION.test(b.gitVersion.trim())) return parseKubeVersion(b.gitVersion);
  if (typeof b.major === 'string' && typeof b.minor === 'string') {
    const major = b.major.replace(/\+$/, '');
    const minor = b.minor.replace(/\+$/, '');
    return parseKubeVersion(`${major}.${minor}`);
  }
  throw invalidVersion(JSON.stringify(body) ?? String(body), 'no gitVersion, major or minor');
}

/** Whether pods on this version get weft-proxy as a native sidecar (>= 1.29). */
export function supportsNativeSidecars(v: KubeVersion): boolean {
  return v.major > NATIVE_SIDECAR_SINCE.major || (v.major === NATIVE_SIDECAR_SINCE.major && v.minor >= NATIVE_SIDECAR_SINCE.minor);
}

export function formatKubeVersion(v: KubeVersion): string {
  return `${v.major}.${v.minor}`;
}
