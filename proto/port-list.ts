// Parses a list of ports and port ranges, "25,587,3306-3310": the
// config.weft.dev/opaque-ports annotation as the proxy (WEFT_OPAQUE_PORTS) and
// the control plane (on a Service) read it. Pure; WEFT_ERR_CONFIG_INVALID.
import { WeftError } from './errors.ts';

export function parsePortList(text: string): number[] {
  const out = new Set<number>();
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const m = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(item);
    const from = Number(m?.[1]);
    const to = m?.[2] === undefined ? from : Number(m[2]);
    if (m === null || from < 1 || to > 65535 || to < from) {
      throw new WeftError('WEFT_ERR_CONFIG_INVALID', `"${item}" is not a port or a range of ports`);
    }
    for (let p = from; p <= to; p++) out.add(p);
  }
  return [...out];
}
