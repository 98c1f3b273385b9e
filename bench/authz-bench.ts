// The cost of access control (the authorization issue, acceptance 5), two ways:
//   1. the policy evaluation alone (proxy/routing/authz-policy.ts): ns per
//      authorize() with no TrafficTarget (the default policy) and with 100
//      TrafficTargets in force (3 sources and 2 HTTP matches each, the one
//      that allows the call last: the worst case), HTTP and opaque TCP;
//   2. end to end: HTTP/1.1 through two Weft sidecars with mTLS (the proxies
//      built as dist/ and run as an injected container runs them), the server
//      sidecar with no TrafficTarget and with the same 100 in force,
//      interleaved rounds of wrk -c32: requests/s and p50 / p99.
// Prints Markdown for bench/RESULTS.md. Usage: npm run bench:authz [-- --seconds 5 --rounds 3]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { buildDist } from '../deploy/dist-build.ts';
import type { AuthzRule, InboundPolicy } from '../proto/mesh.ts';
import { compileAuthz, type AuthzRequest } from '../proxy/routing/authz-policy.ts';
import { CLIENT_ID, clientSidecarConfig, serverSidecarConfig, startProxyProcess, writePki } from './mesh.ts';
import { killAllNow, sleep, spawnChild, stopAll, waitForLine } from './proc.ts';
import { wrk } from './load.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const log = (s: string): void => void process.stderr.write(`[authz-bench] ${s}\n`);

/** 100 TrafficTargets compiled, as the control plane sends them: the client's is the last. */
function hundredRules(): AuthzRule[] {
  return Array.from({ length: 100 }, (_, i): AuthzRule => {
    const last = i === 99;
    return {
      name: `demo/target-${i}`,
      sources: [
        `spiffe://cluster.local/ns/team-${i}/sa/reader`,
        `spiffe://cluster.local/ns/team-${i}/sa/writer`,
        last ? CLIENT_ID : `spiffe://cluster.local/ns/team-${i}/sa/batch`,
      ],
      port: 0,
      http: [
        { path: { regex: `(?:/team-${i}/api/).*` }, methods: ['GET', 'HEAD'], headers: [] },
        { path: { regex: last ? '(?:/).*' : `(?:/team-${i}/admin/).*` }, methods: last ? [] : ['POST'], headers: last ? [] : [{ name: 'x-tenant', regex: 't-[0-9]+' }] },
      ],
      tcp: false,
      tcpPorts: [],
    };
  });
}

function nsPerCall(policy: InboundPolicy, req: AuthzRequest, n = 1_000_000): { ns: number; allowed: boolean } {
  const a = compileAuthz(policy);
  let allowed = false;
  for (let i = 0; i < 10_000; i++) allowed = a.authorize(req).allowed; // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) allowed = a.authorize(req).allowed;
  return { ns: ((performance.now() - t0) * 1e6) / n, allowed };
}

async function main(): Promise<void> {
  const base: InboundPolicy = { mode: 'STRICT', allowedIdentities: [], appPorts: [8080], identity: '' };
  const http = { method: 'GET', path: '/users/42?x=1', headers: { host: 'web.demo', 'user-agent': 'wrk', accept: '*/*' } };
  const micro = [
    { label: 'no TrafficTarget (default policy)', ...nsPerCall(base, { clientId: CLIENT_ID, port: 8080, http }) },
    { label: '100 TrafficTargets, HTTP request, allowed by the last', ...nsPerCall({ ...base, targeted: true, authzRules: hundredRules() }, { clientId: CLIENT_ID, port: 8080, http }) },
    { label: '100 TrafficTargets, HTTP request, denied (no rule names the client)', ...nsPerCall({ ...base, targeted: true, authzRules: hundredRules() }, { clientId: 'spiffe://cluster.local/ns/x/sa/y', port: 8080, http }) },
    { label: '100 TrafficTargets, opaque TCP, denied', ...nsPerCall({ ...base, targeted: true, authzRules: hundredRules() }, { clientId: CLIENT_ID, port: 8080 }) },
  ];

  const tmp = mkdtempSync(join(tmpdir(), 'weft-authz-bench-'));
  log('building dist/');
  await buildDist();
  const up = spawnChild('upstream', process.execPath, [join(BENCH_DIR, 'upstream.ts')]);
  const upstreamPort = (JSON.parse(await waitForLine(up, (l) => l.startsWith('{'))) as { port: number }).port;
  const pki = writePki(tmp);
  const pair = async (name: string, withRules: boolean) => {
    const server = serverSidecarConfig(upstreamPort, pki.trustBundlePem) as { inbound: Record<string, unknown> };
    if (withRules) Object.assign(server.inbound, { targeted: true, authzRules: hundredRules() });
    const b = await startProxyProcess({ name: `${name}-b`, dir: tmp, namespace: 'demo', config: server, identity: pki.server });
    const a = await startProxyProcess({ name: `${name}-a`, dir: tmp, namespace: 'demo', config: clientSidecarConfig(upstreamPort, b.ports.inbound, pki.trustBundlePem), identity: pki.client });
    return a.ports.outbound;
  };
  const scenarios = [
    { label: 'no TrafficTarget', port: await pair('plain', false) },
    { label: '100 TrafficTargets', port: await pair('rules', true) },
  ];
  const results = new Map<string, Array<{ rps: number; p50: number; p99: number; errors: number }>>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of scenarios) {
      log(`round ${r + 1}/${ROUNDS}: ${s.label}`);
      const w = await wrk({ port: s.port, host: 'web.demo' }, { connections: 32, seconds: SECONDS });
      const list = results.get(s.label) ?? [];
      list.push({ rps: w.rps, p50: w.latencyMs.p50, p99: w.latencyMs.p99, errors: w.non2xx + w.socketErrors });
      results.set(s.label, list);
      await sleep(500);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const out: string[] = [];
  out.push('| policy evaluation | ns per call | verdict |', '|---|---:|---|');
  for (const m of micro) out.push(`| ${m.label} | ${m.ns.toFixed(0)} | ${m.allowed ? 'allowed' : 'denied'} |`);
  out.push('', '| two sidecars, mTLS, HTTP/1.1 (wrk -c32) | rps | × none | p50 ms | p99 ms | errors | rounds |', '|---|---:|---:|---:|---:|---:|---|');
  const none = median((results.get('no TrafficTarget') ?? []).map((x) => x.rps));
  for (const s of scenarios) {
    const rs = results.get(s.label) ?? [];
    const rps = median(rs.map((x) => x.rps));
    out.push(
      `| ${s.label} | ${rps.toFixed(0)} | ${(rps / none).toFixed(3)} | ${median(rs.map((x) => x.p50)).toFixed(2)} | ${median(rs.map((x) => x.p99)).toFixed(2)} | ${rs.reduce((a, x) => a + x.errors, 0)} | ${rs.map((x) => x.rps.toFixed(0)).join(' / ')} |`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  writeFileSync(join(BENCH_DIR, 'out', `authz-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ micro, results: [...results] }, null, 2));
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}

main().catch(async (err: unknown) => {
  process.stderr.write(`authz-bench: ${err instanceof Error ? err.message : String(err)}\n`);
  killAllNow();
  await stopAll(0);
  process.exit(1);
});
