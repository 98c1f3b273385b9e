import { describe, expect, it } from 'vitest';
import { codeOf } from '../../test/harness/error-code.ts';
import { compileConfig } from '../config/config-compile.ts';
import { validateProxyConfig } from '../config/config-validate.ts';
import { resolveDst } from './dst-resolve.ts';

const ep = (address: string, port: number, identity = '') => ({
  address, port, identity, proxyPort: identity === '' ? 0 : 4143, pod: 'p', deployment: 'd', serviceAccount: 's', namespace: 'demo',
});

function rt(egress = true) {
  return compileConfig(
    validateProxyConfig({
      version: 'v',
      egress: { allow: egress },
      services: [
        { name: 'db', namespace: 'demo', clusterIp: '198.18.250.10', ports: [{ name: 'r', port: 6379, targetPort: 6380 }], endpoints: [ep('198.19.1.2', 6380, 'spiffe://cluster.local/ns/demo/sa/db')] },
        { name: 'db', namespace: 'other', clusterIp: '198.18.250.11', ports: [{ name: 'r', port: 6379, targetPort: 6379 }], endpoints: [ep('198.19.1.3', 6379)] },
        { name: 'v6', namespace: 'demo', clusterIp: '2001:2::a', ports: [{ name: 'h', port: 80, targetPort: 8080 }], endpoints: [] },
      ],
    }),
  );
}

describe('resolveDst', () => {
  it('a ClusterIP with a port the Service exposes is that Service', () => {
    const t = resolveDst(rt(), '198.18.250.10', 6379, 'demo');
    expect(t.kind === 'service' && t.service.id).toBe('db.demo');
    const other = resolveDst(rt(), '198.18.250.11', 6379, 'demo');
    expect(other.kind === 'service' && other.service.id).toBe('db.other');
    const v6 = resolveDst(rt(), '2001:2:0::a', 80, 'demo');
    expect(v6.kind === 'service' && v6.service.id).toBe('v6.demo');
  });
  it('a ClusterIP with a port the Service does not expose is egress to exactly that address', () => {
    expect(resolveDst(rt(), '198.18.250.10', 25, 'demo')).toEqual({ kind: 'egress', host: '198.18.250.10', port: 25 });
  });
  it("a pod's address and target port is exactly that endpoint, with its identity", () => {
    const t = resolveDst(rt(), '198.19.1.2', 6380, 'demo');
    expect(t.kind).toBe('endpoint');
    if (t.kind === 'endpoint') {
      expect(t.endpoint.endpoint.identity).toBe('spiffe://cluster.local/ns/demo/sa/db');
      expect(t.service.id).toBe('db.demo');
      // The service's port for that target port: labels and routes see the Service's view.
      expect(t.port).toBe(6379);
    }
    // An IPv4-mapped IPv6 form of the same address is the same endpoint.
    expect(resolveDst(rt(), '::ffff:198.19.1.2', 6380, 'demo').kind).toBe('endpoint');
  });
  it('an endpoint behind several services belongs to the one the Host header names, else the first', () => {
    const cfg = compileConfig(
      validateProxyConfig({
        version: 'v',
        services: [
          { name: 'web', namespace: 'demo', clusterIp: '', ports: [{ name: 'h', port: 80, targetPort: 8080 }], endpoints: [ep('198.19.1.9', 8080)] },
          { name: 'web-v1', namespace: 'demo', clusterIp: '', ports: [{ name: 'h', port: 80, targetPort: 8080 }], endpoints: [ep('198.19.1.9', 8080)] },
        ],
      }),
    );
    const named = resolveDst(cfg, '198.19.1.9', 8080, 'demo', 'web-v1.demo');
    expect(named.kind === 'endpoint' && named.service.id).toBe('web-v1.demo');
    const first = resolveDst(cfg, '198.19.1.9', 8080, 'demo', 'partner.example');
    expect(first.kind === 'endpoint' && first.service.id).toBe('web.demo');
  });

  it('anything else is egress to exactly the address dialled, or refused when egress is', () => {
    expect(resolveDst(rt(), '198.19.1.2', 9999, 'demo')).toEqual({ kind: 'egress', host: '198.19.1.2', port: 9999 });
    expect(codeOf(() => resolveDst(rt(false), '198.19.9.9', 80, 'demo'))).toBe('WEFT_ERR_EGRESS_REFUSED');
  });
});
