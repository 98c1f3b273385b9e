// JSON Patch (RFC 6902) with JSON Pointer (RFC 6901) paths: the shape of the
// patch the webhook returns, pointer escaping, and a small applier that
// `weft inject` and the tests use to see the patched object. The applier
// supports the operations the injector emits (add, replace, remove, test); it
// never mutates its input.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type JsonPatchOp =
  | { op: 'add'; path: string; value: JsonValue }
  | { op: 'replace'; path: string; value: JsonValue }
  | { op: 'remove'; path: string }
  | { op: 'test'; path: string; value: JsonValue };

/** One reference token, escaped: `~` -> `~0`, then `/` -> `~1`. */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** A pointer from unescaped tokens: pointer(['metadata', 'annotations', 'weft.dev/x']). */
export function pointer(tokens: readonly (string | number)[]): string {
  return tokens.map((t) => `/${escapePointerToken(String(t))}`).join('');
}

/** The unescaped tokens of a pointer; throws on a pointer that does not start with `/`. */
export function parsePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`JSON pointer ${JSON.stringify(path)} does not start with "/"`);
  return path
    .slice(1)
    .split('/')
    .map((t) => {
      if (/~[^01]|~$/.test(t)) throw new Error(`JSON pointer ${JSON.stringify(path)} has a bad escape`);
      return t.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function arrayIndex(token: string, length: number, forAdd: boolean): number {
  if (forAdd && token === '-') return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new Error(`array index ${JSON.stringify(token)} is not a number`);
  const i = Number(token);
  if (i > length || (!forAdd && i === length)) throw new Error(`array index ${i} out of bounds (length ${length})`);
  return i;
}

/** Applies `ops` in order to a copy of `doc` and returns it; throws (naming the op) if one does not apply. */
export function applyPatch<T>(doc: T, ops: readonly JsonPatchOp[]): T {
  let root: unknown = clone(doc);
  ops.forEach((op, n) => {
    try {
      root = applyOne(root, op);
    } catch (err) {
      throw new Error(`JSON patch op ${n} (${op.op} ${op.path}): ${(err as Error).message}`, { cause: err });
    }
  });
  return root as T;
}

function applyOne(root: unknown, op: JsonPatchOp): unknown {
  const tokens = parsePointer(op.path);
  if (tokens.length === 0) {
    if (op.op === 'add' || op.op === 'replace') return clone(op.value);
    if (op.op === 'test') {
      if (JSON.stringify(root) !== JSON.stringify(op.value)) throw new Error('test failed');
      return root;
    }
    throw new Error('cannot remove the root');
  }
  let parent: unknown = root;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(parent)) parent = parent[arrayIndex(t, parent.length, false)];
    else if (isObject(parent) && Object.hasOwn(parent, t)) parent = parent[t];
    else throw new Error(`path not found at ${JSON.stringify(t)}`);
  }
  const last = tokens[tokens.length - 1] as string;
  if (Array.isArray(parent)) {
    const i = arrayIndex(last, parent.length, op.op === 'add');
    if (op.op === 'add') parent.splice(i, 0, clone(op.value));
    else if (op.op === 'replace') parent[i] = clone(op.value);
    else if (op.op === 'remove') parent.splice(i, 1);
    else if (JSON.stringify(parent[i]) !== JSON.stringify(op.value)) throw new Error('test failed');
    return root;
  }
  if (!isObject(parent)) throw new Error('parent is not an object or array');
  const exists = Object.hasOwn(parent, last);
  if (op.op === 'add') parent[last] = clone(op.value);
  else if (!exists) throw new Error(`member ${JSON.stringify(last)} not found`);
  else if (op.op === 'replace') parent[last] = clone(op.value);
  else if (op.op === 'remove') delete parent[last];
  else if (JSON.stringify(parent[last]) !== JSON.stringify(op.value)) throw new Error('test failed');
  return root;
}
