#!/usr/bin/env node
// weft-init: the injected init container. Sets up the pod's iptables rules
// (weft-init.ts) with whatever `iptables` the image has (override with
// --iptables, e.g. iptables-legacy or iptables-nft) and prints each command;
// --dry-run prints them as a shell script and changes nothing.
// Only parsing lives here; exit 0 on success, 1 when a rule fails, 2 on bad flags.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { PORTS } from '../proto/mesh.ts';
import { findWeftError } from '../proto/errors.ts';
import { parsePortList } from './annotations.ts';
import { readFileSync } from 'node:fs';
import { formatStep, ip6tablesFor, iptablesPlan, ipv6Needed, runPlan, type IptablesStep } from './weft-init.ts';

const env = process.env;
let values;
try {
  ({ values } = parseArgs({
    options: {
      'inbound-port': { type: 'string', default: env.WEFT_INIT_INBOUND_PORT ?? String(PORTS.proxyInbound) },
      'outbound-port': { type: 'string', default: env.WEFT_INIT_OUTBOUND_PORT ?? String(PORTS.proxyOutbound) },
      'proxy-uid': { type: 'string', default: env.WEFT_INIT_PROXY_UID ?? String(PORTS.proxyUid) },
      'skip-inbound-ports': { type: 'string', default: env.WEFT_INIT_SKIP_INBOUND_PORTS ?? String(PORTS.proxyAdmin) },
      'skip-outbound-ports': { type: 'string', default: env.WEFT_INIT_SKIP_OUTBOUND_PORTS ?? '' },
      iptables: { type: 'string', default: env.WEFT_INIT_IPTABLES ?? 'iptables' },
      ip6tables: { type: 'string', default: env.WEFT_INIT_IP6TABLES },
      // auto: IPv6 rules when the pod has IPv6 beyond loopback (then they must succeed); on: always; off: never.
      ipv6: { type: 'string', default: env.WEFT_INIT_IPV6 ?? 'auto' },
      'dry-run': { type: 'boolean', default: false },
    },
  }));
} catch (err) {
  process.stderr.write(`weft-init: ${(err as Error).message}\n`);
  process.exit(2);
}

function number(flag: string, s: string, max: number): number {
  if (!/^\d+$/.test(s) || Number(s) > max) {
    process.stderr.write(`weft-init: --${flag} ${JSON.stringify(s)} is not a number up to ${max}\n`);
    process.exit(2);
  }
  return Number(s);
}

let plan: IptablesStep[];
try {
  plan = iptablesPlan({
    inboundPort: number('inbound-port', values['inbound-port'], 65535),
    outboundPort: number('outbound-port', values['outbound-port'], 65535),
    proxyUid: number('proxy-uid', values['proxy-uid'], 2 ** 32 - 2),
    skipInboundPorts: parsePortList(values['skip-inbound-ports'], '--skip-inbound-ports'),
    skipOutboundPorts: parsePortList(values['skip-outbound-ports'], '--skip-outbound-ports'),
  });
} catch (err) {
  process.stderr.write(`weft-init: ${(err as Error).message}\n`);
  process.exit(2);
}

const binary = values.iptables;
const binary6 = values.ip6tables ?? ip6tablesFor(binary);
const ipv6Mode = values.ipv6;
if (ipv6Mode !== 'auto' && ipv6Mode !== 'on' && ipv6Mode !== 'off') {
  process.stderr.write(`weft-init: --ipv6 ${JSON.stringify(ipv6Mode)} is not auto, on or off\n`);
  process.exit(2);
}
let ifInet6: string | undefined;
try {
  ifInet6 = readFileSync('/proc/net/if_inet6', 'utf8');
} catch {
  ifInet6 = undefined;
}
const withIpv6 = ipv6Mode === 'on' || (ipv6Mode === 'auto' && ipv6Needed(ifInet6));

if (values['dry-run']) {
  const lines = plan.map((s) => formatStep(s, binary));
  if (withIpv6) lines.push(...plan.map((s) => formatStep(s, binary6)));
  process.stdout.write(`${lines.join('\n')}\n`);
  process.exit(0);
}

function run(bin: string, what: string): void {
  try {
    runPlan(
      plan,
      (argv) => {
        const r = spawnSync(bin, argv, { encoding: 'utf8' });
        if (r.error !== undefined) return { status: 127, stderr: r.error.message };
        return { status: r.status ?? 1, stderr: r.stderr };
      },
      (line) => process.stdout.write(`${line}\n`),
      bin,
    );
  } catch (err) {
    const e = findWeftError(err);
    process.stderr.write(`weft-init: ${e?.code ?? 'error'}: ${what}${(err as Error).message}\n`);
    process.exit(1);
  }
}
run(binary, '');
if (withIpv6) {
  run(binary6, 'this pod has IPv6, and without ip6tables rules IPv6 traffic would bypass the proxy: ');
  process.stdout.write('weft-init: iptables and ip6tables rules in place\n');
} else {
  process.stdout.write('weft-init: iptables rules in place (no IPv6 on this pod beyond loopback)\n');
}
