// The EventConsumer resource as TypeScript sees it: zod schemas that mirror
// manifests/crd/jetscale.io_eventconsumers.yaml (same fields, same defaults, same bounds) so a
// custom resource read from the API server is validated once, at the edge, into typed values.
// event-consumer.test.ts keeps this file and the CRD in step.
import type { KubernetesObject } from '@kubernetes/client-node';
import { z } from 'zod';
import { defaultScalingSpec as policyDefaults } from '../../scaling/defaults.js';
import { DEFAULT_READINESS_DEADLINE_SECONDS } from '../../scaling/readiness.js';
import type { ScalingRules } from '../../scaling/types.js';
import { DURATION_PATTERN, parseDurationSeconds } from './duration.js';

// Scaling defaults come from the policy package so the two cannot drift; the CRD YAML repeats them
// (the API server applies them) and event-consumer.test.ts checks that it does.
const asDuration = (seconds: number): string => `${seconds}s`;
const asPolicies = (
  rules: ScalingRules,
): Array<{ type: 'Pods' | 'Percent'; value: number; period: string }> =>
  rules.policies.map((p) => ({ type: p.type, value: p.value, period: asDuration(p.periodSeconds) }));

/** Largest value of an int32 field: the API server does not enforce `format: int32`, the CRD's maximum does. */
export const INT32_MAX = 2_147_483_647;
/** Most replicas any replica field may name (maxReplicas' maximum). */
export const MAX_REPLICAS = 10_000;

/**
 * A string of at most `max` characters counted as the API server counts them (code points, not
 * UTF-16 units). It is checked first and stops the other checks, so a megabyte of junk that
 * bypassed the CRD is never run through a pattern.
 */
function text(max: number, { min = 1 }: { min?: number } = {}) {
  return (
    (min > 0 ? z.string().min(min) : z.string())
      // A code point is one or two UTF-16 units: past 2 × max units there are surely too many, and a
      // megabyte of junk is not spread into an array to count them.
      .refine((s) => s.length <= max || (s.length <= 2 * max && [...s].length <= max), {
        message: `must be at most ${max} characters`,
        abort: true,
      })
      .meta({ maxLength: max })
  );
}

// Patterns are written so that JavaScript (with the u flag) and the API server's Go regexp read
// them the same way: `\s` means different things in the two (Go's is ASCII only, so the CRD once
// let U+00A0 and U+000B through), hence explicit Unicode classes: separators (Z), control (Cc)
// and format (Cf) characters.
/** Stream, consumer and domain names: one NATS subject token, no path separators. */
export const NATS_NAME_PATTERN = /^[^.*>/\\\p{Z}\p{Cc}\p{Cf}]+$/u;
/** A JetStream API prefix: dot-separated subject tokens without wildcards or whitespace. */
export const API_PREFIX_PATTERN = /^[^.*>\p{Z}\p{Cc}\p{Cf}]+(\.[^.*>\p{Z}\p{Cc}\p{Cf}]+)*$/u;
/** A NATS server URL or host:port, without whitespace or control characters. */
export const SERVER_PATTERN = /^[^\p{Z}\p{Cc}\p{Cf}]+$/u;
/** A Kubernetes object name (DNS subdomain): Deployments, Secrets, most custom resources. */
export const OBJECT_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A kind as the API server allows it (a DNS-1035 label once lower-cased). */
export const KIND_PATTERN = /^[A-Za-z]([-A-Za-z0-9]*[A-Za-z0-9])?$/;
/** group/version or a core version: a DNS subdomain, one slash, a DNS label; nothing else reaches a URL. */
export const API_VERSION_PATTERN =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const natsNameRule =
  'must be one NATS name: no dots, wildcards (* >), slashes, whitespace or control characters';
const duration = text(64, { min: 0 }).regex(
  DURATION_PATTERN,
  'must be a duration such as 500ms, 15s, 5m or 1h',
);
const int32 = z.number().int().max(INT32_MAX);
const streamOrConsumerName = text(255).regex(NATS_NAME_PATTERN, natsNameRule);
const objectName = text(253).regex(OBJECT_NAME_PATTERN, 'must be a lowercase DNS name such as my-app');
const secretRef = z.object({ name: objectName });

