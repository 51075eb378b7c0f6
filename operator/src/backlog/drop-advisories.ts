// Counts the messages nats-server drops at max_deliver, per stream and consumer, from its
// $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer> advisories (consumer.go
// hasMaxDeliveries → notifyDeliveryExceeded). A dropped message leaves num_ack_pending and moves the
// ack floor as an acknowledgement does; with max_deliver 1 nothing is redelivered before it, so the
// consumer's counters cannot tell drops from completions (rates.ts droppedAtFirstDelivery).
//
// One subscription per connection, made when the first consumer with max_deliver 1 is read on it:
// the server sends the advisory only while someone listens. Advisories are core NATS messages: lost
// while the connection is down, so every disconnect or reconnect starts a new epoch, and counts are
// compared only within one. A user whose permissions do not allow the subscription is told so in
// each reading (`unknown`): rates.ts then learns no capacity from such a consumer.
//
// The subscription takes every stream's and consumer's advisories, and anyone who may publish in
// the account (a tenant, on its own server everything) can send any number of subjects under it.
// So only the consumers read on the connection are counted, each from its first reading: that
// reading's count is the baseline of the next, as the count since the epoch began was. (Before,
// every subject seen kept an entry for the connection's life: a tenant publishing 4 KiB subjects
// grew the operator's memory by that for every message, to its memory limit, every tenant's
// scaling with it.)
//
// The server sends every advisory of the account, at whatever rate its consumers drop messages: a
// poison stream whose handlers fail fast makes thousands a second (advisory-storm.int: 2,000-27,000
// a second from one consumer with max_deliver 1), each a nats.js message and a callback, and every
// read's round trip waits behind them (reads took up to 3.7 s against a 2 s timeout). So above
// ADVISORY_LIMITS.maxPerSecond advisories in a second (advisory-storm.ts) the watcher leaves it (drops are then
// `unknown`, saying why, and rates.ts learns no capacity from such a consumer), and subscribes again
// after a pause, doubled at each such storm in a row, in a new epoch. And a read waits for the
// advisories sent before it no longer than its own timeout: past it, drops are `unknown`.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { AdvisoryStorms, advisoryLimitText } from './advisory-storm.js';

export const MAX_DELIVERIES_SUBJECT = '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES';

/** What a reading carries: a count within an epoch, or why drops are not known. */
export type DropCount = { count: number; epoch: number } | { unknown: string };

/** Epochs are drawn from one counter, so counts of different connections never compare. */
let nextEpoch = 1;

class DropWatcher {
  /** Drops seen per consumer read on this connection (`<stream>.<consumer>`), from its first reading. */
  private readonly counts = new Map<string, number>();
  private epoch = 0;
  /** performance.now() when the current epoch began: drops before it were not counted. */
  private epochStartedAt = Infinity;
  private problem: string | undefined = 'the advisory subscription is being set up';
  private subscription: Subscription | undefined;
  private readonly storms = new AdvisoryStorms();
  private watching = false;
  /** Subscriptions made (the first, and one after each storm's pause). */
  subscriptions = 0;
  ready: Promise<void>;

  constructor(private readonly nc: NatsConnection) {
    this.ready = this.start();
  }

  private async start(): Promise<void> {
    try {
      this.storms.subscribed();
      this.subscriptions++;
      const subscription = this.nc.subscribe(`${MAX_DELIVERIES_SUBJECT}.>`, {
        callback: (err, msg) => {
          if (err) {
            this.problem = `this NATS user may not subscribe to ${MAX_DELIVERIES_SUBJECT}.> (${err.message}): allow it to, or drops are not told from completions`;
            return;
          }
          if (subscription !== this.subscription) return; // left: what was already on its way
          if (this.storms.tooMany()) return this.leave();
          const key = keyOfSubject(msg.subject);
          const count = key === undefined ? undefined : this.counts.get(key);
          if (key !== undefined && count !== undefined) this.counts.set(key, count + 1);
        },
      });
      this.subscription = subscription;
      // The server answers SUB with -ERR before the PONG of a later PING when it is not allowed.
      await this.nc.flush();
      if (this.problem === 'the advisory subscription is being set up') {
        this.problem = undefined;
        this.newEpoch();
      }
      if (!this.watching) {
        this.watching = true;
        void this.watchStatus();
      }
    } catch (err) {
      this.problem = `the ${MAX_DELIVERIES_SUBJECT}.> subscription failed (${err instanceof Error ? err.message : String(err)})`;
    }
  }

