// Writes the consumer's pending projections off the per-event path, and makes sure a crash cannot
// leave a projection behind the log for good.
//
// The consumer acks an event once its log entry is appended; the aggregate's projection (a cache of
// the log) is written later, once per flush for every aggregate that moved. A process killed
// between an ack and the write leaves stored projections behind the log. Whoever next handles an
// event of such an aggregate folds the log tail (EventStore.catchUp), but an aggregate that gets no
// more events would stay behind. So each process keeps a **writer mark** in the projection bucket,
// `_writers.<id>` = `{lowWater}`: every log entry it appended whose projection is not stored yet
// has a sequence ≥ lowWater. It is created before the first append and rewritten with the current
// lowWater every `staleMs / 5` (a heartbeat). The process refuses to append while its last mark
// write is older than `staleMs / 2`. Every process looks at the other marks every `staleMs / 3`;
// a mark whose revision has not changed for `staleMs` (measured on the observer's clock) belongs to a
// writer that stopped: the observer reads the log's subjects from its lowWater to the end, brings
// the projection of every aggregate found there up to date (revision-checked, so a live writer and
// two observers cannot conflict), then deletes the mark at the revision it read. A graceful stop
// writes everything and deletes its own mark.
import { randomUUID } from 'node:crypto';
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { z } from 'zod';
import type { Topology } from '../shared/config.js';
import { errorMessage, type Logger } from '../shared/log.js';
import { UnreadableAggregate, type EventStore } from './event-store.js';

/** Keys of writer marks in the projection bucket (aggregate ids cannot contain a dot). */
export const WRITER_MARK_PREFIX = '_writers.';

/** Whether a projection-bucket key is a writer mark, not an aggregate's projection. */
export function isWriterMarkKey(key: string): boolean {
  return key.startsWith(WRITER_MARK_PREFIX);
}

const markSchema = z.object({ lowWater: z.number().int().positive() });

/** Thrown by `assertFresh()`: appending now could leave an entry no mark covers. */
export class WriterMarkStale extends Error {
  override readonly name = 'WriterMarkStale';
}

export interface ProjectionWriterOptions {
  store: EventStore;
  projections: KV;
  js: JetStreamClient;
  jsm: JetStreamManager;
  topology: Topology;
  /** Pending projections are written this often. */
  flushIntervalMs: number;
  /** A mark unchanged this long is a stopped writer's (see above). */
  markStaleMs: number;
  log: Logger;
  onRecovered?: (aggregates: number) => void;
}

/** The writer's periods, derived from `markStaleMs` (pure, for the unit test). */
export function writerTimings(markStaleMs: number) {
  return {
    heartbeatMs: Math.floor(markStaleMs / 5),
    appendDeadlineMs: Math.floor(markStaleMs / 2),
    checkOthersMs: Math.floor(markStaleMs / 3),
  };
}

const RECOVERY_CONCURRENCY = 16;

export class ProjectionWriter {
  private readonly key = `${WRITER_MARK_PREFIX}${randomUUID()}`;
  private readonly timings: ReturnType<typeof writerTimings>;
  /** performance.now() when the last successful mark write was sent. */
  private markSentAt = -Infinity;
  /** Other writers' marks: the revision last seen and since when (our clock). */
  private readonly others = new Map<string, { revision: number; since: number }>();
  private stopped = false;
  private readonly wakers = new Set<() => void>();
  private loops: Promise<void>[] = [];

  constructor(private readonly o: ProjectionWriterOptions) {
    this.timings = writerTimings(o.markStaleMs);
  }

  /**
   * Creates this process's mark (before any append) and starts three independent loops — flush,
   * heartbeat, check the others — so a long flush or recovery never delays the heartbeat.
   */
  async start(): Promise<void> {
    const info = await this.o.jsm.streams.info(this.o.topology.eventLogStream);
    this.o.store.observeLogSeq(info.state.last_seq);
    await this.writeMark();
    this.loops = [
      this.every(this.o.flushIntervalMs, 'projection write failed; retrying at the next flush', () =>
        this.o.store.flushPending(),
      ),
      this.every(this.timings.heartbeatMs, 'writing the projection writer mark failed', () =>
        this.writeMark(),
      ),
      this.every(this.timings.checkOthersMs, 'checking other writers failed', () =>
        this.recoverStoppedWriters(),
      ),
    ];
  }

