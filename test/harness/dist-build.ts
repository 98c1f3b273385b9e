// `npm run build` (deploy/dist-build.ts) once per test process, so tests can
// run the compiled files an image holds.
import { buildDist as build } from '../../deploy/dist-build.ts';

let built: Promise<string> | undefined;

/** Resolves to dist/'s path once it holds a fresh build. */
export function buildDist(): Promise<string> {
  built ??= build();
  return built;
}
