import { describe, expect, it } from 'vitest';
import { endpointsFromPods, resolveTargetPort } from './endpoints-from-pods.ts';
import { pod, port, service } from './testdata/builders.ts';

describe('resolveTargetPort', () => {
  const p = pod('a', '127.0.0.2', {}, {
    ports: [
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'dns', containerPort: 5353, protocol: 'UDP' },
    ],
  });

  it('numbers as they are, names against the container ports of the same protocol', () => {
    expect(resolveTargetPort(port({ targetPort: 9000 }), p)).toBe(9000);
    expect(resolveTargetPort(port({ targetPort: 'http' }), p)).toBe(8080);
    expect(resolveTargetPort(port({ targetPort: 'dns' }), p)).toBeUndefined();
    expect(resolveTargetPort(port({ targetPort: 'dns', protocol: 'UDP' }), p)).toBe(5353);
    expect(resolveTargetPort(port({ targetPort: 'nope' }), p)).toBeUndefined();
    expect(resolveTargetPort(port({ targetPort: 'http' }), undefined)).toBeUndefined();
  });

  it('an empty or zero target port means the service port', () => {
    expect(resolveTargetPort(port({ port: 81, targetPort: 0 }), p)).toBe(81);
    expect(resolveTargetPort(port({ port: 81, targetPort: '' }), p)).toBe(81);
  });
});

describe('endpointsFromPods', () => {
  it('selects pods of the namespace by labels, with readiness and pod names', () => {
    const out = endpointsFromPods(
      [service('web', { app: 'web' }, { ports: [port({ targetPort: 'http' })] })],
      [
        pod('web-b', '127.0.1.2', { app: 'web', v: '1' }, { ready: false }),
        pod('web-a', '127.0.1.1', { app: 'web' }),
        pod('other', '127.0.1.3', { app: 'other' }),
        pod('elsewhere', '127.0.1.4', { app: 'web' }, { namespace: 'prod' }),
        pod('pending', '', { app: 'web' }),
      ],
    );
    expect(out).toEqual([
      {
        service: 'web',
        namespace: 'demo',
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        addresses: [
          { ip: '127.0.1.1', ready: true, podName: 'web-a' },
          { ip: '127.0.1.2', ready: false, podName: 'web-b' },
        ],
      },
    ]);
  });

  it('a service without selector gets no endpoints; one selecting nothing gets none', () => {
    const pods = [pod('web-a', '127.0.1.1', { app: 'web' })];
    expect(endpointsFromPods([service('manual', {}), service('none', { app: 'x' })], pods)).toEqual([]);
  });

  it('groups pods by how a named target port resolves on them', () => {
    const out = endpointsFromPods(
      [service('web', { app: 'web' }, { ports: [port({ targetPort: 'http' })] })],
      [
        pod('a', '127.0.1.1', { app: 'web' }),
        pod('b', '127.0.1.2', { app: 'web' }, { ports: [{ name: 'http', containerPort: 9090, protocol: 'TCP' }] }),
        pod('c', '127.0.1.3', { app: 'web' }, { ports: [] }),
      ],
    );
    expect(out.map((e) => ({ ports: e.ports.map((p) => p.port), ips: e.addresses.map((a) => a.ip) }))).toEqual([
      { ports: [], ips: ['127.0.1.3'] },
      { ports: [8080], ips: ['127.0.1.1'] },
      { ports: [9090], ips: ['127.0.1.2'] },
    ]);
  });

  it('multi-port services list every resolved port', () => {
    const out = endpointsFromPods(
      [
        service('web', { app: 'web' }, {
          ports: [port({ name: 'http', port: 80, targetPort: 'http' }), port({ name: 'admin', port: 9000, targetPort: 9001 })],
        }),
      ],
      [pod('a', '127.0.1.1', { app: 'web' })],
    );
    expect(out[0]?.ports).toEqual([
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'admin', port: 9001, protocol: 'TCP' },
    ]);
  });

  it('is deterministic whatever the input order', () => {
    const svcs = [service('b', { app: 'web' }), service('a', { app: 'web' })];
    const pods = [pod('y', '127.0.1.2', { app: 'web' }), pod('x', '127.0.1.1', { app: 'web' })];
    const one = endpointsFromPods(svcs, pods);
    const two = endpointsFromPods([...svcs].reverse(), [...pods].reverse());
    expect(two).toEqual(one);
    expect(one.map((e) => e.service)).toEqual(['a', 'b']);
  });
});
