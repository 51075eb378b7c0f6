// Publishing accepted events to JetStream: one message per event with the event id as Nats-Msg-Id
// (retries within the duplicate window are stored once), an ack deadline, fail-fast while NATS is
// disconnected (the client would otherwise buffer and the HTTP caller would wait for nothing) and a
// cap on events in flight so overload turns into 503s instead of memory growth.
import { JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { errors, type NatsConnection } from '@nats-io/transport-node';
import type { StoredEvent } from '../shared/event.js';
import type { Topology } from '../shared/config.js';
import type { GatewayMetrics } from './metrics.js';

export type PublishFailure = 'unavailable' | 'timeout' | 'overloaded';

export type PublishOutcome =
  | { id: string; stored: true; seq: number; duplicate: boolean }
  | { id: string; stored: false; failure: PublishFailure; message: string };

const encoder = new TextEncoder();

export class EventPublisher {
  private connected = true;
  private inFlight = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly topology: Topology,
    private readonly timeoutMs: number,
    private readonly maxInFlight: number,
    private readonly metrics: GatewayMetrics,
  ) {
    metrics.natsConnected.set(1);
    void this.watchConnection();
  }

  /** Connected to NATS (the cheap half of readiness; the stream was verified at start-up). */
  get available(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  /** Publishes every event concurrently; each outcome says stored (with seq / duplicate) or why not. */
  async publishAll(events: readonly StoredEvent[]): Promise<PublishOutcome[]> {
    if (!this.available) {
      return events.map((e) => ({
        id: e.id,
        stored: false,
        failure: 'unavailable',
        message: 'not connected to NATS',
      }));
    }
    if (this.inFlight + events.length > this.maxInFlight) {
      return events.map((e) => ({
        id: e.id,
        stored: false,
        failure: 'overloaded',
        message: `more than ${this.maxInFlight} events in flight`,
      }));
    }
    this.inFlight += events.length;
    this.metrics.publishesInFlight.set(this.inFlight);
    try {
      return await Promise.all(events.map((e) => this.publishOne(e)));
    } finally {
      this.inFlight -= events.length;
      this.metrics.publishesInFlight.set(this.inFlight);
    }
  }

  private async publishOne(event: StoredEvent): Promise<PublishOutcome> {
    const end = this.metrics.publishDuration.startTimer();
    try {
      const ack = await this.js.publish(
        this.topology.eventsSubject(event.aggregateId),
        encoder.encode(JSON.stringify(event)),
        {
          msgID: event.id,
          timeout: this.timeoutMs,
          expect: { streamName: this.topology.eventsStream },
        },
      );
      end();
      return { id: event.id, stored: true, seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const timedOut =
        err instanceof errors.TimeoutError ||
        (err instanceof Error && err.cause instanceof errors.TimeoutError);
      const failure: PublishFailure = timedOut ? 'timeout' : 'unavailable';
      return {
        id: event.id,
        stored: false,
        failure,
        message: err instanceof JetStreamApiError ? `JetStream: ${message}` : message,
      };
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
