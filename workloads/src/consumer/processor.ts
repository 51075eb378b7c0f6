// The consumer's message loop: a durable pull consumer read with `consume()` (heartbeats on), a
// bounded number of events in progress (scheduler.ts: one aggregate strictly in order, an event
// waiting behind its aggregate holds no slot), each message settled by exactly one of ack /
// nak(delay) / DLQ-then-term, and a drain that stops pulling, finishes what it holds and returns —
// so a scale-down causes no redeliveries.
import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import { decodeStoredEvent, type StoredEvent } from '../shared/event.js';
import type { Topology } from '../shared/config.js';
import { errorMessage, type Logger } from '../shared/log.js';
import type { DeadLetterer, DeadLetterReason } from './dead-letter.js';
import { UnreadableAggregate, type EventStore } from './event-store.js';
import { failureKind } from './failure.js';
import type { HistogramSeries } from '../shared/folded-histogram.js';
import type { ConsumerMetrics } from './metrics.js';
import { onFailure, retryDelayMs, type RetryPolicy } from './policy.js';
import { AggregateScheduler } from './scheduler.js';
import { HandlerFailure, type Work } from './work.js';

export interface ProcessorOptions {
  js: JetStreamClient;
  topology: Topology;
  store: EventStore;
  deadLetters: DeadLetterer;
  work: Work;
  metrics: ConsumerMetrics;
  log: Logger;
  policy: RetryPolicy;
  pullBatch: number;
  concurrency: number;
  idleHeartbeatMs: number;
  /** A handler running longer than this reads as hung (`stuck()`); 0: never. */
  stuckAfterMs: number;
  /** Called when the durable consumer seems gone: re-creates the topology. */
  recreateConsumer: () => Promise<void>;
}

/** A handler that has started (its aggregate's turn came) and not returned. */
interface Running {
  since: number;
  seq: number;
}

