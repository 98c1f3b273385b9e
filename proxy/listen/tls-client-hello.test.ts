import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { clientHelloServerName } from './tls-client-hello.ts';

/** The first bytes a real Node TLS client sends (its ClientHello), captured by a plain TCP server. */
async function realClientHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  const got = new Promise<Buffer>((resolve) =>
    server.once('connection', (s) => {
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
      });
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = tls.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, ...opts });
  client.on('error', () => {});
  const hello = await got;
  client.destroy();
  server.close();
  return hello;
}

describe('clientHelloServerName', () => {
  it('reads the SNI of a real ClientHello (TLS 1.3 and 1.2 clients), lower-cased', async () => {
    expect(clientHelloServerName(await realClientHello({ servername: 'API.Partner.example' }))).toBe('api.partner.example');
    expect(clientHelloServerName(await realClientHello({ servername: 'kubernetes.default.svc', maxVersion: 'TLSv1.2' }))).toBe(
      'kubernetes.default.svc',
    );
  });

  it('is undefined without SNI, for any truncation, and for bytes that are no ClientHello', async () => {
    const hello = await realClientHello({ servername: 'a.example' });
    // Node sends no SNI for an IP address.
    expect(clientHelloServerName(await realClientHello({}))).toBeUndefined();
    for (let n = 0; n < hello.length; n++) expect(clientHelloServerName(hello.subarray(0, n))).toBeUndefined();
    expect(clientHelloServerName(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toBeUndefined();
    const notHello = Buffer.from(hello);
    notHello[5] = 0x02; // ServerHello
    expect(clientHelloServerName(notHello)).toBeUndefined();
  });

  it('never throws on mutated input, and refuses names that are not DNS names', async () => {
    const hello = await realClientHello({ servername: 'a.example' });
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const m = Buffer.from(hello);
      for (let k = 0; k < 3; k++) m[Math.floor(random() * m.length)] = Math.floor(random() * 256);
      const name = clientHelloServerName(m);
      if (name !== undefined) expect(name).toMatch(/^[a-z0-9_.-]+$/);
    }
    const at = hello.indexOf('a.example');
    const bad = Buffer.from(hello);
    bad[at] = 0x00;
    expect(clientHelloServerName(bad)).toBeUndefined();
  });
});
