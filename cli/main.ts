#!/usr/bin/env node
// The `weft` command. Parses flags and runs a subcommand; each subcommand
// lives in its own file.
//   weft up [dir]   the local mesh (default: the bundled demo) with a live stat table
//   weft stat       one stat table from a running local mesh
//   weft authz      who may call each workload of a running local mesh, and the refusals
//   weft inject     the injector's patch applied to YAML files (cli/inject.ts)
//   weft install    the cluster installation as YAML (cli/install.ts)
//   weft check      verifies a cluster installation (cli/check.ts)
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { up, DEMO_DIR } from './up.ts';
import { runningPods, scrapeAuthz, scrapeProxies } from './stat-scrape.ts';
import { authzRows, formatAuthzTable } from './authz-table.ts';
import { formatStatTable, statRows } from './stat-table.ts';
import type { Sample } from './prometheus-text.ts';
import { parseStatus, statusLines } from './mesh-status.ts';

const UP_USAGE = `usage: weft up [dir] [--state-dir DIR] [--address-base 127.0] [--leaf-lifetime-ms N] [--log-level warn] [--no-stat]
  Runs the local mesh from a folder of Kubernetes YAML (default: the bundled demo) on loopback addresses
  <address-base>.x.y, with a live stat table; Ctrl-C stops every process it started.
  --state-dir DIR        certificates, tokens, pods.json and logs (default: <dir>/.weft)
  --address-base A.B     the /16 its pods use (default 127.0; the control plane is A.B.255.1)
  --leaf-lifetime-ms N   certificate lifetime (default 24 h)
  --log-level LEVEL      of every process: debug, info, warn (default), error, off
  --no-stat              start, then print nothing more
`;
const STAT_USAGE = `usage: weft stat [--state-dir DIR] [--interval-ms 1000]
  One stat table of a running local mesh: the last one \`weft up\` started, or the one in --state-dir.
  --interval-ms N        the window the rates are measured over (default 1000)
`;
const AUTHZ_USAGE = `usage: weft authz [--state-dir DIR]
  Who may call each workload of a running local mesh (its TrafficTargets, or its default
  policy) and the calls its proxies refused, by client identity, since they started.
`;
const USAGE = `usage:
  weft up [dir] [--state-dir DIR] [--address-base 127.0] [--leaf-lifetime-ms N] [--log-level warn] [--no-stat]   (weft up --help)
  weft stat [--state-dir DIR] [--interval-ms 1000]   (weft stat --help)
  weft authz [--state-dir DIR]   (weft authz --help)
  weft inject FILE|- [--proxy-image IMAGE] [--proxy-version V] [--install-dir DIR] [--trust-domain D] [--mesh-namespace NS] [--quiet]   (weft inject --help)
  weft install [--image IMAGE] [--trust-domain cluster.local] [--identity-*-pem FILE ...]   (weft install --help)
  weft check [--kubeconfig FILE] [--context NAME] [--wait SECONDS]   (weft check --help)
`;

// install and check parse their own flags (and load client-node only when used).
if (process.argv[2] === 'install') process.exit((await import('./install.ts')).installMain(process.argv.slice(3)));
if (process.argv[2] === 'check') process.exit(await (await import('./check.ts')).checkMain(process.argv.slice(3)));
// inject parses its own flags too.
if (process.argv[2] === 'inject') process.exit(await (await import('./inject.ts')).runInject(process.argv.slice(3), process));

