// Bounds what a NATS server may send the operator before nats.js acts on it. The server an
// EventConsumer reads is the tenant's (spec.nats.servers, or its Secret): it may be one the tenant
// controls, or a broken proxy. nats.js 3.4 trusts it entirely, on the operator's one event loop,
// which every tenant's polls and the Lease renewals share:
// - a control line (INFO, -ERR, a MSG's arguments) is buffered byte by byte until its CRLF, with
//   no limit: an INFO line that never ends grows the heap until the process dies, and before the
//   connection is up nats.js concatenates everything received at each read (transport-node
//   peekInfo), so a long first line also costs time quadratic in its length;
// - every INFO's connect_urls are added to the server pool, each parsed into a Server object and
//   the pool shuffled: 300,000 URLs blocked the event loop for 8.6 s (session 22);
// - an INFO that is not JSON, or an unknown operation, throws inside its parser loop, which then
//   stops reading the socket for good (a "reader closed" on stdout) while the socket stays open
//   and its data piles up unread;
// - each PING is answered with a PONG written at once: a server that floods PINGs and reads
//   nothing fills the operator's socket buffer;
// - a message may be up to 64 MiB, whatever the operator's requests ask for.
// The guard reads the same bytes first, keeps only the current line (up to its limit), skips
// message payloads without copying them, and says what the server did wrong; the transport
// (guarded-transport.ts) then drops the connection before nats.js sees the offending bytes. Pure:
// no I/O, the clock passed in.
//
// Messages on the operator's own subscriptions are data it asked for, at whatever rate the server
// has them: a busy cluster sends the max-deliveries advisories the operator subscribes to
// (drop-advisories.ts) at thousands a second, each MSG line naming a stream and a consumer of up to
// 255 characters (advisory-storm.int: 3-15 MiB of MSG lines a second from a real nats-server whose
// handlers nak at once). So the guard also reads what the operator sends (SUB, UNSUB), and the MSG
// lines of messages on a subscription the operator made, and has not left, are bounded per line and
// per message but not counted against the protocol-line budget; a MSG on any other subscription
// (one the operator never made, or left once the server has read the UNSUB: see `leaving`) counts
// as any other line.
// (Before, every MSG line counted, and such a storm had the connection dropped as misbehaving.)
// A request's replies are different: nats.js sends each request with a reply subject under its one
// wildcard inbox subscription (`_INBOX.<id>.*`), and a server answers a request once. So a
// subscription the operator's requests name as their reply-to takes as many messages as requests
// were sent on it, and any more count against the protocol-line budget as a stranger's would.
// (Before, a server could send the inbox 38,000 messages a second for as long as it liked: each a
// nats.js message and a callback on the operator's one event loop, which held it up to 1.3 s at a
// time (session 25, advisory helper's scratch drill), never a violation.)

/** What a legitimate nats-server stays far below; each is a reason to drop a connection. */
export interface ProtocolLimits {
  /** Bytes of one INFO line, without its CRLF. */
  maxInfoLineBytes: number;
  /** Bytes of any other protocol line (-ERR, a message's arguments ...), without its CRLF. */
  maxLineBytes: number;
  /**
   * Bytes of protocol lines in one second (payloads aside, and the MSG lines of messages on the
   * operator's own subscriptions: see ProtocolGuard.sent): nats.js's parser takes ~50 ns a byte of
   * a line received whole and ~0.5 us of one split across reads.
   */
  maxLineBytesPerSecond: number;
  /** Entries of an INFO's connect_urls (and ws_connect_urls). */
  maxConnectUrls: number;
  /** Bytes of one message (headers and payload) the server may deliver. */
  maxMessageBytes: number;
  /** Control lines (INFO, PING, PONG, +OK, -ERR) in one second. */
  maxControlLinesPerSecond: number;
  /** PINGs in one second (each makes the operator write a PONG). */
  maxPingsPerSecond: number;
  /** INFO lines in one second (each is parsed, and its connect_urls merged into the pool). */
  maxInfosPerSecond: number;
}

