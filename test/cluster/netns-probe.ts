// The test kubelet's per-pod sandbox process (its "pause container"): it
// runs inside the pod's network namespace for the pod's whole life and does
// the kubelet's probes from there, on 127.0.0.1, so that they reach apps
// that listen on loopback and never go through the pod's iptables redirect
// (loopback is exempt) or the proxy's strict inbound port.
//
// Protocol: one JSON request per stdin line, one JSON answer per stdout line.
//   {"id":1,"port":4191,"path":"/ready"}  -> HTTP GET, ok for 200..399
//   {"id":2,"port":8080}                  -> TCP connect, ok when it connects
// answer {"id":1,"ok":true} or {"id":1,"ok":false,"error":"..."}.
// Exits when stdin closes (the agent went away).
import http from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';

interface ProbeRequest {
  id: number;
  port: number;
  path?: string;
  timeoutMs?: number;
}

function answer(id: number, ok: boolean, error?: string): void {
  process.stdout.write(`${JSON.stringify({ id, ok, ...(error !== undefined ? { error } : {}) })}\n`);
}

function probe(r: ProbeRequest): void {
  const timeoutMs = r.timeoutMs ?? 1000;
  if (r.path !== undefined) {
    const req = http.get({ host: '127.0.0.1', port: r.port, path: r.path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      answer(r.id, code >= 200 && code < 400, code >= 200 && code < 400 ? undefined : `HTTP ${code}`);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => answer(r.id, false, e.message));
    return;
  }
  const s = net.connect({ host: '127.0.0.1', port: r.port });
  s.setTimeout(timeoutMs, () => s.destroy(new Error('timeout')));
  s.once('connect', () => {
    s.destroy();
    answer(r.id, true);
  });
  s.once('error', (e) => answer(r.id, false, e.message));
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let r: ProbeRequest;
  try {
    r = JSON.parse(line) as ProbeRequest;
  } catch {
    return;
  }
  probe(r);
});
lines.on('close', () => process.exit(0));
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
