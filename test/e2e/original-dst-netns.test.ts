// proxy/listen/original-dst.ts for real: inside a network namespace with an
// iptables (and ip6tables) nat REDIRECT, a listener on the proxy's outbound
// port reads each connection's pre-REDIRECT destination, IPv4 and IPv6; a
// connection made straight to the listener has none.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetLab, netnsMissing, waitForLine, type Link } from '../harness/netns.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NODE = process.execPath;
const missing = netnsMissing();
const inCi = process.env.CI === 'true';
if (missing.length > 0 && !inCi) process.stderr.write(`\noriginal-dst netns test NOT RUN: needs ${missing.join(', ')}\n`);

const SERVER = `
import net from 'node:net';
import { originalDestination, originalDstUnavailable } from ${JSON.stringify(join(ROOT, 'proxy/listen/original-dst.ts'))};
net.createServer((s) => s.end(JSON.stringify(originalDestination(s) ?? null) + '\\n')).listen(4140, '::', () => {
  process.stdout.write('ready ' + String(originalDstUnavailable() ?? '') + '\\n');
});
`;
const CLIENT = `
import net from 'node:net';
const [host, port] = process.argv.slice(2);
let got = '';
const s = net.connect(Number(port), host);
s.on('data', (d) => (got += d));
s.on('end', () => process.stdout.write(got.trim()));
s.on('error', (e) => process.stdout.write('error:' + e.code));
`;

describe.skipIf(missing.length > 0 && !inCi)('original destination in a network namespace', () => {
  if (missing.length > 0) {
    it('has its prerequisites', () => expect.fail(`needs ${missing.join(', ')}`));
    return;
  }
  const lab = new NetLab();
  const dir = mkdtempSync(join(tmpdir(), 'weft-odst-'));
  let pod: string;
  let link: Link;

  beforeAll(async () => {
    writeFileSync(join(dir, 'server.mts'), SERVER);
    writeFileSync(join(dir, 'client.mjs'), CLIENT);
    pod = lab.ns('pod');
    const peer = lab.ns('peer');
    link = lab.link(pod, peer);
    lab.exec(pod, 'iptables', '-w', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', link.b.v4, '-j', 'REDIRECT', '--to-ports', '4140');
    lab.exec(pod, 'ip6tables', '-w', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', link.b.v6, '-j', 'REDIRECT', '--to-ports', '4140');
    const line = await waitForLine(lab.spawn(pod, [NODE, join(dir, 'server.mts')]), /^ready/);
    expect(line).toBe('ready ');
  }, 60_000);
  afterAll(() => {
    lab.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const connect = (host: string, port: number): unknown => {
    const r = spawnSync('ip', ['netns', 'exec', pod, NODE, join(dir, 'client.mjs'), host, String(port)], { encoding: 'utf8' });
    return JSON.parse(r.stdout);
  };

  it('reads the IPv4 destination a redirected connection dialled', () => {
    expect(connect(link.b.v4, 5432)).toEqual({ address: link.b.v4, port: 5432, family: 4 });
  });

  it('reads the IPv6 destination a redirected connection dialled', () => {
    expect(connect(link.b.v6, 8080)).toEqual({ address: link.b.v6, port: 8080, family: 6 });
  });

  it('has none for a connection made to the listener itself', () => {
    expect(connect('127.0.0.1', 4140)).toBeNull();
    expect(connect('::1', 4140)).toBeNull();
  });
});
