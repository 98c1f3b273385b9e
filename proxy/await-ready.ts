#!/usr/bin/env node
// The injected proxy container's postStart hook: Kubernetes starts the pod's
// next container (the app) only once this returns, so the app never sends a
// request before its proxy holds a config and a certificate. Polls the admin
// /ready (default http://127.0.0.1:4191/ready); exits 0 when ready, 1 after
// --timeout-ms (the app then starts anyway and sees 503 WEFT_ERR_NOT_READY).
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.WEFT_READY_URL ?? 'http://127.0.0.1:4191/ready' },
    'timeout-ms': { type: 'string', default: '120000' },
  },
});
const deadline = Date.now() + Number(values['timeout-ms']);
for (;;) {
  try {
    const res = await fetch(values.url, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    if (res.ok) process.exit(0);
  } catch {
    // not listening yet
  }
  if (Date.now() > deadline) {
    process.stderr.write(`weft await-ready: ${values.url} not ready after ${values['timeout-ms']} ms\n`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 100));
}
