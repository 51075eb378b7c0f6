// Writes EventConsumer statuses off the reconcile workers, so a slow API server delays status and
// nothing else: a worker hands the status it built to this writer and goes on to the next poll
// (and to /scale writes, which never wait behind a status PATCH). Two lanes:
//   state     what users act on changed (replicas, conditions, the words of the messages that
//             say what is wrong, failing or not): first, in the order offered, never rate-limited;
//   readings  only numbers changed (backlog, rates, forecast, numbers in messages, lastPollTime): at most
//             `readingsPerSecond` for all EventConsumers together, the one whose status has gone
//             longest without a write first.
// Writes are coalesced per EventConsumer: one in flight at a time, and a newer status replaces the
// one still waiting (keeping its place, or moving it to the state lane). So however late the polls
// run and however many EventConsumers there are, readings cost at most the budget, one object
// cannot take more than its turn, and a status that is written is the newest one built.
//
// The ordering is a pure queue (StatusWriteQueue, no clock of its own, no I/O); StatusWriter
// runs the PATCHes through the term's API client.
//
// Each PATCH is conditional on status.writtenBy being what this term last stored there (before its
// first write, what the cache showed): the fence (fenced-api.ts) stops an ended term from sending,
// but a write sent in time can still reach the API server after the next leader took over (a link
// that holds its bytes, a kernel buffer draining after the process froze). The next leader's first
// write replaces writtenBy with its own, and the late one's test then fails: it is refused, as a
// late /scale write is by its resourceVersion. A test that fails on an object still there is
// another writer's status (a previous term's, or a status edited by hand): the next poll writes
// over it, conditional on what is stored now.
import type { KubeApi } from '../kube/api-client.js';
import { isFailedPatchTest, isFenced, isNotFound } from '../kube/api-client.js';
import type { Logger } from '../observability/logger.js';
import type { EventConsumerObject } from '../api/v1alpha1/event-consumer.js';

export type StatusLane = 'state' | 'readings';

interface Waiting<T> {
  lane: StatusLane;
  item: T;
  /** Readings lane order: when this EventConsumer's status was last written (monotonic ms). */
  staleSince: number;
  /** Offer order: the state lane's order, and the tiebreak of the readings lane. */
  seq: number;
}

export interface StatusWriteQueueOptions {
  /** Readings-only writes per second, for all EventConsumers together. */
  readingsPerSecond: number;
  /** Readings writes that may go at once after a quiet spell (default: one second's worth, at least 1). */
  burst?: number;
}

/** Which waiting status goes next, under the readings budget: pure, the caller passes the clock. */
export class StatusWriteQueue<T> {
  private readonly waiting = new Map<string, Waiting<T>>();
  private readonly waitingByLane: Record<StatusLane, number> = { state: 0, readings: 0 };
  private readonly inFlight = new Set<string>();
  private seq = 0;
  private tokens: number;
  private tokensAt: number | undefined;
  private readonly burst: number;

  constructor(private readonly options: StatusWriteQueueOptions) {
    this.burst = options.burst ?? Math.max(1, options.readingsPerSecond);
    this.tokens = this.burst;
  }

  /**
   * Offers the newest status of `key`. It replaces one still waiting (keeping that one's place;
   * a state change moves it to the state lane, never back).
   */
  offer(key: string, lane: StatusLane, item: T, staleSince: number): void {
    const old = this.waiting.get(key);
    if (old) {
      old.item = item;
      if (lane === 'state' && old.lane !== 'state') {
        this.waitingByLane[old.lane]--;
        this.waitingByLane.state++;
        old.lane = 'state';
        old.seq = this.seq++;
      }
      return;
    }
    this.waiting.set(key, { lane, item, staleSince, seq: this.seq++ });
    this.waitingByLane[lane]++;
  }

