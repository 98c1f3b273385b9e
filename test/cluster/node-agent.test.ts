// The test kubelet (node-agent.ts) on its own, without Weft: a Deployment's
// pod is bound, runs as processes in its own network namespace, reports its
// IP and readiness (so the controller manager fills the Service's
// EndpointSlice), sees its volumes and downward-API env, is reachable from
// the host and from another pod, and is torn down on deletion; stop()
// leaves no namespace, link, /etc/netns entry or iptables rule behind.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCluster } from './cluster-gate.ts';
import { startCluster, type Cluster } from './harness.ts';
import { ensureNamespace } from './kube-mesh-fixture.ts';
import { startNodeAgent, type NodeAgent } from './node-agent.ts';
import { waitFor } from './mesh-journey-fixture.ts';

const APP = `
const http = require('node:http');
const fs = require('node:fs');
http.createServer((req, res) => {
  res.end(JSON.stringify({ pod: process.env.POD_NAME, ns: process.env.POD_NAMESPACE, ip: process.env.POD_IP,
    greeting: fs.readFileSync(process.env.GREETING_FILE, 'utf8'), secret: process.env.SECRET }));
}).listen(8080, '0.0.0.0');
`;

describeCluster('test kubelet (node-agent.ts)', () => {
  let cluster: Cluster;
  let agent: NodeAgent;

  beforeAll(async () => {
    cluster = await startCluster();
    agent = await startNodeAgent({ cluster, accept: (p) => p.metadata.namespace === 'kubelet' });
    await ensureNamespace(cluster, 'kubelet');
    await cluster.waitForServiceAccount('kubelet');
  });

  afterAll(async () => {
    await agent?.stop();
    await cluster?.stop();
  });

  const podsOf = async (selector: string): Promise<{ metadata: { name: string }; spec: { nodeName?: string }; status: { podIP?: string; phase?: string; conditions?: { type: string; status: string }[] } }[]> =>
    (await cluster.api<{ items: never[] }>('GET', `/api/v1/namespaces/kubelet/pods?labelSelector=${encodeURIComponent(selector)}`)).body.items;

  it('binds a Deployment\'s pod, runs it in a network namespace with its env and volumes, and reports it Ready with its IP', async () => {
    await cluster.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'greeting', namespace: 'kubelet' }, data: { 'hello.txt': 'hello from a ConfigMap' } },
          { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'kubelet' }, stringData: { password: 's3cret' } },
          { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: 'kubelet' }, spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'echo', namespace: 'kubelet' },
            spec: {
              replicas: 1,
              selector: { matchLabels: { app: 'echo' } },
              template: {
                metadata: { labels: { app: 'echo' } },
                spec: {
                  terminationGracePeriodSeconds: 2,
                  containers: [
                    {
                      name: 'app',
                      image: 'weft.invalid/echo:1',
                      command: ['node', '-e', APP],
                      env: [
                        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                        { name: 'GREETING_FILE', value: '/etc/greeting/hello.txt' },
                        { name: 'SECRET', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
                      ],
                      ports: [{ name: 'http', containerPort: 8080 }],
                      readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
                      volumeMounts: [{ name: 'greeting', mountPath: '/etc/greeting' }],
                    },
                  ],
                  volumes: [{ name: 'greeting', configMap: { name: 'greeting' } }],
                },
              },
            },
          },
        ],
      }),
    });
    const pod = await waitFor('the echo pod Ready', async () => {
      const [p] = await podsOf('app=echo');
      return p !== undefined && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    }, 60_000);
    expect(pod.spec.nodeName).toBe('weft-test-node');
    expect(pod.status.phase).toBe('Running');
    const ip = pod.status.podIP ?? '';
    expect(ip.startsWith(agent.subnet.replace(/0\/24$/, ''))).toBe(true);
    const local = agent.pod('kubelet', pod.metadata.name);
    expect(local?.ip).toBe(ip);
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).toContain(local?.netns);

    // Reachable from the host on the bridge, with its downward-API env, ConfigMap volume and Secret env.
    const body = (await (await fetch(`http://${ip}:8080/`)).json()) as Record<string, string>;
    expect(body).toEqual({ pod: pod.metadata.name, ns: 'kubelet', ip, greeting: 'hello from a ConfigMap', secret: 's3cret' });

    // The EndpointSlice controller saw it Ready.
    const slice = await waitFor('an EndpointSlice with the pod', async () => {
      const r = await cluster.api<{ items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[] }>(
        'GET', '/apis/discovery.k8s.io/v1beta1/namespaces/kubelet/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Decho');
      const eps = r.body.items.flatMap((s) => s.endpoints ?? []);
      return eps.some((e) => e.addresses.includes(ip) && e.conditions?.ready === true) ? eps : undefined;
    }, 30_000);
    expect(slice.length).toBe(1);

    // exec runs inside the pod's namespace: its own address, and /etc/hosts naming the Service.
    const addr = await agent.exec('kubelet', pod.metadata.name, ['ip', '-4', '-o', 'addr', 'show', 'eth0']);
    expect(addr.stdout).toContain(`${ip}/24`);
    const hosts = await agent.exec('kubelet', pod.metadata.name, ['cat', '/etc/hosts']);
    const svc = (await cluster.api<{ spec: { clusterIP: string } }>('GET', '/api/v1/namespaces/kubelet/services/echo')).body.spec.clusterIP;
    expect(hosts.stdout).toContain(`${svc} echo echo.kubelet echo.kubelet.svc echo.kubelet.svc.cluster.local`);
  });

  it('restarts a container that exits, and counts it', async () => {
    const [pod] = await podsOf('app=echo');
    const name = pod?.metadata.name ?? '';
    const pid = Number(/weft-test:\/\/(\d+)/.exec(JSON.stringify((await cluster.api('GET', `/api/v1/namespaces/kubelet/pods/${name}`)).body))?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    await waitFor('restartCount 1 and Ready again', async () => {
      const p = (await cluster.api<{ status: { containerStatuses?: { restartCount: number; ready: boolean }[] } }>('GET', `/api/v1/namespaces/kubelet/pods/${name}`)).body;
      const cs = p.status.containerStatuses?.[0];
      return cs !== undefined && cs.restartCount === 1 && cs.ready ? true : undefined;
    }, 30_000);
  });

  it('tears a deleted pod down (processes, netns, veth, /etc/netns) and confirms the deletion', async () => {
    const [pod] = await podsOf('app=echo');
    const name = pod?.metadata.name ?? '';
    const local = agent.pod('kubelet', name);
    expect(local).toBeDefined();
    await cluster.kubectl(['-n', 'kubelet', 'scale', 'deployment/echo', '--replicas=0']);
    await waitFor('the pod object gone', async () => ((await cluster.api('GET', `/api/v1/namespaces/kubelet/pods/${name}`)).status === 404 ? true : undefined), 30_000);
    await waitFor('its netns gone', async () => (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes(local?.netns ?? '?') ? undefined : true), 10_000);
    expect(existsSync(`/etc/netns/${local?.netns}`)).toBe(false);
    expect(agent.pod('kubelet', name)).toBeUndefined();
  });

  it('stop() removes the bridge, the host iptables rule, the Node and every namespace', async () => {
    await cluster.kubectl(['-n', 'kubelet', 'scale', 'deployment/echo', '--replicas=1']);
    await waitFor('a new echo pod running', async () => (agent.pods().some((p) => p.ready) ? true : undefined), 60_000);
    const netns = agent.pods().map((p) => p.netns);
    const bridge = agent.bridge;
    await agent.stop();
    const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
    expect(links).not.toContain(bridge);
    const namespaces = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (const ns of netns) expect(namespaces).not.toContain(ns);
    expect(spawnSync('iptables', ['-w', '-S', 'FORWARD'], { encoding: 'utf8' }).stdout).not.toContain(bridge);
    expect((await cluster.api('GET', '/api/v1/nodes/weft-test-node')).status).toBe(404);
    expect(readFileSync('/etc/hosts', 'utf8')).not.toContain('echo.kubelet');
    await sleep(0);
  });
});
