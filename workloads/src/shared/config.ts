// Configuration of every workload process, read once from environment variables and validated with
// zod at start-up, so a typo stops the process with a message naming the variable instead of
// surfacing as odd behaviour under load.
import { z } from 'zod';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
const subjectToken = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" or "-" only (a NATS subject token)');
const resourceName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "_" or "-" only, at most 64');
/** A comma-separated list of event types (POISON_TYPES, HANG_TYPES); blanks dropped. */
const typeList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    );
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v));

export const natsSchema = z.object({
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  NATS_USER: optionalString,
  NATS_PASSWORD: optionalString,
  NATS_TOKEN: optionalString,
  NATS_CREDS_FILE: optionalString,
  EVENTS_STREAM: resourceName.default('EVENTS'),
  EVENTS_SUBJECT_PREFIX: subjectToken.default('events'),
  EVENTS_DUPLICATE_WINDOW_MS: int(1000).default(120_000),
  EVENTS_MAX_AGE_MS: int(0).default(0),
  CONSUMER_NAME: resourceName.default('processor'),
  EVENT_LOG_STREAM: resourceName.default('EVENTLOG'),
  EVENT_LOG_SUBJECT_PREFIX: subjectToken.default('eventlog'),
  DLQ_STREAM: resourceName.default('EVENTS_DLQ'),
  DLQ_SUBJECT_PREFIX: subjectToken.default('dlq'),
  PROJECTION_BUCKET: resourceName.default('projection'),
  STREAM_REPLICAS: int(1, 5).default(1),
  ACK_WAIT_MS: int(1000).default(30_000),
  MAX_ACK_PENDING: int(1).default(1000),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

const httpSchema = (defaultPort: number) =>
  z.object({
    PORT: int(0, 65535).default(defaultPort),
    HOST: z.string().min(1).default('0.0.0.0'),
  });

export const gatewaySchema = natsSchema.extend(httpSchema(8080).shape).extend({
  MAX_BODY_BYTES: int(1024).default(1_048_576),
  MAX_BATCH: int(1).default(500),
  PUBLISH_TIMEOUT_MS: int(100).default(2000),
  MAX_IN_FLIGHT_PUBLISHES: int(1).default(10_000),
  RETRY_AFTER_SECONDS: int(1).default(1),
  SHUTDOWN_GRACE_MS: int(0).default(10_000),
});

export const consumerSchema = natsSchema
  .extend(httpSchema(8081).shape)
  .extend({
    PULL_BATCH: int(1, 10_000).default(64),
    CONCURRENCY: int(1, 10_000).default(32),
    IDLE_HEARTBEAT_MS: int(500).default(5000),
    MAX_DELIVER: int(1).default(5),
    RETRY_BASE_DELAY_MS: int(0).default(500),
    RETRY_MAX_DELAY_MS: int(0).default(30_000),
    ORDER_RETRY_DELAY_MS: int(0).default(1000),
    WORK_LATENCY_MS: int(0).default(0),
    WORK_LATENCY_JITTER_MS: int(0).default(0),
    WORK_CPU_MS: int(0).default(0),
    TRANSIENT_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
    POISON_TYPES: typeList('poison'),
    HANG_TYPES: typeList(''),
    STUCK_AFTER_MS: int(0)
      .refine((v) => v === 0 || v >= 1000, 'must be 0 (never) or at least 1000')
      .default(300_000),
    SHUTDOWN_GRACE_MS: int(0).default(25_000),
    PROJECTION_FLUSH_MS: int(10, 60_000).default(1000),
    PROJECTION_MARK_STALE_MS: int(1000).default(15_000),
  })
  .superRefine((c, ctx) => {
    // A handler that does what it was configured to do must never read as hung.
    const longestWorkMs = c.WORK_LATENCY_MS + c.WORK_LATENCY_JITTER_MS + c.WORK_CPU_MS;
    if (c.STUCK_AFTER_MS !== 0 && c.STUCK_AFTER_MS <= longestWorkMs)
      ctx.addIssue({
        code: 'custom',
        path: ['STUCK_AFTER_MS'],
        message: `must be 0 (never) or longer than a handler's simulated work (WORK_LATENCY_MS + WORK_LATENCY_JITTER_MS + WORK_CPU_MS = ${longestWorkMs})`,
      });
  });

/** The real-client matrix's minimal nats.js consumer (workloads/src/pull-consumer). */
export const pullConsumerSchema = z.object({
  NATS_URL: natsSchema.shape.NATS_URL,
  STREAM: resourceName,
  CONSUMER: resourceName,
  PULL_MODE: z.enum(['consume', 'fetch'], { error: 'must be consume or fetch' }).default('consume'),
  HANDLER_MS: int(0, 60_000).default(10),
});

export type NatsConfig = z.infer<typeof natsSchema>;
export type PullConsumerConfig = z.infer<typeof pullConsumerSchema>;
export type GatewayConfig = z.infer<typeof gatewaySchema>;
export type ConsumerConfig = z.infer<typeof consumerSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment with `schema`; throws a ConfigError listing every bad variable. */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = issue.path.join('.');
    const value = env[name];
    return `  ${name}${value === undefined ? '' : `=${JSON.stringify(value)}`}: ${issue.message}`;
  });
  throw new ConfigError(`invalid configuration — fix these environment variables:\n${lines.join('\n')}`);
}

