// The pure parts of the status writer; its writes against a real apiserver
// are in test/cluster/split-status.test.ts.
import { describe, expect, it } from 'vitest';
import type { SplitStatus } from './config-translator.ts';
import { newProblemEvents, statusKey, wantedStatus } from './split-status-writer.ts';

const status = (routed: boolean, reason = 'ResolvedRefs'): SplitStatus => ({
  namespace: 'demo',
  name: 'web',
  conditions: [
    { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'split applied to service web' },
    { type: 'ResolvedRefs', status: reason === 'ResolvedRefs' ? 'True' : 'False', reason: reason as 'ResolvedRefs', message: reason === 'ResolvedRefs' ? 'ok' : 'backend web-v3 not found' },
    { type: 'Routed', status: routed ? 'True' : 'False', reason: routed ? 'WeightsApplied' : 'AllWeightsZero', message: routed ? 'traffic split: web-v1 100%' : 'all weights are zero' },
  ],
  backends: [{ service: 'web-v1', weight: 1, routed, reason: '' }],
});

describe('wantedStatus', () => {
  it('stamps new conditions with now and keeps lastTransitionTime while a condition keeps its status', () => {
    const first = wantedStatus(status(true), undefined, 3, '2026-11-01T00:00:00Z');
    expect(first).toEqual({
      observedGeneration: 3,
      conditions: [
        { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'split applied to service web', lastTransitionTime: '2026-11-01T00:00:00Z' },
        { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'ok', lastTransitionTime: '2026-11-01T00:00:00Z' },
        { type: 'Routed', status: 'True', reason: 'WeightsApplied', message: 'traffic split: web-v1 100%', lastTransitionTime: '2026-11-01T00:00:00Z' },
      ],
      backends: [{ service: 'web-v1', weight: 1, routed: true, reason: '' }],
    });
    const second = wantedStatus(status(false, 'BackendNotFound'), first, 4, '2026-11-02T00:00:00Z');
    expect(second.conditions.map((c) => c.lastTransitionTime)).toEqual(['2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z', '2026-11-02T00:00:00Z']);
    expect(wantedStatus(status(true), first, undefined, 'x')).not.toHaveProperty('observedGeneration');
  });
});

describe('statusKey', () => {
  it('ignores lastTransitionTime, sees everything else', () => {
    const a = wantedStatus(status(true), undefined, 3, 't1');
    const b = wantedStatus(status(true), undefined, 3, 't2');
    expect(statusKey(a)).toBe(statusKey(b));
    expect(statusKey(a)).not.toBe(statusKey(wantedStatus(status(true), undefined, 4, 't1')));
    expect(statusKey(a)).not.toBe(statusKey(wantedStatus(status(false), undefined, 3, 't1')));
    expect(statusKey(undefined)).toBe(statusKey({}));
  });
});

describe('newProblemEvents', () => {
  it('one Warning per False condition that is new (or says something new); none for True ones or repeats', () => {
    const bad = status(false, 'BackendNotFound');
    expect(newProblemEvents(bad.conditions, undefined)).toEqual([
      { type: 'Warning', reason: 'BackendNotFound', message: 'backend web-v3 not found' },
      { type: 'Warning', reason: 'AllWeightsZero', message: 'all weights are zero' },
    ]);
    const written = wantedStatus(bad, undefined, 1, 't');
    expect(newProblemEvents(bad.conditions, written)).toEqual([]);
    expect(newProblemEvents(status(true).conditions, written)).toEqual([]);
    const other = status(false, 'BackendPortMismatch');
    expect(newProblemEvents(other.conditions, written).map((e) => e.reason)).toEqual(['BackendPortMismatch']);
  });
});
