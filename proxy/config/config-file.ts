// Static mode: the mesh config from a YAML or JSON file, reloaded when the
// file changes. A file that does not parse or validate is reported with its
// path and field, and the config in force stays.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parse } from 'yaml';
import { WeftError } from '../../proto/errors.ts';

/** Reads and parses a config file (YAML is a superset of JSON). Throws WEFT_ERR_CONFIG_INVALID. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new WeftError('WEFT_ERR_CONFIG_INVALID', `${path}: cannot read`, { cause });
  }
  try {
    return parse(text);
  } catch (cause) {
    throw new WeftError('WEFT_ERR_CONFIG_INVALID', `${path}: not valid YAML/JSON: ${(cause as Error).message}`, { cause });
  }
}

/** Calls `onChange` (debounced) whenever the file is written or replaced. */
export function watchConfigFile(path: string, onChange: () => void, debounceMs = 100): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  const name = basename(path);
  // Watch the folder: editors and `kubectl`-style tools replace files by rename.
  const watcher: FSWatcher = watch(dirname(path), (_event, file) => {
    if (file !== null && file !== name) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
