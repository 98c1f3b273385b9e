// How Weft's processes start: each component's entry file under an install
// folder, and the Node flags the proxy runs with. The image's /weft and
// `npm run build`'s dist/ hold compiled .js (no type-stripping wasm at run
// time: about 17 MB less per process); a source checkout runs the .ts files.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ENTRY_POINTS = {
  proxy: 'proxy/main',
  awaitReady: 'proxy/await-ready',
  init: 'injector/init-main',
  injector: 'injector/main',
  controlPlane: 'control-plane/main',
  cli: 'cli/main',
} as const;

export type Component = keyof typeof ENTRY_POINTS;
export type EntryExtension = '.js' | '.ts';

/**
 * V8 flags of every proxy process (injected sidecars, `weft up`, the bench).
 * A 2 MB semi-space keeps the young generation from growing to V8's default
 * 16 MB x 3 under load; bench/RESULTS.md has the measurements behind it.
 */
export const PROXY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/** The extension of the code running now: '.ts' from a checkout, '.js' from a build. */
export const RUNNING_EXTENSION: EntryExtension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** The folder the running code belongs to: a checkout, dist/, or the image's /weft. */
export const RUNNING_INSTALL_DIR = fileURLToPath(new URL('..', import.meta.url));

/** The entry file of `component` under `installDir`. */
export function entryFile(installDir: string, component: Component, ext: EntryExtension = '.js'): string {
  return join(installDir, `${ENTRY_POINTS[component]}${ext}`);
}

/** Node's flags for `component` (only the proxy has any). */
export function nodeFlags(component: Component): readonly string[] {
  return component === 'proxy' ? PROXY_NODE_FLAGS : [];
}

/** The arguments after `node` that start `component`: its flags, then its entry file. */
export function nodeArgs(installDir: string, component: Component, ext: EntryExtension = '.js'): string[] {
  return [...nodeFlags(component), entryFile(installDir, component, ext)];
}
