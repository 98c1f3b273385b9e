import { describe, expect, it } from 'vitest';
import { codeOf } from '../test/harness/error-code.ts';
import { parsePortList } from './port-list.ts';

describe('parsePortList', () => {
  it('reads ports and ranges', () => {
    expect(parsePortList('25, 3306-3308,,6379')).toEqual([25, 3306, 3307, 3308, 6379]);
    expect(parsePortList('')).toEqual([]);
  });
  it('refuses what is not a port', () => {
    for (const bad of ['http', '0', '70000', '10-5', '1-2-3']) expect(codeOf(() => parsePortList(bad))).toBe('WEFT_ERR_CONFIG_INVALID');
  });
});
