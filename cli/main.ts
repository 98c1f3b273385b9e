#!/usr/bin/env node
// The `weft` command. Parses flags and runs a subcommand; each subcommand
// lives in its own file.
//   weft up [dir]   the local mesh (default: the bundled demo) with a live stat table
//   weft stat       one stat table from a running local mesh
//   weft inject     the injector's patch applied to YAML files (cli/inject.ts)
//   weft install    the cluster installation as YAML (cli/install.ts)
//   weft check      verifies a cluster installation (cli/check.ts)
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { up, DEMO_DIR } from './up.ts';
import { runningPods, scrapeProxies } from './stat-scrape.ts';
import { formatStatTable, statRows } from './stat-table.ts';
import type { Sample } from './prometheus-text.ts';

const USAGE = `usage:
  weft up [dir] [--state-dir DIR] [--address-base 127.0] [--leaf-lifetime-ms N] [--log-level warn] [--no-stat]
  weft stat [--state-dir DIR] [--interval-ms 1000]
  weft inject FILE|- [--proxy-image IMAGE] [--proxy-version V] [--install-dir DIR] [--trust-domain D] [--mesh-namespace NS] [--quiet]
  weft install [--image IMAGE] [--trust-domain cluster.local] [--identity-*-pem FILE ...]   (weft install --help)
  weft check [--kubeconfig FILE] [--context NAME] [--wait SECONDS]   (weft check --help)
`;

// install and check parse their own flags (and load client-node only when used).
if (process.argv[2] === 'install') process.exit((await import('./install.ts')).installMain(process.argv.slice(3)));
if (process.argv[2] === 'check') process.exit(await (await import('./check.ts')).checkMain(process.argv.slice(3)));
// inject parses its own flags too.
if (process.argv[2] === 'inject') process.exit(await (await import('./inject.ts')).runInject(process.argv.slice(3), process));

const { values, positionals } = parseArgs({
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
const [command, ...rest] = positionals;

function table(prev: Sample[], cur: Sample[], dtSec: number): string {
  const rows = statRows(prev, cur, dtSec);
  return rows.length === 0 ? '(no traffic yet)' : formatStatTable(rows);
}

async function cmdUp(): Promise<void> {
  const dir = resolve(rest[0] ?? DEMO_DIR);
  const stateDir = values['state-dir'] ?? join(dir, '.weft');
  const out = process.stdout;
  out.write(`weft up: starting the mesh from ${dir} (state in ${stateDir})\n`);
  const mesh = await up({
    dir,
    stateDir,
    ...(values['address-base'] !== undefined ? { addressBase: values['address-base'] } : {}),
    ...(values['leaf-lifetime-ms'] !== undefined ? { leafLifetimeMs: Number(values['leaf-lifetime-ms']) } : {}),
    ...(values['log-level'] !== undefined ? { logLevel: values['log-level'] } : {}),
  });
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
  await mesh.ready(60_000);
  out.write('weft up: all pods ready; Ctrl-C stops everything\n');
  if (values['no-stat']) return;
  const interval = Number(values['interval-ms']);
  let prev = await scrapeProxies(runningPods(mesh.stateDir));
  let prevAt = Date.now();
  const tty = out.isTTY === true;
  setInterval(() => {
    void scrapeProxies(runningPods(mesh.stateDir)).then((cur) => {
      const now = Date.now();
      const text = table(prev, cur, (now - prevAt) / 1000);
      prev = cur;
      prevAt = now;
      if (tty) out.write('\x1b[2J\x1b[H');
      out.write(`${new Date().toISOString()}  outbound traffic by backend (mTLS between every pair of proxies)\n${text}\n\n`);
    });
  }, interval);
}

async function cmdStat(): Promise<void> {
  const stateDir = resolve(values['state-dir'] ?? join(DEMO_DIR, '.weft'));
  const pods = runningPods(stateDir);
  const interval = Number(values['interval-ms']);
  const a = await scrapeProxies(pods);
  await new Promise((r) => setTimeout(r, interval));
  const b = await scrapeProxies(pods);
  process.stdout.write(`${table(a, b, interval / 1000)}\n`);
}

if (values.help || command === undefined) {
  process.stdout.write(USAGE);
  process.exit(command === undefined && !values.help ? 2 : 0);
} else if (command === 'up') {
  await cmdUp();
} else if (command === 'stat') {
  await cmdStat();
} else {
  process.stderr.write(`weft: unknown command ${JSON.stringify(command)}\n${USAGE}`);
  process.exit(2);
}