/** The subject and resource names derived from the configuration, in one place. */
export interface Topology {
  eventsStream: string;
  eventsSubject: (aggregateId: string) => string;
  eventsFilter: string;
  consumer: string;
  eventLogStream: string;
  /** An event's log entry: one subject per (aggregate, event id), so the stream stores it once. */
  eventLogSubject: (aggregateId: string, eventId: string) => string;
  /** Every log entry of one aggregate (the filter of its expected-last-subject-sequence). */
  eventLogAggregateFilter: (aggregateId: string) => string;
  /** The aggregate a log entry's subject names, undefined for a subject outside the layout. */
  aggregateOfLogSubject: (subject: string) => string | undefined;
  eventLogFilter: string;
  dlqStream: string;
  dlqSubject: (aggregateId: string) => string;
  dlqFilter: string;
  projectionBucket: string;
  /** The subject a projection is stored on in the KV bucket's stream (`$KV.<bucket>.<key>`). */
  projectionKeySubject: (aggregateId: string) => string;
}

export function topologyOf(config: NatsConfig): Topology {
  return {
    eventsStream: config.EVENTS_STREAM,
    eventsSubject: (aggregateId) => `${config.EVENTS_SUBJECT_PREFIX}.${aggregateId}`,
    eventsFilter: `${config.EVENTS_SUBJECT_PREFIX}.>`,
    consumer: config.CONSUMER_NAME,
    eventLogStream: config.EVENT_LOG_STREAM,
    eventLogSubject: (aggregateId, eventId) => `${config.EVENT_LOG_SUBJECT_PREFIX}.${aggregateId}.${eventId}`,
    eventLogAggregateFilter: (aggregateId) => `${config.EVENT_LOG_SUBJECT_PREFIX}.${aggregateId}.*`,
    aggregateOfLogSubject: (subject) => {
      const tokens = subject.split('.');
      return tokens.length === 3 && tokens[0] === config.EVENT_LOG_SUBJECT_PREFIX ? tokens[1] : undefined;
    },
    eventLogFilter: `${config.EVENT_LOG_SUBJECT_PREFIX}.*.*`,
    dlqStream: config.DLQ_STREAM,
    dlqSubject: (aggregateId) => `${config.DLQ_SUBJECT_PREFIX}.${aggregateId}`,
    dlqFilter: `${config.DLQ_SUBJECT_PREFIX}.>`,
    projectionBucket: config.PROJECTION_BUCKET,
    projectionKeySubject: (aggregateId) => `$KV.${config.PROJECTION_BUCKET}.${aggregateId}`,
  };
}