  /**
   * The next status to write, marked in flight until `done(key)`; or how long until a readings
   * write is allowed; or undefined when nothing can go (nothing waits, or only keys in flight).
   */
  take(now: number): { key: string; item: T; lane: StatusLane } | { waitMs: number } | undefined {
    let state: [string, Waiting<T>] | undefined;
    let readings: [string, Waiting<T>] | undefined;
    for (const entry of this.waiting) {
      const [key, w] = entry;
      if (this.inFlight.has(key)) continue;
      if (w.lane === 'state') {
        if (!state || w.seq < state[1].seq) state = entry;
      } else if (
        !readings ||
        w.staleSince < readings[1].staleSince ||
        (w.staleSince === readings[1].staleSince && w.seq < readings[1].seq)
      )
        readings = entry;
    }
    const chosen = state ?? readings;
    if (!chosen) return undefined;
    if (chosen[1].lane === 'readings') {
      this.refill(now);
      if (this.tokens < 1)
        return { waitMs: Math.ceil(((1 - this.tokens) / this.options.readingsPerSecond) * 1000) };
      this.tokens -= 1;
    }
    const [key, w] = chosen;
    this.waiting.delete(key);
    this.waitingByLane[w.lane]--;
    this.inFlight.add(key);
    return { key, item: w.item, lane: w.lane };
  }

  /** The write of `key` ended (written or not); a newer status of it may go now. */
  done(key: string): void {
    this.inFlight.delete(key);
  }

  /** Forgets the waiting status of `key` (the EventConsumer is gone). */
  remove(key: string): void {
    const w = this.waiting.get(key);
    if (!w) return;
    this.waiting.delete(key);
    this.waitingByLane[w.lane]--;
  }

  /** Drops every waiting readings-only status (on stopping: the next leader writes its own). */
  dropReadings(): void {
    for (const [key, w] of this.waiting) if (w.lane === 'readings') this.waiting.delete(key);
    this.waitingByLane.readings = 0;
  }

  isWaiting(key: string): boolean {
    return this.waiting.has(key);
  }

  size(): number {
    return this.waiting.size;
  }

  /** Statuses waiting, by lane. */
  sizeByLane(): Record<StatusLane, number> {
    return { ...this.waitingByLane };
  }

  inFlightCount(): number {
    return this.inFlight.size;
  }

  private refill(now: number): void {
    if (this.tokensAt !== undefined)
      this.tokens = Math.min(
        this.burst,
        this.tokens + ((now - this.tokensAt) / 1000) * this.options.readingsPerSecond,
      );
    this.tokensAt = now;
  }
}

/** One status to write, and what to do when it was written or could not be. */
export interface StatusPatch {
  path: string;
  /** The PATCH's media type (a merge patch when absent). */
  contentType?: string;
  body: unknown;
  /**
   * The object the status is for, when the patch tests its uid: a 422 Invalid without causes is
   * that test failing only when the object at `path` is gone or has another uid now. An admission
   * webhook's or policy's refusal can be a 422 without causes too, and must be told.
   */
  object?: { path: string; uid: string };
  /**
   * Written (the API server answered 2xx), through `lane`: the lane it was taken from, which is
   * the state lane when a readings-only status replaced one of what users act on still waiting.
   */
  onWritten(lane: StatusLane): void;
  /** Not written and not gone: the next poll must write again. */
  onFailed(err: unknown): void;
  /**
   * Who writes (status.writtenBy in `body`) and what the cached object showed there: the PATCH
   * (a JSON Patch, an array of operations) then tests that the stored writtenBy is the one this
   * term last wrote, or before its first write of this object, `seen`. Absent: not conditional.
   */
  writer?: { ours: string; seen: string | undefined };
}

/** What was stored in status.writtenBy, as far as this writer knows: null when nothing was. */
type StoredWriter = string | null;

/**
 * A status write refused because the stored status was written by someone else since (its
 * writtenBy is not the one expected): not a refusal to warn of; the next poll writes over it.
 */
export class StatusOvertakenError extends Error {
  constructor(readonly storedWriter: StoredWriter) {
    super(
      `the status was written by ${storedWriter === null ? 'someone else (no writtenBy)' : `"${storedWriter}"`} since this term last wrote or read it`,
    );
    this.name = 'StatusOvertakenError';
  }
}

