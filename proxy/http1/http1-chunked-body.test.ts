import { describe, expect, it } from 'vitest';
import { codeOf } from '../../test/harness/error-code.ts';
import { ChunkedDecoder } from './http1-chunked-body.ts';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Decodes `parts` in order; returns the body and, if it ended, the end offset within the last part used. */
function decode(parts: Buffer[]): { body: string; end: number; part: number } {
  const decoder = new ChunkedDecoder();
  const chunks: Buffer[] = [];
  const sink = { onBodyChunk: (c: Buffer) => chunks.push(Buffer.from(c)) };
  for (let p = 0; p < parts.length; p++) {
    const end = decoder.decode(parts[p]!, 0, sink);
    if (end !== -1) return { body: Buffer.concat(chunks).toString('latin1'), end, part: p };
  }
  return { body: Buffer.concat(chunks).toString('latin1'), end: -1, part: -1 };
}

const SAMPLE =
  '5\r\nhello\r\n' +
  '1;name=value;flag\r\n \r\n' +
  'A;quoted="a;b"\r\n0123456789\r\n' +
  '9\r\n\r\n\r\n0\r\nab\r\n' +
  '0\r\n' +
  'Expires: never\r\nX-Trailer: x y\r\n' +
  '\r\n';
const SAMPLE_BODY = 'hello 0123456789\r\n\r\n0\r\nab';
const AFTER = 'HTTP/1.1 200 OK\r\n';

describe('ChunkedDecoder', () => {
  it('decodes chunks with extensions and trailers, and says where the message ends', () => {
    const r = decode([b(SAMPLE + AFTER)]);
    expect(r.body).toBe(SAMPLE_BODY);
    expect(r.end).toBe(SAMPLE.length);
  });

  it('gives the same result split at every point', () => {
    for (let cut = 0; cut <= SAMPLE.length; cut++) {
      const r = decode([b(SAMPLE.slice(0, cut)), b(SAMPLE.slice(cut) + AFTER)]);
      expect(r.body, `cut at ${cut}`).toBe(SAMPLE_BODY);
      if (cut === SAMPLE.length) {
        expect(r).toMatchObject({ part: 0, end: cut });
      } else {
        expect(r).toMatchObject({ part: 1, end: SAMPLE.length - cut });
      }
    }
  });

  it('gives the same result one byte at a time', () => {
    const parts = [...b(SAMPLE)].map((byte) => Buffer.from([byte]));
    const r = decode(parts);
    expect(r.body).toBe(SAMPLE_BODY);
    expect(r).toMatchObject({ part: parts.length - 1, end: 1 });
  });

  it('gives the same result split at every pair of points', () => {
    for (let i = 0; i <= SAMPLE.length; i += 3) {
      for (let j = i; j <= SAMPLE.length; j += 2) {
        const r = decode([b(SAMPLE.slice(0, i)), b(SAMPLE.slice(i, j)), b(SAMPLE.slice(j))]);
        expect(r.body, `cuts at ${i}, ${j}`).toBe(SAMPLE_BODY);
        expect(r.end).not.toBe(-1);
      }
    }
  });

  it('decodes from an offset, and an empty body', () => {
    const decoder = new ChunkedDecoder();
    const chunks: Buffer[] = [];
    const text = 'HEAD0\r\n\r\n';
    expect(decoder.decode(b(text), 4, { onBodyChunk: (c) => chunks.push(c) })).toBe(text.length);
    expect(chunks).toEqual([]);
    expect(decoder.done).toBe(true);
  });

  it('accepts upper- and lower-case hex and leading zeros', () => {
    expect(decode([b('00A\r\n0123456789\r\nb\r\n0123456789a\r\n0\r\n\r\n')]).body).toBe('01234567890123456789a');
  });

  it('waits for more when the input stops inside the message', () => {
    expect(decode([b('5\r\nhel')])).toEqual({ body: 'hel', end: -1, part: -1 });
    expect(decode([b('0\r\nX-T: 1\r\n')]).end).toBe(-1);
  });

  it('can be reset for the next message', () => {
    const decoder = new ChunkedDecoder();
    const sink = { onBodyChunk: () => undefined };
    expect(decoder.decode(b('0\r\n\r\n'), 0, sink)).toBe(5);
    decoder.reset();
    expect(decoder.done).toBe(false);
    expect(decoder.decode(b('1\r\nx\r\n0\r\n\r\n'), 0, sink)).toBe(11);
  });

  it('rejects bad framing', () => {
    const err = (s: string): string | undefined => codeOf(() => decode([b(s)]));
    expect(err('g\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL'); // bad hex
    expect(err('-1\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err('0x5\r\nhello\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err('\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL'); // no size at all
    expect(err('5\nhello\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL'); // bare LF
    expect(err('5\rhello\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL'); // bare CR
    expect(err('5\r\nhelloX\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL'); // data longer than its size
    expect(err('5\r\nhello\n0\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err('5 x\r\nhello\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL'); // nothing but ';' or CRLF after the size
    expect(err('5;a\x00\r\nhello\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err('5;a\nhello\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err(`5;${'e'.repeat(5000)}\r\n`)).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err('fffffffffffffff\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL'); // too large
    expect(err('0\r\nBad Name: x\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err('0\r\nX: a\r\n folded\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err('0\r\nX: a\x01\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err('0\r\nX: a\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err('0\r\n\rX')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err(`0\r\nX: ${'a'.repeat(70 * 1024)}\r\n\r\n`)).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
  });

  it('rejects whitespace between the size and an extension or CRLF, as llhttp does (strict)', () => {
    const err = (s: string): string | undefined => codeOf(() => decode([b(s)]));
    expect(err('5 \t;ext\r\nhello\r\n0\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err('5 ;ext\r\nhello\r\n0\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err('5 \r\nhello\r\n0\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
    expect(err('5\t\r\nhello\r\n0\r\n\r\n')).toBe('WEFT_ERR_UPSTREAM_PROTOCOL');
  });
});
