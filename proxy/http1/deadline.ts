// The deadline of one attempt, shared by the stages that set it (timeout) and
// the HTTP/1.1 client that honours it; its own file so the client needs
// nothing of the exchange.

/** A per-attempt deadline: cheaper than an AbortController on the hot path. */
export interface Deadline {
  /** Set once the deadline has passed. */
  expired: Error | undefined;
  /** Aborted when it passes (forward sets it to its pending request: an object, not a closure per request). */
  onExpire: { abort(reason: Error): void } | undefined;
}
