import { createRequire } from 'node:module';
import {
  ENCODING_PROBES,
  encodeWithBuffer,
  natsCoreEncoder,
  useBufferEncoding,
  useBufferEncodingInNats,
} from './nats-text-encoding.js';

/** nats-core as the installed transport-node loads it (Node's own loader, as the workload processes do). */
const natsCore = (): { headers: () => { append(k: string, v: string): void; encode(): Uint8Array } } => {
  const require = createRequire(import.meta.url);
  return createRequire(require.resolve('@nats-io/transport-node'))('@nats-io/nats-core/internal') as {
    headers: () => { append(k: string, v: string): void; encode(): Uint8Array };
  };
};

/** Strings of random UTF-16 code units, lone surrogates included (a small LCG: the same strings every run). */
function randomStrings(count: number): string[] {
  let state = 12345;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31);
  const units = [
    0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfffd, 0xffff,
  ];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = '';
    const length = next() % 12;
    for (let k = 0; k < length; k++) {
      const pick = next();
      s += String.fromCharCode(pick % 3 === 0 ? (units[pick % units.length] ?? 0x41) : pick % 0x10000);
    }
    out.push(s);
  }
  return out;
}

describe('encodeWithBuffer (TextEncoder.encode done by Buffer.from)', () => {
  it('gives the bytes TextEncoder gives, lone and reversed surrogates included', () => {
    const reference = new TextEncoder();
    for (const s of [...ENCODING_PROBES, ...randomStrings(5000)])
      expect([...encodeWithBuffer(s)]).toEqual([...reference.encode(s)]);
  });

  it('takes a missing input as the empty string, as TextEncoder does', () => {
    expect(encodeWithBuffer(undefined)).toHaveLength(0);
    expect(encodeWithBuffer()).toHaveLength(0);
  });
});

describe('useBufferEncoding', () => {
  it('leaves anything but a TextEncoder alone', () => {
    const imposter = { encode: (s: string) => new TextEncoder().encode(s) };
    const encode = imposter.encode;
    expect(useBufferEncoding(imposter)).toBe(false);
    expect(imposter.encode).toBe(encode);
    expect(useBufferEncoding(undefined)).toBe(false);
  });

  it("gives one TextEncoder instance Buffer.from's encoding, not the class", () => {
    const encoder = new TextEncoder();
    expect(useBufferEncoding(encoder)).toBe(true);
    expect(Buffer.isBuffer(encoder.encode('PUB a 0\r\n'))).toBe(true);
    expect(Buffer.isBuffer(new TextEncoder().encode('PUB a 0\r\n'))).toBe(false);
  });
});

describe('useBufferEncodingInNats (the workload processes, at connectNats)', () => {
  it("makes nats.js encode into Node's buffer pool, the same bytes, not a new ArrayBuffer per call", () => {
    expect(useBufferEncodingInNats()).toBe(true);
    const encoder = natsCoreEncoder() as { encode(s: string): Uint8Array };
    const line = 'HPUB eventlog.a-1.e-1 _INBOX.abc.1z 101 400\r\n';
    const bytes = encoder.encode(line);
    expect([...bytes]).toEqual([...new TextEncoder().encode(line)]);
    // A slice of the pool: its ArrayBuffer is larger than the line (TextEncoder's is exactly its size).
    expect(bytes.buffer.byteLength).toBeGreaterThan(bytes.byteLength);
    // nats.js's own code takes it: a header block is encoded through the same instance.
    const h = natsCore().headers();
    h.append('Nats-Msg-Id', 'e-1');
    const block = h.encode();
    expect(Buffer.isBuffer(block)).toBe(true);
    expect(Buffer.from(block).toString()).toBe('NATS/1.0\r\nNats-Msg-Id: e-1\r\n\r\n');
  });

  it('is idempotent', () => {
    expect(useBufferEncodingInNats()).toBe(true);
    expect(useBufferEncodingInNats()).toBe(true);
  });
});
