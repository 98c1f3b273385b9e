// `npm run build`: compiles the sources into dist/ (tsc with
// tsconfig.build.json: .js files, relative imports rewritten from .ts), then
// copies what the compiled code reads at run time: package.json (its
// "type": "module"), the gRPC schema, the demo manifests and the demo's
// launcher. dist/ is the image's /weft (deploy/Dockerfile) and what the bench
// runs: no process pays for type stripping (about 17 MB each).
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST_DIR = join(REPO_ROOT, 'dist');

/** Files and folders copied as they are, relative to the repository root. */
export const DIST_ASSETS = ['package.json', 'proto/mesh.proto', 'cli/demo', 'cli/bin'] as const;

export function copyDistAssets(dist: string = DIST_DIR): void {
  for (const rel of DIST_ASSETS) {
    mkdirSync(join(dist, rel, '..'), { recursive: true });
    cpSync(join(REPO_ROOT, rel), join(dist, rel), { recursive: true });
  }
  chmodSync(join(dist, 'cli', 'bin', 'weft-demo'), 0o755);
  chmodSync(join(dist, 'cli', 'main.js'), 0o755);
  chmodSync(join(dist, 'injector', 'init-main.js'), 0o755);
}

/** tsc, then the assets; resolves to dist/'s path. */
export async function buildDist(): Promise<string> {
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', join(REPO_ROOT, 'tsconfig.build.json')], { cwd: REPO_ROOT });
  copyDistAssets(DIST_DIR);
  return DIST_DIR;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildDist().catch((err: { stdout?: string; stderr?: string }) => {
    process.stderr.write(`build failed:\n${err.stdout ?? ''}${err.stderr ?? String(err)}\n`);
    process.exit(1);
  });
}