export const ScaleTargetRefSchema = z.object({
  apiVersion: text(317)
    .regex(API_VERSION_PATTERN, 'must be group/version such as apps/v1, or v1 for the core group')
    .default('apps/v1'),
  kind: text(63)
    .regex(KIND_PATTERN, 'must be a kind such as Deployment or StatefulSet')
    .default('Deployment'),
  name: objectName,
});

/**
 * A server given with a scheme must name one the operator's client speaks (nats.js over TCP): ws://
 * and wss:// need a browser/Deno transport, and http:// is usually NATS's monitoring port, pasted
 * from a KEDA ScaledObject. The CRD's CEL rule on spec.nats.servers says the same.
 */
export const SERVER_SCHEME_RULE =
  'a server URL must start with nats:// or tls://, or be host:port: the operator speaks the NATS protocol only (not ws://, wss:// or http://; for the monitoring port 8222, give the client port, 4222 by default)';
const speaksNats = (server: string): boolean =>
  !/^[A-Za-z][-A-Za-z0-9+.]*:\/\//.test(server) || /^(nats|tls):\/\//i.test(server);

/** nats-core's isIPV4OrHostname: an address with '[' or '::', or several ':' and no '.', is IPv6. */
function ipv4OrHostname(hp: string): boolean {
  if (hp.includes('[') || hp.includes('::')) return false;
  return hp.includes('.') || hp.split(':').length <= 2;
}

/**
 * Why the NATS client could not read `server` as an address, or undefined when it can: its own
 * parse, step for step (nats-core 3.4 servers.js hostPort, run by connect() on every server: the
 * scheme dropped, an IPv4-mapped IPv6 unwrapped, a bare IPv6 bracketed, the port taken after ':' or
 * ']:', then a URL built). Such a server fails every connect, for good — a port above 65535, no
 * host, an unclosed '[' — so it is a spec to fix (InvalidSpec), not an outage to count toward
 * fallback. event-consumer.test.ts checks the two parses agree.
 */
export function natsServerProblem(server: string): string | undefined {
  let hp = server.trim().replace(/^(.*:\/\/)(.*)/, '$2');
  const mapped = hp.toUpperCase().indexOf('::FFFF:');
  if (mapped !== -1 && hp.includes('.'))
    hp = hp
      .slice(mapped + '::FFFF:'.length)
      .replace('[', '')
      .replace(']', '');
  if (!ipv4OrHostname(hp) && !hp.includes('[')) hp = `[${hp}]`;
  const portMatch = ipv4OrHostname(hp) ? /(:)(\d+)/.exec(hp) : /(]:)(\d+)/.exec(hp);
  const port = portMatch?.[2] !== undefined ? Number.parseInt(portMatch[2], 10) : 4222;
  try {
    new URL(`${port === 80 ? 'https' : 'http'}://${hp}`);
    return undefined;
  } catch (err) {
    return `the NATS client cannot read ${JSON.stringify(server)} as a server address (${err instanceof Error ? err.message : String(err)}; a port above 65535, no host, an unclosed '[', or user:password@ before a host without a dot does that; the client never uses credentials in a URL, the auth Secret gives them): give host:port, nats://host:port or tls://host:port`;
  }
}

/** The fields that say where one JetStream consumer lives and how to reach it. */
const natsFields = {
  servers: z
    .array(
      text(512)
        .regex(SERVER_PATTERN, 'must be a server URL without whitespace')
        .refine(speaksNats, { message: SERVER_SCHEME_RULE })
        .superRefine((server, ctx) => {
          const problem = natsServerProblem(server);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
        }),
    )
    .min(1)
    .max(16),
  stream: streamOrConsumerName,
  consumer: streamOrConsumerName,
  domain: text(63).regex(NATS_NAME_PATTERN, natsNameRule).optional(),
  apiPrefix: text(255)
    .regex(
      API_PREFIX_PATTERN,
      'must be a subject prefix such as $JS.hub.API, without wildcards or whitespace',
    )
    .optional(),
  tls: z.object({ secretRef }).optional(),
  auth: z.object({ secretRef }).optional(),
};
const oneOfDomainOrPrefix = (n: { domain?: string | undefined; apiPrefix?: string | undefined }): boolean =>
  !(n.domain !== undefined && n.apiPrefix !== undefined);

