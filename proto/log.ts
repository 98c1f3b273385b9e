// Structured logs, the format every Weft process shares: one JSON object per
// line on stderr ({ts, level, component, msg, ...fields}), filtered by level.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'off';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, off: 100 };

export interface Logger {
  debug(msg: string, fields?: object): void;
  info(msg: string, fields?: object): void;
  warn(msg: string, fields?: object): void;
  error(msg: string, fields?: object): void;
}

export function createLogger(level: LogLevel, component = 'proxy', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = ORDER[level] ?? ORDER.info;
  const at = (lvl: Exclude<LogLevel, 'off'>) => (msg: string, fields?: object) => {
    if (ORDER[lvl] < min) return;
    write(`${JSON.stringify({ ts: new Date().toISOString(), level: lvl, component, msg, ...fields })}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function parseLogLevel(s: string | undefined): LogLevel {
  const l = (s ?? 'info').toLowerCase();
  return l in ORDER ? (l as LogLevel) : 'info';
}

/**
 * Logging for events a peer can cause in bulk (refused handshakes, bad
 * frames): at most one line per `key` every `intervalMs`, carrying how many
 * were suppressed since the last one. `now` in ms.
 */
export function rateLimited(
  write: (msg: string, fields?: object) => void,
  intervalMs = 1_000,
  now: () => number = Date.now,
): (key: string, msg: string, fields?: object) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key, msg, fields) => {
    const t = now();
    const seen = last.get(key);
    if (seen !== undefined && t - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    if (last.size >= 1_000) last.clear();
    last.set(key, { at: t, suppressed: 0 });
    write(msg, seen !== undefined && seen.suppressed > 0 ? { ...fields, suppressed: seen.suppressed } : fields);
  };
}