/**
 * A nats-server 2.x sends INFO lines of a few KiB (each server of its cluster listed once per
 * address it listens on: 256 IPv6 addresses make 13 KiB), other lines under its 4 KiB
 * max_control_line (the operator's subjects are far shorter), a PING per ping_interval (2 min by
 * default), an INFO when its cluster changes, and the operator asks for JetStream API replies of
 * at most 2 MiB (api-replies.ts), one per EventConsumer's poll (1,000 at 1 s polls: ~100 KiB of
 * lines a second).
 */
export const DEFAULT_PROTOCOL_LIMITS: Readonly<ProtocolLimits> = {
  maxInfoLineBytes: 64 * 1024,
  maxLineBytes: 4 * 1024,
  maxLineBytesPerSecond: 512 * 1024,
  maxConnectUrls: 256,
  maxMessageBytes: 8 * 1024 * 1024,
  maxControlLinesPerSecond: 10_000,
  maxPingsPerSecond: 100,
  maxInfosPerSecond: 20,
};

/** The fields of a server's INFO the guard checked (the rest is nats.js's). */
export interface CheckedInfo {
  [field: string]: unknown;
}

/** How the server broke the protocol, in words that complete "NATS at <server> ...". */
export class NatsServerMisbehaved extends Error {
  constructor(readonly what: string) {
    super(what);
    this.name = 'NatsServerMisbehaved';
  }
}

export function isNatsServerMisbehaved(err: unknown): err is NatsServerMisbehaved {
  return err instanceof NatsServerMisbehaved;
}

/** A subscription the operator made, as the guard follows it. */
interface Subscription {
  /** Messages received on it. */
  delivered: number;
  /** The most the operator asked for (UNSUB <sid> <max>). */
  max: number;
  /** Its subject without the last token, when that is `*` (`_INBOX.<id>.`): replies may name it. */
  wildcard?: string;
  /** Requests sent naming it as their reply-to less messages received on it, once one has. */
  repliesOwed?: number;
}

/** One decoder for every line (not one made per line received: MSG lines come at the message rate). */
const LINE_DECODER = new TextDecoder('utf-8', { fatal: false });
const CR = 13;
const LF = 10;
/** A host:port (IPv6 in brackets) or a URL of one, as nats-server lists them. */
const CONNECT_URL = /^(?:[a-z]+:\/\/)?[A-Za-z0-9._\-[\]:%]{1,253}$/;

/**
 * Feeds on the bytes a server sends, in order, and says when they break a limit or the protocol.
 * Once it has said so it says nothing more (the connection is dropped).
 */
export class ProtocolGuard {
  private readonly limits: ProtocolLimits;
  /** The line being read, up to the limit (grown by doubling: a line trickled a byte at a time costs no more). */
  private line = new Uint8Array(256);
  private lineBytes = 0;
  /** Bytes of the message payload still to skip, and the byte after it (nats.js does not look at it). */
  private payloadLeft = 0;
  /** A message's payload was skipped: the next byte ends it (the LF nats.js requires). */
  private expectLf = false;
  private window = { start: Number.NEGATIVE_INFINITY, lines: 0, pings: 0, infos: 0, bytes: 0 };
  private failed: NatsServerMisbehaved | undefined;
  /**
   * The operator's subscriptions on this connection, by sid: messages delivered, the most it asked
   * for, and, for one its requests name as their reply-to, the replies still owed (requests sent on
   * it less messages received on it).
   */
  private readonly subscriptions = new Map<string, Subscription>();
  /** The wildcard subscriptions (`<prefix>*`), by prefix, whose sids a reply subject may name. */
  private readonly wildcards = new Map<string, string>();
  /**
   * Subscriptions the operator left (UNSUB), by sid, with the PINGs it had sent by then: what the
   * server sent before it read the UNSUB is still arriving (at an advisory storm, megabytes: the
   * operator leaves the subscription for its volume, drop-advisories.ts), until the PONG to a PING
   * written after the UNSUB, which the server answers only once it has read the UNSUB.
   */
  private readonly leaving = new Map<string, number>();
  /** PINGs the operator sent, and PONGs the server sent (each answers the oldest PING unanswered). */
  private pingsSent = 0;
  private pongsReceived = 0;
  /** What the operator sends, read as the server does: the line being read, and payload bytes to skip. */
  private out = { line: new Uint8Array(256), lineBytes: 0, payloadLeft: 0 };
  /** The first INFO, once read (a connect waits for it). */
  firstInfo: CheckedInfo | undefined;
  /** Bytes fed so far. */
  received = 0;

