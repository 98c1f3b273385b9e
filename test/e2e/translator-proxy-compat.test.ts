// The control plane's translator and the proxy agree: every config the
// translator produces passes the proxy's validation unchanged (complete, no
// default left for the proxy to fill), survives the mesh.proto wire format,
// compiles, and routes as TrafficSplit semantics say. control-plane/ may not
// import proxy/, so the cross-check lives here.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterState } from '../../control-plane/cluster-state.ts';
import { translate, type TranslateOptions } from '../../control-plane/config-translator.ts';
import { createFileSource, type FileSource } from '../../control-plane/file-source.ts';
import {
  canaryState,
  endpoints,
  pod,
  port,
  routeGroup,
  service,
  split,
} from '../../control-plane/testdata/builders.ts';
import type { ProxyConfig } from '../../proto/mesh.ts';
import { compileConfig, type CompiledService, type RuntimeConfig } from '../../proxy/config/config-compile.ts';
import { validateProxyConfig } from '../../proxy/config/config-validate.ts';
import { matchRoute } from '../../proxy/routing/route-match.ts';
import { chooseWeighted } from '../../proxy/routing/weighted-choice.ts';

const OPTS: TranslateOptions = { trustDomain: 'cluster.local', trustBundlePem: ['-----BEGIN CERTIFICATE-----\n'], version: 'v7' };
const CLIENT = { namespace: 'demo', podName: 'client-a', serviceAccount: 'client' };

const root = protobuf.loadSync(fileURLToPath(new URL('../../proto/mesh.proto', import.meta.url)));
const ConfigType = root.lookupType('weft.mesh.v1.ProxyConfig');

/** Through the wire: fromObject -> encode -> decode -> toObject, as a proxy receives it. */
function overTheWire(config: ProxyConfig): unknown {
  const bytes = ConfigType.encode(ConfigType.fromObject(config as unknown as Record<string, unknown>)).finish();
  return ConfigType.toObject(ConfigType.decode(bytes), { enums: String, longs: Number, defaults: true, arrays: true, oneofs: false });
}

/** Translates, checks it against the proxy, and returns the compiled runtime config. */
function check(state: ClusterState, opts: TranslateOptions = OPTS): RuntimeConfig {
  const { config } = translate(state, CLIENT, opts);
  expect(validateProxyConfig(config)).toEqual(config);
  expect(validateProxyConfig(overTheWire(config))).toEqual(config);
  expect(validateProxyConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
  return compileConfig(validateProxyConfig(overTheWire(config)), opts.clusterDomain);
}

function svc(rt: RuntimeConfig, id: string): CompiledService {
  const s = rt.services.get(id);
  if (s === undefined) throw new Error(`no service ${id}`);
  return s;
}

/** Shares of traffic per backend service id over `n` evenly spread random values. */
function shares(rt: RuntimeConfig, id: string, routeIndex = 0, n = 1000): Record<string, number> {
  const route = svc(rt, id).routes[routeIndex];
  if (route === undefined) throw new Error(`no route ${routeIndex} on ${id}`);
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const b = chooseWeighted(route.split, () => (i + 0.5) / n);
    const k = b?.service.id ?? 'none';
    out[k] = (out[k] ?? 0) + 1 / n;
  }
  for (const k of Object.keys(out)) out[k] = Math.round(out[k]! * 1000) / 1000;
  return out;
}

function routeFor(rt: RuntimeConfig, id: string, req: { path: string; method?: string; headers?: Record<string, string> }): string {
  const hit = matchRoute(svc(rt, id).compiledRoutes, { path: req.path, method: req.method ?? 'GET', headers: req.headers ?? {} });
  return hit === undefined ? '(none)' : hit.route.name;
}

