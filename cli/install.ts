// `weft install`: prints everything a cluster needs (deploy/install.ts) as
// multi-document YAML for `weft install | kubectl apply -f -`. Makes the
// identity CA unless one is handed in, and always a new injector serving
// certificate. Only flag parsing and file reading live here.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { findWeftError } from '../proto/errors.ts';
import type { InboundMode } from '../proto/mesh.ts';
import { DEFAULT_INSTALL_OPTIONS, installMaterial, renderInstall, type InstallOptions } from '../deploy/install.ts';
import { toYaml, type KubeObject } from '../deploy/objects.ts';
import type { ProvidedIdentity } from '../deploy/pki.ts';

export const INSTALL_USAGE =
  'weft install [--image IMAGE] [--trust-domain cluster.local] [--image-pull-policy IfNotPresent] [--log-level info]\n' +
  '             [--webhook-failure-policy Ignore|Fail] [--inbound-mode permissive|strict]\n' +
  '             [--identity-trust-anchor-pem FILE [--identity-trust-anchor-key-pem FILE]\n' +
  '              [--identity-issuer-pem FILE --identity-issuer-key-pem FILE]]';

export class UsageError extends Error {}

/** The version of this checkout (package.json), also the default image tag. */
export function weftVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

export interface InstallArgs {
  options: InstallOptions;
  identity: ProvidedIdentity;
}

function readPem(flag: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--${flag} ${path}: ${(err as Error).message}`);
  }
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} ${JSON.stringify(value)}: expected ${allowed.join(', ')}`);
  }
  return value as T;
}

/** Parses `weft install` flags (argv after `install`). Throws UsageError. */
export function parseInstallArgs(argv: readonly string[]): InstallArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: {
        image: { type: 'string' },
        'trust-domain': { type: 'string', default: DEFAULT_INSTALL_OPTIONS.trustDomain },
        'image-pull-policy': { type: 'string', default: DEFAULT_INSTALL_OPTIONS.imagePullPolicy },
        'log-level': { type: 'string', default: DEFAULT_INSTALL_OPTIONS.logLevel },
        'webhook-failure-policy': { type: 'string', default: DEFAULT_INSTALL_OPTIONS.webhookFailurePolicy },
        'inbound-mode': { type: 'string', default: DEFAULT_INSTALL_OPTIONS.inboundMode.toLowerCase() },
        'identity-trust-anchor-pem': { type: 'string' },
        'identity-trust-anchor-key-pem': { type: 'string' },
        'identity-issuer-pem': { type: 'string' },
        'identity-issuer-key-pem': { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const version = weftVersion();
  const image = values.image ?? `weft:${version}`;
  if (image === '' || /\s/.test(image)) throw new UsageError(`--image ${JSON.stringify(image)} is not an image reference`);
  return {
    options: {
      image,
      version,
      trustDomain: values['trust-domain'],
      imagePullPolicy: oneOf('image-pull-policy', values['image-pull-policy'], ['Always', 'IfNotPresent', 'Never'] as const),
      logLevel: oneOf('log-level', values['log-level'], ['debug', 'info', 'warn', 'error', 'off'] as const),
      webhookFailurePolicy: oneOf('webhook-failure-policy', values['webhook-failure-policy'], ['Ignore', 'Fail'] as const),
      inboundMode: oneOf('inbound-mode', values['inbound-mode'].toLowerCase(), ['strict', 'permissive'] as const).toUpperCase() as InboundMode,
    },
    identity: {
      trustAnchorPem: readPem('identity-trust-anchor-pem', values['identity-trust-anchor-pem']),
      trustAnchorKeyPem: readPem('identity-trust-anchor-key-pem', values['identity-trust-anchor-key-pem']),
      issuerPem: readPem('identity-issuer-pem', values['identity-issuer-pem']),
      issuerKeyPem: readPem('identity-issuer-key-pem', values['identity-issuer-key-pem']),
    },
  };
}

/** The objects of an installation from parsed flags (new keys, clock = now). */
export function installObjects(args: InstallArgs, now = Date.now()): KubeObject[] {
  return renderInstall(args.options, installMaterial(args.identity, args.options.trustDomain, now));
}

export function installYaml(args: InstallArgs, now = Date.now()): string {
  const header =
    `Weft ${args.options.version}: rendered by \`weft install\` at ${new Date(now).toISOString()}.\n` +
    'Apply with `kubectl apply -f -`; verify with `weft check`.\n' +
    'Holds Secrets (the identity CA and the injector key): keep it out of version control.';
  return toYaml(installObjects(args, now), header);
}

export interface Io {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** `weft install ARGS`: the exit code (0 printed, 1 bad key material, 2 bad flags). */
export function installMain(argv: readonly string[], io: Io = process): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`usage: ${INSTALL_USAGE}\n`);
    return 0;
  }
  let args: InstallArgs;
  try {
    args = parseInstallArgs(argv);
  } catch (err) {
    io.stderr.write(`weft install: ${(err as Error).message}\nusage: ${INSTALL_USAGE}\n`);
    return 2;
  }
  try {
    io.stdout.write(installYaml(args));
    return 0;
  } catch (err) {
    const weft = findWeftError(err);
    io.stderr.write(`weft install: ${weft !== undefined ? `${weft.code}: ${weft.message}` : (err as Error).message}\n`);
    return 1;
  }
}
