// joinSockets on real sockets: bytes both ways, a half-close carried across,
// and an error on a plain TCP side closing a TLS side (which cannot be reset)
// without throwing.
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki } from '../../identity/test-pki.ts';
import { joinSockets } from './tcp-forward.ts';

const pki = createTestPki();
const leaf = pki.issueLeaf({ spiffeId: 'spiffe://cluster.local/ns/demo/sa/web' });
let tlsServer: tls.Server;
let tlsPort: number;
const serverSides: tls.TLSSocket[] = [];

beforeAll(async () => {
  tlsServer = tls.createServer({ ...leaf.tls, allowHalfOpen: true }, (s) => serverSides.push(s));
  tlsServer.listen(0, '127.0.0.1');
  await once(tlsServer, 'listening');
  tlsPort = (tlsServer.address() as net.AddressInfo).port;
});
afterAll(() => tlsServer.close());

/** A connected plain TCP pair. */
async function tcpPair(): Promise<[net.Socket, net.Socket, net.Server]> {
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const c = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [s] = (await accepted) as [net.Socket];
  await once(c, 'connect');
  return [c, s, server];
}

describe('joinSockets', () => {
  it('carries bytes both ways and a half-close across a TCP <-> TLS join', async () => {
    const [outside, inside, server] = await tcpPair();
    const t = tls.connect({ port: tlsPort, host: '127.0.0.1', ca: pki.trustBundlePem, checkServerIdentity: () => undefined, ...({ allowHalfOpen: true } as object) });
    await once(t, 'secureConnect');
    joinSockets(inside, t);
    await new Promise((r) => setTimeout(r, 50));
    const far = serverSides.at(-1) as tls.TLSSocket;
    outside.write('ping');
    const [got] = (await once(far, 'data')) as [Buffer];
    expect(got.toString()).toBe('ping');
    outside.end();
    await once(far, 'end');
    far.end('pong-after-half-close');
    let back = '';
    outside.on('data', (d: Buffer) => (back += d.toString()));
    await once(outside, 'end');
    expect(back).toBe('pong-after-half-close');
    server.close();
  });

  it('an error on the TCP side closes the TLS side (no RST possible there) without throwing', async () => {
    const [outside, inside, server] = await tcpPair();
    const t = tls.connect({ port: tlsPort, host: '127.0.0.1', ca: pki.trustBundlePem, checkServerIdentity: () => undefined });
    await once(t, 'secureConnect');
    let err: Error | undefined;
    const done = new Promise<void>((resolve) => joinSockets(inside, t, (e) => { err = e; resolve(); }));
    outside.resetAndDestroy();
    await done;
    expect(err).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 20));
    expect(t.destroyed).toBe(true);
    server.close();
  });
});
