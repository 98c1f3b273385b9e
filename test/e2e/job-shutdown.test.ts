// Injected Jobs complete on clusters without native sidecars: once a Job
// pod's app containers have terminated (the pod as the apiserver serves it,
// through kube-objects.ts and workload-done.ts), the control plane tells that
// pod's proxy over its config stream to shut down (mesh.proto rule 5), and the
// real proxy process exits 0 at once (no grace), so the kubelet can finish
// the pod. Real control plane (control-plane.ts: CA, TLS gRPC, metrics), real
// proxy process (proxy/main.ts in control-plane mode), real gRPC streams; the
// cluster source is a stand-in fed with Kubernetes Pod objects.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshGrpc } from '../../proto/mesh-grpc.ts';
import type { ConfigUpdate, ProxyMessage } from '../../proto/mesh.ts';
import { start as startControlPlane, type ControlPlane } from '../../control-plane/control-plane.ts';
import { configVersion } from '../../control-plane/config-stream.ts';
import type { ClusterSource } from '../../control-plane/cluster-source.ts';
import type { ClusterState } from '../../control-plane/cluster-state.ts';
import { clusterStateFromKube } from '../../control-plane/kube-objects.ts';
import { createBootstrapTokenValidator } from '../../control-plane/token-validator.ts';
import { channelCredentials, CHANNEL_OPTIONS } from '../../proxy/clients/control-plane-channel.ts';
import type { Proxy } from '../../proxy/proxy.ts';
import { Closer, id, metricValue, quiet, startProxy } from '../harness/mesh-fixture.ts';
import { waitFor } from '../harness/traffic-probe.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const NS = 'batch';
const SA = 'report';
const JOB_POD = 'report-28123-x7k2p';
const OTHER_POD = 'report-28123-b4n8m';

type ContainerState = Record<string, unknown>;
const running: ContainerState = { running: { startedAt: '2026-11-01T03:00:02Z' } };
const exited = (exitCode: number): ContainerState => ({ terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error' } });

/** A Job's injected pod (classic sidecar) as the apiserver serves it. */
function jobPod(name: string, app: ContainerState, serviceAccount = SA): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: NS,
      labels: { 'job-name': 'report-28123' },
      annotations: { 'weft.dev/proxy-version': '0.1.0' },
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'report-28123', controller: true, uid: 'u' }],
    },
    spec: {
      restartPolicy: 'Never',
      serviceAccountName: serviceAccount,
      initContainers: [{ name: 'weft-init', image: 'weft:0.1.0' }],
      containers: [
        { name: 'weft-proxy', image: 'weft:0.1.0', ports: [{ name: 'weft-admin', containerPort: 4191 }] },
        { name: 'report', image: 'example/report:1' },
      ],
    },
    status: {
      phase: 'Running',
      podIP: '198.18.0.7',
      containerStatuses: [
        { name: 'weft-proxy', ready: true, restartCount: 0, state: running },
        { name: 'report', ready: !('terminated' in app), restartCount: 0, state: app },
      ],
    },
  };
}

function stateOf(pods: unknown[]): ClusterState {
  return clusterStateFromKube({
    namespaces: [{ metadata: { name: NS } }],
    services: [],
    endpointSlices: [],
    pods,
    deployments: [],
    trafficSplits: [],
    httpRouteGroups: [],
    trafficTargets: [],
    tcpRoutes: [],
  });
}

/** A ClusterSource the test moves by hand (the Kubernetes source's contract, no apiserver). */
function handSource(initial: ClusterState): ClusterSource & { set(next: ClusterState): void } {
  let state = initial;
  let onChange: ((s: ClusterState) => void) | undefined;
  return {
    start(cb) {
      onChange = cb;
      cb(state);
      return Promise.resolve();
    },
    close: () => {
      onChange = undefined;
      return Promise.resolve();
    },
    current: () => state,
    set(next) {
      state = next;
      onChange?.(next);
    },
  };
}

interface ProxyChild {
  child: ChildProcess;
  adminPort: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stderr: () => string;
}

