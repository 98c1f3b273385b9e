import { describe, expect, it } from 'vitest';
import { parseStatus, statusLines } from './mesh-status.ts';

describe('statusLines', () => {
  it('one line per unhealthy split condition and per refused manifest; nothing when all is well', () => {
    const ok = { namespace: 'demo', name: 'web', backends: [], conditions: [
      { type: 'Accepted' as const, status: 'True' as const, reason: 'Accepted' as const, message: '' },
      { type: 'Routed' as const, status: 'True' as const, reason: 'WeightsApplied' as const, message: '' },
    ] };
    expect(statusLines({ splits: [ok], targets: [], problems: [] })).toEqual([]);
    const zero = { ...ok, conditions: [{ type: 'Routed' as const, status: 'False' as const, reason: 'AllWeightsZero' as const, message: 'every weight is 0: web gets its own endpoints' }] };
    expect(statusLines({ splits: [zero], targets: [], problems: [{ code: 'WEFT_ERR_MANIFEST_INVALID', message: 'cm.yaml: document 1: unknown kind ConfigMap' }] })).toEqual([
      'TrafficSplit demo/web: AllWeightsZero: every weight is 0: web gets its own endpoints',
      'manifest refused (WEFT_ERR_MANIFEST_INVALID): cm.yaml: document 1: unknown kind ConfigMap; the last good state stays',
    ]);
  });

  it('one line per TrafficTarget problem (a missing route group, an unknown ServiceAccount)', () => {
    const target = {
      namespace: 'demo',
      name: 'web-access',
      conditions: [
        { type: 'Accepted' as const, status: 'True' as const, reason: 'Accepted', message: '' },
        { type: 'ResolvedRefs' as const, status: 'False' as const, reason: 'RouteGroupNotFound', message: 'HTTPRouteGroup nope not found in namespace demo (that rule allows nothing)' },
        { type: 'ServiceAccountsFound' as const, status: 'True' as const, reason: 'ServiceAccountsFound', message: '' },
      ],
    };
    expect(statusLines({ splits: [], targets: [target], problems: [] })).toEqual([
      'TrafficTarget demo/web-access: RouteGroupNotFound: HTTPRouteGroup nope not found in namespace demo (that rule allows nothing)',
    ]);
  });

  it('parseStatus: undefined for an absent or torn file', () => {
    expect(parseStatus(undefined)).toBeUndefined();
    expect(parseStatus('{"splits": [')).toBeUndefined();
    expect(parseStatus('{}')).toEqual({ splits: [], targets: [], problems: [] });
  });
});
