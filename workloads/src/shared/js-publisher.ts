// JetStream publish-with-ack for the consumer's appends and the gateway's events, without nats.js's
// per-request machinery (57–65 µs of client CPU per js.publish() against 15–17 here, in the bench's ceiling).
//
// nats.js 3.4 answers every `js.publish()` through `nc.request()`: one muxed request object with a
// timer of its own, and on completion `RequestOne.cancel()` builds (and throws away) a
// `RequestError("cancelled")` with its stack trace — about 6–8 % of the consumer's CPU in the
// profile (workloads/README.md). Here one wildcard inbox subscription takes every ack, replies are
// matched by token, and one interval expires the requests past their deadline. The wire protocol
// is the same (a PUB with headers and a reply subject; the PubAck or API error as JSON), and the
// errors are the ones nats.js raises for the same answers (JetStreamApiError with the server's
// codes, TimeoutError, NoRespondersError), so callers classify them as before (failure.ts).
//
// With `coalesce` the publishes are held until the end of the event-loop turn and sent together. nats.js
// writes its outbound buffer once per microtask checkpoint, and Node runs one after every I/O callback,
// so a gateway's concurrent requests (a callback each) cost a socket write each, and so did a consumer's
// appends started one per microtask; held to the turn's end they share one (workloads/README.md, "Gateway"
// and "Pipelining").
import { JetStreamApiError, type PubAck } from '@nats-io/jetstream';
import {
  errors,
  headers,
  nuid,
  type Match,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
} from '@nats-io/transport-node';

/** Who waits for a publish's answer: a publish() promise, or one message's slot of a publishMany(). */
interface Answered {
  answer(index: number, result: PubAck | Error): void;
}

/** A publish from its start to its answer: one record, held until the turn's end with `coalesce`. */
interface Waiting {
  subject: string;
  /** Its reply subject's last token, the key of `waiting`. */
  token: string;
  /** What is sent; dropped once sent, so an answer that is slow to come does not hold the bytes. */
  data: Uint8Array | undefined;
  headers: MsgHdrs | undefined;
  deadline: number;
  to: Answered;
  /** The message's place in its publishMany() (0 for a publish()). */
  index: number;
}

/** A publish() waiting: its promise settles with the answer. */
class OneAnswer implements Answered {
  constructor(
    private readonly resolve: (ack: PubAck) => void,
    private readonly reject: (err: Error) => void,
  ) {}
  answer(_index: number, result: PubAck | Error): void {
    if (result instanceof Error) this.reject(result);
    else this.resolve(result);
  }
}

/** One message of a publishMany(). */
export interface Publish {
  subject: string;
  data: Uint8Array;
  /** From publishHeaders(): what the server checks before it stores the message. */
  headers?: MsgHdrs;
}

/** What a publishMany() resolves with, by the messages' order. */
export interface Answers {
  /** Each message's PubAck, or the error nats.js would raise for its answer (or its timeout). */
  answers: (PubAck | Error)[];
  /** Each message's time from its publish call to its answer, in seconds. */
  seconds: Float64Array;
}

/** A publishMany() waiting: one promise for all its messages, settled by the last answer. */
class ManyAnswers implements Answered {
  private readonly started = performance.now();
  private left: number;
  readonly result: Answers;

  constructor(
    count: number,
    private readonly resolve: (answers: Answers) => void,
  ) {
    this.left = count;
    this.result = { answers: new Array<PubAck | Error>(count), seconds: new Float64Array(count) };
  }
  answer(index: number, result: PubAck | Error): void {
    this.result.answers[index] = result;
    this.result.seconds[index] = (performance.now() - this.started) / 1000;
    if (--this.left === 0) this.resolve(this.result);
  }
}

const decoder = new TextDecoder();

export interface Expectation {
  /** `Nats-Expected-Last-Subject-Sequence` (0: the subject, or filter, holds nothing yet). */
  lastSubjectSequence: number;
  /** `Nats-Expected-Last-Subject-Sequence-Subject`: the filter the expectation is over. */
  lastSubjectSequenceSubject?: string;
}

/** Headers of a publish other than the expected sequence, as nats.js's `js.publish()` options set them. */
export interface PublishHeaders {
  /** `Nats-Msg-Id`: a second copy within the stream's duplicate window is answered as a duplicate. */
  msgId?: string;
  /** `Nats-Expected-Stream`: refused unless this stream takes the subject. */
  expectedStream?: string;
}

