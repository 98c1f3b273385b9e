// The proxy's identity client: a fresh key pair and CSR, Identity.Certify
// with the workload's token, and renewal at 70% of the leaf's lifetime.
// Failures are retried with backoff while the current certificate stays in
// use; the proxy never drops a working certificate for a failed renewal.
import * as grpc from '@grpc/grpc-js';
import { createKeyAndCsr } from '../../identity/csr-create.ts';
import { meshGrpc } from '../../proto/mesh-grpc.ts';
import type { CertifyRequest, CertifyResponse } from '../../proto/mesh.ts';
import { backoffDelay, channelCredentials, CHANNEL_OPTIONS, type ControlPlaneTarget } from './control-plane-channel.ts';
import type { Logger } from '../../proto/log.ts';

export interface IssuedIdentity {
  certChainPem: string;
  keyPem: string;
  validUntilMs: number;
}

export interface IdentityClientOptions extends ControlPlaneTarget {
  /** This workload's SPIFFE ID (the control plane checks it against the token). */
  spiffeId: string;
  /** The current token (re-read at every call: projected tokens rotate). */
  token: () => string;
  onIdentity: (id: IssuedIdentity) => void;
  /** Fraction of the lifetime after which to renew. Default 0.7. */
  renewAt?: number;
  random?: () => number;
  now?: () => number;
  log: Logger;
}

/** When to renew a leaf valid from `issuedAt` to `validUntil`. Pure. */
export function renewalDelay(issuedAtMs: number, validUntilMs: number, nowMs: number, renewAt = 0.7): number {
  const at = issuedAtMs + (validUntilMs - issuedAtMs) * renewAt;
  return Math.max(0, at - nowMs);
}

export function startIdentityClient(o: IdentityClientOptions): { close(): void } {
  const random = o.random ?? Math.random;
  const now = o.now ?? Date.now;
  const client = new (meshGrpc().Identity)(o.address, channelCredentials(o), CHANNEL_OPTIONS);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let failures = 0;

  // The next key pair is made right after a certificate arrives, so that a
  // renewal costs one RPC, not a key generation under whatever load there is then.
  let nextKey: Promise<{ keyPem: string; csrPem: string }> | undefined;
  let validUntil = 0;

  async function certify(): Promise<IssuedIdentity> {
    const pending = nextKey ?? createKeyAndCsr(o.spiffeId);
    nextKey = undefined;
    const { keyPem, csrPem } = await pending;
    const req: CertifyRequest = { identity: o.spiffeId, token: o.token(), csrPem };
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + 10_000);
      client.Certify!(req, { deadline }, (err: grpc.ServiceError | null, res?: CertifyResponse) => {
        if (err !== null || res === undefined) return reject(err ?? new Error('empty Certify response'));
        resolve({
          certChainPem: [res.leafPem, ...res.intermediatesPem].join(''),
          keyPem,
          validUntilMs: Number(res.validUntilUnixMs),
        });
      });
    });
  }

  function schedule(ms: number): void {
    if (closed) return;
    timer = setTimeout(run, ms);
  }

  function run(): void {
    const issuedAt = now();
    certify().then(
      (id) => {
        if (closed) return;
        failures = 0;
        validUntil = id.validUntilMs;
        o.onIdentity(id);
        nextKey = createKeyAndCsr(o.spiffeId);
        nextKey.catch(() => undefined);
        o.log.info('certificate issued', { identity: o.spiffeId, validUntil: new Date(id.validUntilMs).toISOString() });
        schedule(renewalDelay(issuedAt, id.validUntilMs, now(), o.renewAt));
      },
      (err: unknown) => {
        if (closed) return;
        // Never back off past a good part of what is left of the current certificate.
        const left = validUntil - now();
        const delay = Math.min(backoffDelay(failures++, random, 500, 30_000), Math.max(250, left / 4));
        o.log.warn('certify failed; retrying', { error: (err as Error).message, retryInMs: Math.round(delay) });
        schedule(delay);
      },
    );
  }

  run();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      client.close();
    },
  };
}