  /**
   * Too many advisories: leaves the subscription (the server stops sending them once it reads the
   * UNSUB; what was on its way is dropped by nats.js) and subscribes again after a pause.
   */
  private leave(): void {
    const subscription = this.subscription;
    if (subscription === undefined || this.nc.isClosed()) return;
    this.subscription = undefined;
    const pause = this.storms.leave(subscription, this.nc, () => {
      this.problem = 'the advisory subscription is being set up';
      this.ready = this.start();
    });
    const limit = advisoryLimitText();
    this.problem = `advisories of dropped messages came faster than ${limit} a second on this connection (a consumer with max_deliver 1 whose handlers fail fast?), so the operator stopped taking them for ${Math.round(pause / 1000)}s: drops are not told from completions until then`;
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      // Advisories sent while disconnected are lost: counts before and after do not compare.
      if (!['ping', 'update', 'ldm'].includes(status.type) && this.problem === undefined) this.newEpoch();
    }
    this.storms.stop();
  }

  private newEpoch(): void {
    this.epoch = nextEpoch++;
    this.epochStartedAt = performance.now();
  }

  /**
   * The count for one consumer now (after a round trip, so advisories sent before it are in), for
   * a consumer snapshot asked for at `sentAt` (performance.now()): when counting began after it,
   * drops between the two were not counted, and the count is no baseline for the next reading.
   * The round trip waits until `deadline` (performance.now()) at most: the read's own timeout.
   */
  async read(stream: string, consumer: string, sentAt: number, deadline: number): Promise<DropCount> {
    const key = `${stream}.${consumer}`;
    if (!this.counts.has(key)) this.counts.set(key, 0);
    await this.ready;
    if (this.problem !== undefined) return { unknown: this.problem };
    if (sentAt < this.epochStartedAt)
      return { unknown: 'drops are counted from the next reading on (the advisory subscription is new)' };
    const epoch = this.epoch;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), Math.max(0, deadline - performance.now()));
    });
    try {
      const flushed = await Promise.race([this.nc.flush().then(() => 'flushed' as const), late]);
      if (flushed === 'late')
        return {
          unknown: `the advisories sent before this reading had not all arrived by the end of its timeout (the connection to NATS is busy): drops are not known at this reading`,
        };
    } finally {
      clearTimeout(timer);
    }
    if (this.problem !== undefined) return { unknown: this.problem };
    if (epoch !== this.epoch || this.subscription === undefined || this.subscription.isClosed())
      return { unknown: 'the connection to NATS was interrupted' };
    return { count: this.counts.get(key) ?? 0, epoch };
  }

  /** How many consumers' counts are kept. */
  kept(): number {
    return this.counts.size;
  }
}

/** `<stream>.<consumer>` of an advisory subject, or undefined when it is not one. */
export function keyOfSubject(subject: string): string | undefined {
  const prefix = `${MAX_DELIVERIES_SUBJECT}.`;
  if (!subject.startsWith(prefix)) return undefined;
  const rest = subject.slice(prefix.length).split('.');
  return rest.length === 2 && rest.every((t) => t !== '') ? rest.join('.') : undefined;
}

const watchers = new WeakMap<NatsConnection, DropWatcher>();

/** How many messages of this consumer the server has dropped at max_deliver, as far as seen here. */
export function readDrops(
  nc: NatsConnection,
  stream: string,
  consumer: string,
  sentAt: number,
  deadline = Infinity,
): Promise<DropCount> {
  let watcher = watchers.get(nc);
  if (watcher === undefined) {
    watcher = new DropWatcher(nc);
    watchers.set(nc, watcher);
  }
  return watcher.read(stream, consumer, sentAt, deadline);
}

/** How many times the advisories were subscribed to on a connection (tests). */
export function advisorySubscriptions(nc: NatsConnection): number {
  return watchers.get(nc)?.subscriptions ?? 0;
}

/** How many consumers' drop counts are kept for a connection (tests). */
export function keptDropCounts(nc: NatsConnection): number {
  return watchers.get(nc)?.kept() ?? 0;
}