/** What a publish's answer means: the PubAck, or the error nats.js would raise for it. */
export function pubAckOf(subject: string, msg: Pick<Msg, 'data' | 'headers'>): PubAck | Error {
  if (msg.headers?.code === 503) return new errors.NoRespondersError(subject);
  let reply: unknown;
  try {
    reply = JSON.parse(decoder.decode(msg.data));
  } catch {
    return new Error(`invalid JetStream ack for ${subject}: not JSON`);
  }
  if (typeof reply !== 'object' || reply === null) return new Error(`invalid JetStream ack for ${subject}`);
  const r = reply as {
    error?: { code: number; err_code: number; description: string };
    stream?: unknown;
    seq?: unknown;
  };
  if (r.error) return new JetStreamApiError(r.error);
  if (typeof r.stream !== 'string' || r.stream === '' || typeof r.seq !== 'number')
    return new Error(`invalid JetStream ack for ${subject}`);
  return reply as PubAck;
}

/** The headers of a publish (undefined when it needs none): what the server checks before it stores it. */
export function publishHeaders(expect?: Expectation, also?: PublishHeaders): MsgHdrs | undefined {
  if (!expect && !also?.msgId && !also?.expectedStream) return undefined;
  const pairs: [string, string][] = [];
  if (expect) {
    pairs.push(['Nats-Expected-Last-Subject-Sequence', String(expect.lastSubjectSequence)]);
    if (expect.lastSubjectSequenceSubject)
      pairs.push(['Nats-Expected-Last-Subject-Sequence-Subject', expect.lastSubjectSequenceSubject]);
  }
  if (also?.msgId) pairs.push(['Nats-Msg-Id', also.msgId]);
  if (also?.expectedStream) pairs.push(['Nats-Expected-Stream', also.expectedStream]);
  return new EncodedHeaders(pairs);
}

const CR_OR_LF = /[\r\n]/;
const HEADER_KEY = /^[\x21-\x39\x3b-\x7e]+$/;
/** The header names publishHeaders() sets (valid by HEADER_KEY: js-publisher.test.ts checks), not tested per publish. */
export const OWN_KEYS: ReadonlySet<string> = new Set([
  'Nats-Expected-Last-Subject-Sequence',
  'Nats-Expected-Last-Subject-Sequence-Subject',
  'Nats-Msg-Id',
  'Nats-Expected-Stream',
]);

/**
 * Publish headers encoded once, into the bytes nats.js's own `MsgHdrsImpl` sends for the same keys and
 * values (js-publisher.test.ts compares them), without its per-header key canonicalisation, key search
 * and `TextEncoder` call: nats.js's publish only asks a publish's headers for `encode()`. Values are
 * checked and trimmed as nats.js does (no CR or LF). Read-only: the publish's bytes are fixed here, so the
 * mutating methods throw; the reading ones answer from a nats.js copy built on first use.
 */
export class EncodedHeaders implements MsgHdrs {
  private readonly bytes: Uint8Array;
  private copy: MsgHdrs | undefined;
  private readonly pairs: readonly (readonly [string, string])[];

  constructor(pairs: readonly (readonly [string, string])[]) {
    let s = 'NATS/1.0';
    for (const [k, v] of pairs) {
      // As nats.js: a key of printable ASCII but ':' (the names publishHeaders() sets are), a value
      // without CR or LF (then trimmed).
      if (!OWN_KEYS.has(k) && !HEADER_KEY.test(k))
        throw new Error(`invalid header name ${JSON.stringify(k)}`);
      if (CR_OR_LF.test(v)) throw new Error(`header ${k}: values cannot contain \\r or \\n`);
      s += `\r\n${k}: ${v.trim()}`;
    }
    // The reading methods' copy trims the values as nats.js's append() does.
    this.pairs = pairs;
    // Buffer.from: a slice of Node's pool for short strings, not a new ArrayBuffer as TextEncoder makes.
    this.bytes = Buffer.from(`${s}\r\n\r\n`);
  }

  /** The header block as sent (what nats.js's publish calls). */
  encode(): Uint8Array {
    return this.bytes;
  }

  private get h(): MsgHdrs {
    if (!this.copy) {
      const h = headers();
      for (const [k, v] of this.pairs) h.append(k, v);
      this.copy = h;
    }
    return this.copy;
  }

  get hasError(): boolean {
    return this.h.hasError;
  }
  get status(): string {
    return this.h.status;
  }
  get code(): number {
    return this.h.code;
  }
  get description(): string {
    return this.h.description;
  }
  get(k: string, match?: Match): string {
    return this.h.get(k, match);
  }
  has(k: string, match?: Match): boolean {
    return this.h.has(k, match);
  }
  keys(): string[] {
    return this.h.keys();
  }
  values(k: string, match?: Match): string[] {
    return this.h.values(k, match);
  }
  last(k: string, match?: Match): string {
    return this.h.last(k, match);
  }
  [Symbol.iterator](): Iterator<[string, string[]]> {
    return this.h[Symbol.iterator]();
  }
  set(): void {
    throw new Error('publish headers are read-only once encoded');
  }
  append(): void {
    throw new Error('publish headers are read-only once encoded');
  }
  delete(): void {
    throw new Error('publish headers are read-only once encoded');
  }
}

