// Creates or verifies, idempotently, every JetStream resource the workloads use: the events stream,
// the durable consumer, the event log, the dead-letter stream and the projection KV bucket. Gateway
// and consumer both run it at start-up, so either may start first; a resource whose configuration
// drifted from ours is updated in place (only mutable fields are compared) — except an event log
// without the one-entry-per-subject rule, which is refused (see eventLogConfig).
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ConfigError, topologyOf, type NatsConfig, type Topology } from './config.js';
import { eventsStreamMaxMsgSize } from './event.js';

const nanos = (ms: number): number => ms * 1_000_000;

export interface Resources {
  topology: Topology;
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
    eventLogConfig(config),
    { ...common, name: t.dlqStream, subjects: [t.dlqFilter] },
  ];
}

/**
 * The event log holds one entry per subject `<prefix>.<aggregate>.<event id>` and refuses a second
 * one (`discard_new_per_subject`): a redelivered or re-published event can never be appended twice,
 * however long after its first append — the at-most-once guard is the append itself, no window.
 * Appends expect the aggregate's last sequence over `<prefix>.<aggregate>.*`, which orders them.
 */
export function eventLogConfig(config: NatsConfig): NamedStreamConfig {
  const t = topologyOf(config);
  return {
    name: t.eventLogStream,
    subjects: [t.eventLogFilter],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: config.STREAM_REPLICAS,
    max_msgs_per_subject: 1,
    discard: DiscardPolicy.New,
    discard_new_per_subject: true,
  };
}

/**
 * Why an existing event log cannot be used, or undefined. Never "fixed" in place: setting
 * max_msgs_per_subject = 1 on a log of the older layout (all of an aggregate's entries on one
 * subject) would make the server delete every entry but the last of each aggregate.
 */
export function eventLogMismatch(have: Partial<StreamConfig>, wanted: NamedStreamConfig): string | undefined {
  const problems: string[] = [];
  if (JSON.stringify(have.subjects) !== JSON.stringify(wanted.subjects))
    problems.push(`subjects ${JSON.stringify(have.subjects)} (wanted ${JSON.stringify(wanted.subjects)})`);
  if (have.max_msgs_per_subject !== 1)
    problems.push(`max_msgs_per_subject ${have.max_msgs_per_subject ?? 'unset'} (wanted 1)`);
  if (have.discard !== DiscardPolicy.New) problems.push(`discard ${have.discard ?? 'unset'} (wanted new)`);
  if (have.discard_new_per_subject !== true) problems.push('discard_new_per_subject off (wanted on)');
  if (problems.length === 0) return undefined;
  return (
    `event log stream ${wanted.name} does not have the layout this version needs (one entry per ` +
    `<prefix>.<aggregate>.<event id>, a second one refused): ${problems.join('; ')}. It is not changed ` +
    `in place, because limiting it to one message per subject would delete the history of a log written ` +
    `by an older version. Set EVENT_LOG_STREAM and EVENT_LOG_SUBJECT_PREFIX to new names (and rebuild the ` +
    `projections there), or delete the stream if its history is not needed.`
  );
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

/**
 * An existing resource this version cannot use and will not change: a configuration problem (the
 * names point at it), so start-up stops with the message (exit 2) instead of retrying.
 */
export class TopologyMismatch extends ConfigError {}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

async function ensureStream(
  jsm: JetStreamManager,
  wanted: NamedStreamConfig,
  refuse?: (have: StreamConfig) => string | undefined,
): Promise<void> {
  const name = wanted.name;
  for (let attempt = 0; ; attempt++) {
    try {
      const info = await jsm.streams.info(name);
      const have = info.config;
      const refused = refuse?.(have);
      if (refused) throw new TopologyMismatch(refused);
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

/** Creates or verifies every resource; returns the projection KV handle the consumer needs. */
export async function ensureTopology(nc: NatsConnection, config: NatsConfig): Promise<Resources> {
  const jsm = await jetstreamManager(nc);
  const topology = topologyOf(config);
  for (const stream of streamConfigs(config, nc.info?.max_payload))
    await ensureStream(
      jsm,
      stream,
      stream.name === topology.eventLogStream ? (have) => eventLogMismatch(have, stream) : undefined,
    );
  await ensureConsumer(jsm, topology.eventsStream, consumerConfig(config));
  const kvm = new Kvm(jetstream(nc));
  const bucketOptions = { replicas: config.STREAM_REPLICAS, history: 1 };
  const projection = await kvm.create(topology.projectionBucket, bucketOptions);
  return { topology, projection };
}