export const NatsSchema = z.object(natsFields).refine(oneOfDomainOrPrefix, {
  message: 'set either nats.domain or nats.apiPrefix, not both',
});

/** Most JetStream consumers one EventConsumer may list (spec.consumers' maxItems): each is read every poll. */
export const MAX_CONSUMERS = 8;
/** A consumer entry's name: a DNS label, used in status, Events and the `consumer` metric label. */
export const CONSUMER_ENTRY_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** One entry of spec.consumers: a name, and the same fields as spec.nats. */
export const ConsumerEntrySchema = z
  .object({
    name: text(63).regex(CONSUMER_ENTRY_NAME_PATTERN, 'must be a lowercase DNS label such as orders'),
    ...natsFields,
    backlogPerReplica: int32.min(1).optional(),
    activationBacklog: int32.min(0).optional(),
  })
  .refine(oneOfDomainOrPrefix, { message: 'set either domain or apiPrefix of a consumer, not both' });

/**
 * The CRD's CEL rules (x-kubernetes-validations), repeated with the same messages for objects
 * that bypassed them (an older CRD): a duration of a valid form outside [min, max] seconds.
 * event-consumer.test.ts checks every CEL message in the CRD is produced here.
 */
const within = (text: string | undefined, min: number, max: number): boolean => {
  const s = text === undefined ? undefined : parseDurationSeconds(text);
  return s === undefined || (s >= min && s <= max);
};
const H = 3600;

export const StepPolicySchema = z
  .object({
    type: z.enum(['Pods', 'Percent']),
    value: int32.min(1),
    period: duration,
  })
  .refine((p) => within(p.period, 1, 30 * 60), { message: 'policy period must be between 1s and 30m' });

function rulesSchema(defaults: ScalingRules) {
  return z
    .object({
      stabilizationWindow: duration.default(asDuration(defaults.stabilizationWindowSeconds)),
      policies: z.array(StepPolicySchema).max(10).default(asPolicies(defaults)),
      selectPolicy: z.enum(['Max', 'Min', 'Disabled']).default(defaults.selectPolicy),
    })
    .refine((r) => within(r.stabilizationWindow, 0, H), { message: 'stabilizationWindow must be at most 1h' })
    .refine((r) => r.policies.length > 0 || r.selectPolicy === 'Disabled', {
      message: 'policies needs at least one policy unless selectPolicy is Disabled',
    })
    .prefault({});
}

export const BehaviorSchema = z
  .object({
    scaleUp: rulesSchema(policyDefaults.scaleUp),
    scaleDown: rulesSchema(policyDefaults.scaleDown),
    cooldownPeriod: duration.default(asDuration(policyDefaults.cooldownPeriodSeconds)),
    readinessDeadline: duration.default(
      asDuration(policyDefaults.readinessDeadlineSeconds ?? DEFAULT_READINESS_DEADLINE_SECONDS),
    ),
  })
  .refine((b) => within(b.cooldownPeriod, 0, 24 * H), { message: 'cooldownPeriod must be at most 24h' })
  .refine((b) => within(b.readinessDeadline, 5, H), {
    message: 'readinessDeadline must be between 5s and 1h',
  })
  .prefault({});

export const PredictiveSchema = z
  .object({
    enabled: z.boolean().default(policyDefaults.predictive.enabled),
    horizon: duration.default(asDuration(policyDefaults.predictive.horizonSeconds)),
    seasonality: duration.optional(),
    maxRelativeError: z.number().gt(0).max(1).default(policyDefaults.predictive.maxRelativeError),
  })
  .refine((p) => within(p.horizon, 1, H), { message: 'predictive.horizon must be between 1s and 1h' })
  .refine((p) => within(p.seasonality, 60, 168 * H), {
    message: 'predictive.seasonality must be between 1m and 168h',
  })
  .prefault({});

export const FallbackSchema = z
  .object({
    failureThreshold: int32.min(1).default(3),
    replicas: int32.min(0).max(MAX_REPLICAS).optional(),
    behavior: z.enum(['Static', 'CurrentReplicasIfHigher', 'CurrentReplicasIfLower']).default('Static'),
  })
  .prefault({});

