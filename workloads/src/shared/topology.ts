// Creates or verifies, idempotently, every JetStream resource the workloads use: the events stream,
// the durable consumer, the event log, the dead-letter stream and the two KV buckets. Gateway and
// consumer both run it at start-up, so either may start first; a resource whose configuration drifted
// from ours is updated in place (only mutable fields are compared).
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { topologyOf, type NatsConfig, type Topology } from './config.js';
import { eventsStreamMaxMsgSize } from './event.js';

const nanos = (ms: number): number => ms * 1_000_000;

export interface Resources {
  topology: Topology;
  processed: KV;
  projection: KV;
}

type NamedStreamConfig = Partial<StreamConfig> & { name: string };

/**
 * `serverMaxPayload` (the connected server's max_payload) bounds the events stream's messages, so
 * a publisher other than the gateway cannot store an event the consumer could not copy to the
 * event log or the DLQ (see STORED_EVENT_HEADROOM).
 */
export function streamConfigs(config: NatsConfig, serverMaxPayload = 1_048_576): NamedStreamConfig[] {
  const t = topologyOf(config);
  const common = {
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: config.STREAM_REPLICAS,
    duplicate_window: nanos(config.EVENTS_DUPLICATE_WINDOW_MS),
  };
  return [
    {
      ...common,
      name: t.eventsStream,
      subjects: [t.eventsFilter],
      max_age: nanos(config.EVENTS_MAX_AGE_MS),
      max_msg_size: eventsStreamMaxMsgSize(serverMaxPayload),
    },
    { ...common, name: t.eventLogStream, subjects: [t.eventLogFilter] },
    { ...common, name: t.dlqStream, subjects: [t.dlqFilter] },
  ];
}

export function consumerConfig(config: NatsConfig): Partial<ConsumerConfig> {
  const t = topologyOf(config);
  return {
    durable_name: t.consumer,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(config.ACK_WAIT_MS),
    // Attempts are counted by the consumer (MAX_DELIVER) so the last one can copy the message to the
    // DLQ before terminating it; a server-side limit would drop it silently into the stream instead.
    max_deliver: -1,
    max_ack_pending: config.MAX_ACK_PENDING,
    filter_subject: t.eventsFilter,
  };
}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

async function ensureStream(jsm: JetStreamManager, wanted: NamedStreamConfig): Promise<void> {
  const name = wanted.name;
  for (let attempt = 0; ; attempt++) {
    try {
      const info = await jsm.streams.info(name);
      const have = info.config;
      const drifted =
        JSON.stringify(have.subjects) !== JSON.stringify(wanted.subjects) ||
        have.duplicate_window !== wanted.duplicate_window ||
        (wanted.max_age !== undefined && have.max_age !== wanted.max_age) ||
        (wanted.max_msg_size !== undefined && have.max_msg_size !== wanted.max_msg_size);
      if (drifted) await jsm.streams.update(name, { ...have, ...wanted });
      return;
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
    }
    try {
      await jsm.streams.add(wanted);
      return;
    } catch (err) {
      // Another process created it between our info and add: verify it on the next pass.
      if (attempt >= 3) throw err;
    }
  }
}

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  wanted: Partial<ConsumerConfig>,
): Promise<void> {
  const name = wanted.durable_name ?? '';
  for (let attempt = 0; ; attempt++) {
    try {
      const info = await jsm.consumers.info(stream, name);
      const have = info.config;
      const drifted =
        have.ack_wait !== wanted.ack_wait ||
        have.max_ack_pending !== wanted.max_ack_pending ||
        have.max_deliver !== wanted.max_deliver ||
        have.filter_subject !== wanted.filter_subject;
      if (drifted) {
        await jsm.consumers.update(stream, name, {
          ack_wait: wanted.ack_wait,
          max_ack_pending: wanted.max_ack_pending,
          max_deliver: wanted.max_deliver,
          filter_subject: wanted.filter_subject,
        });
      }
      return;
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
    }
    try {
      await jsm.consumers.add(stream, wanted);
      return;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

/** Creates or verifies every resource; returns the KV handles the consumer needs. */
export async function ensureTopology(nc: NatsConnection, config: NatsConfig): Promise<Resources> {
  const jsm = await jetstreamManager(nc);
  for (const stream of streamConfigs(config, nc.info?.max_payload)) await ensureStream(jsm, stream);
  const topology = topologyOf(config);
  await ensureConsumer(jsm, topology.eventsStream, consumerConfig(config));
  const kvm = new Kvm(jetstream(nc));
  const bucketOptions = { replicas: config.STREAM_REPLICAS, history: 1 };
  const processed = await kvm.create(topology.processedBucket, bucketOptions);
  const projection = await kvm.create(topology.projectionBucket, bucketOptions);
  return { topology, processed, projection };
}
