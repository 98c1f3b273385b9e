// A long-lived gRPC stream in the local mesh (the HTTP/2 issue, acceptance
// 7), real processes everywhere (weft up: control plane, and an app + proxy
// per replica, mTLS between proxies, 10 s certificates): one bidirectional
// Chat stays up, answered by the same replica, across a TrafficSplit edit
// (new calls follow the new weights), certificate rotations on both ends,
// and a control-plane kill and restart; then SIGTERM of its server's proxy
// lets it finish within the drain time while new calls go to the other
// replica.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { up, type LocalMesh } from '../../cli/up.ts';
import { EchoClient, type EchoMsg } from '../../cli/demo-grpc.ts';
import { parsePrometheusText } from '../../cli/prometheus-text.ts';
import { waitFor } from '../harness/traffic-probe.ts';

const NAMESPACE = `apiVersion: v1
kind: Namespace
metadata: { name: demo, annotations: { weft.dev/inject: enabled } }
`;
const service = (name: string, selector: string): string => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: demo }
spec:
  selector: { ${selector} }
  ports: [{ name: grpc, port: 80, targetPort: grpc }]
`;
const deployment = (version: string, replicas: number): string => `apiVersion: apps/v1
kind: Deployment
metadata: { name: echo-${version}, namespace: demo }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: echo, version: ${version} } }
  template:
    metadata: { labels: { app: echo, version: ${version} } }
    spec:
      serviceAccountName: echo
      containers:
        - name: echo
          command: [weft-demo, grpc-server]
          env: [{ name: VERSION, value: ${version} }]
          ports: [{ name: grpc, containerPort: 8080 }]
`;
const CLIENT = `apiVersion: apps/v1
kind: Deployment
metadata: { name: client, namespace: demo }
spec:
  replicas: 1
  selector: { matchLabels: { app: client } }
  template:
    metadata: { labels: { app: client } }
    spec:
      serviceAccountName: client
      containers:
        - name: client
          command: [weft-demo, server]
          ports: [{ name: http, containerPort: 8080 }]
`;
const SPLIT = (v1: number, v2: number): string => `apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: { name: echo, namespace: demo }
spec:
  service: echo
  backends:
    - { service: echo-v1, weight: ${v1} }
    - { service: echo-v2, weight: ${v2} }
`;

type Client = grpc.Client & {
  Say(req: Partial<EchoMsg>, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: EchoMsg) => void): void;
  Chat(): grpc.ClientDuplexStream<Partial<EchoMsg>, EchoMsg>;
};

async function refreshCount(ip: string): Promise<number> {
  const text = await (await fetch(`http://${ip}:4191/metrics`)).text();
  return parsePrometheusText(text).find((s) => s.name === 'identity_cert_refresh_count')?.value ?? 0;
}

async function configVersion(ip: string): Promise<string> {
  return ((await (await fetch(`http://${ip}:4191/config`)).json()) as { version: string }).version;
}

