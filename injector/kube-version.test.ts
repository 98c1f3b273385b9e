import { describe, expect, it } from 'vitest';
import { formatKubeVersion, kubeVersionOf, parseKubeVersion, supportsNativeSidecars } from './kube-version.ts';

const codeOf = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? 'none';
  }
};

describe('parseKubeVersion', () => {
  it.each([
    ['v1.29.0', 1, 29],
    ['1.29', 1, 29],
    ['1.30+', 1, 30],
    ['v1.20.2', 1, 20],
    ['v1.30.2-eks-a1b2c3d', 1, 30],
    ['v1.28.3-gke.1286000', 1, 28],
    ['v1.29.0+k3s1', 1, 29],
    [' v1.31.1 ', 1, 31],
    ['2.0', 2, 0],
  ])('%s -> %i.%i', (text, major, minor) => {
    expect(parseKubeVersion(text)).toEqual({ major, minor });
  });

  it.each(['', 'latest', 'v1', '1', '1.x', 'v1.29.0.1', '0.9', 'v-1.29', '1.29 beta'])('%j is WEFT_ERR_INJECT_VERSION_INVALID', (text) => {
    expect(codeOf(() => parseKubeVersion(text))).toBe('WEFT_ERR_INJECT_VERSION_INVALID');
  });
});

describe('kubeVersionOf (a GET /version answer)', () => {
  it('reads gitVersion first', () => {
    expect(kubeVersionOf({ major: '1', minor: '20', gitVersion: 'v1.20.2', platform: 'linux/amd64' })).toEqual({ major: 1, minor: 20 });
    expect(kubeVersionOf({ major: '1', minor: '29+', gitVersion: 'v1.29.4-gke.1043002' })).toEqual({ major: 1, minor: 29 });
  });

  it('falls back to major and minor, minor ending in "+" or not', () => {
    expect(kubeVersionOf({ major: '1', minor: '30+', gitVersion: 'unknown' })).toEqual({ major: 1, minor: 30 });
    expect(kubeVersionOf({ major: '1', minor: '28' })).toEqual({ major: 1, minor: 28 });
  });

  it('is WEFT_ERR_INJECT_VERSION_INVALID for anything else', () => {
    for (const body of [undefined, null, 'v1.29.0', {}, { gitVersion: 'dev' }, { major: 1, minor: 29 }, { major: '1', minor: 'x' }]) {
      expect(codeOf(() => kubeVersionOf(body)), JSON.stringify(body)).toBe('WEFT_ERR_INJECT_VERSION_INVALID');
    }
  });
});

describe('supportsNativeSidecars', () => {
  it('from 1.29 on (1.28 has them behind an alpha gate only)', () => {
    expect(supportsNativeSidecars(parseKubeVersion('v1.20.2'))).toBe(false);
    expect(supportsNativeSidecars(parseKubeVersion('v1.28.9'))).toBe(false);
    expect(supportsNativeSidecars(parseKubeVersion('v1.29.0'))).toBe(true);
    expect(supportsNativeSidecars(parseKubeVersion('1.33'))).toBe(true);
    expect(supportsNativeSidecars(parseKubeVersion('2.0'))).toBe(true);
    expect(formatKubeVersion(parseKubeVersion('v1.30.2-eks-1'))).toBe('1.30');
  });
});
