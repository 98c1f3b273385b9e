// The head of an HTTP/1.1 request to an upstream, as one latin1 string. Pure.
// Nothing is validated here: the names, values and path come from Node's
// server, which has already rejected anything invalid, and from Weft itself.
// The body framing line and the final CRLF are the connection's to add.
import type { OutgoingHttpHeaders } from 'node:http';

/**
 * `METHOD path HTTP/1.1` and one line per header value, each ending in CRLF,
 * without the blank line that ends the head. `expect` is never sent: Node's
 * server has answered 100-continue already.
 */
export function requestHead(method: string, path: string, headers: OutgoingHttpHeaders): string {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name === 'expect') continue;
    if (typeof value === 'string') head += `${name}: ${value}\r\n`;
    else if (typeof value === 'number') head += `${name}: ${value}\r\n`;
    else for (const v of value) head += `${name}: ${v}\r\n`;
  }
  return head;
}
