import { describe, expect, it } from 'vitest';
import { parseStatus, statusLines } from './mesh-status.ts';

describe('statusLines', () => {
  it('one line per unhealthy split condition and per refused manifest; nothing when all is well', () => {
    const ok = { namespace: 'demo', name: 'web', backends: [], conditions: [
      { type: 'Accepted' as const, status: 'True' as const, reason: 'Accepted' as const, message: '' },
      { type: 'Routed' as const, status: 'True' as const, reason: 'WeightsApplied' as const, message: '' },
    ] };
    expect(statusLines({ splits: [ok], problems: [] })).toEqual([]);
    const zero = { ...ok, conditions: [{ type: 'Routed' as const, status: 'False' as const, reason: 'AllWeightsZero' as const, message: 'every weight is 0: web gets its own endpoints' }] };
    expect(statusLines({ splits: [zero], problems: [{ code: 'WEFT_ERR_MANIFEST_INVALID', message: 'cm.yaml: document 1: unknown kind ConfigMap' }] })).toEqual([
      'TrafficSplit demo/web: AllWeightsZero: every weight is 0: web gets its own endpoints',
      'manifest refused (WEFT_ERR_MANIFEST_INVALID): cm.yaml: document 1: unknown kind ConfigMap; the last good state stays',
    ]);
  });

  it('parseStatus: undefined for an absent or torn file', () => {
    expect(parseStatus(undefined)).toBeUndefined();
    expect(parseStatus('{"splits": [')).toBeUndefined();
    expect(parseStatus('{}')).toEqual({ splits: [], problems: [] });
  });
});
