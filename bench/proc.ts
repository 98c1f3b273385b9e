// Child processes of a bench run and what /proc says about them. Every child
// is registered so that one call (also on Ctrl-C) stops them all; readiness
// is a line on the child's stdout.
import { spawn, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

export interface Child {
  name: string;
  pid: number;
  proc: ChildProcess;
  /** stdout lines seen so far. */
  lines: string[];
  /** stderr, kept short (last 64 KiB) for error reports. */
  stderr(): string;
  exited: Promise<number | null>;
}

const children = new Set<Child>();

export function spawnChild(name: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): Child {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (proc.pid === undefined) throw new Error(`${name}: cannot start ${cmd}`);
  const lines: string[] = [];
  let err = '';
  if (proc.stdout) createInterface({ input: proc.stdout }).on('line', (l) => lines.push(l));
  proc.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString('utf8')).slice(-65536);
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const child: Child = { name, pid: proc.pid, proc, lines, stderr: () => err, exited };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

/** Resolves with the first stdout line that satisfies `match`; rejects if the child exits first or on timeout. */
export function waitForLine(child: Child, match: (line: string) => boolean, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = (): void => {
      const hit = child.lines.find(match);
      if (hit !== undefined) return resolve(hit);
      if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
        return reject(new Error(`${child.name} exited (${child.proc.exitCode ?? child.proc.signalCode}) before it was ready:\n${child.stderr()}`));
      }
      if (Date.now() - t0 > timeoutMs) return reject(new Error(`${child.name} not ready after ${timeoutMs} ms:\n${child.stderr()}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

/** Stops one child: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child: Child, graceMs = 5_000): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

export async function stopAll(graceMs = 5_000): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c, graceMs)));
}

/** Last resort, synchronous (process 'exit'): SIGKILL whatever is left. */
export function killAllNow(): void {
  for (const c of children) {
    try {
      c.proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A free TCP port on 127.0.0.1 (for tools that cannot listen on port 0 and tell us). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Waits until something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await sleep(50);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// /proc

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Resident set size, KiB (VmRSS). */
export function rssKb(pid: number): number {
  return memKb(pid).rss;
}

/**
 * Resident memory, KiB: all of it (VmRSS), and the part private to this
 * process (RssAnon: heap, stacks, buffers). The rest (RssFile) is mostly the
 * node or nginx binary's pages, shared with every process that runs it.
 */
export function memKb(pid: number): { rss: number; anon: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rss: field('VmRSS'), anon: field('RssAnon') };
}

/** utime + stime of a process (all its threads), seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** Direct children of a process (e.g. nginx's worker). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text !== '') out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

/** Samples RSS of some processes every `everyMs` until stopped: max and mean per pid, and the max of its private part, MiB. */
export function sampleRss(pids: readonly number[], everyMs = 200): () => Map<number, { maxMb: number; meanMb: number; anonMaxMb: number }> {
  const acc = new Map<number, { max: number; anonMax: number; sum: number; n: number }>(pids.map((p) => [p, { max: 0, anonMax: 0, sum: 0, n: 0 }]));
  const take = (): void => {
    for (const [pid, a] of acc) {
      try {
        const kb = memKb(pid);
        a.max = Math.max(a.max, kb.rss);
        a.anonMax = Math.max(a.anonMax, kb.anon);
        a.sum += kb.rss;
        a.n++;
      } catch {
        // exited
      }
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return () => {
    clearInterval(timer);
    take();
    return new Map([...acc].map(([pid, a]) => [pid, { maxMb: a.max / 1024, meanMb: a.n ? a.sum / a.n / 1024 : 0, anonMaxMb: a.anonMax / 1024 }]));
  };
}

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Machine load: a bench run on a shared machine must say how much CPU others used meanwhile.

/** Busy (non-idle, non-iowait) CPU seconds of the whole machine so far, all cores. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice
  const busy = (v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0) + (v[5] ?? 0) + (v[6] ?? 0) + (v[7] ?? 0);
  return busy / CLK_TCK;
}

/** CPU seconds of this process plus its reaped children (exited load generators count here). */
export function selfAndReapedSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / CLK_TCK;
}

/** Live child processes of this bench (upstream, proxies, nginx and its worker). */
export function liveChildPids(): number[] {
  const out: number[] = [];
  for (const c of children) {
    out.push(c.pid, ...childPids(c.pid));
  }
  return out;
}

export interface LoadWindow {
  seconds: number;
  /** Cores busy with anything, on average. */
  machineCores: number;
  /** Cores busy with processes that are not this bench's, on average. */
  otherCores: number;
}

/** Starts a window; the returned function closes it. */
export function loadWindow(): () => LoadWindow {
  const t0 = performance.now();
  const m0 = machineBusySeconds();
  const pids = liveChildPids();
  const own0 = selfAndReapedSeconds() + pids.reduce((s, p) => s + safeCpu(p), 0);
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const m1 = machineBusySeconds();
    // Children that exited in between are in the reaped figure (if waited for) and missing from safeCpu.
    const own1 = selfAndReapedSeconds() + pids.reduce((s, p) => s + safeCpu(p), 0);
    const machine = m1 - m0;
    const own = own1 - own0;
    return { seconds, machineCores: machine / seconds, otherCores: Math.max(0, machine - own) / seconds };
  };
}

function safeCpu(pid: number): number {
  try {
    return cpuSeconds(pid);
  } catch {
    return 0;
  }
}

/** Waits (up to maxWaitS) for a 5 s window in which other processes use under `maxOtherCores`. */
export async function waitForQuiet(maxOtherCores: number, maxWaitS: number, log: (s: string) => void): Promise<LoadWindow> {
  const t0 = Date.now();
  for (;;) {
    const end = loadWindow();
    await sleep(5_000);
    const w = end();
    if (w.otherCores <= maxOtherCores) return w;
    if ((Date.now() - t0) / 1000 >= maxWaitS) {
      log(`bench: the machine is still busy (${w.otherCores.toFixed(2)} cores used by other processes); measuring anyway, figures will be noisy`);
      return w;
    }
    log(`bench: waiting for a quiet machine (${w.otherCores.toFixed(2)} cores used by other processes)`);
  }
}

/** Before one measurement: waits (up to maxWaitS) for a 1 s window in which other processes use under `maxOtherCores`. */
export async function quietGate(maxOtherCores: number, maxWaitS: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const end = loadWindow();
    await sleep(1_000);
    const w = end();
    if (w.otherCores <= maxOtherCores || (Date.now() - t0) / 1000 >= maxWaitS) return (Date.now() - t0) / 1000;
  }
}
