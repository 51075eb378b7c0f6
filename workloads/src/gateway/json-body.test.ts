import { isUtf8 } from 'node:buffer';
import { seededRng } from '../../../test/seeded-rng.js';
import { firstInvalidUtf8Byte, parseJsonBody, refusedCharset } from './json-body.js';

/** Whether `bytes` is a prefix of some UTF-8 text (a sequence cut off at the end still counts). */
function utf8Prefix(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}

describe('firstInvalidUtf8Byte', () => {
  it.each([
    ['ASCII', [0x7b, 0x7d], -1],
    [
      'every length, first and last code points',
      [0xc2, 0x80, 0xe0, 0xa0, 0x80, 0xf0, 0x90, 0x80, 0x80, 0xf4, 0x8f, 0xbf, 0xbf],
      -1,
    ],
    ['0xFF', [0x41, 0xff, 0x41], 1],
    ['a lone continuation byte', [0x80], 0],
    ['an overlong two-byte form', [0xc0, 0xaf], 0],
    ['an overlong three-byte form', [0xe0, 0x80, 0xaf], 1],
    ['a surrogate', [0x41, 0xed, 0xa0, 0x80], 2],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 1],
    ['a sequence broken by ASCII', [0xe2, 0x82, 0x41], 2],
    ['a sequence cut off at the end', [0x41, 0xe2, 0x82], 3],
  ])('%s', (_name, bytes, expected) => {
    expect(firstInvalidUtf8Byte(Uint8Array.from(bytes))).toBe(expected);
  });

  it('agrees with Node and the WHATWG decoder on random bytes: -1 exactly for UTF-8, else the first bad byte', () => {
    const random = seededRng(16);
    // Bytes biased toward the lead and continuation ranges, so that most buffers hold long valid runs.
    const pool = [
      0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5,
      0xff,
    ];
    const wrong: string[] = [];
    let valid = 0;
    for (let n = 0; n < 20_000; n++) {
      const bytes = Uint8Array.from({ length: 1 + Math.floor(random() * 12) }, () =>
        random() < 0.3 ? Math.floor(random() * 256) : (pool[Math.floor(random() * pool.length)] ?? 0),
      );
      const offset = firstInvalidUtf8Byte(bytes);
      // -1 exactly for UTF-8; else everything before the offset is UTF-8 so far, and the byte at it breaks it.
      const right = isUtf8(bytes)
        ? offset === -1
        : offset >= 0 &&
          utf8Prefix(bytes.subarray(0, offset)) &&
          (offset < bytes.length ? !utf8Prefix(bytes.subarray(0, offset + 1)) : utf8Prefix(bytes));
      if (offset === -1) valid++;
      if (!right) wrong.push(`${Buffer.from(bytes).toString('hex')} -> ${offset}`);
    }
    expect(wrong).toEqual([]);
    expect(valid).toBeGreaterThan(300); // the valid side was exercised too
  });
});

describe('parseJsonBody', () => {
  it('parses UTF-8 JSON, keeping every character (U+FFFD sent as such stays), and skips a BOM', () => {
    const text = '{"note":"é € 𝄞 \uFFFD"}';
    expect(parseJsonBody(Buffer.from(text))).toEqual({ kind: 'ok', value: { note: 'é € 𝄞 \uFFFD' } });
    expect(parseJsonBody(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('[1]')]))).toEqual({
      kind: 'ok',
      value: [1],
    });
    expect(parseJsonBody(Buffer.from('null'))).toEqual({ kind: 'ok', value: null });
    expect(parseJsonBody(Buffer.alloc(0))).toEqual({ kind: 'ok', value: {} });
  });

  it('refuses bytes that are not UTF-8, naming the first one, instead of replacing them', () => {
    const body = Buffer.concat([Buffer.from('{"note":"a'), Buffer.from([0xff]), Buffer.from('"}')]);
    expect(parseJsonBody(body)).toEqual({
      kind: 'invalid_utf8',
      message: 'byte 0xff at offset 10 is not valid UTF-8; send the body as UTF-8',
    });
    expect(parseJsonBody(Buffer.from([0x22, 0xe2, 0x82]))).toEqual({
      kind: 'invalid_utf8',
      message: 'the body ends inside a UTF-8 sequence; send the body as UTF-8',
    });
  });

  it('reports JSON that does not parse', () => {
    expect(parseJsonBody(Buffer.from('{"type": '))).toMatchObject({ kind: 'invalid_json' });
  });
});

describe('refusedCharset', () => {
  it.each([
    undefined,
    'application/json',
    'application/json; charset=utf-8',
    'application/json;charset="UTF-8"',
    'application/json; charset=utf8',
  ])('reads %s as UTF-8', (contentType) => {
    expect(refusedCharset(contentType)).toBeUndefined();
  });

  it.each(['utf-16', 'utf-16le', 'UTF-32', 'latin1', ''])('refuses charset=%s, naming it', (charset) => {
    expect(refusedCharset(`application/json; charset=${charset}`)).toBe(
      `charset ${JSON.stringify(charset.toLowerCase())} is not accepted: send JSON as UTF-8 (charset=utf-8 or none)`,
    );
  });
});