describe('a Job pod whose app containers finished', () => {
  const closer = new Closer();
  const validator = createBootstrapTokenValidator();
  const dir = mkdtempSync(join(tmpdir(), 'weft-job-'));
  const source = handSource(stateOf([jobPod(JOB_POD, running), jobPod(OTHER_POD, running)]));
  let cp: ControlPlane;
  let proxyChild: ProxyChild;
  let other: Proxy;
  const otherShutdowns: string[] = [];

  const controlPlaneTarget = () => ({ address: `127.0.0.1:${cp.ports.grpc}`, trustBundlePem: [...cp.trustBundlePem], serverId: cp.identity });
  const shutdownsCounted = async (reason: string): Promise<number> =>
    metricValue(await cp.metrics.registry.metrics(), 'weft_proxy_shutdowns_total', { reason });

  /** The real proxy process, as the injector runs it: control-plane mode, the injected grace (5 s) and all. */
  async function spawnProxy(pod: string, token: string): Promise<ProxyChild> {
    const bundle = join(dir, 'bundle.pem');
    const tokenFile = join(dir, `${pod}.token`);
    writeFileSync(bundle, cp.trustBundlePem.join('\n'));
    writeFileSync(tokenFile, token);
    const child = spawn(
      process.execPath,
      [
        'proxy/main.ts',
        '--control-plane', `127.0.0.1:${cp.ports.grpc}`,
        '--control-plane-id', cp.identity,
        '--trust-bundle', bundle,
        '--token-file', tokenFile,
        '--pod', pod,
        '--namespace', NS,
        '--service-account', SA,
        '--outbound-addr', '127.0.0.1:0',
        '--inbound-addr', '127.0.0.1:0',
        '--admin-addr', '127.0.0.1:0',
        '--shutdown-grace-ms', '5000',
        '--log-level', 'info',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (c: string) => (err += c));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
    );
    const first = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (c: string) => {
        out += c;
        const nl = out.indexOf('\n');
        if (nl !== -1) resolve(out.slice(0, nl));
      });
      void exit.then((e) => reject(new Error(`proxy exited early (${e.code ?? e.signal}): ${err}`)));
      setTimeout(() => reject(new Error('the proxy printed no ports within 20 s')), 20_000).unref();
    });
    const adminPort = (JSON.parse(first) as { listening: { admin: number } }).listening.admin;
    return { child, adminPort, exit, stderr: () => err };
  }

  beforeAll(async () => {
    cp = await startControlPlane({
      grpc: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      source,
      ca: { dir: join(dir, 'ca') },
      validator,
      logger: quiet,
    });
    proxyChild = await spawnProxy(JOB_POD, validator.issue(NS, SA));
    // A replica of the same Job (same ServiceAccount), still at work: in process, its shutdown hook recorded.
    const otherToken = validator.issue(NS, SA);
    other = closer.add(
      await startProxy({
        namespace: NS,
        logger: quiet,
        controlPlane: { ...controlPlaneTarget(), spiffeId: id(NS, SA), token: () => otherToken, pod: OTHER_POD, serviceAccount: SA },
        onShutdownRequested: (reason) => otherShutdowns.push(reason),
      }),
    );
    await waitFor(async () => (await fetch(`http://127.0.0.1:${proxyChild.adminPort}/ready`)).status === 200, 20_000);
    await waitFor(() => other.ready(), 20_000);
  }, 60_000);

  afterAll(async () => {
    if (proxyChild?.child.exitCode === null && proxyChild.child.signalCode === null) proxyChild.child.kill('SIGKILL');
    await closer.closeAll();
    await cp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('while the app runs, nothing happens', async () => {
    expect(await shutdownsCounted('WorkloadSucceeded')).toBe(0);
    expect(proxyChild.child.exitCode).toBeNull();
    expect(otherShutdowns).toEqual([]);
  });

  it('once it has exited 0, its proxy process is told to shut down and exits 0 within 2 s (the 5 s grace skipped); the other replica keeps running', async () => {
    const t0 = performance.now();
    source.set(stateOf([jobPod(JOB_POD, exited(0)), jobPod(OTHER_POD, running)]));
    const exit = await Promise.race([
      proxyChild.exit,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit within 10 s:\n${proxyChild.stderr().slice(-3000)}`)), 10_000)),
    ]);
    expect(exit.code).toBe(0);
    expect(exit.signal).toBeNull();
    expect(exit.at - t0).toBeLessThan(2_000);
    // The proxy said why, once, at info.
    const lines = proxyChild.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.reason === 'WorkloadSucceeded' && l.level === 'info')).toHaveLength(1);
    expect(await shutdownsCounted('WorkloadSucceeded')).toBe(1);
    expect(other.ready()).toBe(true);
    expect(otherShutdowns).toEqual([]);
  });

  it('a replica that failed (restartPolicy Never) is told too, with its own reason', async () => {
    source.set(stateOf([jobPod(JOB_POD, exited(0)), jobPod(OTHER_POD, exited(2))]));
    await waitFor(() => otherShutdowns.length > 0, 5_000);
    expect(otherShutdowns).toEqual(['WorkloadFailed']);
    expect(await shutdownsCounted('WorkloadFailed')).toBe(1);
  });

  it('a proxy that subscribes when its pod is already done is told at once; one of another ServiceAccount claiming that pod is not', async () => {
    const restarted: string[] = [];
    const token = validator.issue(NS, SA);
    const again = closer.add(
      await startProxy({
        namespace: NS,
        logger: quiet,
        controlPlane: { ...controlPlaneTarget(), spiffeId: id(NS, SA), token: () => token, pod: JOB_POD, serviceAccount: SA },
        onShutdownRequested: (reason) => restarted.push(reason),
      }),
    );
    await waitFor(() => restarted.length > 0, 10_000);
    expect(restarted).toEqual(['WorkloadSucceeded']);
    expect(again.ready()).toBe(false);

    const strangerToken = validator.issue(NS, 'someone-else');
    const strangerShutdowns: string[] = [];
    const stranger = closer.add(
      await startProxy({
        namespace: NS,
        logger: quiet,
        controlPlane: { ...controlPlaneTarget(), spiffeId: id(NS, 'someone-else'), token: () => strangerToken, pod: JOB_POD, serviceAccount: 'someone-else' },
        onShutdownRequested: (reason) => strangerShutdowns.push(reason),
      }),
    );
    // The shutdown would ride on the first update: a proxy that holds its config has had it.
    await waitFor(() => stranger.current() !== undefined, 10_000);
    expect(strangerShutdowns).toEqual([]);
  });

  it('the shutdown update carries the current config too (a proxy that predates the field acks it), once per stream', async () => {
    const client = new (meshGrpc().Config)(controlPlaneTarget().address, channelCredentials(controlPlaneTarget()), CHANNEL_OPTIONS);
    const call = client.Stream!() as grpc.ClientDuplexStream<ProxyMessage, ConfigUpdate>;
    const updates: ConfigUpdate[] = [];
    call.on('data', (u: ConfigUpdate) => {
      updates.push(u);
      call.write({ ack: { version: u.config.version, ok: true, error: '' } });
    });
    call.on('error', () => undefined);
    call.write({ subscribe: { namespace: NS, pod: JOB_POD, serviceAccount: SA, version: '', token: validator.issue(NS, SA) } });
    await waitFor(() => updates.length > 0, 10_000);
    const [first] = updates;
    expect(first?.shutdown).toEqual({ reason: 'WorkloadSucceeded' });
    expect(first?.config.version).toBe(configVersion(cp.render({ namespace: NS, serviceAccount: SA, pod: JOB_POD })));
    // A later change of the cluster sends no second shutdown on this stream.
    source.set(stateOf([jobPod(JOB_POD, exited(0)), jobPod(OTHER_POD, exited(2)), jobPod('unrelated', running, 'other')]));
    await new Promise((r) => setTimeout(r, 300));
    expect(updates.filter((u) => u.shutdown !== null && u.shutdown !== undefined)).toHaveLength(1);
    call.cancel();
    client.close();
  });
});
