// The layout rules of DESIGN.md ("Components and layout"), enforced:
// - proxy, control-plane and injector never import each other (cli composes
//   them);
// - proto/ and identity/ import none of proxy, control-plane, injector, cli;
// - every top-level folder of the layout has a README.md that opens with a
//   one-line purpose.
// "Import" means any module reference TypeScript sees: `import ... from`,
// `import type`, side-effect `import '...'`, `export ... from`, `import()`,
// `typeof import()` and `require()`. Comments and strings do not count.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const LAYOUT = [
  'proto',
  'identity',
  'proxy',
  'control-plane',
  'injector',
  'cli',
  'deploy',
  'test',
  'bench',
] as const;

/** For each folder, the top-level folders its files must not import from. */
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  proxy: ['control-plane', 'injector'],
  'control-plane': ['proxy', 'injector'],
  injector: ['proxy', 'control-plane'],
  proto: ['proxy', 'control-plane', 'injector', 'cli'],
  identity: ['proxy', 'control-plane', 'injector', 'cli'],
};

/** Every module specifier the source refers to, in order of appearance. */
function moduleSpecifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/**
 * The repository's top-level folder a specifier in `fromFile` (a path relative
 * to the repository root, `/`-separated) points into, or undefined for package
 * imports (`vitest`, `node:fs`) and targets outside any folder.
 */
function targetFolder(fromFile: string, specifier: string): string | undefined {
  let target: string;
  if (specifier.startsWith('.')) {
    target = join(dirname(fromFile), specifier);
  } else if (isAbsolute(specifier) || specifier.startsWith('file:')) {
    const abs = specifier.startsWith('file:') ? fileURLToPath(specifier) : specifier;
    target = relative(ROOT, abs);
  } else {
    return undefined;
  }
  const parts = target.split(/[\\/]/);
  if (parts.length < 2 || parts[0] === '..' || parts[0] === '') return undefined;
  return parts[0];
}

interface Violation {
  file: string;
  specifier: string;
  folder: string;
}

/** The imports of one file (path relative to the root) that break the rules. */
function violations(file: string, source: string): Violation[] {
  const own = file.split('/')[0] ?? '';
  const forbidden = FORBIDDEN[own] ?? [];
  const out: Violation[] = [];
  for (const specifier of moduleSpecifiers(source)) {
    const folder = targetFolder(file, specifier);
    if (folder !== undefined && forbidden.includes(folder)) out.push({ file, specifier, folder });
  }
  return out;
}

/** Every .ts file under `dir` (relative to the root), skipping node_modules and dot folders. */
function tsFiles(dir: string): string[] {
  const abs = join(ROOT, dir);
  if (!existsSync(abs)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      out.push(...tsFiles(rel));
    } else if (entry.isFile() && entry.name.endsWith('.ts')) {
      out.push(rel);
    }
  }
  return out;
}

describe('import scanner', () => {
  const source = [
    "import { a } from '../proxy/a.ts';",
    'import type { B } from "../control-plane/b.ts";',
    'import {',
    '  c,',
    '  d,',
    "} from '../injector/c.ts';",
    "import '../cli/side-effect.ts';",
    "export * from '../identity/spiffe.ts';",
    "export { e } from './local.ts';",
    "const m = await import('../proxy/dynamic.ts');",
    "type T = typeof import('../proxy/typeof.ts');",
    "import { describe } from 'vitest';",
    "// import { no } from '../proxy/line-comment.ts';",
    "/* export * from '../proxy/block-comment.ts'; */",
    'const s = "import x from \'../proxy/in-a-string.ts\'";',
    "const t = `import('../proxy/in-a-template.ts')`;",
  ].join('\n');

  it('finds static, type, side-effect, re-export and dynamic imports, and nothing in comments or strings', () => {
    expect(moduleSpecifiers(source)).toEqual([
      '../proxy/a.ts',
      '../control-plane/b.ts',
      '../injector/c.ts',
      '../cli/side-effect.ts',
      '../identity/spiffe.ts',
      './local.ts',
      '../proxy/dynamic.ts',
      '../proxy/typeof.ts',
      'vitest',
    ]);
  });

  it('resolves specifiers to top-level folders', () => {
    expect(targetFolder('control-plane/ca/issuer.ts', '../../identity/svid.ts')).toBe('identity');
    expect(targetFolder('control-plane/ca/issuer.ts', './csr.ts')).toBe('control-plane');
    expect(targetFolder('proxy/stack.ts', '../proxy/../injector/patch.ts')).toBe('injector');
    expect(targetFolder('proxy/stack.ts', join(ROOT, 'injector', 'patch.ts'))).toBe('injector');
    expect(targetFolder('proxy/stack.ts', 'node:fs')).toBeUndefined();
    expect(targetFolder('proxy/stack.ts', '@grpc/grpc-js')).toBeUndefined();
    expect(targetFolder('proxy/stack.ts', '../../elsewhere/x.ts')).toBeUndefined();
  });

  it('reports a violating import', () => {
    expect(violations('control-plane/translator.ts', source)).toEqual([
      { file: 'control-plane/translator.ts', specifier: '../proxy/a.ts', folder: 'proxy' },
      { file: 'control-plane/translator.ts', specifier: '../injector/c.ts', folder: 'injector' },
      { file: 'control-plane/translator.ts', specifier: '../proxy/dynamic.ts', folder: 'proxy' },
      { file: 'control-plane/translator.ts', specifier: '../proxy/typeof.ts', folder: 'proxy' },
    ]);
    expect(violations('identity/spiffe.ts', source).map((v) => v.folder)).toEqual([
      'proxy',
      'control-plane',
      'injector',
      'cli',
      'proxy',
      'proxy',
    ]);
    expect(violations('proxy/inbound.ts', "import { x } from '../identity/verify.ts';")).toEqual([]);
    expect(violations('cli/up.ts', source)).toEqual([]);
  });
});

describe('import boundaries', () => {
  const scanned = Object.keys(FORBIDDEN).flatMap(tsFiles);

  it('scans the source tree', () => {
    expect(scanned).toContain('proto/mesh.ts');
  });

  it.each(Object.keys(FORBIDDEN))('%s/ imports only what it may', (folder) => {
    const found = tsFiles(folder).flatMap((file) => violations(file, readFileSync(join(ROOT, file), 'utf8')));
    expect(
      found.map((v) => `${v.file} imports ${v.specifier} (${v.folder}/ is off limits to ${folder}/)`),
    ).toEqual([]);
  });
});

describe('layout', () => {
  it.each(LAYOUT)('%s/ has a README.md that opens with its purpose', (folder) => {
    const readme = join(ROOT, folder, 'README.md');
    expect(existsSync(readme), `${folder}${sep}README.md is missing`).toBe(true);
    const firstLine = readFileSync(readme, 'utf8').split(/\r?\n/, 1)[0] ?? '';
    expect(firstLine.replace(/^#+/, '').trim(), `${folder}${sep}README.md: first line is empty`).not.toBe('');
  });
});
