// Runs the local mesh's processes: each child's output goes to its own log
// file, a child that dies unexpectedly is restarted with backoff, and
// stopAll() sends SIGTERM (then SIGKILL after a grace period) to everything.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Restart when it exits while the supervisor is running. Default true. */
  restart?: boolean;
}

export interface Supervised {
  readonly spec: ChildSpec;
  readonly pid: () => number | undefined;
  readonly restarts: () => number;
  /** Kills this child (it is restarted if restart is on). */
  kill(signal?: NodeJS.Signals): void;
  /** Starts it again if it is not running. */
  respawn(): void;
  /** Resolves when the current process has exited. */
  exited(): Promise<void>;
}

export class ProcessSupervisor {
  readonly #logDir: string;
  readonly #children = new Set<{ proc: ChildProcess | undefined; spec: ChildSpec; restarts: number; timer?: NodeJS.Timeout }>();
  #stopping = false;
  readonly #onExit: (name: string, code: number | null, signal: NodeJS.Signals | null) => void;
  readonly #onSpawnError: (name: string, err: NodeJS.ErrnoException) => void;

  /** `onSpawnError`: a child could not be started at all (its command is missing, not executable...). */
  constructor(
    logDir: string,
    onExit: (name: string, code: number | null, signal: NodeJS.Signals | null) => void = () => {},
    onSpawnError: (name: string, err: NodeJS.ErrnoException) => void = () => {},
  ) {
    this.#logDir = logDir;
    mkdirSync(logDir, { recursive: true });
    this.#onExit = onExit;
    this.#onSpawnError = onSpawnError;
  }

  start(spec: ChildSpec): Supervised {
    const entry: { proc: ChildProcess | undefined; spec: ChildSpec; restarts: number; timer?: NodeJS.Timeout } = {
      proc: undefined,
      spec,
      restarts: 0,
    };
    this.#children.add(entry);
    const run = (): void => {
      const log = createWriteStream(join(this.#logDir, `${spec.name}.log`), { flags: 'a' });
      const proc = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout?.pipe(log, { end: false });
      proc.stderr?.pipe(log, { end: false });
      entry.proc = proc;
      proc.on('error', (err: NodeJS.ErrnoException) => {
        log.write(`spawn failed: ${err.message}\n`);
        this.#onSpawnError(spec.name, err);
      });
      proc.on('exit', (code, signal) => {
        log.end();
        if (this.#stopping) return;
        this.#onExit(spec.name, code, signal);
        if (spec.restart === false) return;
        const delay = Math.min(5_000, 250 * 2 ** Math.min(entry.restarts, 5));
        entry.restarts++;
        entry.timer = setTimeout(run, delay);
      });
    };
    run();
    return {
      spec,
      pid: () => entry.proc?.pid,
      restarts: () => entry.restarts,
      kill: (signal = 'SIGKILL') => entry.proc?.kill(signal),
      respawn: () => {
        const p = entry.proc;
        if (p === undefined || p.exitCode !== null || p.signalCode !== null) run();
      },
      exited: async () => {
        const p = entry.proc;
        if (p !== undefined && p.exitCode === null && p.signalCode === null) await once(p, 'exit');
      },
    };
  }

  async stopAll(graceMs = 5_000): Promise<void> {
    this.#stopping = true;
    const waits: Promise<unknown>[] = [];
    for (const c of this.#children) {
      clearTimeout(c.timer);
      const p = c.proc;
      if (p === undefined || p.exitCode !== null || p.signalCode !== null) continue;
      waits.push(once(p, 'exit'));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
      t.unref();
    }
    await Promise.all(waits);
  }
}