export const EventConsumerSpecSchema = z
  .object({
    scaleTargetRef: ScaleTargetRefSchema,
    nats: NatsSchema.optional(),
    consumers: z.array(ConsumerEntrySchema).min(1).max(MAX_CONSUMERS).optional(),
    minReplicas: int32.min(0).max(MAX_REPLICAS).default(policyDefaults.minReplicas),
    maxReplicas: int32.min(1).max(MAX_REPLICAS).default(policyDefaults.maxReplicas),
    backlogPerReplica: int32.min(1).default(policyDefaults.backlogPerReplica),
    activationBacklog: int32.min(0).default(policyDefaults.activationBacklog),
    inFlightPerReplica: int32.min(1).optional(),
    pollInterval: duration.default('5s'),
    drainWithin: duration.default(asDuration(policyDefaults.drainWithinSeconds)),
    latencyObjective: duration.optional(),
    behavior: BehaviorSchema,
    predictive: PredictiveSchema,
    fallback: FallbackSchema,
    paused: z.boolean().default(false),
    pausedReplicas: int32.min(0).max(MAX_REPLICAS).optional(),
    missingConsumer: z.enum(['RunMinimum', 'Hold']).default('RunMinimum'),
  })
  .refine((s) => (s.nats === undefined) !== (s.consumers === undefined), {
    message: 'set exactly one of spec.nats (one consumer) and spec.consumers (a list)',
  })
  .refine((s) => new Set((s.consumers ?? []).map((c) => c.name)).size === (s.consumers ?? []).length, {
    message: 'spec.consumers names must be unique',
    path: ['consumers'],
  })
  .refine((s) => s.minReplicas <= s.maxReplicas, {
    message: 'minReplicas must be less than or equal to maxReplicas',
  })
  .refine((s) => within(s.pollInterval, 1, 600), {
    message: 'pollInterval must be between 1s and 10m',
    path: ['pollInterval'],
  })
  .refine((s) => within(s.drainWithin, 1, 24 * H), {
    message: 'drainWithin must be between 1s and 24h',
    path: ['drainWithin'],
  })
  .refine((s) => within(s.latencyObjective, 0.1, 24 * H), {
    message: 'latencyObjective must be between 100ms and 24h (the p99 wait you want, such as 2s or 1m)',
    path: ['latencyObjective'],
  })
  .refine((s) => s.fallback.replicas === undefined || s.fallback.replicas <= s.maxReplicas, {
    message: 'fallback.replicas must not exceed maxReplicas',
  });

export type EventConsumerSpec = z.infer<typeof EventConsumerSpecSchema>;
export type ScaleTargetRef = z.infer<typeof ScaleTargetRefSchema>;
export type NatsSpec = z.infer<typeof NatsSchema>;
/** One JetStream consumer an EventConsumer reads: spec.nats (named after its consumer) or an entry of spec.consumers. */
export type ConsumerSpec = z.infer<typeof ConsumerEntrySchema>;

/**
 * The consumers an EventConsumer reads, in spec order: spec.consumers, or spec.nats as a list of
 * one named after its durable consumer. Every later step works on this list.
 */
export function consumersOf(spec: EventConsumerSpec): ConsumerSpec[] {
  if (spec.consumers !== undefined) return spec.consumers;
  if (spec.nats === undefined) throw new Error('a validated spec has spec.nats or spec.consumers');
  return [{ name: spec.nats.consumer, ...spec.nats }];
}

/** The condition types jetscale sets, one entry each in status.conditions. */
export type ConditionType =
  | 'Ready'
  | 'Active'
  | 'MetricsAvailable'
  | 'ScalingLimited'
  | 'StreamFull'
  | 'MessagesRemovedUnworked'
  | 'ReplicasReady'
  | 'Fallback'
  | 'Paused';

