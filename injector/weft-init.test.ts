// weft-init's rule list: golden shell scripts (injector/testdata/weft-init-*.sh,
// regenerated with WEFT_UPDATE_GOLDEN=1), the order that matters, and
// runPlan()'s idempotence against a fake iptables that keeps state.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findWeftError } from '../proto/errors.ts';
import { PORTS } from '../proto/mesh.ts';
import { parsePortList } from './annotations.ts';
import { formatStep, ip6tablesFor, iptablesPlan, ipv6Needed, runPlan, type InitOptions, type IptablesStep } from './weft-init.ts';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const UPDATE = process.env.WEFT_UPDATE_GOLDEN === '1';

const base: InitOptions = {
  inboundPort: PORTS.proxyInbound,
  outboundPort: PORTS.proxyOutbound,
  proxyUid: PORTS.proxyUid,
  skipInboundPorts: parsePortList('4191', 'test'),
  skipOutboundPorts: [],
};

function golden(name: string, plan: IptablesStep[]): void {
  const path = join(DIR, `weft-init-${name}.sh`);
  const text = `${plan.map((s) => formatStep(s)).join('\n')}\n`;
  if (UPDATE) writeFileSync(path, text);
  expect(existsSync(path), `${path} missing; run with WEFT_UPDATE_GOLDEN=1`).toBe(true);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

/** A fake `iptables` for the nat table: chains of rule strings; -S/-N/-F/-A/-C as iptables does them. */
function fakeIptables() {
  const chains = new Map<string, string[]>([['PREROUTING', []], ['OUTPUT', []]]);
  const calls: string[] = [];
  const exec = (argv: readonly string[]) => {
    calls.push(argv.join(' '));
    const [w, t, table, op, chain, ...rule] = argv;
    expect([w, t, table]).toEqual(['-w', '-t', 'nat']);
    const rules = chain === undefined ? undefined : chains.get(chain);
    const key = rule.join(' ');
    switch (op) {
      case '-S':
        return { status: rules ? 0 : 1, stderr: rules ? '' : 'No chain/target/match by that name.' };
      case '-N':
        if (rules) return { status: 1, stderr: 'Chain already exists.' };
        chains.set(chain as string, []);
        return { status: 0, stderr: '' };
      case '-F':
        if (!rules) return { status: 1, stderr: 'No chain' };
        rules.length = 0;
        return { status: 0, stderr: '' };
      case '-A':
        if (!rules) return { status: 1, stderr: 'No chain' };
        rules.push(key);
        return { status: 0, stderr: '' };
      case '-C':
        return { status: rules?.includes(key) ? 0 : 1, stderr: '' };
      default:
        return { status: 2, stderr: `unknown op ${op}` };
    }
  };
  return { chains, calls, exec };
}

describe('iptablesPlan', () => {
  it('default rules (golden: testdata/weft-init-default.sh)', () => {
    golden('default', iptablesPlan(base));
  });

  it('skip ports, single and ranges (golden: testdata/weft-init-skip-ports.sh)', () => {
    golden(
      'skip-ports',
      iptablesPlan({
        ...base,
        skipInboundPorts: parsePortList('4191,9090,25', 'test'),
        skipOutboundPorts: parsePortList('3306,6379-6380', 'test'),
      }),
    );
  });

  it('orders the outbound chain: proxy uid, then loopback, then skip ports, then the redirect', () => {
    const rules = iptablesPlan({ ...base, skipOutboundPorts: parsePortList('3306', 't') })
      .map((s) => s.argv.join(' '))
      .filter((a) => a.includes('-A WEFT_OUTBOUND'));
    expect(rules).toEqual([
      '-w -t nat -A WEFT_OUTBOUND -m owner --uid-owner 2102 -j RETURN',
      '-w -t nat -A WEFT_OUTBOUND -o lo -j RETURN',
      '-w -t nat -A WEFT_OUTBOUND -p tcp --dport 3306 -j RETURN',
      '-w -t nat -A WEFT_OUTBOUND -p tcp -j REDIRECT --to-ports 4140',
    ]);
  });

  it('only creates chains and jumps when missing, and always flushes', () => {
    const plan = iptablesPlan(base);
    expect(plan.filter((s) => s.unless !== undefined).map((s) => s.argv[3])).toEqual(['-N', '-N', '-A', '-A']);
    expect(plan.filter((s) => s.argv[3] === '-F').map((s) => s.argv[4])).toEqual(['WEFT_INBOUND', 'WEFT_OUTBOUND']);
  });
});

describe('runPlan', () => {
  it('is idempotent: a second run leaves exactly the same rules', () => {
    const ipt = fakeIptables();
    const plan = iptablesPlan({ ...base, skipOutboundPorts: parsePortList('3306', 't') });
    runPlan(plan, ipt.exec, () => undefined);
    const first = structuredClone([...ipt.chains]);
    runPlan(plan, ipt.exec, () => undefined);
    expect([...ipt.chains]).toEqual(first);
    expect(ipt.chains.get('PREROUTING')).toEqual(['-p tcp -j WEFT_INBOUND']);
    expect(ipt.chains.get('OUTPUT')).toEqual(['-p tcp -j WEFT_OUTBOUND']);
    expect(ipt.chains.get('WEFT_INBOUND')).toEqual(['-p tcp --dport 4191 -j RETURN', '-p tcp -j REDIRECT --to-ports 4143']);
  });

  it('logs every step and stops at the first failure with WEFT_ERR_INIT_IPTABLES', () => {
    const lines: string[] = [];
    let n = 0;
    const exec = (argv: readonly string[]) =>
      ++n === 4
        ? { status: 4, stderr: 'Permission denied (you must be root)\n' }
        : { status: argv.includes('-S') ? 1 : 0, stderr: '' };
    let caught: unknown;
    try {
      runPlan(iptablesPlan(base), exec, (l) => lines.push(l), 'iptables-nft');
    } catch (err) {
      caught = err;
    }
    expect(findWeftError(caught)?.code).toBe('WEFT_ERR_INIT_IPTABLES');
    expect((caught as Error).message).toContain('Permission denied');
    expect((caught as Error).message).toContain('iptables-nft -w -t nat -N WEFT_OUTBOUND');
    expect(lines).toEqual([
      'iptables-nft -w -t nat -S WEFT_INBOUND >/dev/null 2>&1 || iptables-nft -w -t nat -N WEFT_INBOUND',
      'iptables-nft -w -t nat -S WEFT_OUTBOUND >/dev/null 2>&1 || iptables-nft -w -t nat -N WEFT_OUTBOUND',
    ]);
  });
});

describe('ipv6Needed / ip6tablesFor', () => {
  it('needs IPv6 rules when an interface other than lo has an IPv6 address', () => {
    const lo = '00000000000000000000000000000001 01 80 10 80       lo\n';
    const eth = 'fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n';
    expect(ipv6Needed(undefined)).toBe(false);
    expect(ipv6Needed('')).toBe(false);
    expect(ipv6Needed(lo)).toBe(false);
    expect(ipv6Needed(lo + eth)).toBe(true);
  });
  it('pairs ip6tables with the iptables flavour', () => {
    expect(ip6tablesFor('iptables')).toBe('ip6tables');
    expect(ip6tablesFor('/usr/sbin/iptables-nft')).toBe('/usr/sbin/ip6tables-nft');
    expect(ip6tablesFor('/opt/xt')).toBe('/opt/ip6tables');
  });
});
