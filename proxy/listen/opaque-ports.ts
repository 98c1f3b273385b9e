// Parses the opaque-ports list the injector passes (WEFT_OPAQUE_PORTS, from
// config.weft.dev/opaque-ports): "25,587,3306-3310". Pure.
import { WeftError } from '../../proto/errors.ts';

export function parseOpaquePorts(text: string): number[] {
  const out = new Set<number>();
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const m = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(item);
    const from = Number(m?.[1]);
    const to = m?.[2] === undefined ? from : Number(m[2]);
    if (m === null || from < 1 || to > 65535 || to < from) {
      throw new WeftError('WEFT_ERR_CONFIG_INVALID', `opaque ports: "${item}" is not a port or a range of ports`);
    }
    for (let p = from; p <= to; p++) out.add(p);
  }
  return [...out];
}
