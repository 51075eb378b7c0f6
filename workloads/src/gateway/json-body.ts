// The bytes of a POST /events body into JSON, refusing what a lossy decode would change. body-parser
// (express.json) decodes with U+FFFD in place of bytes that are not UTF-8, so such an event was stored
// with different text than the client sent, and answered 202. JSON between systems is UTF-8 (RFC 8259
// §8.1): the body is decoded strictly, and a charset other than UTF-8 is refused before it is read.
import { isUtf8 } from 'node:buffer';

export type JsonBody =
  | { kind: 'ok'; value: unknown }
  | { kind: 'invalid_utf8'; message: string }
  | { kind: 'invalid_json'; message: string };

const UTF8_BOM = [0xef, 0xbb, 0xbf];

/** The body as JSON: any JSON value (an empty body is `{}`, as express.json gave); a leading UTF-8 BOM is skipped. */
export function parseJsonBody(bytes: Buffer): JsonBody {
  if (!isUtf8(bytes)) {
    const offset = firstInvalidUtf8Byte(bytes);
    const byte = (bytes[offset] ?? 0).toString(16).padStart(2, '0');
    const what =
      offset === bytes.length
        ? 'the body ends inside a UTF-8 sequence'
        : `byte 0x${byte} at offset ${offset} is not valid UTF-8`;
    return { kind: 'invalid_utf8', message: `${what}; send the body as UTF-8` };
  }
  const bom = UTF8_BOM.every((b, i) => bytes[i] === b);
  const text = bytes.toString('utf8', bom ? 3 : 0);
  if (text.length === 0) return { kind: 'ok', value: {} };
  try {
    return { kind: 'ok', value: JSON.parse(text) as unknown };
  } catch (err) {
    return { kind: 'invalid_json', message: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * The offset of the first byte that breaks UTF-8 (the well-formed sequences of Unicode's Table 3-7: no
 * overlong forms, no surrogates, nothing above U+10FFFF); `bytes.length` when the body ends inside a
 * sequence, -1 when all of it is UTF-8.
 */
export function firstInvalidUtf8Byte(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) {
      i++;
      continue;
    }
    // The sequence's length and the range of its second byte (the later ones are 0x80–0xBF).
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) length = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      length = 3;
      if (b === 0xe0) low = 0xa0; // overlong below U+0800
      if (b === 0xed) high = 0x9f; // surrogates U+D800–DFFF
    } else if (b >= 0xf0 && b <= 0xf4) {
      length = 4;
      if (b === 0xf0) low = 0x90; // overlong below U+10000
      if (b === 0xf4) high = 0x8f; // above U+10FFFF
    } else return i;
    for (let k = 1; k < length; k++) {
      if (i + k >= bytes.length) return bytes.length;
      const c = bytes[i + k] ?? 0;
      if (k === 1 ? c < low || c > high : c < 0x80 || c > 0xbf) return i + k;
    }
    i += length;
  }
  return -1;
}

/**
 * Why a request's charset is refused, or undefined when its body may be read: UTF-8, named or not.
 * (express.json accepted any `utf-*` that iconv knows; utf-16 and utf-32 JSON is not sent between systems.)
 */
export function refusedCharset(contentType: string | undefined): string | undefined {
  const charset = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType ?? '');
  const name = (charset?.[1] ?? charset?.[2])?.toLowerCase();
  if (name === undefined || name === 'utf-8' || name === 'utf8') return undefined;
  return `charset ${JSON.stringify(name)} is not accepted: send JSON as UTF-8 (charset=utf-8 or none)`;
}
