// nats.js 3.4 turns every protocol line it sends into bytes with one shared TextEncoder (`TE` in
// @nats-io/nats-core's encoders.js): the `HPUB <subject> <reply> <sizes>` line of each publish and the
// `PUB $JS.ACK.…` line of each ack. TextEncoder.encode() makes a new ArrayBuffer every call: 1.5 µs for a
// 100-byte line against 0.19 for Buffer.from, which writes the same bytes into a slice of Node's shared
// pool (micro-benchmark, workloads/README.md "Session 28"). The consumer sends two such lines per event
// (its append and its ack), the gateway one per event. nats.js has no option for it, so the workload
// processes give that one encoder instance Buffer.from's encoding at start-up (connectNats); nats.js's
// publish (its checks, statistics, buffering) is otherwise untouched.
//
// The bytes are the same: both encode UTF-8 and turn a lone surrogate into U+FFFD (EF BF BD); the
// instance is changed only after it encoded a probe of such strings identically both ways. A pool slice
// is never written again by Node, so nats.js may hold it in its outbound buffer as it held its own arrays.
import { createRequire } from 'node:module';

/** TextEncoder.encode's contract (a missing input is ''; anything else is taken as a string), by Buffer.from. */
export function encodeWithBuffer(input?: string): Uint8Array {
  return Buffer.from(input === undefined ? '' : String(input), 'utf8');
}

/** Strings whose encoding must not differ: ASCII, 2-, 3- and 4-byte UTF-8, lone and reversed surrogates. */
export const ENCODING_PROBES: readonly string[] = [
  '',
  'HPUB eventlog.a-1.e-1 _INBOX.x.1 101 400\r\n',
  'é€𝄞',
  'a\ud800b',
  '\udc00\ud800',
  'end\ud83d',
];

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Gives `encoder` (a TextEncoder) Buffer.from's encoding if both agree on every probe; false, and
 * `encoder` unchanged, when they do not or it is not a TextEncoder.
 */
export function useBufferEncoding(encoder: unknown): boolean {
  if (!(encoder instanceof TextEncoder)) return false;
  const reference = new TextEncoder();
  if (!ENCODING_PROBES.every((s) => sameBytes(reference.encode(s), encodeWithBuffer(s)))) return false;
  if (encoder.encode !== encodeWithBuffer)
    Object.defineProperty(encoder, 'encode', { value: encodeWithBuffer, configurable: true, writable: true });
  return true;
}

/**
 * nats-core's shared encoder, as the installed @nats-io/transport-node loads it (resolved from there,
 * so it is the instance its protocol uses however npm laid the packages out); undefined if that
 * layout changed.
 */
export function natsCoreEncoder(): unknown {
  try {
    const require = createRequire(import.meta.url);
    const core: unknown = createRequire(require.resolve('@nats-io/transport-node'))(
      '@nats-io/nats-core/internal',
    );
    return typeof core === 'object' && core !== null ? Reflect.get(core, 'TE') : undefined;
  } catch {
    return undefined;
  }
}

/** Installs Buffer.from's encoding in nats.js's protocol encoder; false when nats.js no longer has one (left as it is). */
export function useBufferEncodingInNats(): boolean {
  return useBufferEncoding(natsCoreEncoder());
}
