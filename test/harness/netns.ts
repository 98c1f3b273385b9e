// Network namespaces for tests that need real interception: "pods" and
// "hosts" wired by veth pairs, addresses in the benchmarking ranges only
// (198.18.0.0/15, 2001:2::/48), processes started inside them and killed
// after, everything deleted at the end. Needs root, `ip` and `iptables`;
// netnsMissing() says what is missing, and a test must fail (not skip) under
// CI=true when anything is.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function netnsMissing(): string[] {
  const has = (cmd: string, args: string[]): boolean => {
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    return r.error === undefined && r.status === 0;
  };
  return [
    process.getuid?.() !== 0 ? 'root' : undefined,
    has('ip', ['-V']) ? undefined : 'ip (iproute2)',
    has('iptables', ['--version']) ? undefined : 'iptables',
    has('ip6tables', ['--version']) ? undefined : 'ip6tables',
  ].filter((x): x is string => x !== undefined);
}

export function sh(...argv: string[]): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}${r.error?.message ?? ''}`);
  return r.stdout;
}

export interface Link {
  /** IPv4 and IPv6 of each end. */
  a: { v4: string; v6: string };
  b: { v4: string; v6: string };
}

export class NetLab {
  readonly tag = randomBytes(3).toString('hex');
  readonly #namespaces: string[] = [];
  readonly #children: ChildProcess[] = [];
  #links = 0;
  /** A random /24 of 198.19.0.0/16 and a /48-derived prefix of 2001:2::/48 for this lab. */
  readonly #octet = 1 + ((randomBytes(1)[0] as number) % 250);

  /** Creates a namespace (loopback up); returns its name. */
  ns(name: string): string {
    const full = `weft-${this.tag}-${name}`;
    sh('ip', 'netns', 'add', full);
    this.#namespaces.push(full);
    sh('ip', '-n', full, 'link', 'set', 'lo', 'up');
    return full;
  }

  /** A veth pair between two namespaces, with an IPv4 /30 and an IPv6 /64 on it. */
  link(a: string, b: string): Link {
    const n = this.#links++;
    const devA = `w${this.tag}${n}a`;
    const devB = `w${this.tag}${n}b`;
    sh('ip', 'link', 'add', devA, 'netns', a, 'type', 'veth', 'peer', 'name', devB, 'netns', b);
    const v4 = (host: number): string => `198.19.${this.#octet}.${n * 4 + host}`;
    const v6 = (host: number): string => `2001:2:0:${this.#octet.toString(16)}${n.toString(16).padStart(2, '0')}::${host}`;
    const link: Link = { a: { v4: v4(1), v6: v6(1) }, b: { v4: v4(2), v6: v6(2) } };
    for (const [ns, dev, end] of [[a, devA, link.a], [b, devB, link.b]] as const) {
      sh('ip', '-n', ns, 'addr', 'add', `${end.v4}/30`, 'dev', dev);
      sh('ip', '-n', ns, '-6', 'addr', 'add', `${end.v6}/64`, 'dev', dev, 'nodad');
      sh('ip', '-n', ns, 'link', 'set', dev, 'up');
    }
    return link;
  }

  /** Runs a command inside `ns` to completion; throws on failure. */
  exec(ns: string, ...argv: string[]): string {
    return sh('ip', 'netns', 'exec', ns, ...argv);
  }

  /** Starts a process inside `ns` (killed by close()). */
  spawn(ns: string, argv: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.#children.push(child);
    return child;
  }

  close(): void {
    for (const c of this.#children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const ns of this.#namespaces) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

/** Resolves with the first stdout line matching `re` (rejects if the process exits first, or after `timeoutMs`). */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no line ${re} within ${timeoutMs} ms; stderr: ${err.slice(-2000)}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        if (re.test(line)) {
          clearTimeout(timer);
          resolve(line);
          return;
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before ${re}; stderr: ${err.slice(-2000)}`));
    });
  });
}