describe('translator output is what the proxy accepts', () => {
  it('canary 90/10 splits 90/10 in the proxy', () => {
    const rt = check(canaryState());
    expect(shares(rt, 'web.demo')).toEqual({ 'web-v1.demo': 0.9, 'web-v2.demo': 0.1 });
    // Backend services route to their own endpoints.
    expect(shares(rt, 'web-v1.demo')).toEqual({ 'web-v1.demo': 1 });
    expect(svc(rt, 'web-v1.demo').endpointsFor(80)?.keys).toEqual(['127.0.1.1:8080', '127.0.1.2:8080']);
    expect(rt.inbound.policy).toEqual({ mode: 'PERMISSIVE', allowedIdentities: [], appPorts: [], identity: 'spiffe://cluster.local/ns/demo/sa/client', defaultPolicy: 'ALL_UNAUTHENTICATED', targeted: false, authzRules: [] });
  });

  it('weights in v1alpha1 scale (9/1) split the same', () => {
    const rt = check(canaryState([9, 1]));
    expect(shares(rt, 'web.demo')).toEqual({ 'web-v1.demo': 0.9, 'web-v2.demo': 0.1 });
  });

  it('all weights zero: the proxy sends traffic to the root service', () => {
    const rt = check(canaryState([0, 0]));
    expect(shares(rt, 'web.demo')).toEqual({ 'web.demo': 1 });
  });

  it('a missing backend and one without endpoints get nothing; the rest all', () => {
    const base = canaryState();
    const state = {
      ...base,
      endpoints: base.endpoints.filter((e) => e.service !== 'web-v2'),
      trafficSplits: [
        split('web', 'web', [
          { service: 'web-v1', weight: 1 },
          { service: 'web-v2', weight: 5 },
          { service: 'web-v3', weight: 5 },
        ]),
      ],
    };
    expect(shares(check(state), 'web.demo')).toEqual({ 'web-v1.demo': 1 });
  });

  it('no usable backend: the root service', () => {
    const base = canaryState();
    const state = { ...base, trafficSplits: [split('web', 'web', [{ service: 'gone', weight: 1 }])] };
    expect(shares(check(state), 'web.demo')).toEqual({ 'web.demo': 1 });
  });

  it('an invalid split leaves the root service alone', () => {
    const state = {
      ...canaryState(),
      trafficSplits: [split('web', 'web', [], { problems: [{ reason: 'InvalidWeight' as const, field: 'x', message: 'y' }] })],
    };
    expect(shares(check(state), 'web.demo')).toEqual({ 'web.demo': 1 });
  });

  it('HTTPRouteGroup matches route as SMI says (path regex anchored at the start only, headers, methods)', () => {
    const state = {
      ...canaryState(),
      httpRouteGroups: [
        routeGroup('ab', [
          { name: 'firefox', headers: [{ name: 'user-agent', regex: '.*Firefox.*' }] },
          { name: 'api', pathRegex: '/api/', methods: ['POST'] },
        ]),
      ],
      trafficSplits: [
        split('ab', 'web', [{ service: 'web-v2', weight: 1 }], { matches: [{ kind: 'HTTPRouteGroup' as const, name: 'ab', matches: [] }] }),
      ],
    };
    const rt = check(state);
    expect(routeFor(rt, 'web.demo', { path: '/', headers: { 'user-agent': 'Mozilla/5.0 Firefox/120' } })).toBe('ab/ab/firefox');
    expect(routeFor(rt, 'web.demo', { path: '/api/users?x=1', method: 'POST' })).toBe('ab/ab/api');
    expect(routeFor(rt, 'web.demo', { path: '/api/users', method: 'GET' })).toBe('default');
    expect(routeFor(rt, 'web.demo', { path: '/v2/api/', method: 'POST' })).toBe('default');
    expect(shares(rt, 'web.demo', 0)).toEqual({ 'web-v2.demo': 1 });
    expect(shares(rt, 'web.demo', 2)).toEqual({ 'web.demo': 1 });
  });

  it('plaintext endpoints, named and multiple ports, headless services, another cluster domain', () => {
    const state: ClusterState = {
      ...canaryState(),
      services: [
        service('db', {}, { clusterIp: 'None', ports: [port({ name: 'pg', port: 5432, targetPort: 5432 })] }),
        service('multi', { app: 'multi' }, {
          clusterIp: '10.96.0.9',
          ports: [port({ name: 'http', port: 80, targetPort: 'http' }), port({ name: 'admin', port: 9000, targetPort: 9001 })],
        }),
      ],
      pods: [pod('multi-a', '127.0.5.1', { app: 'multi' }, { meshed: false })],
      endpoints: [
        endpoints('db', [{ ip: '198.18.0.5' }], [{ name: 'pg', port: 5432 }]),
        endpoints('multi', [{ ip: '127.0.5.1', podName: 'multi-a' }], [
          { name: 'http', port: 8080 },
          { name: 'admin', port: 9001 },
        ]),
      ],
      trafficSplits: [],
    };
    const rt = check(state, { ...OPTS, clusterDomain: 'corp.internal', proxyInboundPort: 14143, inboundMode: 'PERMISSIVE' });
    expect(svc(rt, 'multi.demo').endpointsFor(80)?.keys).toEqual(['127.0.5.1:8080']);
    expect(svc(rt, 'multi.demo').endpointsFor(9000)?.keys).toEqual(['127.0.5.1:9001']);
    expect(svc(rt, 'multi.demo').endpointsFor(80)?.endpoints[0]?.agentKey).toBe(''); // plaintext
    expect(svc(rt, 'db.demo').fqdn).toBe('db.demo.svc.corp.internal');
    expect(rt.inbound.policy.mode).toBe('PERMISSIVE');
  });

  it('an empty cluster is a valid config', () => {
    check({ namespaces: [], services: [], endpoints: [], pods: [], workloads: [], trafficSplits: [], httpRouteGroups: [], trafficTargets: [], tcpRoutes: [] });
  });
});

