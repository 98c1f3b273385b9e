// Where the webhook's log lines go: stderr, one write per event-loop turn.
// The webhook logs a line per injected pod; when reviews come in a burst (a
// Deployment scaled up, 50 in flight) writing each line on its own costs a
// write(2) per review, blocking as stderr writes to a pipe are. Lines are
// kept in order and flushed on setImmediate (after the turn's I/O), and on
// exit.

export interface LogWriter {
  write(line: string): void;
  /** Writes what is pending now. */
  flush(): void;
}

export function batchedStderr(out: { write(text: string): unknown } = process.stderr): LogWriter {
  let pending = '';
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending === '') return;
    const text = pending;
    pending = '';
    out.write(text);
  };
  process.on('exit', flush);
  return {
    write(line) {
      pending += line;
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