/** metav1.Condition. */
export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** The numbers of one consumer reading, as status shows them. */
export interface BacklogStatus {
  pending: number;
  ackPending: number;
  redelivered: number;
  waiting: number;
  /**
   * On a mirror or sourced stream: messages of the origin not copied yet (mirror.lag,
   * sources[].lag), counted in total. Absent on other streams and while not known.
   */
  upstreamLag?: number;
  /** pending + upstreamLag + ackPending: the backlog scaling uses. */
  total: number;
}
export interface RatesStatus {
  arrivalPerSecond?: number;
  processingPerSecond?: number;
  perReplicaPerSecond?: number;
  /**
   * True while perReplicaPerSecond is a low end only (learnt while more replicas were asked for
   * than ready, not yet confirmed by a busy interval with every replica ready); absent when measured.
   */
  perReplicaLowEndOnly?: boolean;
  /**
   * True while that low end was read from messages the replicas held alone while some were warming
   * up (rates.ts perReplicaLowEndHeld): carried over a restart so it stays one.
   */
  perReplicaLowEndHeld?: boolean;
  /**
   * A filtered consumer: where its arrivals are read from — its stream's count on the filter
   * subjects (exact), or the consumer's counters, where a retry hiding behind the other subjects'
   * messages reads as an arrival, and why the count is not read (backlog/filter-count.ts).
   */
  arrivalsFrom?: string;
  /**
   * What the replicas hold was shown to be in their handlers' hands (rates.ts handlersInHand): with
   * `from` ready replicas and with `to` a message was held `seconds` and as many were completed,
   * about `perReplica` each at the smaller count. Carried over a restart so it stays so.
   */
  handlersInHand?: { seconds: number; perReplica: number; from: number; to: number };
  /**
   * The handlers fail every message (rates.ts failingSince): for `seconds` up to
   * lastBacklogReadTime, with `replicas` ready when it began. Carried over a restart so the spell,
   * and its one spare replica (decide.ts 3d), are not made again.
   */
  handlersFailing?: { seconds: number; replicas: number };
  /**
   * Handlers slower than the stream's max_age (scaling/beyond-max-age.ts): for `seconds` up to
   * lastBacklogReadTime every message expired before it was acknowledged, with `replicas` ready
   * (one added with nothing in hand among them), on a max_age of `maxAgeSeconds`. Carried over a
   * restart so a new process adds no trial replica again (scaling/decide.ts 3f).
   */
  handlersSlowerThanMaxAge?: { seconds: number; replicas: number; maxAgeSeconds: number };
}

/** status.consumers[]: what one JetStream consumer showed and needs (one per consumersOf entry). */
export interface ConsumerStatus {
  name: string;
  stream: string;
  consumer: string;
  /** True when its backlog was read at the last poll; reason and message say why not. */
  ready: 'True' | 'False';
  reason: string;
  message: string;
  /** The replicas this consumer alone asks for; the EventConsumer's desiredReplicas is the largest. */
  desiredReplicas?: number;
  backlog?: BacklogStatus;
  rates?: RatesStatus;
  /** When this consumer's backlog was last read. */
  lastBacklogReadTime?: string;
  consecutiveFailures?: number;
  /**
   * Replicas asked for and not ready for the readiness deadline at lastBacklogReadTime (absent when
   * none): a restarted operator or a new leader takes the finding back (consumer-state.ts
   * carriedReplicasOverdue), so it does not add pods of the same kind before its own readings
   * cover a deadline.
   */
  replicasOverdue?: { asked: number; ready: number; overdue: number };
  /**
   * What was learnt of max_ack_pending at lastBacklogReadTime (controller/carried-at-cap.ts): a
   * restarted operator or a new leader takes it back, so it neither climbs past a measured cap
   * again nor probes again before PROBE_GAP_SECONDS. Absent when nothing was.
   */
  maxAckPendingCap?: MaxAckPendingCapStatus;
  /**
   * The panic window (no scale-down after a panic reading) held this many seconds more at
   * lastBacklogReadTime (controller/carried-panic.ts): a restarted operator or a new leader holds
   * to the same end. Absent when none held.
   */
  panicHoldSeconds?: number;
}

/** One replica count's record at a full max_ack_pending with work waiting. */
export interface AtCapRecordStatus {
  replicas: number;
  /** Messages completed per second, all replicas. */
  perSecond: number;
  /** Over how many seconds. */
  seconds: number;
  /** Its last interval ended this many seconds before lastBacklogReadTime. */
  secondsAgo: number;
}

