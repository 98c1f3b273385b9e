// No request lost, acceptance 7: the control plane's gRPC port bounds what a
// connection can hold. A TCP connection that sends nothing, and one that
// stalls in the TLS handshake, are closed after the handshake timeout; a TLS
// connection that never speaks HTTP/2 is closed after the idle timeout (one
// that speaks something else at once), a live stream stays; one
// token holds at most 2 config streams (a third ends the oldest), one
// identity at most maxStreamsPerIdentity (a further one: RESOURCE_EXHAUSTED
// WEFT_ERR_TOO_MANY_STREAMS).
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type ControlPlane } from '../../control-plane/control-plane.ts';
import { createFileSource } from '../../control-plane/file-source.ts';
import { createBootstrapTokenValidator } from '../../control-plane/token-validator.ts';
import { GRPC_ERROR_CODE_KEY, meshGrpc } from '../../proto/mesh-grpc.ts';
import type { ConfigUpdate } from '../../proto/mesh.ts';
import { channelCredentials } from '../../proxy/clients/control-plane-channel.ts';
import { id, quiet } from '../harness/mesh-fixture.ts';

const HANDSHAKE_MS = 400;
const IDLE_MS = 600;

/** Connects and waits for the server to close; resolves with how long that took (ms), or Infinity after `maxMs`. */
async function closedAfter(socket: net.Socket, maxMs: number): Promise<number> {
  const t0 = performance.now();
  socket.on('error', () => undefined);
  const closed = once(socket, 'close').then(() => performance.now() - t0);
  const timeout = new Promise<number>((r) => setTimeout(() => r(Infinity), maxMs));
  const took = await Promise.race([closed, timeout]);
  socket.destroy();
  return took;
}

describe('control plane 8086: timeouts and stream caps', () => {
  let dir: string;
  let cp: ControlPlane;
  const validator = createBootstrapTokenValidator();
  const channels: grpc.Client[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-cp-limits-'));
    cp = await start({
      grpc: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      source: createFileSource({ path: dir, pollMs: 0 }),
      ca: { dir: join(dir, '.ca') },
      validator,
      logger: quiet,
      handshakeTimeoutMs: HANDSHAKE_MS,
      idleTimeoutMs: IDLE_MS,
      maxStreamsPerIdentity: 3,
    });
  });
  afterAll(async () => {
    for (const c of channels) c.close();
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('closes a connection that sends nothing after the handshake timeout', async () => {
    const socket = net.connect(cp.ports.grpc, '127.0.0.1');
    await once(socket, 'connect');
    const took = await closedAfter(socket, 5_000);
    expect(took).toBeGreaterThanOrEqual(HANDSHAKE_MS - 50);
    expect(took).toBeLessThan(HANDSHAKE_MS + 2_000);
  });

  it('closes a connection stalled within the TLS handshake (half a ClientHello)', async () => {
    const socket = net.connect(cp.ports.grpc, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]));
    expect(await closedAfter(socket, 5_000)).toBeLessThan(HANDSHAKE_MS + 2_000);
  });

  it('closes a TLS connection that never speaks HTTP/2 after the idle timeout', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: cp.ports.grpc, ALPNProtocols: ['h2'], rejectUnauthorized: false });
    await once(socket, 'secureConnect');
    const took = await closedAfter(socket, 10_000);
    expect(took).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(took).toBeLessThan(IDLE_MS + 1_000);
  });

  it('closes a TLS connection that speaks something else than HTTP/2 at once', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: cp.ports.grpc, rejectUnauthorized: false });
    await once(socket, 'secureConnect');
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await closedAfter(socket, 5_000)).toBeLessThan(IDLE_MS);
  });

  function openStream(token: string): { call: grpc.ClientDuplexStream<unknown, ConfigUpdate>; first: Promise<unknown>; ended: Promise<grpc.ServiceError> } {
    const client = new (meshGrpc().Config)(
      `127.0.0.1:${cp.ports.grpc}`,
      channelCredentials({ address: '', trustBundlePem: [...cp.trustBundlePem], serverId: cp.identity }),
    );
    channels.push(client);
    const call = (client as unknown as { Stream(): grpc.ClientDuplexStream<unknown, ConfigUpdate> }).Stream();
    const ended = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    const first = new Promise<unknown>((resolve) => call.once('data', resolve));
    call.write({ subscribe: { namespace: 'demo', pod: 'web-1', serviceAccount: 'web', version: '', token } });
    return { call, first, ended };
  }

  it('keeps a live config stream open across many idle periods', async () => {
    const s = openStream(validator.issue('demo', 'live'));
    await s.first;
    let ended = false;
    void s.ended.then(() => (ended = true));
    await new Promise((r) => setTimeout(r, 4 * IDLE_MS));
    expect(ended).toBe(false);
    s.call.cancel();
    await expect.poll(() => cp.streams.connected).toBe(0);
  });

  it('one token holds at most 2 config streams: a third ends the oldest', async () => {
    const token = validator.issue('demo', 'web');
    const s1 = openStream(token);
    await s1.first;
    const s2 = openStream(token);
    await s2.first;
    expect(cp.streams.connected).toBe(2);
    const s3 = openStream(token);
    await s3.first;
    const err = await s1.ended;
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(cp.streams.connected).toBe(2);
    for (const s of [s2, s3]) s.call.cancel();
    await expect.poll(() => cp.streams.connected).toBe(0);
  });

  it('one identity holds at most maxStreamsPerIdentity streams: a further one is RESOURCE_EXHAUSTED, nothing else is disturbed', async () => {
    const held = [openStream(validator.issue('demo', 'api')), openStream(validator.issue('demo', 'api')), openStream(validator.issue('demo', 'api'))];
    await Promise.all(held.map((s) => s.first));
    const refused = openStream(validator.issue('demo', 'api'));
    const err = await refused.ended;
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.metadata.get(GRPC_ERROR_CODE_KEY)[0]).toBe('WEFT_ERR_TOO_MANY_STREAMS');
    expect(cp.streams.connected).toBe(3);
    // Another identity is not affected.
    const other = openStream(validator.issue('demo', 'web'));
    await other.first;
    expect(cp.streams.connected).toBe(4);
    for (const s of [...held, other]) s.call.cancel();
    await expect.poll(() => cp.streams.connected).toBe(0);
    void id;
  });
});
