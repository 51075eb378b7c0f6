// Publishing accepted events to JetStream: one message per event with the event id as Nats-Msg-Id
// (retries within the duplicate window are stored once), an ack deadline, fail-fast while NATS is
// disconnected (the client would otherwise buffer and the HTTP caller would wait for nothing) and a
// cap on events in flight so overload turns into 503s instead of memory growth. The publishes go
// through the one-inbox JetStreamPublisher, not nats.js's js.publish(): same headers and errors, about a
// quarter of the client CPU per event (workloads/README.md, "Gateway").
import { JetStreamApiError } from '@nats-io/jetstream';
import { errors, type NatsConnection } from '@nats-io/transport-node';
import type { EncodedEvent } from '../shared/event.js';
import type { Topology } from '../shared/config.js';
import type { HistogramSeries } from '../shared/folded-histogram.js';
import { publishHeaders, type JetStreamPublisher, type Publish } from '../shared/js-publisher.js';
import type { GatewayMetrics } from './metrics.js';

export type PublishFailure = 'unavailable' | 'timeout' | 'overloaded' | 'event_too_large';

export type PublishOutcome =
  | { id: string; stored: true; seq: number; duplicate: boolean }
  | { id: string; stored: false; failure: PublishFailure; message: string };

export class EventPublisher {
  private connected = true;
  private inFlight = 0;
  private readonly publishDuration: HistogramSeries;

  constructor(
    private readonly nc: NatsConnection,
    /** Its timeout is the ack deadline (PUBLISH_TIMEOUT_MS). */
    private readonly publisher: JetStreamPublisher,
    private readonly topology: Topology,
    private readonly maxInFlight: number,
    private readonly metrics: GatewayMetrics,
  ) {
    this.publishDuration = metrics.publishDuration.series({});
    metrics.natsConnected.set(1);
    void this.watchConnection();
  }

  /** Connected to NATS (the cheap half of readiness; the stream was verified at start-up). */
  get available(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  /**
   * Publishes every event at once (publishMany: all in flight together, one promise for the batch); each
   * outcome says stored (with seq / duplicate) or why not.
   */
  async publishAll(events: readonly EncodedEvent[]): Promise<PublishOutcome[]> {
    if (!this.available) {
      return events.map((e) => ({
        id: e.event.id,
        stored: false,
        failure: 'unavailable',
        message: 'not connected to NATS',
      }));
    }
    if (this.inFlight + events.length > this.maxInFlight) {
      return events.map((e) => ({
        id: e.event.id,
        stored: false,
        failure: 'overloaded',
        message: `more than ${this.maxInFlight} events in flight`,
      }));
    }
    this.inFlight += events.length;
    this.metrics.publishesInFlight.set(this.inFlight);
    try {
      const publishes: Publish[] = events.map(({ event, data }) => ({
        subject: this.topology.eventsSubject(event.aggregateId),
        data,
        headers: publishHeaders(undefined, { msgId: event.id, expectedStream: this.topology.eventsStream }),
      }));
      const { answers, seconds } = await this.publisher.publishMany(publishes);
      return events.map(({ event }, i) => {
        const answer = answers[i] ?? new Error('no answer');
        if (answer instanceof Error) return failed(event.id, answer);
        this.publishDuration.observe(seconds[i] ?? 0);
        // The server leaves `duplicate` out of the ack unless it is true.
        return { id: event.id, stored: true, seq: answer.seq, duplicate: answer.duplicate === true };
      });
    } finally {
      this.inFlight -= events.length;
      this.metrics.publishesInFlight.set(this.inFlight);
    }
  }

  private async watchConnection(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'close') this.connected = false;
      if (s.type === 'reconnect') this.connected = true;
      this.metrics.natsConnected.set(this.connected ? 1 : 0);
    }
  }
}

/** Why an event was not stored: the publish's error, classified for the HTTP answer. */
function failed(id: string, err: Error): PublishOutcome {
  const timedOut = err instanceof errors.TimeoutError || err.cause instanceof errors.TimeoutError;
  const failure: PublishFailure = timedOut ? 'timeout' : isTooLarge(err) ? 'event_too_large' : 'unavailable';
  return {
    id,
    stored: false,
    failure,
    message: err instanceof JetStreamApiError ? `JetStream: ${err.message}` : err.message,
  };
}

/**
 * The client refuses a message above the server's max_payload; the stream refuses one above its
 * max_msg_size (JetStream error 10054). Either is the event's size, not an outage.
 */
function isTooLarge(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === 10054;
  return err instanceof Error && /max_payload|maximum payload|exceeds maximum/i.test(err.message);
}