  constructor(
    limits: Partial<ProtocolLimits> = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.limits = { ...DEFAULT_PROTOCOL_LIMITS, ...limits };
  }

  /** The bytes' violation, or undefined while the server keeps to the protocol and the limits. */
  feed(chunk: Uint8Array): NatsServerMisbehaved | undefined {
    if (this.failed) return this.failed;
    this.received += chunk.length;
    let i = 0;
    while (i < chunk.length) {
      if (this.payloadLeft > 0) {
        const skip = Math.min(this.payloadLeft, chunk.length - i);
        this.payloadLeft -= skip;
        i += skip;
        continue;
      }
      if (this.expectLf) {
        this.expectLf = false;
        if (chunk[i] !== LF) return this.fail('sent a message longer than its MSG line said');
        i++;
        continue;
      }
      const end = chunk.indexOf(LF, i);
      const stop = end === -1 ? chunk.length : end;
      const length = this.lineBytes + (stop - i);
      if (length > this.limits.maxLineBytes) {
        const info = this.startsInfo(chunk.subarray(i, stop));
        const max = info ? this.limits.maxInfoLineBytes : this.limits.maxLineBytes;
        if (length > max) {
          this.append(chunk.subarray(i, Math.min(stop, i + 16)));
          return this.fail(
            `sent a protocol line of over ${kib(max)} (${this.opOf()}${end === -1 ? ', not ended yet' : ''}); ${info ? "a NATS server's INFO line is a few KiB" : "a NATS server's other lines are under 4 KiB"}`,
          );
        }
      }
      this.append(chunk.subarray(i, stop));
      if (end === -1) break;
      i = end + 1;
      const line = this.takeLine();
      const problem = this.onLine(line);
      if (problem !== undefined) return this.fail(problem);
    }
    return undefined;
  }

  private append(bytes: Uint8Array): void {
    const needed = this.lineBytes + bytes.length;
    if (needed > this.line.length) {
      const grown = new Uint8Array(Math.max(needed, 2 * this.line.length));
      grown.set(this.line.subarray(0, this.lineBytes));
      this.line = grown;
    }
    this.line.set(bytes, this.lineBytes);
    this.lineBytes = needed;
  }

  private fail(what: string): NatsServerMisbehaved {
    this.failed = new NatsServerMisbehaved(what);
    this.line = new Uint8Array(0);
    this.lineBytes = 0;
    return this.failed;
  }

  private takeLine(): Uint8Array {
    let length = this.lineBytes;
    if (length > 0 && this.line[length - 1] === CR) length--;
    const bytes = this.line.slice(0, length);
    this.lineBytes = 0;
    if (this.line.length > 4096) this.line = new Uint8Array(256); // a long line's buffer is not kept
    return bytes;
  }

  /** Whether the line being read (its bytes so far, then `more`) is an INFO line. */
  private startsInfo(more: Uint8Array): boolean {
    const head = new Uint8Array(5);
    const known = Math.min(this.lineBytes, 5);
    head.set(this.line.subarray(0, known));
    head.set(more.subarray(0, 5 - known), known);
    return /^INFO[ \t]/i.test(String.fromCharCode(...head));
  }

  private opOf(): string {
    const op = /^[^\s]*/.exec(decodeHead(this.line.subarray(0, this.lineBytes), 16))?.[0] ?? '';
    return op === '' ? 'no operation' : `starting ${JSON.stringify(op)}`;
  }

