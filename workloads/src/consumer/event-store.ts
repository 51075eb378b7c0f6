// The idempotent, event-sourced effect of the consumer: append an event to its aggregate's log at
// most once and keep the aggregate's projection derived from that log, safe against crashes between
// any two steps and against other consumer processes working on the same aggregate.
//
// Invariants (see workloads/README.md, "How at most once, never lost works"):
//  - an event's log entry has a subject of its own, `<prefix>.<aggregate>.<event id>`, and the log
//    stream refuses a second message on a subject (max_msgs_per_subject 1, discard_new_per_subject):
//    the append itself is the at-most-once guard, for as long as the entry exists — no dedup window,
//    no separate processed-id record to keep in step with the log;
//  - appends expect the aggregate's last sequence over `<prefix>.<aggregate>.*`, so two writers
//    cannot both append on the same log state (order, versions, projection = fold of the log);
//  - so one round trip applies an event, and "is this event applied?" (needed off the hot path only)
//    is a direct read of its subject;
//  - the projection is a cache of the log: written after the ack, at most once per aggregate per
//    flush (flushPending), brought up to date from the log tail by whoever reads it behind the log,
//    and re-checked by another process over the log past a dead writer's mark (projection-writer.ts).
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type MsgRequest,
  type NextMsgRequest,
} from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { z } from 'zod';
import type { StoredEvent } from '../shared/event.js';
import type { Topology } from '../shared/config.js';
import { JetStreamPublisher } from '../shared/js-publisher.js';
import { decideOrder } from './policy.js';
import {
  emptyProjection,
  foldEntry,
  logEntrySchema,
  projectionSchema,
  type AggregateProjection,
  type LogEntry,
} from './projection.js';

/**
 * The publisher of a consumer's appends and projection writes, with `coalesce`: the publishes one turn of
 * the event loop starts leave in one socket write. The consume loop hands the messages over one per
 * microtask and nats.js writes at every microtask checkpoint, so an event started from the loop sent its
 * append alone: with CONCURRENCY 256 (more events held than a pull brings, so the loop never waits) 0.73
 * write system calls per event and 62 µs of CPU per event, against 0.04 and 43 coalesced; at CONCURRENCY
 * 64 (events started as earlier ones settle) the same either way (workloads/README.md, "Pipelining").
 */
export function appendPublisher(nc: NatsConnection): JetStreamPublisher {
  return new JetStreamPublisher(nc, undefined, { coalesce: true });
}

export type ApplyResult =
  | { kind: 'applied'; logSeq: number; version: number }
  | { kind: 'duplicate' }
  | { kind: 'wait_for_predecessor'; missing: number }
  | { kind: 'version_conflict'; current: number };

interface CaughtUp {
  state: AggregateProjection;
  /** KV revision of the stored projection, 0 when there is none yet. */
  revision: number;
  /** Ids of log entries that were past the stored projection (now folded into `state`). */
  tailIds: ReadonlySet<string>;
  /** Event-log sequence of the first of them (Infinity when there are none). */
  firstTailSeq: number;
  /** Whether `state` differs from the stored projection. */
  changed: boolean;
  /** Taken from this process's cache without reading NATS (may be stale; see apply()). */
  cached: boolean;
}

/** The tail of a projection taken from the cache: one set for every event, not a new one each. */
const NO_TAIL: ReadonlySet<string> = new Set();

/** The steps of the full path, timed for the profile in workloads/README.md. */
export const STEPS = [
  'projection_read',
  'log_tail_read',
  'log_lookup',
  'work',
  'append',
  'projection_write',
] as const;
export type Step = (typeof STEPS)[number];

export interface EventStoreHooks {
  /** Time spent in one step of one attempt (ms), when profiling. */
  onStep?: (step: Step, ms: number) => void;
  onAppendConflict?: () => void;
  /** A stored projection could not be read and was rebuilt from the event log. */
  onProjectionRebuilt?: (aggregateId: string, reason: string) => void;
  /** Called before every append; throws to refuse it (the writer mark is not known to be fresh). */
  beforeAppend?: () => void;
  /** A pending projection cannot be written because its aggregate's log cannot be read. */
  onUnflushable?: (aggregateId: string, err: UnreadableAggregate) => void;
}

/**
 * The aggregate's event log holds an entry this code cannot fold (written by hand or by another
 * version): nothing can be applied on top of it until someone repairs the log, so the caller
 * dead-letters instead of retrying forever.
 */
