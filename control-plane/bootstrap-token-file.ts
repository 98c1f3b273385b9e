// Bootstrap tokens shared through a file: `weft up` issues a token per
// workload and writes only its SHA-256 with the workload's namespace and
// ServiceAccount; the control plane (another process) validates against the
// file, re-reading it when it changed. The tokens themselves are never stored.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { WeftError } from '../proto/errors.ts';
import type { TokenIdentity, TokenValidator } from './token-validator.ts';

interface TokenFile {
  tokens: Array<{ sha256: string } & TokenIdentity>;
}

const digest = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** A new random token (32 bytes, base64url). */
export function newBootstrapToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Writes the token file atomically (mode 0600). */
export function writeTokenFile(path: string, entries: Array<{ token: string } & TokenIdentity>): void {
  const body: TokenFile = {
    tokens: entries.map((e) => ({ sha256: digest(e.token), namespace: e.namespace, serviceAccount: e.serviceAccount })),
  };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

export function createTokenFileValidator(path: string): TokenValidator {
  let mtime = -1;
  let table = new Map<string, TokenIdentity>();
  function reload(): void {
    let m: number;
    try {
      m = statSync(path).mtimeMs;
    } catch {
      table = new Map();
      return;
    }
    if (m === mtime) return;
    try {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as TokenFile;
      table = new Map(parsed.tokens.map((t) => [t.sha256, { namespace: t.namespace, serviceAccount: t.serviceAccount }]));
      mtime = m;
    } catch {
      // Mid-write or corrupt: keep the last good table.
    }
  }
  return {
    validate(token) {
      if (typeof token !== 'string' || token === '') {
        return Promise.reject(new WeftError('WEFT_ERR_TOKEN_INVALID', 'no token'));
      }
      const key = digest(token);
      let who = table.get(key);
      if (who === undefined) {
        reload();
        who = table.get(key);
      }
      return who === undefined
        ? Promise.reject(new WeftError('WEFT_ERR_TOKEN_INVALID', 'unknown bootstrap token'))
        : Promise.resolve({ ...who });
    },
  };
}
