// What `weft up` tells the user about the mesh's own state, from the control
// plane's status file (--status-file): each TrafficSplit condition that is
// not the healthy one (an invalid weight, a missing backend, all weights 0),
// each TrafficTarget problem (a missing route group, an unknown
// ServiceAccount) and each refused manifest, one line each. Pure.
import type { SplitStatus } from '../control-plane/config-translator.ts';
import type { TargetStatus } from '../control-plane/authz-compile.ts';

export interface MeshStatus {
  splits: SplitStatus[];
  targets: TargetStatus[];
  problems: Array<{ code: string; message: string }>;
}

/** The reasons that mean all is well. */
const HEALTHY = new Set(['Accepted', 'ResolvedRefs', 'BackendsReady', 'WeightsApplied', 'ServiceAccountsFound']);

export function statusLines(status: MeshStatus): string[] {
  const lines: string[] = [];
  for (const split of status.splits) {
    for (const c of split.conditions) {
      if (HEALTHY.has(c.reason)) continue;
      lines.push(`TrafficSplit ${split.namespace}/${split.name}: ${c.reason}: ${c.message}`);
    }
  }
  for (const target of status.targets) {
    for (const c of target.conditions) {
      if (HEALTHY.has(c.reason)) continue;
      lines.push(`TrafficTarget ${target.namespace}/${target.name}: ${c.reason}: ${c.message}`);
    }
  }
  for (const p of status.problems) lines.push(`manifest refused (${p.code}): ${p.message}; the last good state stays`);
  return lines;
}

/** Parses the status file's text; undefined while it is absent or mid-write. */
export function parseStatus(text: string | undefined): MeshStatus | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as Partial<MeshStatus>;
    return {
      splits: Array.isArray(v.splits) ? v.splits : [],
      targets: Array.isArray(v.targets) ? v.targets : [],
      problems: Array.isArray(v.problems) ? v.problems : [],
    };
  } catch {
    return undefined;
  }
}