export interface StatusWriterOptions {
  api: KubeApi;
  logger: Logger;
  /** Readings-only writes per second for all EventConsumers together. */
  readingsPerSecond: number;
  /** Status PATCHes in flight at once (default 4): a few sockets, never all of the API client's. */
  concurrency?: number;
  /** Told how many statuses wait, by lane, whenever that may have changed (for a gauge). */
  onWaiting?: (waiting: Record<StatusLane, number>) => void;
  /** Given each write's answer (the EventConsumer as stored): the cache checks its watch with it. */
  onAnswer?: (stored: EventConsumerObject) => void;
  now: () => number;
}

export class StatusWriter {
  private readonly queue: StatusWriteQueue<StatusPatch>;
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly idle = new Set<() => void>();
  /** Per key, status.writtenBy as this term last stored or learnt it (see StatusPatch.writer). */
  private readonly storedWriters = new Map<string, StoredWriter>();

  constructor(private readonly options: StatusWriterOptions) {
    this.queue = new StatusWriteQueue({ readingsPerSecond: options.readingsPerSecond });
  }

  /** Hands the newest status of `key` over; it is written when its lane allows. */
  submit(key: string, lane: StatusLane, patch: StatusPatch, staleSince: number): void {
    if (this.stopped) return;
    this.queue.offer(key, lane, patch, staleSince);
    this.pump();
  }

  forget(key: string): void {
    this.queue.remove(key);
    this.storedWriters.delete(key);
    this.options.onWaiting?.(this.queue.sizeByLane());
  }

  /** Whether a status of `key` waits to be sent (a newer one replaces it). */
  isWaiting(key: string): boolean {
    return this.queue.isWaiting(key);
  }

  /** Statuses waiting (not yet sent). */
  waiting(): number {
    return this.queue.size();
  }

  /** Statuses waiting (not yet sent), by lane. */
  waitingByLane(): Record<StatusLane, number> {
    return this.queue.sizeByLane();
  }

  /**
   * Writes what users act on that is still waiting and the writes in flight, within `timeoutMs`;
   * drops the readings-only ones (the next leader's first polls write its own). Then stops.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.queue.dropReadings();
    const until = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      t.unref();
    });
    await Promise.race([this.whenSettled(), until]);
    this.stop();
  }

  /** Stops at once: nothing more is sent (writes in flight end on their own). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const resolve of [...this.idle]) resolve();
    this.idle.clear();
  }

  /**
   * Resolves once nothing is in flight and nothing waiting may go now (what waits, waits for the
   * readings budget): for drain and tests.
   */
  whenSettled(): Promise<void> {
    if (this.running === 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.idle.add(resolve));
  }