export class UnreadableAggregate extends Error {
  override readonly name = 'UnreadableAggregate';
  constructor(
    readonly aggregateId: string,
    readonly logSeq: number,
    reason: string,
  ) {
    super(
      `event log entry ${logSeq} of aggregate ${aggregateId} cannot be read (${reason}); repair or remove it, then re-publish the dead-lettered events`,
    );
  }
}

/** Parses a value read from NATS with `schema`, or says why not (JSON or schema). */
function readWith<T>(
  schema: z.ZodType<T>,
  read: () => unknown,
): { ok: true; value: T } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = read();
  } catch (err) {
    return { ok: false, reason: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    reason: parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`)
      .join('; '),
  };
}

let isoMs = NaN;
let isoText = '';
/**
 * `new Date().toISOString()`, built once per millisecond: the events applied in one millisecond share
 * the string (0.6 µs per call against 0.05–0.09 in a micro-benchmark).
 */
function isoNow(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoText = new Date(now).toISOString();
  }
  return isoText;
}
const MAX_ATTEMPTS = 50;
const CACHE_LIMIT = 20_000;
/** Projection writes in flight at once during a flush. */
const FLUSH_CONCURRENCY = 16;

function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** `JSStreamStoreFailedF` (10077) carrying the store's `ErrMaxMsgsPerSubject`, in nats-server 2.10–2.12. */
const STREAM_STORE_FAILED = 10077;
const MAX_MSGS_PER_SUBJECT = 'maximum messages per subject exceeded';

/**
 * The log refused the append because the event's subject holds an entry already: the event is
 * applied (discard_new_per_subject; see eventLogConfig in shared/topology.ts).
 */
export function isAlreadyInLog(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    err.code === STREAM_STORE_FAILED &&
    err.message.includes(MAX_MSGS_PER_SUBJECT)
  );
}

/**
 * `STREAM.MSG.GET` answers `{seq, next_by_subj}` (first message on the subject at or after seq) from
 * the stream leader, so the read is consistent with the append's expectation. nats.js 3.4 passes the
 * request through unchanged but types only `seq` / `last_by_subj` for this call, hence the widening.
 */
function nextBySubject(seq: number, subject: string): MsgRequest {
  const request: NextMsgRequest = { seq, next_by_subj: subject };
  return request as unknown as MsgRequest;
}

export class EventStore {
  /**
   * Projections this process appended to, wrote or read last, with the KV revision of the stored
   * projection. The state may be ahead of the stored one (see `pending`). A stale entry is harmless:
   * the append's expected sequence (or the projection's revision) rejects it, and the attempt is
   * redone from NATS. It saves the projection read and the log-tail read on the common path.
   */
  private readonly cache = new Map<string, { state: AggregateProjection; revision: number }>();
  /**
   * Aggregates whose projection is ahead of the stored one (written by `flushPending()`), with the
   * lowest event-log sequence the stored projection lacks (Infinity: none of ours, e.g. a rebuild).
   */
  private readonly pending = new Map<string, number>();
  /** Taken from `pending` by a flush that has not finished. */
  private readonly flushing = new Map<string, number>();
  /** Appends sent and not answered, by the floor of the sequence they will get (count per floor). */
  private readonly appendFloors = new Map<number, number>();
  /** The highest event-log sequence this process has seen; a new append gets a higher one. */
  private lastSeen = 0;

  constructor(
    /** Appends and projection updates (the hot path's writes; see shared/js-publisher.ts). */
    private readonly publisher: JetStreamPublisher,
    private readonly jsm: JetStreamManager,
    private readonly topology: Topology,
    private readonly projections: KV,
    private readonly hooks: EventStoreHooks = {},
  ) {}

  /**
   * Applies `event` (the message at `sourceSeq` in the events stream) at most once. `work` is the
   * business handler; it runs at most once per call, before the append, and may throw to fail the
   * attempt (nothing is written then).
   *
   * The projection is not written here: the applied state is kept as pending and written by
   * `flushPending()`, so a hot aggregate costs one projection write per flush, not one per event. A
   * crash before the write leaves the stored projection behind the log; the next process to read
   * it folds the log tail (catchUp), and `lowWater()` — published as the writer mark — tells
   * another process which part of the log to re-check if this one dies (projection-writer.ts).
   */
  async apply(
    event: StoredEvent,
    sourceSeq: number,
    work: (event: StoredEvent) => Promise<void>,
  ): Promise<ApplyResult> {
    const aggregateId = event.aggregateId;
    let workDone = false;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const caught = (attempt === 0 && this.fromCache(aggregateId)) || (await this.catchUp(aggregateId));
      if (caught.tailIds.has(event.id)) return this.duplicate(caught);
      const order = decideOrder(caught.state.version, event.version);
      if (order.kind !== 'apply') {
        // Another process may have moved the aggregate on: decide on fresh state only.
        if (caught.cached) {
          this.cache.delete(aggregateId);
          continue;
        }
        // Fresh state holds every entry, so an applied event is never "ahead" of it.
        if (order.kind === 'wait_for_predecessor')
          return { kind: 'wait_for_predecessor', missing: order.missing };
        // An applied event delivered again also looks like a version conflict: ask the log.
        if (await this.timed('log_lookup', () => this.isInLog(event))) return this.duplicate(caught);
        return { kind: 'version_conflict', current: order.current };
      }
      if (!workDone) {
        // Timed inline on the hot path (work, append): no wrapper promise and closure per step.
        const started = this.hooks.onStep ? performance.now() : 0;
        try {
          await work(event);
        } finally {
          this.hooks.onStep?.('work', performance.now() - started);
        }
        workDone = true;
      }
      // Written out, not `{...event, …}`: V8 clones a spread object on a slow path (about 2–3 µs per
      // event in a micro-benchmark against 0.01), and the stored event's fields are these (strictObject).
      const entry: LogEntry = {
        id: event.id,
        type: event.type,
        aggregateId,
        payload: event.payload,
        timestamp: event.timestamp,
        version: order.version,
        sourceSeq,
        appliedAt: isoNow(),
      };
      // Throws while this process's writer mark is not known to be fresh (see ProjectionWriter).
      this.hooks.beforeAppend?.();
      const floor = this.lastSeen + 1;
      this.appendFloors.set(floor, (this.appendFloors.get(floor) ?? 0) + 1);
      let logSeq: number;
      const appendStarted = this.hooks.onStep ? performance.now() : 0;
      try {
        const ack = await this.publisher.publish(
          this.topology.eventLogSubject(aggregateId, event.id),
          Buffer.from(JSON.stringify(entry)),
          {
            lastSubjectSequence: caught.state.lastLogSeq,
            lastSubjectSequenceSubject: this.topology.eventLogAggregateFilter(aggregateId),
          },
        );
        this.hooks.onStep?.('append', performance.now() - appendStarted);
        logSeq = ack.seq;
      } catch (err) {
        this.hooks.onStep?.('append', performance.now() - appendStarted);
        this.cache.delete(aggregateId);
        if (isAlreadyInLog(err)) {
          // Applied before (a redelivery, or a copy stored again): fold whatever the log holds past
          // the stored projection, so the projection still covers it.
          return this.duplicate(await this.catchUp(aggregateId));
        }
        if (!isWrongLastSequence(err)) throw err;
        this.hooks.onAppendConflict?.();
        continue;
      } finally {
        // Nothing awaits between here and keepPending below: lowWater() never misses this entry.
        const left = (this.appendFloors.get(floor) ?? 1) - 1;
        if (left === 0) this.appendFloors.delete(floor);
        else this.appendFloors.set(floor, left);
      }
      this.observeLogSeq(logSeq);
      const folded = foldEntry(caught.state, entry, logSeq);
      this.keepPending(folded, caught.revision, Math.min(caught.firstTailSeq, logSeq));
      return { kind: 'applied', logSeq, version: order.version };
    }
    throw new Error(
      `aggregate ${aggregateId}: gave up applying event ${event.id} after ${MAX_ATTEMPTS} concurrent-write conflicts`,
    );
  }

  /** The event is in the log already: what the log holds past the stored projection is kept for the next flush. */
  private duplicate(caught: CaughtUp): ApplyResult {
    if (caught.changed) this.keepPending(caught.state, caught.revision, caught.firstTailSeq);
    return { kind: 'duplicate' };
  }

  /** Aggregates whose projection is not written yet (pending or being written). */
  get pendingCount(): number {
    return this.pending.size + this.flushing.size;
  }

  /** Records an event-log sequence known to exist (the log's last sequence at start-up). */
  observeLogSeq(seq: number): void {
    if (seq > this.lastSeen) this.lastSeen = seq;
  }

  /**
   * Every event-log entry this process appended (or folded) whose projection is not stored yet has
   * a sequence ≥ this: the minimum over pending and flushing projections, appends not answered yet
   * (their sequence will exceed what was seen when they were sent) and the next sequence.
   */
  lowWater(): number {
    let low = this.lastSeen + 1;
    for (const seq of this.pending.values()) low = Math.min(low, seq);
    for (const seq of this.flushing.values()) low = Math.min(low, seq);
    for (const floor of this.appendFloors.keys()) low = Math.min(low, floor);
    return low;
  }

  /**
   * Writes every pending projection (revision-checked; on a conflict it is rebuilt from the stored
   * projection plus the log tail). Projections that failed stay pending; the first error is thrown
   * after all were tried. An aggregate whose log cannot be read is dropped (its events are
   * dead-lettered and the audit reports the entry), so it cannot hold the low-water mark forever.
   */
  async flushPending(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending];
    this.pending.clear();
    for (const [aggregateId, seq] of batch) this.flushing.set(aggregateId, seq);
    const failures: unknown[] = [];
    // A bounded number of writes at a time: a burst of one write per aggregate would queue the
    // appends issued meanwhile behind it.
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let item = batch[next++]; item; item = batch[next++]) {
        const [aggregateId, seq] = item;
        try {
          await this.flushOne(aggregateId);
        } catch (err) {
          if (err instanceof UnreadableAggregate) this.hooks.onUnflushable?.(aggregateId, err);
          else {
            this.markPending(aggregateId, seq);
            failures.push(err);
          }
        } finally {
          this.flushing.delete(aggregateId);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FLUSH_CONCURRENCY, batch.length) }, () => worker()));
    if (failures.length > 0) throw failures[0];
  }

  /**
   * Re-reads and catches up until the stored projection covers `logSeq` (writing it when it is
   * behind the log). Safe to run anywhere, any number of times: the write is revision-checked.
   */
  async settle(aggregateId: string, logSeq: number): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const caught = await this.catchUp(aggregateId);
      if (!caught.changed && caught.state.lastLogSeq >= logSeq) return;
      if (await this.trySave(caught)) return;
    }
    throw new Error(`aggregate ${aggregateId}: projection kept changing under us (${MAX_ATTEMPTS} attempts)`);
  }

  private async flushOne(aggregateId: string): Promise<void> {
    const hit = this.cache.get(aggregateId);
    if (!hit) return this.settle(aggregateId, 0);
    const { state, revision } = hit;
    if (
      !(await this.trySave({
        state,
        revision,
        tailIds: NO_TAIL,
        firstTailSeq: Infinity,
        changed: true,
        cached: true,
      }))
    )
      await this.settle(aggregateId, state.lastLogSeq);
  }

  private markPending(aggregateId: string, seq: number): void {
    this.pending.set(aggregateId, Math.min(this.pending.get(aggregateId) ?? Infinity, seq));
  }

  /** Keeps a projection newer than the stored one (at `revision`) for the next flush. */
  private keepPending(state: AggregateProjection, revision: number, firstSeq: number): void {
    this.remember(state, revision);
    this.markPending(state.aggregateId, firstSeq);
  }

  private fromCache(aggregateId: string): CaughtUp | undefined {
    const hit = this.cache.get(aggregateId);
    if (!hit) return undefined;
    return {
      state: hit.state,
      revision: hit.revision,
      tailIds: NO_TAIL,
      firstTailSeq: Infinity,
      changed: false,
      cached: true,
    };
  }

  /**
   * Caches `state` with the stored projection's `revision`, unless the cache holds a later state
   * (an append finished while this was read or written): then only the revision is taken, so a
   * cached state never goes back and a pending write is never lost. The revision kept is the
   * highest seen.
   */
  private remember(state: AggregateProjection, revision: number): void {
    const hit = this.cache.get(state.aggregateId);
    // KV revisions only grow: a write that finished while an append was in flight must not be
    // forgotten when the append's result (computed on the older revision) is cached.
    const latest = hit ? Math.max(hit.revision, revision) : revision;
    if (hit && hit.state.lastLogSeq > state.lastLogSeq) {
      hit.revision = latest;
      return;
    }
    this.cache.delete(state.aggregateId);
    this.cache.set(state.aggregateId, { state, revision: latest });
    if (this.cache.size > CACHE_LIMIT) {
      // A pending projection evicted here is still written: flushOne() rebuilds it from NATS.
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
  }

  /**
   * Loads the projection and folds the log entries past it — however many: a projection left
   * behind by a crash is brought up to date here. A stored projection that cannot be read is
   * derived state: it is rebuilt from the whole log (and overwritten at its revision), never
   * retried as it is. A log entry that cannot be read throws UnreadableAggregate.
   */
  private async catchUp(aggregateId: string): Promise<CaughtUp> {
    const stored = await this.timed('projection_read', () => this.projections.get(aggregateId));
    const hasStored = stored !== null && stored.operation === 'PUT';
    let state = emptyProjection(aggregateId);
    let rebuilt = false;
    if (hasStored) {
      const read = readWith(projectionSchema, () => stored.json());
      if (read.ok && read.value.aggregateId === aggregateId) state = read.value;
      else {
        rebuilt = true;
        this.hooks.onProjectionRebuilt?.(
          aggregateId,
          read.ok ? `it names aggregate ${read.value.aggregateId}` : read.reason,
        );
      }
    }
    const revision = hasStored ? stored.revision : 0;
    const tailIds = new Set<string>();
    let firstTailSeq = Infinity;
    const subject = this.topology.eventLogAggregateFilter(aggregateId);
    for (;;) {
      const next = await this.timed('log_tail_read', () =>
        this.jsm.streams.getMessage(
          this.topology.eventLogStream,
          nextBySubject(state.lastLogSeq + 1, subject),
        ),
      );
      if (!next) break;
      const read = readWith(logEntrySchema, () => next.json());
      if (!read.ok) throw new UnreadableAggregate(aggregateId, next.seq, read.reason);
      const entry = read.value;
      // The one-entry-per-subject guard only means something if the subject names the entry.
      if (
        next.subject !== this.topology.eventLogSubject(aggregateId, entry.id) ||
        entry.aggregateId !== aggregateId
      )
        throw new UnreadableAggregate(
          aggregateId,
          next.seq,
          `it is event ${entry.id} of aggregate ${entry.aggregateId} stored on subject ${next.subject}`,
        );
      tailIds.add(entry.id);
      firstTailSeq = Math.min(firstTailSeq, next.seq);
      this.observeLogSeq(next.seq);
      state = foldEntry(state, entry, next.seq);
    }
    const changed = tailIds.size > 0 || rebuilt;
    if (!changed) this.remember(state, revision);
    return { state, revision, tailIds, firstTailSeq, changed, cached: false };
  }

  /** Whether the event's log entry exists (its own subject; a direct read, no scan). */
  private async isInLog(event: StoredEvent): Promise<boolean> {
    const found = await this.jsm.streams.getMessage(this.topology.eventLogStream, {
      last_by_subj: this.topology.eventLogSubject(event.aggregateId, event.id),
    });
    return found !== null;
  }

  private timed<T>(step: Step, action: () => Promise<T>): Promise<T> {
    const onStep = this.hooks.onStep;
    if (!onStep) return action();
    const started = performance.now();
    return action().finally(() => onStep(step, performance.now() - started));
  }

  /** Writes the projection if nobody changed it since it was read; false on a revision conflict. */
  private async trySave(caught: CaughtUp): Promise<boolean> {
    const value = JSON.stringify(caught.state);
    try {
      const revision = await this.timed('projection_write', () =>
        caught.revision === 0
          ? this.projections.create(caught.state.aggregateId, value)
          : // KV update = a publish to the key's subject expecting its last revision (as nats.js does).
            this.publisher
              .publish(this.topology.projectionKeySubject(caught.state.aggregateId), Buffer.from(value), {
                lastSubjectSequence: caught.revision,
              })
              .then((ack) => ack.seq),
      );
      this.remember(caught.state, revision);
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) {
        this.forgetRevision(caught.state.aggregateId);
        return false;
      }
      throw err;
    }
  }

  /**
   * The stored projection changed under us (another process): drop the cached copy unless it holds
   * our own pending state, which settle() rebuilds from NATS anyway.
   */
  private forgetRevision(aggregateId: string): void {
    if (!this.pending.has(aggregateId)) this.cache.delete(aggregateId);
  }
}