  private onLine(line: Uint8Array): string | undefined {
    const fast = this.messageLine(line);
    if (fast !== null) return fast;
    const text = LINE_DECODER.decode(line);
    const match = /^([A-Za-z+-]+)(?:[ \t]+([^]*))?$/.exec(text);
    const op = match?.[1]?.toUpperCase();
    const args = match?.[2] ?? '';
    const asked = (op === 'MSG' || op === 'HMSG') && this.delivered(/^\S+[ \t]+(\S+)/.exec(args)?.[1]);
    if (!asked) {
      const flood = this.count('bytes', line.length + 2);
      if (flood !== undefined) return flood;
    }
    if (this.firstInfo === undefined && op !== 'INFO') {
      return `sent ${quoted(text)} where a NATS server first sends its INFO line: is it a NATS server's client port?`;
    }
    switch (op) {
      case 'MSG':
        return this.message(args, false);
      case 'HMSG':
        return this.message(args, true);
      case 'INFO':
        return this.count('info') ?? this.info(args);
      case 'PING':
        return this.count('ping');
      case 'PONG':
        this.pongsReceived++;
        for (const [sid, pings] of this.leaving) if (this.pongsReceived > pings) this.leaving.delete(sid);
        return this.count('line');
      case '+OK':
      case '-ERR':
        return this.count('line');
      default:
        return `sent ${quoted(text)}, which is no NATS protocol operation`;
    }
  }

  private count(kind: 'info' | 'ping' | 'line' | 'bytes', bytes = 0): string | undefined {
    const now = this.now();
    if (now - this.window.start >= 1000) this.window = { start: now, lines: 0, pings: 0, infos: 0, bytes: 0 };
    if (kind === 'bytes') {
      this.window.bytes += bytes;
      if (this.window.bytes > this.limits.maxLineBytesPerSecond)
        return `sent over ${kib(this.limits.maxLineBytesPerSecond)} of protocol lines (message payloads aside) within a second`;
      return undefined;
    }
    this.window.lines++;
    if (kind === 'ping') this.window.pings++;
    if (kind === 'info') this.window.infos++;
    if (this.window.pings > this.limits.maxPingsPerSecond)
      return `sent over ${this.limits.maxPingsPerSecond} PINGs within a second (a NATS server sends one per ping_interval, 2 minutes by default), each of which the operator would answer`;
    if (this.window.infos > this.limits.maxInfosPerSecond)
      return `sent over ${this.limits.maxInfosPerSecond} INFO lines within a second (a NATS server sends one when its cluster changes)`;
    if (this.window.lines > this.limits.maxControlLinesPerSecond)
      return `sent over ${this.limits.maxControlLinesPerSecond} protocol lines other than messages within a second`;
    return undefined;
  }

  /**
   * A MSG or HMSG line as nats-server writes it (`MSG <subject> <sid> ...`, one space apart), once
   * connected: read without decoding its subject (MSG lines come at the message rate, and an
   * advisory's subject is up to ~560 bytes). Null for any other line, which onLine reads whole.
   */
  private messageLine(line: Uint8Array): string | undefined | null {
    if (this.firstInfo === undefined) return null;
    const headers = line[0] === 72; // H
    const opLength = headers ? 5 : 4;
    if (
      line.length <= opLength ||
      line[opLength - 4] !== 77 || // M
      line[opLength - 3] !== 83 || // S
      line[opLength - 2] !== 71 || // G
      line[opLength - 1] !== 32
    )
      return null;
    const subjectEnd = line.indexOf(32, opLength);
    if (subjectEnd <= opLength) return null;
    const rest = LINE_DECODER.decode(line.subarray(subjectEnd + 1));
    const space = rest.indexOf(' ');
    if (!this.delivered(space === -1 ? rest : rest.slice(0, space))) {
      const flood = this.count('bytes', line.length + 2);
      if (flood !== undefined) return flood;
    }
    // The subject is only quoted when the line is refused: read it whole then.
    return this.message(`- ${rest}`, headers) === undefined
      ? undefined
      : this.message(LINE_DECODER.decode(line.subarray(opLength)), headers);
  }

