import { describe, expect, it } from 'vitest';
import { preserveLayout } from './yaml-splice.ts';

describe('preserveLayout', () => {
  it('keeps untouched lines as written and shifts an inserted block like its sibling', () => {
    const original = 'a:\n    b: 1   # note\n    list:\n    -   x\n';
    const before = 'a:\n  b: 1 # note\n  list:\n    - x\n';
    const after = 'a:\n  b: 1 # note\n  list:\n    - new\n    - x\n  c: 2\n';
    expect(preserveLayout(original, before, after)).toBe('a:\n    b: 1   # note\n    list:\n    - new\n    -   x\n    c: 2\n');
  });

  it('is undefined when the original and the rendering do not correspond line for line', () => {
    expect(preserveLayout('a: {b: 1,\n  c: 2}\n', 'a: { b: 1, c: 2 }\n', 'a: { b: 1, c: 3 }\n')).toBeUndefined();
  });
});