function parseFlags() {
  try {
    return parseArgs({
  allowPositionals: true,
  options: {
    'state-dir': { type: 'string' },
    'address-base': { type: 'string' },
    'leaf-lifetime-ms': { type: 'string' },
    'log-level': { type: 'string' },
    'no-stat': { type: 'boolean', default: false },
    'interval-ms': { type: 'string', default: '1000' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
  } catch (err) {
    process.stderr.write(`weft: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
const { values, positionals } = parseFlags();
const [command, ...rest] = positionals;

function table(prev: Sample[], cur: Sample[], dtSec: number): string {
  const rows = statRows(prev, cur, dtSec);
  return rows.length === 0 ? '(no traffic yet)' : formatStatTable(rows);
}

/** Where `weft up` records the state folder of the mesh it started last (for `weft stat`). */
const LAST_MESH = join(homedir(), '.weft', 'last-mesh');

/** A user-facing failure: one line on stderr, no stack, exit 1. */
function fail(cmd: string, err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`weft ${cmd}: ${message.split('\n')[0]}\n`);
  process.exit(1);
}

async function cmdUp(): Promise<void> {
  const dir = resolve(rest[0] ?? DEMO_DIR);
  const stateDir = resolve(values['state-dir'] ?? join(dir, '.weft'));
  const out = process.stdout;
  out.write(`weft up: starting the mesh from ${dir} (state in ${stateDir})\n`);
  // Ctrl-C while starting: stop what was started, then exit (runMesh takes over the signals once it runs).
  const starting = new AbortController();
  const onSignal = (): void => starting.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let mesh: Awaited<ReturnType<typeof up>> | undefined;
  try {
    mesh = await startMesh(dir, stateDir, starting.signal);
  } catch (err) {
    fail('up', err);
  }
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  if (starting.signal.aborted) {
    await mesh.close();
    fail('up', new Error('interrupted while starting; everything it started is stopped'));
  }
  return runMesh(mesh, out);
}

async function startMesh(dir: string, stateDir: string, signal: AbortSignal): Promise<Awaited<ReturnType<typeof up>>> {
  const mesh = await up({
    signal,
    dir,
    stateDir,
    ...(values['address-base'] !== undefined ? { addressBase: values['address-base'] } : {}),
    ...(values['leaf-lifetime-ms'] !== undefined ? { leafLifetimeMs: Number(values['leaf-lifetime-ms']) } : {}),
    ...(values['log-level'] !== undefined ? { logLevel: values['log-level'] } : {}),
  });
  try {
    mkdirSync(dirname(LAST_MESH), { recursive: true });
    writeFileSync(LAST_MESH, `${stateDir}\n`);
  } catch {
    // Only `weft stat`'s default is lost.
  }
  return mesh;
}

async function runMesh(mesh: Awaited<ReturnType<typeof up>>, out: NodeJS.WriteStream): Promise<void> {
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    out.write('\nweft up: stopping\n');
    await mesh.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  for (const p of mesh.pods) out.write(`  ${p.pod.namespace}/${p.pod.name}  ${p.pod.ip}  app :${p.appPort}  proxy :4140/:4143/:4191\n`);
  out.write(`  control plane ${mesh.controlPlaneIp}:8086 (admin :9990)\n`);
  try {
    await mesh.ready(60_000);
  } catch (err) {
    stopping = true;
    await mesh.close();
    fail('up', err);
  }
  out.write('weft up: all pods ready; Ctrl-C stops everything\n');
  // The mesh's own state (split conditions, refused manifests): each new line
  // is printed as it appears, and the current ones stay under the table.
  const statusFile = join(mesh.stateDir, 'status.json');
  let current: string[] = [];
  let shown = new Set<string>();
  const tty = out.isTTY === true;
  setInterval(() => {
    let text: string | undefined;
    try {
      text = readFileSync(statusFile, 'utf8');
    } catch {
      return;
    }
    const status = parseStatus(text);
    if (status === undefined) return;
    current = statusLines(status);
    for (const line of current) if (!shown.has(line) && !(tty && !values['no-stat'])) out.write(`weft up: ${line}\n`);
    shown = new Set(current);
  }, 500).unref();
  if (values['no-stat']) return;
  const interval = Number(values['interval-ms']);
  let prev = await scrapeProxies(runningPods(mesh.stateDir));
  let prevAt = Date.now();
  setInterval(() => {
    void scrapeProxies(runningPods(mesh.stateDir)).then((cur) => {
      const now = Date.now();
      const text = table(prev, cur, (now - prevAt) / 1000);
      prev = cur;
      prevAt = now;
      if (tty) out.write('\x1b[2J\x1b[H');
      const notes = current.map((l) => `  ! ${l}\n`).join('');
      out.write(`${new Date().toISOString()}  outbound traffic by backend (mTLS between every pair of proxies)\n${text}\n${notes}\n`);
    });
  }, interval);
}

/** The state folder of the mesh to look at: --state-dir, else the last one `weft up` started. Fails with one line when there is none. */
function meshStateDir(cmd: string): string {
  let last: string | undefined;
  try {
    last = readFileSync(LAST_MESH, 'utf8').trim() || undefined;
  } catch {
    // no mesh started yet
  }
  const stateDir = resolve(values['state-dir'] ?? last ?? join(DEMO_DIR, '.weft'));
  if (!existsSync(join(stateDir, 'pods.json'))) fail(cmd, new Error(`no local mesh in ${stateDir} (start one with \`weft up\`)`));
  return stateDir;
}

async function cmdAuthz(): Promise<void> {
  const stateDir = meshStateDir('authz');
  const pods = runningPods(stateDir);
  const { inbound, samples } = await scrapeAuthz(pods);
  if (inbound.size === 0) fail('authz', new Error(`the mesh in ${stateDir} is not running: no proxy answers (start it with \`weft up\`)`));
  process.stdout.write(`${formatAuthzTable(authzRows(pods, inbound, samples))}\n`);
}

async function cmdStat(): Promise<void> {
  const stateDir = meshStateDir('stat');
  const pods = runningPods(stateDir);
  const interval = Number(values['interval-ms']);
  const a = await scrapeProxies(pods);
  if (a.length === 0) fail('stat', new Error(`the mesh in ${stateDir} is not running: no proxy answers (start it with \`weft up\`)`));
  await new Promise((r) => setTimeout(r, interval));
  const b = await scrapeProxies(pods);
  process.stdout.write(`${table(a, b, interval / 1000)}\n`);
}

if (values.help && command === 'up') {
  process.stdout.write(UP_USAGE);
} else if (values.help && command === 'stat') {
  process.stdout.write(STAT_USAGE);
} else if (values.help && command === 'authz') {
  process.stdout.write(AUTHZ_USAGE);
} else if (values.help || command === undefined) {
  process.stdout.write(USAGE);
  process.exit(command === undefined && !values.help ? 2 : 0);
} else if (command === 'up') {
  await cmdUp();
} else if (command === 'stat') {
  await cmdStat();
} else if (command === 'authz') {
  await cmdAuthz();
} else {
  process.stderr.write(`weft: unknown command ${JSON.stringify(command)}\n${USAGE}`);
  process.exit(2);
}