/** status.consumers[].maxAckPendingCap. */
export interface MaxAckPendingCapStatus {
  maxAckPending: number;
  /** The two counts that show the limit binding: `more` processed no more than `fewer` (both or neither). */
  fewer?: AtCapRecordStatus;
  more?: AtCapRecordStatus;
  /** The last at-cap probe started this many seconds before lastBacklogReadTime (while probes are spaced by it). */
  lastProbeSecondsAgo?: number;
  /** The at-cap probe under way: the replicas taken from `from` to `to`, `secondsAgo` before lastBacklogReadTime. */
  probe?: { from: number; to: number; secondsAgo: number };
}

/**
 * status.tugOfWar: what a restarted operator or a new leader needs to go on where the last one was
 * (controller/tug-of-war.ts: tugStatus writes it, carriedTug reads it back). Without it a new process forgot that it had left
 * the replicas to another writer, and fought two more rounds before yielding again. Times are wall
 * clock (RFC 3339), as status shows people; the changes counted before a yield are not carried.
 */
export interface TugOfWarStatus {
  /** The target and its uid (TugOfWar.target): a status about another target, or this one recreated, is not taken. */
  target: string;
  /** Left to this field manager ('' when the target does not name one). */
  yieldedTo?: {
    manager: string;
    since: string;
    lastChangeTime: string;
    changes: number;
    quietSeconds: number;
    again: boolean;
    /** The EventConsumer's generation when it yielded: another one takes the target back at once. */
    generation?: number;
  };
  /** Taken back from this manager: a change by it within the window yields again at once, waiting twice as long. */
  takenBackFrom?: { manager: string; time: string; quietSeconds: number };
}

/** status.scaleUps[]: one scale-up jetscale made (older ones beyond the list's bound folded into one). */
export interface ScaleUpStatus {
  /** When (RFC 3339). */
  time: string;
  from: number;
  to: number;
}

export interface EventConsumerStatus {
  observedGeneration?: number;
  currentReplicas?: number;
  desiredReplicas?: number;
  backlog?: BacklogStatus;
  rates?: RatesStatus;
  consumers?: ConsumerStatus[];
  forecast?: { arrivalPerSecond: number; relativeError: number; used: boolean };
  lastScaleTime?: string;
  /**
   * The target (apiVersion/kind/name) lastScaleTime is about: after spec.scaleTargetRef changed, the
   * last scale of the old target says nothing of the new one.
   */
  lastScaleTarget?: string;
  /**
   * The scale-ups jetscale made of lastScaleTarget within the longest scale-up step policy period
   * (controller/scale-up-record.ts): a restarted operator or a new leader counts them in its step
   * policies, so a restart in the middle of a climb does not grant a second full step.
   */
  scaleUps?: ScaleUpStatus[];
  lastActiveTime?: string;
  lastPollTime?: string;
  /** When status.backlog (and rates) were read; older than lastPollTime when the last polls failed. */
  lastBacklogReadTime?: string;
  consecutiveFailures?: number;
  conditions?: Condition[];
  /** Another writer of the target's replicas jetscale left them to, or took them back from. */
  tugOfWar?: TugOfWarStatus;
  /**
   * The operator replica and leadership term that wrote this status: the next write of that term
   * is conditional on it (status-writer.ts), so an ended term's write that arrives late is refused.
   */
  writtenBy?: string;
}

/** An EventConsumer as read from the API server, before its spec is validated. */
export type EventConsumerObject = KubernetesObject & {
  spec?: unknown;
  status?: EventConsumerStatus;
};

export type SpecParseResult = { ok: true; spec: EventConsumerSpec } | { ok: false; problems: string[] };

/** Validates a spec read from the API server; problems name the field and what is wrong. */
export function parseEventConsumerSpec(raw: unknown): SpecParseResult {
  const parsed = EventConsumerSpecSchema.safeParse(raw);
  if (parsed.success) return { ok: true, spec: parsed.data };
  const problems = parsed.error.issues.map((issue) => {
    const where = ['spec', ...issue.path.map(String)].join('.');
    return `${where}: ${issue.message}`;
  });
  return { ok: false, problems };
}
