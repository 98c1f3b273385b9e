// The inside of each component (../shared/layout.md): no import cycles among
// a component's files; every sub-folder of proxy/ and control-plane/ opens its
// README.md with its purpose; the pure folders (proxy/routing/) import no
// sockets, no TLS, no HTTP, no processes.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const COMPONENTS = ['proto', 'identity', 'proxy', 'control-plane', 'injector', 'cli'];
const PURE: Record<string, readonly string[]> = {
  'proxy/routing': ['node:net', 'node:tls', 'node:http', 'node:https', 'node:http2', 'node:child_process', 'node:fs', 'net', 'tls', 'http'],
};

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'testdata' && !e.name.startsWith('.')) out.push(...files(rel));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(rel);
  }
  return out;
}

/** Module specifiers a file imports, and builtins it takes with process.getBuiltinModule (proto/README.md, Memory). */
function imports(file: string): string[] {
  const src = readFileSync(join(ROOT, file), 'utf8');
  const builtins = [...src.matchAll(/getBuiltinModule\(\s*['"]([^'"]+)['"]/g)].map((m) => m[1] as string);
  return [...ts.preProcessFile(src, true, true).importedFiles.map((f) => f.fileName), ...builtins];
}

/** Strongly connected components of more than one file (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      for (;;) {
        const w = stack.pop() as string;
        on.delete(w);
        scc.push(w);
        if (w === v) break;
      }
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe('component layout', () => {
  it('finds cycles (self-check)', () => {
    expect(cycles(new Map([['a', ['b']], ['b', ['a']], ['c', ['a']]]))).toEqual([['a', 'b']]);
  });

  it.each(COMPONENTS)('%s/ has no import cycles', (component) => {
    const all = files(component);
    const set = new Set(all);
    const graph = new Map<string, string[]>();
    for (const f of all) {
      graph.set(
        f,
        imports(f)
          .filter((s) => s.startsWith('.'))
          .map((s) => relative(ROOT, normalize(join(ROOT, dirname(f), s))).split('\\').join('/'))
          .filter((t) => set.has(t)),
      );
    }
    expect(cycles(graph)).toEqual([]);
  });

  it.each(['proxy', 'control-plane'])('every sub-folder of %s/ opens its README.md with its purpose', (component) => {
    const missing = readdirSync(join(ROOT, component), { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== 'testdata')
      .map((e) => `${component}/${e.name}`)
      .filter((dir) => {
        const readme = join(ROOT, dir, 'README.md');
        return !existsSync(readme) || (readFileSync(readme, 'utf8').split('\n', 1)[0] ?? '').replace(/^#+/, '').trim() === '';
      });
    expect(missing).toEqual([]);
  });

  it.each(Object.keys(PURE))('%s/ is pure: no sockets, TLS, HTTP, files or processes', (dir) => {
    const banned = PURE[dir] ?? [];
    const found = files(dir).flatMap((f) => imports(f).filter((s) => banned.includes(s)).map((s) => `${f} imports ${s}`));
    expect(files(dir).length).toBeGreaterThan(0);
    expect(found).toEqual([]);
  });
});