type Outcome = 'applied' | 'duplicate' | 'nak' | 'dead_lettered' | 'error';
type Decoded = ReturnType<typeof decodeStoredEvent>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class EventProcessor {
  private draining = false;
  private consuming = false;
  private messages: ConsumerMessages | undefined;
  private readonly scheduler: AggregateScheduler;
  private lastRecreate = 0;
  /** The per-event histograms' series, found once (a series shows in /metrics from its first observation). */
  private readonly handlerDuration: Record<Outcome, HistogramSeries>;
  private readonly endToEndLatency: HistogramSeries;
  /** Handlers running now, in the order they started: the first is the longest-running. */
  private readonly running = new Set<Running>();

  constructor(private readonly o: ProcessorOptions) {
    this.scheduler = new AggregateScheduler(o.concurrency);
    const h = o.metrics.handlerDuration;
    this.handlerDuration = {
      applied: h.series({ outcome: 'applied' }),
      duplicate: h.series({ outcome: 'duplicate' }),
      nak: h.series({ outcome: 'nak' }),
      dead_lettered: h.series({ outcome: 'dead_lettered' }),
      error: h.series({ outcome: 'error' }),
    };
    this.endToEndLatency = o.metrics.endToEndLatency.series({});
    o.metrics.timeOldestHandlerWith(() => this.oldestRunningMs(performance.now()) / 1000);
  }

  private oldestRunningMs(now: number): number {
    const oldest = this.running.values().next().value;
    return oldest === undefined ? 0 : Math.max(0, now - oldest.since);
  }

  /**
   * Why this process is hung, or undefined: a handler has run longer than `stuckAfterMs` (/healthz
   * fails, so the kubelet restarts the pod). A hung handler (a deadlock, a call without a timeout)
   * holds its message, and the server gives it back to this process at each ack_wait while the
   * subscription lives, so nothing but a restart frees it; the autoscaler cannot tell such a replica
   * from handlers that fail every message. A handler that returns, with any outcome — a nak while
   * NATS is away included — is not hung, so an outage restarts nothing.
   */
  stuck(now = performance.now()): string | undefined {
    if (this.o.stuckAfterMs === 0) return undefined;
    const oldest = this.running.values().next().value;
    if (oldest === undefined || now - oldest.since <= this.o.stuckAfterMs) return undefined;
    return `a handler has run ${Math.round((now - oldest.since) / 1000)} s on stream sequence ${oldest.seq}, longer than STUCK_AFTER_MS ${this.o.stuckAfterMs}: it holds its message until this process restarts`;
  }

  /** True while pulling messages (readiness). */
  get ready(): boolean {
    return this.consuming && !this.draining;
  }

  /** Consumes until `drain()` is called, then resolves once every held message is settled. */
  async run(): Promise<void> {
    let backoffMs = 250;
    while (!this.draining) {
      try {
        const consumer = await this.o.js.consumers.get(
          this.o.topology.eventsStream,
          this.o.topology.consumer,
        );
        const messages = await consumer.consume({
          max_messages: this.o.pullBatch,
          idle_heartbeat: this.o.idleHeartbeatMs,
        });
        this.messages = messages;
        if (this.draining) messages.stop();
        this.consuming = true;
        void this.watchStatus(messages);
        this.o.log.info('consuming', {
          stream: this.o.topology.eventsStream,
          consumer: this.o.topology.consumer,
        });
        for await (const msg of messages) {
          this.o.metrics.inFlight.inc();
          await this.scheduler.admit();
          this.dispatch(msg);
        }
        backoffMs = 250;
        if (!this.draining) this.o.log.warn('consume() ended; starting again');
      } catch (err) {
        if (this.draining) break;
        this.o.log.warn('cannot consume; retrying', { error: errorMessage(err), retryInMs: backoffMs });
        if (/consumer not found|stream not found/i.test(errorMessage(err))) await this.recreate();
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5000);
      } finally {
        this.consuming = false;
      }
    }
    await this.scheduler.settled();
  }

  /**
   * Stops pulling; `run()` resolves after the buffered and in-progress messages are settled.
   *
   * `ConsumerMessages.stop()` unsubscribes at once, so messages the server sent just before it saw
   * the UNSUB are dropped by the client and come back after ack_wait — a redelivery caused by the
   * scale-down. Draining the subscription instead (UNSUB, then a PING/PONG fence) hands those
   * messages to the iterator, and consume() ends the iterator once the drained subscription closes.
   */
  async drain(): Promise<void> {
    this.draining = true;
    const messages = this.messages;
    if (!messages) return;
    const sub = subscriptionOf(messages);
    if (!sub) {
      messages.stop();
      return;
    }
    try {
      await sub.drain();
    } catch (err) {
      this.o.log.warn('draining the pull subscription failed; stopping it', { error: errorMessage(err) });
    }
    messages.stop();
  }

  /** Messages taken from the consumer and not yet settled. */
  get held(): number {
    return this.scheduler.held;
  }

  private dispatch(msg: JsMsg): void {
    const started = performance.now();
    const decoded = decodeStoredEvent(msg.data);
    const key = decoded.ok ? decoded.event.aggregateId : `_invalid:${msg.seq}`;
    // One then(ok, failed), not then/catch/finally: a promise and a closure per event fewer.
    void this.scheduler.submit(key, () => {
      const running: Running = { since: performance.now(), seq: msg.seq };
      this.running.add(running);
      return this.handle(msg, decoded).then(
        (outcome) => {
          this.running.delete(running);
          this.handlerDuration[outcome].observe((performance.now() - started) / 1000);
          this.o.metrics.inFlight.dec();
        },
        (err: unknown) => {
          this.running.delete(running);
          this.o.log.error('unexpected handler error', { error: errorMessage(err), seq: msg.seq });
          this.o.metrics.inFlight.dec();
        },
      );
    });
  }

  private async handle(msg: JsMsg, decoded: Decoded): Promise<Outcome> {
    if (msg.info.deliveryCount > 1) this.o.metrics.redeliveries.inc();
    if (!decoded.ok) return this.deadLetter(msg, 'invalid_event', decoded.reason, undefined);
    const event = decoded.event;
    try {
      // Acked once the log holds the event; the projection is written later (ProjectionWriter).
      const result = await this.o.store.apply(event, msg.seq, this.o.work);
      switch (result.kind) {
        case 'applied':
          settle(() => msg.ack());
          this.o.metrics.processed.inc();
          this.endToEndLatency.observe(Math.max(0, Date.now() - Date.parse(event.timestamp)) / 1000);
          return 'applied';
        case 'duplicate':
          settle(() => msg.ack());
          this.o.metrics.duplicates.inc();
          return 'duplicate';
        case 'wait_for_predecessor':
          return this.failed(
            msg,
            event,
            'out_of_order',
            `version ${event.version ?? '?'} waits for version ${result.missing}`,
          );
        case 'version_conflict':
          return this.deadLetter(
            msg,
            'version_conflict',
            `version ${event.version ?? '?'} already taken (aggregate at ${result.current})`,
            event.aggregateId,
          );
      }
    } catch (err) {
      if (err instanceof HandlerFailure) return this.failed(msg, event, 'transient', err.message);
      if (err instanceof UnreadableAggregate)
        return this.deadLetter(msg, 'unreadable_aggregate', err.message, event.aggregateId);
      if (failureKind(err) === 'event') {
        // Fails the same way each time: spend the event's attempts, then the DLQ with the error.
        this.o.log.warn('apply failed on this event', {
          error: errorMessage(err),
          eventId: event.id,
          seq: msg.seq,
          deliveries: msg.info.deliveryCount,
        });
        return this.failed(msg, event, 'transient', `error: ${errorMessage(err)}`);
      }
      // NATS trouble (timeouts, reconnects) is not the event's fault: retry without spending its
      // attempts towards the DLQ, backing off as it keeps failing.
      this.o.log.warn('apply failed; will retry', {
        error: errorMessage(err),
        eventId: event.id,
        seq: msg.seq,
      });
      settle(() => msg.nak(retryDelayMs(msg.info.deliveryCount, this.o.policy)));
      this.o.metrics.naks.inc({ reason: 'error' });
      return 'error';
    }
  }

  private async failed(
    msg: JsMsg,
    event: StoredEvent,
    kind: 'transient' | 'out_of_order',
    detail: string,
  ): Promise<Outcome> {
    const decision = onFailure(msg.info.deliveryCount, this.o.policy, kind);
    if (decision.kind === 'dead_letter') {
      return this.deadLetter(
        msg,
        'max_deliveries',
        `${msg.info.deliveryCount} attempts; last: ${detail}`,
        event.aggregateId,
      );
    }
    settle(() => msg.nak(decision.delayMs));
    this.o.metrics.naks.inc({ reason: kind });
    this.o.log.debug('nak', {
      eventId: event.id,
      kind,
      detail,
      delayMs: decision.delayMs,
      deliveries: msg.info.deliveryCount,
    });
    return 'nak';
  }

  private async deadLetter(
    msg: JsMsg,
    reason: DeadLetterReason,
    detail: string,
    aggregateId: string | undefined,
  ): Promise<Outcome> {
    try {
      await this.o.deadLetters.deadLetter(msg, reason, detail, aggregateId);
      this.o.metrics.deadLettered.inc({ reason });
      this.o.log.warn('dead-lettered', { seq: msg.seq, reason, detail });
      return 'dead_lettered';
    } catch (err) {
      // Not in the DLQ, so it must not be terminated: try again later.
      this.o.log.warn('dead-letter publish failed; will retry', { seq: msg.seq, error: errorMessage(err) });
      settle(() => msg.nak(retryDelayMs(1, this.o.policy)));
      this.o.metrics.naks.inc({ reason: 'error' });
      return 'error';
    }
  }

  private async watchStatus(messages: ConsumerMessages): Promise<void> {
    for await (const status of messages.status()) {
      this.o.metrics.statusEvents.inc({ type: status.type });
      switch (status.type) {
        case 'heartbeats_missed':
          // consume() re-issues its pull itself; we record it so a stall is visible.
          this.o.log.warn('heartbeats missed', { count: status.count });
          break;
        case 'consumer_deleted':
          this.o.log.warn('consumer deleted', { description: status.description });
          await this.recreate();
          break;
        case 'consumer_not_found':
        case 'stream_not_found':
          this.o.log.warn(status.type.replace(/_/g, ' '), { status });
          await this.recreate();
          break;
        case 'no_responders':
        case 'exceeded_limits':
          this.o.log.warn(status.type.replace(/_/g, ' '), { status });
          break;
        default:
          break;
      }
    }
  }

  private async recreate(): Promise<void> {
    if (this.draining || Date.now() - this.lastRecreate < 2000) return;
    this.lastRecreate = Date.now();
    try {
      await this.o.recreateConsumer();
      this.o.log.info('verified stream and consumer');
    } catch (err) {
      this.o.log.warn('cannot re-create the consumer', { error: errorMessage(err) });
    }
  }
}

/**
 * The subscription behind a `consume()` iterator. nats.js 3.4 keeps it on a public field of the
 * implementation class but does not export that class; probe for it structurally so an upgrade that
 * moves it degrades to `stop()` instead of breaking.
 */
function subscriptionOf(messages: ConsumerMessages): Subscription | undefined {
  const candidate: unknown = Reflect.get(messages, 'sub');
  if (typeof candidate !== 'object' || candidate === null) return undefined;
  const drain: unknown = Reflect.get(candidate, 'drain');
  const isClosed: unknown = Reflect.get(candidate, 'isClosed');
  return typeof drain === 'function' && typeof isClosed === 'function'
    ? (candidate as Subscription)
    : undefined;
}

/** Acks/naks on a closed connection throw; the server redelivers then, which the store absorbs. */
function settle(action: () => void): void {
  try {
    action();
  } catch {
    // deliberately ignored: see above
  }
}
