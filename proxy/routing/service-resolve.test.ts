import { describe, expect, it } from 'vitest';
import type { Service } from '../../proto/mesh.ts';
import { WeftError } from '../../proto/errors.ts';
import { compileServiceIndex, parseAuthority, resolveAuthority, type ServiceIndex } from './service-resolve.ts';

function svc(name: string, namespace: string, extra: Partial<Service> = {}): Service {
  return { name, namespace, clusterIp: '', ports: [], routes: [], endpoints: [], aliases: [], ...extra };
}

const ports = (...ps: number[]) => ps.map((port) => ({ name: `p${port}`, port, targetPort: 0 }));

const webDemo = svc('web', 'demo', {
  clusterIp: '10.96.0.10',
  ports: ports(80, 8080),
  aliases: ['web.example.com', 'Legacy-Web.'],
});
const webProd = svc('web', 'prod', { clusterIp: '10.96.0.20', ports: ports(80) });
const apiProd = svc('api', 'prod', { clusterIp: 'fd00::10', ports: ports(443) });
const headless = svc('db', 'prod', { clusterIp: 'None', ports: ports(5432) });
const sharedA = svc('a', 'demo', { aliases: ['shared.example.com'] });
const sharedB = svc('b', 'prod', { aliases: ['shared.example.com'] });

const index = compileServiceIndex([webDemo, webProd, apiProd, headless, sharedA, sharedB]);

/** "name.namespace:port" of the resolved service, or undefined. */
function resolve(authority: string, callerNamespace = 'demo', defaultPort = 80, idx: ServiceIndex = index) {
  const r = resolveAuthority(idx, authority, defaultPort, callerNamespace);
  return r && `${r.service.name}.${r.service.namespace}:${r.port}`;
}

describe('resolveAuthority: names', () => {
  it('a bare name resolves in the caller\'s namespace first', () => {
    expect(resolve('web', 'demo')).toBe('web.demo:80');
    expect(resolve('web', 'prod')).toBe('web.prod:80');
  });

  it('a bare name outside the caller\'s namespace resolves when unique', () => {
    expect(resolve('api', 'demo')).toBe('api.prod:80');
  });

  it('a bare name several namespaces share, from a third namespace, is ambiguous', () => {
    expect(resolve('web', 'other')).toBeUndefined();
  });

  it.each(['web.prod', 'web.prod.svc', 'web.prod.svc.cluster.local'])('%s resolves from any namespace', (host) => {
    expect(resolve(host, 'demo')).toBe('web.prod:80');
    expect(resolve(host, 'other')).toBe('web.prod:80');
  });

  it('takes the port from the authority, else the default', () => {
    expect(resolve('web.demo:8080')).toBe('web.demo:8080');
    expect(resolve('web.demo', 'demo', 443)).toBe('web.demo:443');
    expect(resolve('web.demo:')).toBe('web.demo:80');
  });

  it('is case-insensitive and ignores a trailing dot', () => {
    expect(resolve('WEB.Demo.SVC.Cluster.Local.')).toBe('web.demo:80');
    expect(resolve('web.demo.svc.cluster.local.:8080')).toBe('web.demo:8080');
  });

  it('resolves aliases (normalised when indexed)', () => {
    expect(resolve('web.example.com:9000', 'prod')).toBe('web.demo:9000');
    expect(resolve('legacy-web', 'prod')).toBe('web.demo:80');
  });

  it('an alias shared by two services resolves only from one of their namespaces', () => {
    expect(resolve('shared.example.com', 'demo')).toBe('a.demo:80');
    expect(resolve('shared.example.com', 'prod')).toBe('b.prod:80');
    expect(resolve('shared.example.com', 'other')).toBeUndefined();
  });

  it('unknown names resolve to undefined', () => {
    for (const host of ['nope', 'web.nope', 'web.demo.svc.other.domain', 'example.com', 'svc', 'cluster.local']) {
      expect(resolve(host)).toBeUndefined();
    }
  });

  it('uses the configured cluster domain', () => {
    const idx = compileServiceIndex([webDemo], '.Corp.Internal.');
    expect(resolve('web.demo.svc.corp.internal', 'demo', 80, idx)).toBe('web.demo:80');
    expect(resolve('web.demo.svc.cluster.local', 'demo', 80, idx)).toBeUndefined();
    expect(idx.clusterDomain).toBe('corp.internal');
  });

  it('returns the configured Service object', () => {
    expect(resolveAuthority(index, 'web.demo', 80, 'x')?.service).toBe(webDemo);
  });
});

