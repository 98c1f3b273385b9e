// Parses the `subjectAltName` string of Node's X509Certificate, e.g.
// 'DNS:a.example, URI:spiffe://cluster.local/ns/demo/sa/web, IP Address:127.0.0.1'.
// Node separates entries with ", " and writes an entry whose value holds a
// ",", a quote, a backslash or a control character as a JSON string (the
// whole entry, 'URI:...' included, sits inside the quotes), so a crafted value
// cannot pass for a second entry. The splitting follows Node's own
// lib/tls.js (splitEscapedAltNames), which checkServerIdentity uses.

import { WeftError } from '../proto/errors.ts';

export interface AltName {
  /** 'DNS', 'URI', 'IP Address', 'email', 'DirName', 'othername', ... */
  type: string;
  value: string;
}

const JSON_STRING = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/;

function malformed(why: string): WeftError {
  return new WeftError('WEFT_ERR_SVID_MALFORMED', `cannot parse subjectAltName: ${why}`);
}

/** Splits the subjectAltName string into entries; throws WEFT_ERR_SVID_MALFORMED. */
export function parseSubjectAltName(altNames: string | undefined): AltName[] {
  if (altNames === undefined || altNames === '') return [];
  const tokens: string[] = [];
  let current = '';
  let offset = 0;
  while (offset !== altNames.length) {
    const nextSep = altNames.indexOf(', ', offset);
    const nextQuote = altNames.indexOf('"', offset);
    if (nextQuote !== -1 && (nextSep === -1 || nextQuote < nextSep)) {
      // A quoted (JSON-escaped) part starts before the next separator.
      current += altNames.slice(offset, nextQuote);
      const match = JSON_STRING.exec(altNames.slice(nextQuote));
      if (!match) throw malformed('unterminated or invalid quoted value');
      current += JSON.parse(match[0]) as string;
      offset = nextQuote + match[0].length;
    } else if (nextSep !== -1) {
      current += altNames.slice(offset, nextSep);
      tokens.push(current);
      current = '';
      offset = nextSep + 2;
    } else {
      current += altNames.slice(offset);
      offset = altNames.length;
    }
  }
  tokens.push(current);

  return tokens.map((token) => {
    const colon = token.indexOf(':');
    if (colon <= 0) throw malformed(`entry without a type: ${JSON.stringify(token)}`);
    return { type: token.slice(0, colon), value: token.slice(colon + 1) };
  });
}

/** The values of the URI entries, in order. */
export function uriSans(altNames: string | undefined): string[] {
  return parseSubjectAltName(altNames)
    .filter((n) => n.type === 'URI')
    .map((n) => n.value);
}
