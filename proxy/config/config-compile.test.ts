import { describe, expect, it } from 'vitest';
import { compileConfig } from './config-compile.ts';
import { validateProxyConfig } from './config-validate.ts';

const CLIENT = 'spiffe://cluster.local/ns/demo/sa/client';

function inbound(allowedIdentities: string[]) {
  return compileConfig(validateProxyConfig({ version: '1', inbound: { mode: 'strict', appPorts: [8080], allowedIdentities } })).inbound;
}

describe('compiled inbound policy: allows()', () => {
  it('allows exact IDs and IDs under a prefix pattern, and nothing else', () => {
    const allows = (id: string) => inbound([CLIENT, 'spiffe://cluster.local/ns/ops/*']).allows(id);
    expect(allows(CLIENT)).toBe(true);
    expect(allows('spiffe://cluster.local/ns/ops/sa/anything')).toBe(true);
    expect(allows('spiffe://cluster.local/ns/demo/sa/web')).toBe(false);
    expect(allows('spiffe://cluster.local/ns/ops')).toBe(false);
    // Under the prefix but not a valid SPIFFE ID.
    expect(allows('spiffe://cluster.local/ns/ops/../demo/sa/web')).toBe(false);
    expect(allows('spiffe://cluster.local/ns/ops//sa/x')).toBe(false);
    expect(allows(`${CLIENT}/extra`)).toBe(false);
    expect(allows('')).toBe(false);
  });

  it('allows every client when the list is empty', () => {
    expect(inbound([]).allows('spiffe://cluster.local/ns/any/sa/one')).toBe(true);
  });

  it('gives the same verdict on every call, also past its verdict cache', () => {
    const p = inbound([CLIENT, 'spiffe://cluster.local/ns/ops/*']);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 1200; i++) {
        expect(p.allows(`spiffe://cluster.local/ns/ops/sa/w${i}`)).toBe(true);
        expect(p.allows(`spiffe://cluster.local/ns/other/sa/w${i}`)).toBe(false);
        expect(p.allows(`spiffe://cluster.local/ns/ops/sa/w${i}/..`)).toBe(false);
      }
      expect(p.allows(CLIENT)).toBe(true);
    }
  });
});
