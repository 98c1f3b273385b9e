// weft-init's iptables rules, as data. iptablesPlan() is pure: options in,
// the ordered list of `iptables` invocations out; runPlan() executes a plan
// through a caller-given exec (init-main.ts passes the real iptables).
//
// The rules, in the pod's network namespace, nat table:
//   WEFT_INBOUND (jumped to from PREROUTING, tcp): the admin port and the
//     configured skip ports RETURN (go straight to their listener); every
//     other inbound TCP connection is REDIRECTed to the proxy's inbound port.
//   WEFT_OUTBOUND (jumped to from OUTPUT, tcp): the proxy's own traffic (its
//     uid) RETURNs first, so that the proxy's connections to peers and to the
//     control plane are never looped back into it; loopback traffic RETURNs
//     (app <-> proxy on 127.0.0.1, app-local calls); the configured skip ports
//     RETURN; everything else is REDIRECTed to the proxy's outbound port.
//
// Idempotent: running the plan twice leaves the same rules. Chains are
// created only when missing (`-S CHAIN` fails), then flushed and refilled;
// the jumps from PREROUTING/OUTPUT are appended only when absent (`-C`).
// Every call passes `-w` to wait for the xtables lock instead of failing.
import { WeftError } from '../proto/errors.ts';
import { formatPortRange, type PortRange } from './annotations.ts';

export const INBOUND_CHAIN = 'WEFT_INBOUND';
export const OUTBOUND_CHAIN = 'WEFT_OUTBOUND';

export interface InitOptions {
  /** The proxy's inbound port (4143). */
  inboundPort: number;
  /** The proxy's outbound port (4140). */
  outboundPort: number;
  /** The proxy's uid (2102): its own traffic is never redirected. */
  proxyUid: number;
  /** Inbound destination ports that bypass the proxy (the admin port among them). */
  skipInboundPorts: readonly PortRange[];
  /** Outbound destination ports that bypass the proxy. */
  skipOutboundPorts: readonly PortRange[];
}

/** One iptables invocation (argv without the binary); with `unless`, only when that check fails. */
export interface IptablesStep {
  unless?: string[];
  argv: string[];
}

const nat = (...args: string[]): string[] => ['-w', '-t', 'nat', ...args];

export function iptablesPlan(o: InitOptions): IptablesStep[] {
  const steps: IptablesStep[] = [];
  for (const chain of [INBOUND_CHAIN, OUTBOUND_CHAIN]) {
    steps.push({ unless: nat('-S', chain), argv: nat('-N', chain) });
  }
  for (const chain of [INBOUND_CHAIN, OUTBOUND_CHAIN]) steps.push({ argv: nat('-F', chain) });

  for (const r of o.skipInboundPorts) {
    steps.push({ argv: nat('-A', INBOUND_CHAIN, '-p', 'tcp', '--dport', formatPortRange(r, ':'), '-j', 'RETURN') });
  }
  steps.push({ argv: nat('-A', INBOUND_CHAIN, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(o.inboundPort)) });

  steps.push({ argv: nat('-A', OUTBOUND_CHAIN, '-m', 'owner', '--uid-owner', String(o.proxyUid), '-j', 'RETURN') });
  steps.push({ argv: nat('-A', OUTBOUND_CHAIN, '-o', 'lo', '-j', 'RETURN') });
  for (const r of o.skipOutboundPorts) {
    steps.push({ argv: nat('-A', OUTBOUND_CHAIN, '-p', 'tcp', '--dport', formatPortRange(r, ':'), '-j', 'RETURN') });
  }
  steps.push({ argv: nat('-A', OUTBOUND_CHAIN, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(o.outboundPort)) });

  for (const [hook, chain] of [['PREROUTING', INBOUND_CHAIN], ['OUTPUT', OUTBOUND_CHAIN]] as const) {
    const rule = ['-p', 'tcp', '-j', chain];
    steps.push({ unless: nat('-C', hook, ...rule), argv: nat('-A', hook, ...rule) });
  }
  return steps;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A step as a shell line: `iptables ARGS`, or `iptables CHECK >/dev/null 2>&1 || iptables ARGS`. */
export function formatStep(step: IptablesStep, binary = 'iptables'): string {
  const cmd = (argv: readonly string[]): string => [binary, ...argv].map(shellQuote).join(' ');
  return step.unless === undefined ? cmd(step.argv) : `${cmd(step.unless)} >/dev/null 2>&1 || ${cmd(step.argv)}`;
}

export interface ExecResult {
  status: number;
  stderr: string;
}

/**
 * Runs a plan: each `unless` check first (a zero exit skips the step), then
 * the step; stops at the first failing step with a WEFT_ERR_INIT_IPTABLES
 * error naming it.
 * `log` receives each step as a shell line before it runs.
 */
export function runPlan(
  plan: readonly IptablesStep[],
  exec: (argv: readonly string[]) => ExecResult,
  log: (line: string) => void,
  binary = 'iptables',
): void {
  for (const step of plan) {
    log(formatStep(step, binary));
    if (step.unless !== undefined && exec(step.unless).status === 0) continue;
    const r = exec(step.argv);
    if (r.status !== 0) {
      throw new WeftError('WEFT_ERR_INIT_IPTABLES', `${formatStep({ argv: step.argv }, binary)} failed (exit ${r.status}): ${r.stderr.trim()}`);
    }
  }
}

/**
 * Whether the pod has IPv6 beyond loopback, from /proc/net/if_inet6 (one line
 * per address; the interface name is the last column). Such a pod must get the
 * same rules through ip6tables, or IPv6 would bypass the proxy. Pure.
 */
export function ipv6Needed(ifInet6: string | undefined): boolean {
  if (ifInet6 === undefined) return false;
  return ifInet6.split('\n').some((line) => {
    const cols = line.trim().split(/\s+/);
    return cols.length >= 6 && cols[cols.length - 1] !== 'lo';
  });
}

/** The ip6tables binary that goes with an iptables one (iptables-nft -> ip6tables-nft). */
export function ip6tablesFor(iptables: string): string {
  const slash = iptables.lastIndexOf('/');
  const dir = iptables.slice(0, slash + 1);
  const base = iptables.slice(slash + 1);
  return base.startsWith('iptables') ? `${dir}ip6tables${base.slice('iptables'.length)}` : `${dir}ip6tables`;
}
