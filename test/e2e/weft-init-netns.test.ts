// weft-init for real: injector/init-main.ts runs the real `iptables` inside a
// network namespace made for the test (a "pod", wired by a veth pair to a
// "peer" namespace, addresses in 198.18.0.0/15), then plain TCP listeners
// that answer with their own name show where each connection really lands:
// the proxy's outbound port (4140) for the app's outgoing traffic, its
// inbound port (4143) for incoming traffic, and straight through for the
// proxy's own uid, loopback, the admin port and the skip ports.
// Needs root, `ip` and `iptables`; skipped (loudly) otherwise.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const INIT = join(ROOT, 'injector', 'init-main.ts');
const NODE = process.execPath;

function has(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}
const missing = [
  process.getuid?.() !== 0 ? 'root' : undefined,
  has('ip', ['-V']) ? undefined : 'ip (iproute2)',
  has('iptables', ['--version']) ? undefined : 'iptables',
].filter((x) => x !== undefined);
// In CI (root, packages installed by .ci/run) the test is mandatory: a missing
// prerequisite fails it instead of skipping it.
const inCi = process.env.CI === 'true';
if (missing.length > 0 && !inCi) {
  process.stderr.write(`\nweft-init netns test NOT RUN: needs ${missing.join(', ')} (apt-get install -y iptables iproute2; run as root)\n`);
}

const SERVERS = `
import net from 'node:net';
const specs = process.argv.slice(2).map((s) => s.split(','));
let pending = specs.length;
for (const [name, host, port] of specs) {
  net.createServer((c) => c.end(name + '\\n')).listen(Number(port), host, () => {
    if (--pending === 0) process.stdout.write('ready\\n');
  });
}
`;

const CLIENT = `
import net from 'node:net';
const [host, port, uid] = process.argv.slice(2);
if (uid) { process.setgid(Number(uid)); process.setuid(Number(uid)); }
let got = '';
const s = net.connect(Number(port), host);
s.setTimeout(3000, () => { process.stdout.write('timeout'); process.exit(0); });
s.on('data', (d) => (got += d));
s.on('end', () => { process.stdout.write(got.trim()); process.exit(0); });
s.on('error', (e) => { process.stdout.write('error:' + e.code); process.exit(0); });
`;

