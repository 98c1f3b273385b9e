// A steady load through a proxy's outbound port that records every result:
// status, which backend answered (the demo server's `version`), and when.
import http from 'node:http';

export interface ProbeResult {
  at: number;
  status: number;
  version: string;
  /** The proxy's error (its weft-error code and message), or the client's network error. */
  error?: string;
}

export class TrafficProbe {
  readonly results: ProbeResult[] = [];
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  #timer: NodeJS.Timeout | undefined;
  #inflight = 0;
  readonly #proxyHost: string;
  readonly #proxyPort: number;
  readonly #url: string;

  constructor(proxyHost: string, proxyPort: number, url: string) {
    this.#proxyHost = proxyHost;
    this.#proxyPort = proxyPort;
    this.#url = url;
  }

  start(rps = 100): void {
    this.#timer = setInterval(() => this.#one(), 1000 / rps);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    while (this.#inflight > 0) await new Promise((r) => setTimeout(r, 20));
    this.#agent.destroy();
  }

  failures(since = 0): ProbeResult[] {
    return this.results.filter((r) => r.at >= since && (r.status === 0 || r.status >= 500));
  }

  /** Share of `version` among successful results in [from, to). */
  share(version: string, from: number, to = Infinity): { share: number; n: number } {
    const ok = this.results.filter((r) => r.at >= from && r.at < to && r.status === 200);
    return { share: ok.length === 0 ? 0 : ok.filter((r) => r.version === version).length / ok.length, n: ok.length };
  }

  #one(): void {
    this.#inflight++;
    const at = Date.now();
    const req = http.request(
      {
        host: this.#proxyHost,
        port: this.#proxyPort,
        path: this.#url,
        headers: { host: new URL(this.#url).host },
        agent: this.#agent,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          let version = '';
          try {
            version = (JSON.parse(body) as { version?: string }).version ?? '';
          } catch {
            version = '';
          }
          const code = res.headers['weft-error'];
          this.results.push({
            at,
            status: res.statusCode ?? 0,
            version,
            ...(typeof code === 'string' ? { error: body.trim() } : {}),
          });
          this.#inflight--;
        });
      },
    );
    req.on('error', (err) => {
      this.results.push({ at, status: 0, version: '', error: err.message });
      this.#inflight--;
    });
    req.end();
  }
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns the time it took. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 50): Promise<number> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return Date.now() - t0;
}
