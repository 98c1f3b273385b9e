// Every place the product accepts or makes a TLS connection is listed here
// with the test that proves it verifies its peer (or, for endpoints that
// authenticate callers by token, that a certificate grants nothing). A new TLS
// listener or client that is not listed fails this test, so that it cannot
// ship without its peer check being shown: the inbound proxy once accepted any
// self-made client certificate because nobody asked. A bare
// `new tls.TLSSocket` (which verifies nothing on the server side) is refused
// outright.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PRODUCT = ['proto', 'identity', 'proxy', 'control-plane', 'injector', 'cli', 'deploy'];

/** The constructs that open a TLS endpoint, by name. */
const CONSTRUCTS: Record<string, RegExp> = {
  'tls.createServer': /\btls\.createServer\(/g,
  'tls.connect': /\btls\.connect\(/g,
  'https.createServer': /\bhttps\.createServer\(/g,
  'https.Agent': /\bnew https\.Agent\(/g,
  'grpc client credentials': /\bcredentials\.createSsl\(/g,
  'grpc server credentials': /\bServerCredentials\.createSsl\(/g,
  'new TLSSocket': /\bnew (?:tls\.)?TLSSocket\(/g,
};

/** file -> construct -> [test file, a test name in it that shows the peer check]. */
const INVENTORY: Record<string, Record<string, [string, string]>> = {
  'proxy/listen/inbound-listener.ts': {
    'tls.createServer': ['test/e2e/inbound-mtls-auth.test.ts', 'refuses every client certificate that is not a valid mesh SVID'],
  },
  'proxy/http1/upstream-pool.ts': {
    'tls.connect': ['test/e2e/proxy-identity.test.ts', 'outbound verifies the peer identity'],
    'https.Agent': ['test/e2e/proxy-identity.test.ts', 'for a WebSocket upgrade too'],
  },
  'proxy/clients/control-plane-channel.ts': {
    'grpc client credentials': ['test/e2e/control-plane-tls.test.ts', "a proxy's channel refuses a control plane that is not one"],
  },
  'control-plane/control-plane.ts': {
    'tls.createServer': ['test/e2e/control-plane-tls.test.ts', 'a client certificate grants nothing, the token decides'],
  },
  // The apiserver calls the webhook; it authenticates the webhook (caBundle),
  // the webhook only computes patches and reads no client certificate.
  'injector/webhook-server.ts': {
    'https.createServer': ['injector/webhook-server.test.ts', 'a client certificate changes nothing'],
  },
  // Clients of the kube-apiserver: verified against the kubeconfig's CA.
  'control-plane/kube-client.ts': {
    'https.Agent': ['test/e2e/kube-client-tls.test.ts', "the control plane's KubeClient talks to an apiserver the kubeconfig's CA signed, and refuses another"],
  },
  'injector/namespace-lookup-kube.ts': {
    'https.Agent': ['test/e2e/kube-client-tls.test.ts', "the injector's namespace lookup refuses an apiserver another CA signed"],
  },
};

function productFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'testdata' ? [] : productFiles(rel);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.includes('test-') ? [rel] : [];
  });
}

/** Source without comments (good enough for these constructs: none appears in a string). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

function found(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const file of PRODUCT.flatMap(productFiles)) {
    const text = code(readFileSync(join(ROOT, file), 'utf8'));
    for (const [name, re] of Object.entries(CONSTRUCTS)) {
      if (text.match(re) === null) continue;
      const key = relative(ROOT, join(ROOT, file));
      out.set(key, (out.get(key) ?? new Set()).add(name));
    }
  }
  return out;
}

describe('TLS endpoints', () => {
  const endpoints = found();

  it('no product file wraps a socket in a bare TLSSocket', () => {
    const bare = [...endpoints].filter(([, names]) => names.has('new TLSSocket')).map(([file]) => file);
    expect(bare).toEqual([]);
  });

  it('every TLS listener and client is listed with the test of its peer check', () => {
    const unlisted = [...endpoints].flatMap(([file, names]) =>
      [...names].filter((n) => INVENTORY[file]?.[n] === undefined).map((n) => `${file}: ${n}`),
    );
    expect(unlisted).toEqual([]);
    const stale = Object.entries(INVENTORY).flatMap(([file, names]) =>
      Object.keys(names).filter((n) => !endpoints.get(file)?.has(n)).map((n) => `${file}: ${n}`),
    );
    expect(stale).toEqual([]);
  });

  it('each listed test exists and names the check', () => {
    for (const names of Object.values(INVENTORY)) {
      for (const [testFile, testName] of Object.values(names)) {
        const text = readFileSync(join(ROOT, testFile), 'utf8');
        expect(testName.length).toBeGreaterThan(10);
        expect(text.includes(testName), `${testFile} has no test "${testName}"`).toBe(true);
      }
    }
  });
});