  private pump(): void {
    if (this.stopped) return;
    const concurrency = this.options.concurrency ?? 4;
    while (this.running < concurrency) {
      const next = this.queue.take(this.options.now());
      if (next === undefined) break;
      if ('waitMs' in next) {
        if (!this.timer) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.pump();
          }, next.waitMs);
          this.timer.unref();
        }
        break;
      }
      this.running++;
      void this.write(next.key, next.item, next.lane);
    }
    this.options.onWaiting?.(this.queue.sizeByLane());
    // Nothing in flight after taking all that may go: settled.
    if (this.running === 0) {
      for (const resolve of [...this.idle]) resolve();
      this.idle.clear();
    }
  }

  private async write(key: string, patch: StatusPatch, lane: StatusLane): Promise<void> {
    const expectedWriter = this.expectedWriter(key, patch);
    try {
      const stored = await this.options.api.request<EventConsumerObject | undefined>('PATCH', patch.path, {
        body: withWriterTest(patch.body, expectedWriter),
        ...(patch.contentType === undefined ? {} : { contentType: patch.contentType }),
      });
      if (patch.writer !== undefined) this.storedWriters.set(key, writerStored(stored, patch.writer.ours));
      patch.onWritten(lane);
      if (stored?.metadata !== undefined) this.options.onAnswer?.(stored);
    } catch (err) {
      // Deleted meanwhile (404), or deleted and recreated under the same name (the patch's uid
      // test failed; the delete event cleans up and the new object's poll writes its own), or this
      // term ended (the next leader writes its own): nothing to retry.
      const after = isFailedPatchTest(err) ? await this.afterFailedTest(patch, expectedWriter) : undefined;
      if (after !== undefined && after.kind === 'overtaken') {
        this.storedWriters.set(key, after.storedWriter);
        const [namespace, name] = key.split('/');
        this.options.logger.info('status written by another writer since; the next poll writes over it', {
          namespace,
          name,
          expected: expectedWriter,
          stored: after.storedWriter,
        });
        patch.onFailed(new StatusOvertakenError(after.storedWriter));
      } else if (!isNotFound(err) && !isFenced(err) && after?.kind !== 'replaced') {
        const [namespace, name] = key.split('/');
        this.options.logger.warn('status write failed; the next poll writes again', {
          namespace,
          name,
          error: err instanceof Error ? err.message : String(err),
        });
        patch.onFailed(err);
      }
    } finally {
      this.running--;
      this.queue.done(key);
      this.pump();
    }
  }

  /** The writtenBy the PATCH must find stored: what this term last stored or learnt, else what the cache showed. */
  private expectedWriter(key: string, patch: StatusPatch): StoredWriter | undefined {
    if (patch.writer === undefined) return undefined;
    const known = this.storedWriters.get(key);
    return known !== undefined ? known : (patch.writer.seen ?? null);
  }

  /**
   * After a 422 Invalid without causes (a failed test): 'replaced' when the object is gone or is
   * another one now (the uid test failed); 'overtaken' when it is the same object and its
   * writtenBy is not the one tested (someone else wrote status since); 'refused' when it is still
   * the one the status was built for (something else refused the write: a webhook, a policy).
   * Without a uid to compare, or when the object cannot be read (an ended term's GET is fenced
   * too), it is taken as replaced, as before: the next poll builds and writes a new status anyway.
   */
  private async afterFailedTest(
    patch: StatusPatch,
    expectedWriter: StoredWriter | undefined,
  ): Promise<{ kind: 'replaced' | 'refused' } | { kind: 'overtaken'; storedWriter: StoredWriter }> {
    const object = patch.object;
    if (object === undefined) return { kind: 'replaced' };
    let now: EventConsumerObject | undefined;
    try {
      now = await this.options.api.request<EventConsumerObject | undefined>('GET', object.path);
    } catch {
      return { kind: 'replaced' };
    }
    if (now?.metadata?.uid !== object.uid) return { kind: 'replaced' };
    const storedWriter = typeof now.status?.writtenBy === 'string' ? now.status.writtenBy : null;
    if (expectedWriter !== undefined && storedWriter !== expectedWriter)
      return { kind: 'overtaken', storedWriter };
    return { kind: 'refused' };
  }
}

/**
 * The writtenBy a written status carries as stored: the answer says (null when the field is not
 * there: a CRD older than writtenBy prunes it, and then writes stay unconditional, as before it);
 * an answer without the object is taken as `ours`.
 */
function writerStored(stored: EventConsumerObject | undefined, ours: string): StoredWriter {
  if (stored?.metadata === undefined) return ours;
  const value: unknown = stored.status?.writtenBy;
  return typeof value === 'string' ? value : null;
}

/**
 * The JSON Patch with a test that status.writtenBy is `expected` first (nothing to test when no
 * writer is expected, or none was stored: a status written before writtenBy existed).
 */
function withWriterTest(body: unknown, expected: StoredWriter | undefined): unknown {
  if (expected === undefined || expected === null || !Array.isArray(body)) return body;
  return [{ op: 'test', path: '/status/writtenBy', value: expected }, ...(body as unknown[])];
}
