// Keeps a YAML document's own layout when a program changed it: the yaml
// library re-renders a changed document in its own style (indentation, list
// indentation), so a GitOps diff would show every line. Given the original
// text and the library's rendering of the document before and after the
// change, this carries only the changed lines over to the original text:
// lines the change did not touch come out byte for byte, inserted and
// changed lines are indented like their neighbours in the original. Pure;
// undefined when the original and the "before" rendering do not correspond
// line for line (the caller then keeps the library's rendering, which it
// also uses to check the result means the same).

const indentOf = (line: string): number => line.length - line.trimStart().length;

/** Line-level diff (LCS): for each line of `b`, the index of the equal line of `a` it keeps, or -1 for a new line. */
function keptFrom(a: readonly string[], b: readonly string[]): number[] {
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    const row = lcs[i] as number[];
    const next = lcs[i + 1] as number[];
    for (let j = m - 1; j >= 0; j--) row[j] = a[i] === b[j] ? (next[j + 1] as number) + 1 : Math.max(next[j] as number, row[j + 1] as number);
  }
  const kept = new Array<number>(m).fill(-1);
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      kept[j] = i;
      i++;
      j++;
    } else if ((lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0)) i++;
    else j++;
  }
  return kept;
}

export function preserveLayout(original: string, before: string, after: string): string | undefined {
  const orig = original.split('\n');
  const b0 = before.split('\n');
  const b1 = after.split('\n');
  if (orig.length !== b0.length) return undefined;
  const kept = keptFrom(b0, b1);
  // How much the original indents a rendered line more (or less) than the library does.
  const shift = (renderedIndex: number): number => indentOf(orig[renderedIndex] as string) - indentOf(b0[renderedIndex] as string);
  const out: string[] = [];
  for (let j = 0; j < b1.length; ) {
    const k = kept[j] as number;
    if (k >= 0) {
      out.push(orig[k] as string);
      j++;
      continue;
    }
    // A run of new or changed lines moves as one block (its own nesting kept),
    // shifted as the nearest kept line at its first line's depth (a sibling
    // after it), else the nearest kept line before it at that depth or less.
    let end = j;
    while (end < b1.length && kept[end] === -1) end++;
    const depth = indentOf(b1[j] as string);
    let ref = -1;
    for (let q = end; q < b1.length && ref < 0; q++) {
      const kq = kept[q] as number;
      const d = indentOf(b1[q] as string);
      if (kq >= 0 && d === depth) ref = kq;
      if (kq >= 0 && d < depth) break;
    }
    for (let q = j - 1; q >= 0 && ref < 0; q--) {
      const kq = kept[q] as number;
      if (kq >= 0 && indentOf(b1[q] as string) <= depth) ref = kq;
    }
    const delta = ref >= 0 ? shift(ref) : 0;
    for (; j < end; j++) {
      const line = b1[j] as string;
      out.push(line.trim() === '' ? line : ' '.repeat(Math.max(0, indentOf(line) + delta)) + line.trimStart());
    }
  }
  return out.join('\n');
}
