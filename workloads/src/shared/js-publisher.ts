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
import { JetStreamApiError, type PubAck } from '@nats-io/jetstream';
import { errors, headers, nuid, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';

interface Waiting {
  subject: string;
  deadline: number;
  resolve: (ack: PubAck) => void;
  reject: (err: Error) => void;
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
  const h = headers();
  if (expect) {
    h.set('Nats-Expected-Last-Subject-Sequence', String(expect.lastSubjectSequence));
    if (expect.lastSubjectSequenceSubject)
      h.set('Nats-Expected-Last-Subject-Sequence-Subject', expect.lastSubjectSequenceSubject);
  }
  if (also?.msgId) h.set('Nats-Msg-Id', also.msgId);
  if (also?.expectedStream) h.set('Nats-Expected-Stream', also.expectedStream);
  return h;
}

export class JetStreamPublisher {
  private readonly prefix: string;
  private readonly waiting = new Map<string, Waiting>();
  private next = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5000,
  ) {
    this.prefix = `_INBOX.${nuid.next()}.`;
    nc.subscribe(`${this.prefix}*`, { callback: (_err, msg) => this.answer(msg) });
    this.sweeper = setInterval(() => this.expire(), Math.max(50, Math.floor(timeoutMs / 10)));
    this.sweeper.unref();
  }

  /** Publishes `data` to `subject` and resolves with the stream's ack (rejects with its error). */
  publish(subject: string, data: Uint8Array, expect?: Expectation, also?: PublishHeaders): Promise<PubAck> {
    const h = publishHeaders(expect, also);
    const token = (this.next++).toString(36);
    return new Promise<PubAck>((resolve, reject) => {
      this.waiting.set(token, { subject, deadline: performance.now() + this.timeoutMs, resolve, reject });
      try {
        this.nc.publish(subject, data, { reply: this.prefix + token, headers: h });
      } catch (err) {
        this.waiting.delete(token);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Fails whatever is still waiting (the connection is going away). */
  close(): void {
    clearInterval(this.sweeper);
    for (const [token, w] of this.waiting) {
      this.waiting.delete(token);
      w.reject(new errors.ClosedConnectionError());
    }
  }

  private answer(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length);
    const w = this.waiting.get(token);
    if (!w) return; // expired already
    this.waiting.delete(token);
    const result = pubAckOf(w.subject, msg);
    if (result instanceof Error) w.reject(result);
    else w.resolve(result);
  }

  private expire(): void {
    const now = performance.now();
    for (const [token, w] of this.waiting) {
      // Same timeout for all, so insertion order is deadline order.
      if (w.deadline > now) break;
      this.waiting.delete(token);
      w.reject(new errors.TimeoutError());
    }
  }
}