  /**
   * Whether a MSG/HMSG line's message (by its sid) is on a subscription the operator made and has
   * not left, counting it as delivered (a malformed line is message()'s to refuse).
   */
  private delivered(sid: string | undefined): boolean {
    if (sid === undefined) return false;
    const subscription = this.subscriptions.get(sid);
    if (subscription === undefined) return this.leaving.has(sid);
    if (subscription.repliesOwed !== undefined) {
      // A reply inbox: a message beyond the requests sent is no reply anyone waits for.
      if (subscription.repliesOwed <= 0) return false;
      subscription.repliesOwed--;
    }
    subscription.delivered++;
    if (subscription.delivered >= subscription.max) this.forget(sid, subscription);
    return true;
  }

  /**
   * Reads what the operator sends the server (in order, as written), for its subscriptions: `SUB
   * <subject> [queue] <sid>` and `UNSUB <sid> [max]`; PUB and HPUB payloads are skipped. The
   * operator's own bytes, so nothing here is a violation.
   */
  sent(chunk: Uint8Array): void {
    const out = this.out;
    let i = 0;
    while (i < chunk.length) {
      if (out.payloadLeft > 0) {
        const skip = Math.min(out.payloadLeft, chunk.length - i);
        out.payloadLeft -= skip;
        i += skip;
        continue;
      }
      const end = chunk.indexOf(LF, i);
      const stop = end === -1 ? chunk.length : end;
      const needed = out.lineBytes + (stop - i);
      if (needed > out.line.length) {
        const grown = new Uint8Array(Math.max(needed, 2 * out.line.length));
        grown.set(out.line.subarray(0, out.lineBytes));
        out.line = grown;
      }
      out.line.set(chunk.subarray(i, stop), out.lineBytes);
      out.lineBytes = needed;
      if (end === -1) break;
      i = end + 1;
      let length = out.lineBytes;
      if (length > 0 && out.line[length - 1] === CR) length--;
      out.lineBytes = 0;
      const first = out.line[0];
      // Only SUB, UNSUB, PUB and HPUB matter (S, U, P, H): CONNECT lines (a JWT) are not decoded.
      if (first === 83 || first === 85 || first === 80 || first === 72)
        this.onSent(LINE_DECODER.decode(out.line.subarray(0, length)));
      if (out.line.length > 4096) out.line = new Uint8Array(256);
    }
  }

  private onSent(line: string): void {
    const words = line.split(/[ \t]+/);
    const op = words[0]?.toUpperCase();
    if (op === 'SUB' && words.length >= 3) {
      const sid = words[words.length - 1] ?? '';
      const subject = words[1] ?? '';
      const subscription: Subscription = { delivered: 0, max: Infinity };
      if (subject.endsWith('.*')) {
        subscription.wildcard = subject.slice(0, -1);
        this.wildcards.set(subscription.wildcard, sid);
      }
      this.subscriptions.set(sid, subscription);
    } else if (op === 'UNSUB' && words.length >= 2) {
      const sid = words[1] ?? '';
      const max = Number(words[2]);
      const subscription = this.subscriptions.get(sid);
      if (words.length < 3 || !Number.isSafeInteger(max) || max <= 0) {
        if (subscription !== undefined) {
          this.forget(sid, subscription);
          this.leaving.set(sid, this.pingsSent);
        }
      } else if (subscription !== undefined) {
        subscription.max = max;
        if (subscription.delivered >= max) this.forget(sid, subscription);
      }
    } else if (op === 'PING') {
      this.pingsSent++;
    } else if (op === 'PUB' || op === 'HPUB') {
      const size = Number(words[words.length - 1]);
      if (Number.isSafeInteger(size) && size >= 0) this.out.payloadLeft = size + 2; // the payload and its CRLF
      // PUB <subject> <reply> <size>, HPUB <subject> <reply> <header size> <size>: a request.
      const reply = words.length === (op === 'PUB' ? 4 : 5) ? words[2] : undefined;
      if (reply !== undefined) this.expectReply(reply);
    }
  }

