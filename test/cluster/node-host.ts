// The host-wide side of the real node: a machine-wide lock (kube-proxy's
// rules and the sysctls it and the kubelet set are global, so one real node
// per machine at a time), a state file naming what a run changed, and the
// sweep that puts the machine back as it was: processes (kubelet,
// containerd, its shims and every container), mounts, network namespaces,
// iptables chains, the bridge, /kubepods cgroups, sysctls and the host
// directories the kubelet insists on. The sweep runs at the end of every run
// and, for a run that was killed, at the start of the next one.
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NODE_NETWORK } from './node-config.ts';

export const NODE_RUN_DIR = '/run/weft-real-node';
const LOCK = path.join(NODE_RUN_DIR, 'lock');
const STATE = path.join(NODE_RUN_DIR, 'state.json');

/** Sysctls the kubelet, kube-proxy or the bridge plugin may change (values restored by the sweep). */
export const TOUCHED_SYSCTLS = [
  'net/ipv4/ip_forward',
  'net/ipv4/conf/all/route_localnet',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
] as const;

/** Host paths the kubelet, containerd's shims or CNI create whatever their configured dirs: removed if the run created them. */
export const HOST_PATHS = [
  '/var/lib/kubelet',
  '/var/log/pods',
  '/var/log/containers',
  '/var/lib/cni',
  '/run/containerd',
  '/var/lib/containerd',
  '/etc/kubernetes',
  '/usr/libexec/kubernetes',
] as const;

export interface NodeHostState {
  /** Owner of the lock (a pid of the test process). */
  owner: number;
  /** The run's own directory (kubelet root, containerd root, logs...). */
  dir: string;
  containerdAddress: string;
  /** name -> pid of the processes the run started. */
  pids: Record<string, number>;
  /** sysctl path (under /proc/sys) -> value before the run. */
  sysctls: Record<string, string>;
  /** HOST_PATHS that did not exist before the run. */
  createdPaths: string[];
  /** CNI network namespaces (/run/netns/cni-*) that existed before the run: never touched. */
  netnsBefore?: string[];
}

function run(cmd: string, args: readonly string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 }) };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${name}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** What the run is about to change: the sysctls' values and which host paths are absent. */
export function recordHostBaseline(owner: number, dir: string, containerdAddress: string): NodeHostState {
  const sysctls: Record<string, string> = {};
  for (const s of TOUCHED_SYSCTLS) {
    const v = readSysctl(s);
    if (v !== undefined) sysctls[s] = v;
  }
  return {
    owner,
    dir,
    containerdAddress,
    pids: {},
    sysctls,
    createdPaths: HOST_PATHS.filter((p) => !existsSync(p)),
    netnsBefore: safeReaddir('/run/netns').filter((n) => n.startsWith('cni-')),
  };
}

export function writeHostState(state: NodeHostState): void {
  mkdirSync(NODE_RUN_DIR, { recursive: true });
  writeFileSync(`${STATE}.tmp`, JSON.stringify(state, null, 2));
  execFileSync('mv', [`${STATE}.tmp`, STATE]);
}

function readHostState(): NodeHostState | undefined {
  try {
    return JSON.parse(readFileSync(STATE, 'utf8')) as NodeHostState;
  } catch {
    return undefined;
  }
}

