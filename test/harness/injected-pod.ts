// A pod as the real injector rewrites it, turned into what a kubelet would
// run: weft-init's arguments and weft-proxy's environment, taken from the
// mutated pod spec (injector/patch.ts's injectionPatch + applyPatch), with the
// fieldRefs resolved from the pod and the two mounted files (the projected
// token, the trust-bundle ConfigMap) mapped to files of the test. Tests that
// start "the proxy exactly as the injected container starts it" use this, so
// a change to the injected container is a change to what they run.
import { applyPatch } from '../../injector/json-patch.ts';
import { INIT_CONTAINER, PROXY_CONTAINER, TOKEN_DIR, TRUST_BUNDLE_DIR, injectionPatch, type NamespaceMeta } from '../../injector/patch.ts';

export interface InjectedPod {
  /** weft-init's args (its command is injector/init-main). */
  readonly initArgs: string[];
  /** weft-proxy's environment, every variable resolved. */
  readonly proxyEnv: Record<string, string>;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath?: string } };
}
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
}
interface PodDoc {
  metadata: { name: string; namespace: string };
  spec: { serviceAccountName?: string; containers: Container[]; initContainers?: Container[] };
}

export function injectedPod(
  pod: PodDoc,
  namespace: NamespaceMeta,
  opts: { controlPlaneAddress: string; tokenFile: string; trustBundleFile: string },
): InjectedPod {
  const result = injectionPatch(pod, namespace, { proxyImage: 'weft:test', proxyVersion: 'test', controlPlaneAddress: opts.controlPlaneAddress });
  if (!result.inject) throw new Error(`not injected: ${result.reason}`);
  const injected = applyPatch(pod, result.patch);
  const init = injected.spec.initContainers?.find((c) => c.name === INIT_CONTAINER);
  const proxy = injected.spec.containers.find((c) => c.name === PROXY_CONTAINER);
  if (init === undefined || proxy === undefined) throw new Error('the patch added no weft-init / weft-proxy container');

  const fields: Record<string, string> = {
    'metadata.name': pod.metadata.name,
    'metadata.namespace': pod.metadata.namespace,
    'spec.serviceAccountName': pod.spec.serviceAccountName ?? 'default',
  };
  const mounted = (path: string): string =>
    path.startsWith(`${TOKEN_DIR}/`) ? opts.tokenFile : path.startsWith(`${TRUST_BUNDLE_DIR}/`) ? opts.trustBundleFile : path;
  const proxyEnv: Record<string, string> = {};
  for (const e of proxy.env ?? []) {
    const path = e.valueFrom?.fieldRef?.fieldPath;
    const value = path !== undefined ? fields[path] : e.value;
    if (value === undefined) throw new Error(`env ${e.name}: cannot resolve ${JSON.stringify(e)}`);
    proxyEnv[e.name] = mounted(value);
  }
  return { initArgs: init.args ?? [], proxyEnv };
}