  /** A request went out with `reply` as its reply-to: the subscription it names owes one more reply. */
  private expectReply(reply: string): void {
    const sid = this.wildcards.get(reply.slice(0, reply.lastIndexOf('.') + 1));
    const subscription = sid === undefined ? undefined : this.subscriptions.get(sid);
    if (subscription === undefined) return;
    subscription.repliesOwed = (subscription.repliesOwed ?? 0) + 1;
  }

  private forget(sid: string, subscription: Subscription): void {
    this.subscriptions.delete(sid);
    if (subscription.wildcard !== undefined && this.wildcards.get(subscription.wildcard) === sid)
      this.wildcards.delete(subscription.wildcard);
  }

  /** How many of the operator's subscriptions the guard knows of (tests). */
  subscriptionCount(): number {
    return this.subscriptions.size;
  }

  /** MSG <subject> <sid> [reply] <size>, HMSG <subject> <sid> [reply] <header size> <size>. */
  private message(args: string, headers: boolean): string | undefined {
    const words = args.trim().split(/[ \t]+/);
    const min = headers ? 4 : 3;
    const size = Number(words[words.length - 1]);
    const headerSize = headers ? Number(words[words.length - 2]) : 0;
    const op = headers ? 'HMSG' : 'MSG';
    if (
      words.length < min ||
      words.length > min + 1 ||
      !Number.isSafeInteger(size) ||
      size < 0 ||
      !Number.isSafeInteger(headerSize) ||
      headerSize < 0 ||
      headerSize > size
    ) {
      return `sent a ${op} line the NATS protocol does not allow (${quoted(`${op} ${args}`)})`;
    }
    if (size > this.limits.maxMessageBytes) {
      return `sent a message of ${mib(size)} (${size} bytes), over the ${mib(this.limits.maxMessageBytes)} the operator takes: its requests are answered in a few KiB`;
    }
    this.payloadLeft = size + 1; // the payload, and the CR after it
    this.expectLf = true;
    return undefined;
  }

  private info(args: string): string | undefined {
    let info: unknown;
    try {
      info = JSON.parse(args);
    } catch (err) {
      return `sent an INFO line that is not JSON (${err instanceof Error ? err.message : String(err)})`;
    }
    if (typeof info !== 'object' || info === null || Array.isArray(info))
      return 'sent an INFO line that is not a JSON object';
    const fields = info as CheckedInfo;
    for (const field of ['connect_urls', 'ws_connect_urls']) {
      const urls = fields[field];
      if (urls === undefined || urls === null) continue;
      if (!Array.isArray(urls)) return `sent an INFO whose ${field} is not a list`;
      if (urls.length > this.limits.maxConnectUrls)
        return `sent an INFO listing ${urls.length} ${field} (over the ${this.limits.maxConnectUrls} the operator takes: a NATS cluster lists each of its servers once per address)`;
      const bad = urls.find((u) => typeof u !== 'string' || !CONNECT_URL.test(u));
      if (bad !== undefined)
        return `sent an INFO whose ${field} holds ${quoted(JSON.stringify(bad))}, no host:port`;
    }
    const maxPayload = fields.max_payload;
    if (
      maxPayload !== undefined &&
      (typeof maxPayload !== 'number' || !Number.isSafeInteger(maxPayload) || maxPayload <= 0)
    )
      return `sent an INFO whose max_payload is ${quoted(JSON.stringify(maxPayload))}, not a positive whole number of bytes (nats.js would refuse every request as too large)`;
    this.firstInfo ??= fields;
    return undefined;
  }
}

function decodeHead(bytes: Uint8Array, max: number): string {
  return LINE_DECODER.decode(bytes.subarray(0, max));
}

/** A line as shown in a message: its first 40 characters, control characters escaped. */
function quoted(text: string): string {
  const head = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return JSON.stringify(head);
}

function kib(bytes: number): string {
  return `${Math.round(bytes / 1024)} KiB`;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