describe('a long-lived gRPC stream in the local mesh', () => {
  let dir: string;
  let mesh: LocalMesh;
  let client: Client;
  let clientIp: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-grpc-mesh-'));
    writeFileSync(join(dir, 'namespace.yaml'), NAMESPACE);
    writeFileSync(join(dir, 'echo.yaml'), [service('echo', 'app: echo'), service('echo-v1', 'app: echo, version: v1'), service('echo-v2', 'app: echo, version: v2'), deployment('v1', 2), deployment('v2', 1)].join('---\n'));
    writeFileSync(join(dir, 'client.yaml'), CLIENT);
    writeFileSync(join(dir, 'split.yaml'), SPLIT(100, 0));
    mesh = await up({ dir, addressBase: `127.${100 + Math.floor(Math.random() * 100)}`, restartControlPlane: false, leafLifetimeMs: 10_000 });
    await mesh.ready(60_000);
    const pod = mesh.pods.find((p) => p.pod.name.startsWith('client-'));
    if (pod === undefined) throw new Error('no client pod');
    clientIp = pod.pod.ip;
    // Explicit mode: the client's proxy, the service named in :authority.
    client = new EchoClient(`${clientIp}:4140`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'echo.demo:80' }) as unknown as Client;
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await mesh?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const say = (text: string): Promise<EchoMsg> =>
    new Promise((resolve, reject) => client.Say({ text }, { deadline: Date.now() + 5_000 }, (err, res) => (err !== null || res === undefined ? reject(err ?? new Error('no reply')) : resolve(res))));

  it('stays up across a split change, certificate rotations and a control-plane restart; SIGTERM of its server proxy lets it finish while new calls go elsewhere', async () => {
    const chat = client.Chat();
    const replies: EchoMsg[] = [];
    const waiting: Array<(m: EchoMsg) => void> = [];
    chat.on('data', (m: EchoMsg) => {
      replies.push(m);
      waiting.shift()?.(m);
    });
    const status = new Promise<grpc.StatusObject>((resolve) => chat.on('status', resolve));
    chat.on('error', () => {});
    let n = 0;
    const exchange = (): Promise<EchoMsg> =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no reply to message ${n}`)), 5_000);
        waiting.push((m) => {
          clearTimeout(t);
          resolve(m);
        });
        chat.write({ text: `m${n++}` });
      });
    const first = await exchange();
    const pinned = first.from;
    expect(pinned).toMatch(/^v1\/echo-v1-/);
    // The stream is exchanged on every 100 ms from here on, in the background.
    let chatting = true;
    const chatLoop = (async () => {
      while (chatting) {
        const m = await exchange();
        expect(m.from).toBe(pinned);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    // 1. Split change: new calls go to v2 within 2 s; the stream stays where it is.
    writeFileSync(join(dir, 'split.yaml'), SPLIT(0, 100));
    await waitFor(async () => (await say('after-edit')).from.startsWith('v2/'), 5_000, 100);
    for (let i = 0; i < 10; i++) expect((await say('v2?')).from).toMatch(/^v2\//);

    // 2. Certificate rotation on both ends (10 s leaves).
    const pinnedPod = mesh.pods.find((p) => pinned.endsWith(`/${p.pod.name}`));
    if (pinnedPod === undefined) throw new Error(`no pod for ${pinned}`);
    const ips = [clientIp, pinnedPod.pod.ip];
    const before = await Promise.all(ips.map(refreshCount));
    await waitFor(async () => (await Promise.all(ips.map(refreshCount))).every((c, i) => c > (before[i] ?? 0)), 20_000, 250);

    // 3. Control-plane kill and restart: the proxies keep their config; the stream does not notice.
    const version = await configVersion(clientIp);
    mesh.controlPlane.kill('SIGKILL');
    await mesh.controlPlane.exited();
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await say('cp-down')).from).toMatch(/^v2\//);
    writeFileSync(join(dir, 'split.yaml'), SPLIT(100, 0));
    mesh.controlPlane.respawn();
    await waitFor(async () => (await configVersion(clientIp)) !== version, 20_000, 200);
    await waitFor(async () => (await say('back-to-v1')).from.startsWith('v1/'), 5_000, 100);

    // 4. SIGTERM of the pinned server's proxy: the stream is let finish (the
    //    client ends it), and new calls meanwhile go to the other v1 replica.
    const sigtermAt = replies.length;
    pinnedPod.proxy.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const others = new Set<string>();
    for (let i = 0; i < 20; i++) others.add((await say(`after-sigterm-${i}`)).from);
    expect([...others].every((f) => f.startsWith('v1/') && f !== pinned)).toBe(true);
    await new Promise((r) => setTimeout(r, 700));
    chatting = false;
    await chatLoop;
    expect(replies.length - sigtermAt).toBeGreaterThanOrEqual(5);
    chat.end();
    const final = await status;
    expect(final.code, `${final.code} ${final.details}`).toBe(grpc.status.OK);
    expect(replies.every((m) => m.from === pinned)).toBe(true);
    expect(replies.length).toBeGreaterThan(50);
  }, 90_000);
});
