// Where the control plane's ClusterState comes from. Two implementations:
// the file source (file-source.ts, a watched folder of YAML, for the local
// mesh) and the Kubernetes source (informers). Only they know Kubernetes;
// everything downstream (translator, config stream) sees ClusterState.
import type { WeftError } from '../proto/errors.ts';
import { emptyClusterState, type ClusterState } from './cluster-state.ts';

export interface ClusterSource {
  /**
   * Loads the initial state, calls `onChange` with it before resolving, then
   * calls `onChange` again with a complete new state each time the cluster
   * changes (never with an equal state twice in a row). Rejects when the
   * source cannot start at all (WEFT_ERR_SOURCE_UNAVAILABLE).
   */
  start(onChange: (state: ClusterState) => void): Promise<void>;
  /** Stops watching. No onChange or onError call after it resolves. */
  close(): Promise<void>;
  /** The latest state (empty before start). */
  current(): ClusterState;
}

export interface ClusterSourceOptions {
  /**
   * Problems that do not stop the source (a malformed manifest, a watch
   * error): the source keeps its last good state and reports them here.
   */
  onError?: (err: WeftError) => void;
}

/** A source that never changes: for tests and one-shot translations. */
export function createStaticSource(state: ClusterState = emptyClusterState()): ClusterSource {
  return {
    start(onChange) {
      onChange(state);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
    current: () => state,
  };
}
