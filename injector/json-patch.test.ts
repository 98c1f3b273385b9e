import { describe, expect, it } from 'vitest';
import { applyPatch, escapePointerToken, parsePointer, pointer } from './json-patch.ts';

describe('JSON pointer escaping (RFC 6901)', () => {
  it('escapes ~ before /', () => {
    expect(escapePointerToken('weft.dev/proxy-version')).toBe('weft.dev~1proxy-version');
    expect(escapePointerToken('a~b/c')).toBe('a~0b~1c');
    expect(escapePointerToken('~1')).toBe('~01');
    expect(pointer(['metadata', 'annotations', 'weft.dev/proxy-version'])).toBe('/metadata/annotations/weft.dev~1proxy-version');
  });

  it('round-trips through parsePointer', () => {
    for (const tokens of [['a/b', '~', '~1', '', '0'], ['x~0y']]) {
      expect(parsePointer(pointer(tokens))).toEqual(tokens);
    }
    expect(() => parsePointer('a')).toThrow();
    expect(() => parsePointer('/a~2')).toThrow();
  });
});

describe('applyPatch (RFC 6902)', () => {
  const doc = { metadata: { annotations: { a: '1' } }, spec: { containers: [{ name: 'x' }] } };

  it('adds members and array elements (index and -), without touching the input', () => {
    const out = applyPatch(doc, [
      { op: 'add', path: '/metadata/annotations/weft.dev~1x', value: 'y' },
      { op: 'add', path: '/spec/containers/0', value: { name: 'first' } },
      { op: 'add', path: '/spec/containers/-', value: { name: 'last' } },
      { op: 'add', path: '/spec/volumes', value: [] },
    ]);
    expect(out).toEqual({
      metadata: { annotations: { a: '1', 'weft.dev/x': 'y' } },
      spec: { containers: [{ name: 'first' }, { name: 'x' }, { name: 'last' }], volumes: [] },
    });
    expect(doc.spec.containers).toHaveLength(1);
  });

  it('replaces, removes and tests', () => {
    const out = applyPatch(doc, [
      { op: 'test', path: '/metadata/annotations/a', value: '1' },
      { op: 'replace', path: '/metadata/annotations/a', value: '2' },
      { op: 'remove', path: '/spec/containers/0' },
    ]);
    expect(out).toEqual({ metadata: { annotations: { a: '2' } }, spec: { containers: [] } });
  });

  it('refuses ops whose parent is missing, out-of-range indexes and failed tests, naming the op', () => {
    expect(() => applyPatch(doc, [{ op: 'add', path: '/metadata/labels/x', value: 'y' }])).toThrow(/op 0 \(add \/metadata\/labels\/x\)/);
    expect(() => applyPatch(doc, [{ op: 'add', path: '/spec/containers/5', value: {} }])).toThrow(/out of bounds/);
    expect(() => applyPatch(doc, [{ op: 'test', path: '/metadata/annotations/a', value: '9' }])).toThrow(/test failed/);
    expect(() => applyPatch(doc, [{ op: 'remove', path: '/nope' }])).toThrow(/not found/);
  });
});