describe.skipIf(missing.length > 0 && !inCi)('weft-init in a network namespace (real iptables)', () => {
  if (missing.length > 0) {
    it('has its prerequisites', () => {
      expect.fail(`needs ${missing.join(', ')} (apt-get install -y iptables iproute2; run as root)`);
    });
    return;
  }
  const tag = randomBytes(3).toString('hex');
  const pod = `weft-test-${tag}-pod`;
  const peer = `weft-test-${tag}-peer`;
  const net3 = 1 + (randomBytes(1)[0] as number) % 250;
  const podIp = `198.19.${net3}.1`;
  const peerIp = `198.19.${net3}.2`;
  const dir = mkdtempSync(join(tmpdir(), 'weft-init-netns-'));
  const children: ChildProcess[] = [];

  function sh(...argv: string[]): string {
    const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}${r.error?.message ?? ''}`);
    return r.stdout;
  }

  function inNs(ns: string, ...argv: string[]): string {
    return sh('ip', 'netns', 'exec', ns, ...argv);
  }

  async function serve(ns: string, specs: string[]): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', ns, NODE, join(dir, 'servers.mjs'), ...specs], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`servers in ${ns} exited ${code}`)));
    });
  }

  /** Connects from inside `ns` (as `uid`, default root) and returns what answered. */
  function connect(ns: string, host: string, port: number, uid?: number): string {
    return inNs(ns, NODE, join(dir, 'client.mjs'), host, String(port), ...(uid !== undefined ? [String(uid)] : []));
  }

  beforeAll(async () => {
    writeFileSync(join(dir, 'servers.mjs'), SERVERS);
    writeFileSync(join(dir, 'client.mjs'), CLIENT);
    sh('ip', 'netns', 'add', pod);
    sh('ip', 'netns', 'add', peer);
    sh('ip', 'link', 'add', `wi${tag}a`, 'netns', pod, 'type', 'veth', 'peer', 'name', `wi${tag}b`, 'netns', peer);
    sh('ip', '-n', pod, 'addr', 'add', `${podIp}/30`, 'dev', `wi${tag}a`);
    sh('ip', '-n', peer, 'addr', 'add', `${peerIp}/30`, 'dev', `wi${tag}b`);
    for (const [ns, dev] of [[pod, `wi${tag}a`], [peer, `wi${tag}b`]] as const) {
      sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
      sh('ip', '-n', ns, 'link', 'set', dev, 'up');
    }
    // The pod's side: the proxy's three ports and two app ports; the peer: two services.
    await serve(pod, ['outbound,127.0.0.1,4140', 'inbound,0.0.0.0,4143', 'admin,0.0.0.0,4191', 'app,0.0.0.0,8080', 'app-skipped,0.0.0.0,9090']);
    await serve(peer, ['peer,0.0.0.0,80', 'peer-skipped,0.0.0.0,9000']);
  }, 60_000);

  afterAll(() => {
    for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
    for (const ns of [pod, peer]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });

  const initArgs = ['--skip-inbound-ports', '4191,9090', '--skip-outbound-ports', '9000'];

  it('installs the rules, and a second run leaves exactly the same rules (idempotent)', () => {
    const out = inNs(pod, NODE, INIT, ...initArgs);
    expect(out).toContain('iptables -w -t nat -A WEFT_OUTBOUND -m owner --uid-owner 2102 -j RETURN');
    // The veth has an IPv6 link-local address: the same rules go in through ip6tables.
    expect(out).toContain('weft-init: iptables and ip6tables rules in place');
    expect(inNs(pod, 'ip6tables', '-w', '-t', 'nat', '-S')).toContain('-A WEFT_OUTBOUND -p tcp -j REDIRECT --to-ports 4140');
    const first = inNs(pod, 'iptables', '-w', '-t', 'nat', '-S');
    inNs(pod, NODE, INIT, ...initArgs);
    expect(inNs(pod, 'iptables', '-w', '-t', 'nat', '-S')).toBe(first);
    expect(first.split('\n').filter((l) => l.includes('-j WEFT_'))).toEqual([
      '-A PREROUTING -p tcp -j WEFT_INBOUND',
      '-A OUTPUT -p tcp -j WEFT_OUTBOUND',
    ]);
  });

  it("redirects the app's outgoing TCP to the proxy's outbound port", () => {
    expect(connect(pod, peerIp, 80)).toBe('outbound');
  });

  it("lets the proxy's own uid (2102) through to the peer", () => {
    expect(connect(pod, peerIp, 80, 2102)).toBe('peer');
  });

  it('lets skip-outbound-ports and loopback through', () => {
    expect(connect(pod, peerIp, 9000)).toBe('peer-skipped');
    expect(connect(pod, '127.0.0.1', 8080)).toBe('app');
  });

  it("redirects incoming TCP to the proxy's inbound port", () => {
    expect(connect(peer, podIp, 8080)).toBe('inbound');
    expect(connect(peer, podIp, 4143)).toBe('inbound');
  });

  it('lets the admin port and skip-inbound-ports through', () => {
    expect(connect(peer, podIp, 4191)).toBe('admin');
    expect(connect(peer, podIp, 9090)).toBe('app-skipped');
  });

  it('--dry-run prints the script and changes nothing; a missing iptables fails with exit 1', () => {
    const before = inNs(pod, 'iptables', '-w', '-t', 'nat', '-S');
    const dry = spawnSync('ip', ['netns', 'exec', pod, NODE, INIT, '--dry-run', '--skip-inbound-ports', '4191,1234'], { encoding: 'utf8' });
    expect(dry.status).toBe(0);
    expect(dry.stdout).toContain('--dport 1234 -j RETURN');
    expect(inNs(pod, 'iptables', '-w', '-t', 'nat', '-S')).toBe(before);
    const bad = spawnSync('ip', ['netns', 'exec', pod, NODE, INIT, '--iptables', '/nonexistent/iptables'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('WEFT_ERR_INIT_IPTABLES');
    // A pod with IPv6 and no working ip6tables: a loud failure, never an IPv6 bypass.
    const no6 = spawnSync('ip', ['netns', 'exec', pod, NODE, INIT, '--ip6tables', '/nonexistent/ip6tables'], { encoding: 'utf8' });
    expect(no6.status).toBe(1);
    expect(no6.stderr).toContain('WEFT_ERR_INIT_IPTABLES');
    expect(no6.stderr).toContain('IPv6 traffic would bypass the proxy');
    const usage = spawnSync(NODE, [INIT, '--skip-inbound-ports', 'http'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('"http" is not a port number');
  });
});