describe('resolveAuthority: ClusterIP', () => {
  it('resolves ClusterIP:port when the port is one of the service\'s ports', () => {
    expect(resolve('10.96.0.10:8080', 'other')).toBe('web.demo:8080');
    expect(resolve('10.96.0.10:80', 'other')).toBe('web.demo:80');
    expect(resolve('10.96.0.20:80', 'demo')).toBe('web.prod:80');
  });

  it('uses the default port when the authority has none', () => {
    expect(resolve('10.96.0.10', 'demo', 80)).toBe('web.demo:80');
    expect(resolve('10.96.0.10', 'demo', 443)).toBeUndefined();
  });

  it('does not resolve a ClusterIP on a port the service does not expose', () => {
    expect(resolve('10.96.0.10:9999')).toBeUndefined();
    expect(resolve('10.96.0.20:8080')).toBeUndefined();
  });

  it('resolves IPv6 ClusterIPs in brackets, in any spelling', () => {
    expect(resolve('[fd00::10]:443')).toBe('api.prod:443');
    expect(resolve('[FD00:0:0::10]:443')).toBe('api.prod:443');
    expect(resolve('[fd00::10]', 'demo', 443)).toBe('api.prod:443');
    expect(resolve('[fd00::10]:80')).toBeUndefined();
  });

  it('ignores clusterIP "None" (headless) and unknown IPs', () => {
    expect(resolve('none:5432')).toBeUndefined();
    expect(resolve('10.96.0.99:80')).toBeUndefined();
    expect(resolve('db.prod:5432')).toBe('db.prod:5432');
  });
});

describe('resolveAuthority: malformed authorities', () => {
  it.each(['', ':80', 'web:abc', 'web:0', 'web:70000', 'web:123456', 'web:-1', '[fd00::10', '[fd00::10]x', '[web]:80', 'a/b', 'web demo', 'user@web'])(
    '%j -> undefined',
    (authority) => {
      expect(resolve(authority)).toBeUndefined();
    },
  );
});

describe('parseAuthority', () => {
  it.each([
    ['web', { host: 'web', port: 80 }],
    ['Web.Demo:8080', { host: 'web.demo', port: 8080 }],
    ['web.demo.svc.cluster.local.', { host: 'web.demo.svc.cluster.local', port: 80 }],
    ['10.0.0.1:65535', { host: '10.0.0.1', port: 65535 }],
    ['[::1]:4140', { host: '::1', port: 4140 }],
    ['[0:0::1]', { host: '::1', port: 80 }],
    ['fd00::1', { host: 'fd00::1', port: 80 }],
  ])('%j', (input, want) => {
    expect(parseAuthority(input, 80)).toEqual(want);
  });
});

describe('compileServiceIndex', () => {
  it('indexes every name a service answers to', () => {
    const idx = compileServiceIndex([webDemo]);
    expect([...idx.names.keys()].sort()).toEqual(
      ['legacy-web', 'web', 'web.demo', 'web.demo.svc', 'web.demo.svc.cluster.local', 'web.example.com'].sort(),
    );
    expect([...idx.clusterIps.keys()]).toEqual(['10.96.0.10']);
  });

  it('a duplicate service is WEFT_ERR_CONFIG_INVALID', () => {
    let err: unknown;
    try {
      compileServiceIndex([webDemo, svc('web', 'demo')]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WeftError);
    expect((err as WeftError).code).toBe('WEFT_ERR_CONFIG_INVALID');
    expect((err as WeftError).message).toContain('web.demo');
  });

  it('a service without name or namespace is WEFT_ERR_CONFIG_INVALID', () => {
    expect(() => compileServiceIndex([svc('', 'demo')])).toThrow(WeftError);
    expect(() => compileServiceIndex([svc('web', '')])).toThrow(WeftError);
  });

  it('an alias equal to the service\'s own name does not make it ambiguous', () => {
    const idx = compileServiceIndex([svc('web', 'demo', { aliases: ['web', 'web.demo'] })]);
    expect(resolve('web', 'other', 80, idx)).toBe('web.demo:80');
  });
});