describe('the bundled demo through the file source', () => {
  let dir: string;
  let source: FileSource;
  let latest: ClusterState | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-demo-'));
    await cp(fileURLToPath(new URL('../../control-plane/testdata/demo/', import.meta.url)), dir, { recursive: true });
    source = createFileSource({ path: dir, pollMs: 0 });
    await source.start((s) => {
      latest = s;
    });
  });
  afterAll(async () => {
    await source.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('with a pod per replica, the client proxy splits web 90/10 over mTLS', () => {
    const pods = latest!.workloads.flatMap((w, i) =>
      Array.from({ length: w.replicas }, (_, r) =>
        pod(`${w.name}-${r + 1}`, `127.0.${i + 1}.${r + 1}`, w.labels, {
          namespace: w.namespace,
          serviceAccount: w.serviceAccount,
          ownerWorkload: w.name,
          ports: w.ports,
        }),
      ),
    );
    source.setPods(pods);
    const { config } = translate(latest!, { namespace: 'demo', podName: 'client-1', serviceAccount: 'client' }, OPTS);
    expect(validateProxyConfig(overTheWire(config))).toEqual(config);
    const rt = compileConfig(config);
    expect(shares(rt, 'web.demo')).toEqual({ 'web-v1.demo': 0.9, 'web-v2.demo': 0.1 });
    const v2 = svc(rt, 'web-v2.demo').endpointsFor(80)!;
    expect(v2.endpoints.map((e) => [e.endpoint.pod, e.endpoint.identity])).toEqual([
      ['web-v2-1', 'spiffe://cluster.local/ns/demo/sa/web'],
      ['web-v2-2', 'spiffe://cluster.local/ns/demo/sa/web'],
    ]);
    const web = translate(latest!, { namespace: 'demo', podName: 'web-v1-1', serviceAccount: 'web' }, OPTS).config;
    expect(web.inbound).toEqual({ mode: 'PERMISSIVE', allowedIdentities: [], appPorts: [8080], identity: 'spiffe://cluster.local/ns/demo/sa/web', defaultPolicy: 'ALL_UNAUTHENTICATED', targeted: false, authzRules: [] });
  });
});