export interface PublisherOptions {
  /**
   * Hold the publishes until the end of the event-loop turn (`setImmediate`) and send them in one run, so
   * that they share a socket write. For a caller whose publishes come from many I/O callbacks or microtasks
   * of one turn: the gateway's concurrent requests, the consumer's appends (event-store.ts, appendPublisher).
   */
  coalesce?: boolean;
}

export class JetStreamPublisher {
  private readonly prefix: string;
  private readonly waiting = new Map<string, Waiting>();
  private next = 0;
  private readonly sweeper: NodeJS.Timeout;
  private readonly coalesce: boolean;
  private held: Waiting[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5000,
    options: PublisherOptions = {},
  ) {
    this.coalesce = options.coalesce ?? false;
    this.prefix = `_INBOX.${nuid.next()}.`;
    nc.subscribe(`${this.prefix}*`, { callback: (_err, msg) => this.answer(msg) });
    this.sweeper = setInterval(() => this.expire(), Math.max(50, Math.floor(timeoutMs / 10)));
    this.sweeper.unref();
  }

  /** Publishes `data` to `subject` and resolves with the stream's ack (rejects with its error). */
  publish(subject: string, data: Uint8Array, expect?: Expectation, also?: PublishHeaders): Promise<PubAck> {
    const headers = publishHeaders(expect, also);
    return new Promise<PubAck>((resolve, reject) => {
      this.start(
        subject,
        data,
        headers,
        new OneAnswer(resolve, reject),
        0,
        performance.now() + this.timeoutMs,
      );
    });
  }

  /**
   * Publishes every message at once (all in flight together) and resolves, when the last is answered,
   * with each message's ack or error in their order: one promise for the lot, where publish() per message
   * costs a promise, two closures and an async frame each (the gateway's batches). Never rejects.
   */
  publishMany(publishes: readonly Publish[]): Promise<Answers> {
    return new Promise<Answers>((resolve) => {
      const to = new ManyAnswers(publishes.length, resolve);
      if (publishes.length === 0) return resolve(to.result);
      const deadline = performance.now() + this.timeoutMs;
      for (let i = 0; i < publishes.length; i++) {
        const p = publishes[i] as Publish;
        this.start(p.subject, p.data, p.headers, to, i, deadline);
      }
    });
  }

  /** Fails whatever is still waiting (the connection is going away). */
  close(): void {
    clearInterval(this.sweeper);
    this.held = [];
    for (const [token, w] of this.waiting) {
      this.waiting.delete(token);
      w.to.answer(w.index, new errors.ClosedConnectionError());
    }
  }

  /** Registers a publish's answer and sends it now, or at the turn's end with `coalesce`. */
  private start(
    subject: string,
    data: Uint8Array,
    headers: MsgHdrs | undefined,
    to: Answered,
    index: number,
    deadline: number,
  ): void {
    const token = (this.next++).toString(36);
    const w: Waiting = { subject, token, data, headers, deadline, to, index };
    this.waiting.set(token, w);
    if (!this.coalesce) this.send(w);
    else if (this.held.push(w) === 1) setImmediate(this.sendHeld);
  }

  /** Sends one publish; a refusal by the client (too large, connection closed) fails that publish only. */
  private send(w: Waiting): void {
    const { data, headers } = w;
    w.data = undefined;
    w.headers = undefined;
    try {
      this.nc.publish(w.subject, data, { reply: this.prefix + w.token, headers });
    } catch (err) {
      if (this.waiting.delete(w.token))
        w.to.answer(w.index, err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Sends what the turn held, in one run of code: nats.js writes it at the next microtask checkpoint. */
  private readonly sendHeld = (): void => {
    const held = this.held;
    this.held = [];
    // One that expired or was failed by close() while held is not sent.
    for (const w of held) if (this.waiting.has(w.token)) this.send(w);
  };

  private answer(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length);
    const w = this.waiting.get(token);
    if (!w) return; // expired already
    this.waiting.delete(token);
    w.to.answer(w.index, pubAckOf(w.subject, msg));
  }

  private expire(): void {
    const now = performance.now();
    for (const [token, w] of this.waiting) {
      // Same timeout for all, so insertion order is deadline order.
      if (w.deadline > now) break;
      this.waiting.delete(token);
      w.to.answer(w.index, new errors.TimeoutError());
    }
  }
}
