import { describe, expect, it } from 'vitest';
import { createLogger } from '../proto/log.ts';
import { batchedStderr } from './log-writer.ts';

describe('batchedStderr', () => {
  it('writes the lines of one event-loop turn in one write, in order', async () => {
    const writes: string[] = [];
    const w = batchedStderr({ write: (t: string) => writes.push(t) });
    const log = createLogger('info', 'injector', w.write);
    log.info('a', { n: 1 });
    log.debug('hidden');
    log.warn('b');
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    expect(writes[0]?.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['a', 'b']);
    log.error('c');
    w.flush();
    expect(writes).toHaveLength(2);
    expect(writes[1]).toContain('"msg":"c"');
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(2);
  });
});
