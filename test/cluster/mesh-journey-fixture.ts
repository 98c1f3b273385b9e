// Helpers for the mesh-on-a-real-apiserver tests (node-agent.test.ts,
// injection.test.ts, journey.test.ts).
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `check` until it returns something other than undefined; the last error or value goes into the timeout message. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
      last = '';
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== '' ? ` (last error: ${last})` : ''}`);
    await sleep(everyMs);
  }
}
