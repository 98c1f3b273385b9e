// A peer proxy's opaque TCP stream, played by the test: mTLS to a proxy's
// inbound port with ALPN weft.opaque/1 and a leaf of the test PKI for
// `spiffeId`, the transport header naming `appPort`, then "ping". Resolves
// 'open' when the (echoing) app's "ping" comes back, 'closed' when the
// proxy closes the connection first.
import { encodeTransportHeader, OPAQUE_ALPN } from '../../proxy/tcp/transport-header.ts';
import { pki } from './mesh-fixture.ts';
const tls = process.getBuiltinModule('node:tls');

export function opaquePing(inboundPort: number, spiffeId: string, appPort: number): Promise<'open' | 'closed'> {
  return new Promise((resolve) => {
    const leaf = pki().issueLeaf({ spiffeId });
    const s = tls.connect({ host: '127.0.0.1', port: inboundPort, cert: leaf.chainPem.join(''), key: leaf.keyPem, ca: pki().trustBundlePem, ALPNProtocols: [OPAQUE_ALPN], rejectUnauthorized: false });
    let got = '';
    s.on('secureConnect', () => s.write(Buffer.concat([encodeTransportHeader(appPort), Buffer.from('ping')])));
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got === 'ping') s.end();
    });
    s.on('error', () => {});
    s.on('close', () => resolve(got === 'ping' ? 'open' : 'closed'));
  });
}