  /** Refuses an append while the mark may look stopped to others (EventStore's beforeAppend). */
  assertFresh(): void {
    const age = performance.now() - this.markSentAt;
    if (age > this.timings.appendDeadlineMs)
      throw new WriterMarkStale(
        `the projection writer mark was last written ${Math.round(age)} ms ago (limit ${this.timings.appendDeadlineMs} ms); not appending until NATS takes it again`,
      );
  }

  /** Writes every pending projection, then deletes the mark (kept when a write fails). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.wakers) wake();
    await Promise.all(this.loops);
    try {
      await this.o.store.flushPending();
      if (this.o.store.pendingCount === 0) await this.o.projections.delete(this.key);
    } catch (err) {
      this.o.log.warn('final projection write failed; another process will bring them up to date', {
        error: errorMessage(err),
        pending: this.o.store.pendingCount,
      });
    }
  }

  private async every(ms: number, failure: string, action: () => Promise<void>): Promise<void> {
    while (!this.stopped) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.wakers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, ms);
        this.wakers.add(wake);
      });
      if (this.stopped) break;
      try {
        await action();
      } catch (err) {
        this.o.log.warn(failure, { error: errorMessage(err) });
      }
    }
  }

  private async writeMark(): Promise<void> {
    const lowWater = this.o.store.lowWater();
    const sentAt = performance.now();
    // Only this process writes its key, and observers delete it only at the revision they judged
    // stopped: a plain put is safe, and re-creates the mark if an observer deleted it.
    await this.o.projections.put(this.key, JSON.stringify({ lowWater }));
    this.markSentAt = sentAt;
  }

  private async recoverStoppedWriters(): Promise<void> {
    const keys: string[] = [];
    for await (const key of await this.o.projections.keys(`${WRITER_MARK_PREFIX}>`)) keys.push(key);
    const now = performance.now();
    for (const key of [...this.others.keys()]) if (!keys.includes(key)) this.others.delete(key);
    for (const key of keys) {
      if (key === this.key) continue;
      const entry = await this.o.projections.get(key);
      if (!entry || entry.operation !== 'PUT') {
        this.others.delete(key);
        continue;
      }
      const seen = this.others.get(key);
      if (!seen || seen.revision !== entry.revision) {
        this.others.set(key, { revision: entry.revision, since: now });
        continue;
      }
      if (now - seen.since < this.o.markStaleMs) continue;
      const parsed = markSchema.safeParse(jsonOrUndefined(() => entry.json()));
      const lowWater = parsed.success ? parsed.data.lowWater : 1;
      const aggregates = await this.recover(lowWater);
      await this.o.projections.delete(key, { previousSeq: entry.revision }).catch(() => undefined);
      this.others.delete(key);
      this.o.onRecovered?.(aggregates);
      this.o.log.info('brought the projections of a stopped writer up to date', {
        mark: key,
        lowWater,
        aggregates,
      });
    }
  }

  /** Brings the projection of every aggregate with a log entry at or after `fromSeq` up to date. */
  private async recover(fromSeq: number): Promise<number> {
    const stream = this.o.topology.eventLogStream;
    const info = await this.o.jsm.streams.info(stream);
    const lastSeq = info.state.last_seq;
    const latest = new Map<string, number>();
    if (info.state.messages > 0 && fromSeq <= lastSeq) {
      const consumer = await this.o.js.consumers.get(stream, {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: fromSeq,
        headers_only: true,
      });
      const messages = await consumer.consume({ max_messages: 1000 });
      try {
        for await (const msg of messages) {
          const aggregateId = this.o.topology.aggregateOfLogSubject(msg.subject);
          if (aggregateId !== undefined) latest.set(aggregateId, msg.seq);
          if (msg.seq >= lastSeq || msg.info.pending === 0) break;
        }
      } finally {
        await messages.close();
      }
    }
    const work = [...latest];
    const next = async (): Promise<void> => {
      for (let item = work.pop(); item; item = work.pop()) {
        const [aggregateId, seq] = item;
        try {
          await this.o.store.settle(aggregateId, seq);
        } catch (err) {
          // Its events are dead-lettered and the audit names the entry; nothing to bring up to date.
          if (!(err instanceof UnreadableAggregate)) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: RECOVERY_CONCURRENCY }, () => next()));
    return latest.size;
  }
}

function jsonOrUndefined(read: () => unknown): unknown {
  try {
    return read();
  } catch {
    return undefined;
  }
}
