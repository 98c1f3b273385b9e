import { describe, expect, it } from 'vitest';
import type { Pod } from '../control-plane/cluster-state.ts';
import type { InboundPolicy } from '../proto/mesh.ts';
import { authzRows, formatAuthzTable, shortId } from './authz-table.ts';

const pod = (name: string, ip: string, workload: string): Pod => ({ name, namespace: 'demo', ip, labels: {}, annotations: {}, serviceAccount: workload, ownerWorkload: workload, meshed: true, ready: true, ports: [] });
const base: InboundPolicy = { mode: 'PERMISSIVE', allowedIdentities: [], appPorts: [8080], identity: '' };

describe('weft authz table', () => {
  it('per workload: its TrafficTargets (who, what, which target) or its default policy, and the denials by client summed over its pods', () => {
    const pods = [pod('web-1', '127.0.1.1', 'web'), pod('web-2', '127.0.1.2', 'web'), pod('client-1', '127.0.2.1', 'client')];
    const web: InboundPolicy = {
      ...base,
      targeted: true,
      authzRules: [
        { name: 'demo/web-access', sources: ['spiffe://cluster.local/ns/demo/sa/client'], port: 0, http: [{ path: { regex: '(?:/api/).*' }, methods: ['GET'], headers: [] }], tcp: false, tcpPorts: [] },
        { name: 'demo/db', sources: ['spiffe://cluster.local/ns/ops/sa/backup'], port: 0, http: [], tcp: true, tcpPorts: [5432] },
      ],
    };
    const inbound = new Map([
      ['127.0.1.1', web],
      ['127.0.1.2', web],
      ['127.0.2.1', { ...base, defaultPolicy: 'DENY' as const }],
    ]);
    const deny = (client: string, value: number) => ({ name: 'inbound_http_authz_deny_total', labels: { target_port: '8080', client_id: client }, value });
    const samples = new Map([
      ['127.0.1.1', [deny('spiffe://cluster.local/ns/demo/sa/client', 2), deny('spiffe://cluster.local/ns/demo/sa/other', 1)]],
      ['127.0.1.2', [deny('spiffe://cluster.local/ns/demo/sa/other', 3), deny('', 1)]],
    ]);
    const rows = authzRows(pods, inbound, samples);
    expect(rows).toEqual([
      { workload: 'demo/client', policy: 'default: deny', allowed: ['no one'], denied: '-' },
      {
        workload: 'demo/web',
        policy: 'TrafficTargets',
        allowed: ['demo/client: GET /api/* (demo/web-access)', 'ops/backup: tcp 5432 (demo/db)'],
        denied: 'demo/client 2, demo/other 4, unauthenticated 1',
      },
    ]);
    const text = formatAuthzTable(rows);
    expect(text.split('\n')[0]).toMatch(/^WORKLOAD\s+POLICY\s+ALLOWED\s+DENIED \(since start\)$/);
    expect(text).toContain('ops/backup: tcp 5432 (demo/db)');
  });

  it('shortId', () => {
    expect(shortId('spiffe://cluster.local/ns/demo/sa/web')).toBe('demo/web');
    expect(shortId('something else')).toBe('something else');
  });
});