/** Reads the lock's owner pid; undefined when there is no lock file (released meanwhile). */
function lockOwner(): number | undefined {
  try {
    return Number(readFileSync(LOCK, 'utf8').trim());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Takes the machine-wide lock, waiting while a live process holds it. The
 * lock file appears whole (written aside, then hard-linked into place), so a
 * reader never sees it empty. A lock whose owner is gone belongs to a killed
 * run: exactly one waiter takes it over (renames it away), sweeps that run's
 * leftovers and tries again.
 */
export async function acquireNodeLock(log: (line: string) => void, timeoutMs = 15 * 60_000): Promise<void> {
  mkdirSync(NODE_RUN_DIR, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  const mine = `${LOCK}.${process.pid}`;
  writeFileSync(mine, String(process.pid));
  let told = false;
  try {
    for (;;) {
      try {
        linkSync(mine, LOCK);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = lockOwner();
      if (owner === undefined) continue; // released meanwhile
      if (!Number.isInteger(owner) || owner <= 0 || !pidAlive(owner)) {
        const stale = `${LOCK}.stale.${process.pid}`;
        try {
          renameSync(LOCK, stale); // only one waiter wins this
        } catch {
          continue;
        }
        log(`the real-node lock's owner (pid ${owner}) is gone: sweeping what its run left`);
        await sweepHost(log);
        rmSync(stale, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another real node (pid ${owner}) held ${LOCK} for ${timeoutMs} ms`);
      if (!told) log(`waiting for the real node of pid ${owner} to stop (${LOCK})`);
      told = true;
      await sleep(1000);
    }
  } finally {
    rmSync(mine, { force: true });
  }
  // A state file without a lock: a run killed between the two.
  if (readHostState() !== undefined) await sweepHost(log);
  refuseForeignNode();
}

/**
 * The sweep removes kube-proxy's chains and /kubepods cgroups wholesale: with
 * no state file of ours, their presence means another Kubernetes node runs on
 * this machine (k3s, a real kubelet), which a test run must not wreck.
 */
function refuseForeignNode(): void {
  const found: string[] = [];
  const chains = run('iptables', ['-w', '5', '-t', 'nat', '-S']);
  if (chains.ok && /^-N KUBE-/m.test(chains.out)) found.push('KUBE-* iptables chains');
  if (cgroupControllers().some((c) => existsSync(path.join(c, 'kubepods')))) found.push('/kubepods cgroups');
  if (found.length > 0) {
    releaseNodeLock();
    throw new Error(`this machine already runs a Kubernetes node (${found.join(', ')}) that is not the tests': the real node would wreck it; run the cluster tests elsewhere`);
  }
}

/** Releases the lock if it is ours. */
export function releaseNodeLock(): void {
  if (lockOwner() === process.pid) rmSync(LOCK, { force: true });
  try {
    rmdirSync(NODE_RUN_DIR); // only when empty
  } catch {
    // not empty, or gone
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function allPids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

function cgroupControllers(): string[] {
  try {
    return readdirSync('/sys/fs/cgroup').map((c) => path.join('/sys/fs/cgroup', c));
  } catch {
    return [];
  }
}

/** Every kubepods cgroup dir, deepest first. */
function kubepodsCgroups(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) walk(path.join(dir, e));
    out.push(dir);
  };
  for (const c of cgroupControllers()) {
    const k = path.join(c, 'kubepods');
    if (existsSync(k)) walk(k);
  }
  return out;
}

function killCgroupProcesses(): number {
  let killed = 0;
  for (const dir of kubepodsCgroups()) {
    let procs: string[] = [];
    try {
      procs = readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    } catch {
      continue;
    }
    for (const p of procs) {
      try {
        process.kill(Number(p), 'SIGKILL');
        killed++;
      } catch {
        // gone
      }
    }
  }
  return killed;
}

/** Mount points under any of `prefixes`, deepest first. */
function mountsUnder(prefixes: readonly string[]): string[] {
  let info = '';
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && prefixes.some((p) => m === p || m.startsWith(`${p}/`)))
    .map((m) => m.replace(/\\040/g, ' '));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

const IPTABLES = ['iptables', 'ip6tables'] as const;
const TABLES = ['nat', 'filter', 'mangle'] as const;
/** The comment on the node's own FORWARD rules. */
export const NODE_RULE_COMMENT = 'weft-real-node';

/** Removes kube-proxy's KUBE-* chains and the rules that jump to them, and the node's own rules, from every table. */
export function sweepIptables(): void {
  for (const bin of IPTABLES) {
    for (const table of TABLES) {
      const dump = run(bin, ['-w', '5', '-t', table, '-S']);
      if (!dump.ok) continue;
      const lines = dump.out.split('\n');
      for (const line of lines) {
        if (!line.startsWith('-A ')) continue;
        const chain = line.split(' ')[1] ?? '';
        if (chain.startsWith('KUBE-')) continue; // flushed with the chain
        if (/ -j KUBE-/.test(line) || line.includes(`--comment ${NODE_RULE_COMMENT}`) || line.includes(`--comment "${NODE_RULE_COMMENT}"`)) {
          run(bin, ['-w', '5', '-t', table, ...splitRule(`-D ${line.slice(3)}`)]);
        }
      }
      const chains = lines.filter((l) => l.startsWith('-N KUBE-')).map((l) => l.slice(3).trim());
      for (const c of chains) run(bin, ['-w', '5', '-t', table, '-F', c]);
      for (const c of chains) run(bin, ['-w', '5', '-t', table, '-X', c]);
    }
  }
}

/** Splits an `iptables -S` rule into argv, honouring double quotes. */
export function splitRule(rule: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of rule.matchAll(re)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  return out;
}

/**
 * Puts the host back: kills what the run started (and every container in
 * /kubepods), unmounts, removes CNI network namespaces, kube-proxy's chains,
 * the bridge, the cgroups, the host paths it created, restores sysctls and
 * removes the run's directory and state file. Every step is best effort and
 * idempotent; what it could not undo is logged.
 */
export async function sweepHost(log: (line: string) => void, state = readHostState(), opts: { keepDir?: boolean } = {}): Promise<void> {
  if (state === undefined) return;
  // 1. processes: the run's own, containerd's shims, and every container process.
  for (const [name, pid] of Object.entries(state.pids)) {
    // A pid of the run's own process only if it still runs that program (pids are reused).
    if (pidAlive(pid) && (cmdline(pid).split(' ')[0] ?? '').endsWith(`/${name}`)) {
      try {
        process.kill(pid, 'SIGKILL');
        log(`killed leftover ${name} (pid ${pid})`);
      } catch {
        // gone
      }
    }
  }
  for (const pid of allPids()) {
    const cl = cmdline(pid);
    if (cl.includes('containerd-shim') && cl.includes(state.containerdAddress)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  for (let i = 0; i < 10 && killCgroupProcesses() > 0; i++) await sleep(200);

  // 2. mounts (kubelet's root-dir bind mount, secret tmpfs, overlay rootfs, netns bind mounts).
  const containerdState = path.join(NODE_RUN_DIR, 'containerd-state');
  // Only what the run owns: its dirs, and the host paths it created.
  const mountRoots = [state.dir, containerdState, ...state.createdPaths];
  for (const m of mountsUnder(mountRoots)) run('umount', ['-l', m]);
  for (const ns of safeReaddir('/run/netns').filter((n) => n.startsWith('cni-') && !(state.netnsBefore ?? []).includes(n))) {
    run('umount', ['-l', `/run/netns/${ns}`]);
    rmSync(`/run/netns/${ns}`, { force: true });
  }
  const leftMounts = mountsUnder(mountRoots);
  if (leftMounts.length > 0) log(`mounts that would not go: ${leftMounts.join(', ')}`);

  // 3. network: kube-proxy's chains, the node's FORWARD rules, the bridge.
  sweepIptables();
  if (run('ip', ['link', 'show', NODE_NETWORK.bridge]).ok) run('ip', ['link', 'del', NODE_NETWORK.bridge]);

  // 4. cgroups, deepest first.
  for (const dir of kubepodsCgroups()) {
    try {
      rmdirSync(dir);
    } catch {
      // busy or gone
    }
  }
  const leftCgroups = kubepodsCgroups();
  if (leftCgroups.length > 0) log(`cgroups that would not go: ${leftCgroups.slice(0, 5).join(', ')}${leftCgroups.length > 5 ? ', ...' : ''}`);

  // 5. sysctls.
  for (const [name, value] of Object.entries(state.sysctls)) {
    if (readSysctl(name) === value) continue;
    try {
      writeFileSync(`/proc/sys/${name}`, value);
    } catch (err) {
      log(`could not restore ${name}=${value}: ${(err as Error).message}`);
    }
  }

  // 6. files.
  for (const p of state.createdPaths) rmSync(p, { recursive: true, force: true });
  if (!opts.keepDir && mountsUnder([state.dir]).length === 0) rmSync(state.dir, { recursive: true, force: true });
  if (mountsUnder([containerdState]).length === 0) rmSync(containerdState, { recursive: true, force: true });
  for (const sock of safeReaddir(NODE_RUN_DIR).filter((f) => f.startsWith('containerd.sock'))) rmSync(path.join(NODE_RUN_DIR, sock), { force: true });
  rmSync(STATE, { force: true });
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
