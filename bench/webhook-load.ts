// Closed-loop load on the webhook: `concurrency` keep-alive HTTPS connections
// each sending AdmissionReviews (a Pod CREATE that gets injected) back to back
// for `seconds`; prints {"requests","rps","p50","p99","max","errors"} (ms).
// Run as its own process so the load generator never shares the webhook's CPU.
import { Pool } from 'undici';
import { admissionReview, testPod } from '../injector/admission-test-fixtures.ts';
import { percentile } from './load.ts';

const [portArg, concurrencyArg, secondsArg] = process.argv.slice(2);
const ca = await new Promise<string>((resolve) => {
  let s = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (c: string) => (s += c));
  process.stdin.on('end', () => resolve(s));
});
const concurrency = Number(concurrencyArg ?? '50');
const seconds = Number(secondsArg ?? '5');
const body = JSON.stringify(admissionReview(testPod()));
const pool = new Pool(`https://127.0.0.1:${portArg}`, { connections: concurrency, connect: { ca, servername: 'weft-injector.weft-system.svc' } });
const latencies: number[] = [];
let errors = 0;
const warmupUntil = performance.now() + 1_000;
const until = warmupUntil + seconds * 1_000;

async function worker(): Promise<void> {
  while (performance.now() < until) {
    const t0 = performance.now();
    try {
      const res = await pool.request({ path: '/mutate', method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const text = await res.body.text();
      if (res.statusCode !== 200 || !text.includes('"patch"')) errors++;
    } catch {
      errors++;
    }
    if (t0 >= warmupUntil) latencies.push(performance.now() - t0);
  }
}

await Promise.all(Array.from({ length: concurrency }, () => worker()));
await pool.close();
latencies.sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({
    requests: latencies.length,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? 0,
    errors,
  })}\n`,
);
