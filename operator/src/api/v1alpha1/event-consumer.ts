// The EventConsumer resource as TypeScript sees it: zod schemas that mirror
// manifests/crd/jetscale.io_eventconsumers.yaml (same fields, same defaults, same bounds) so a
// custom resource read from the API server is validated once, at the edge, into typed values.
// event-consumer.test.ts keeps this file and the CRD in step.
import type { KubernetesObject } from '@kubernetes/client-node';
import { z } from 'zod';
import { defaultScalingSpec as policyDefaults } from '../../scaling/defaults.js';
import type { ScalingRules } from '../../scaling/types.js';
import { DURATION_PATTERN, parseDurationSeconds } from './duration.js';

// Scaling defaults come from the policy package so the two cannot drift; the CRD YAML repeats them
// (the API server applies them) and event-consumer.test.ts checks that it does.
const asDuration = (seconds: number): string => `${seconds}s`;
const asPolicies = (
  rules: ScalingRules,
): Array<{ type: 'Pods' | 'Percent'; value: number; period: string }> =>
  rules.policies.map((p) => ({ type: p.type, value: p.value, period: asDuration(p.periodSeconds) }));

const duration = z.string().regex(DURATION_PATTERN, 'must be a duration such as 500ms, 15s, 5m or 1h');
const int32 = z.number().int();
const streamOrConsumerName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^.*>\s/\\]+$/, 'must not contain dots, wildcards, slashes or whitespace');
const secretRef = z.object({ name: z.string().min(1) });

export const ScaleTargetRefSchema = z.object({
  apiVersion: z.string().min(1).default('apps/v1'),
  kind: z.string().min(1).default('Deployment'),
  name: z.string().min(1).max(253),
});

export const NatsSchema = z
  .object({
    servers: z.array(z.string().min(1).max(512)).min(1).max(16),
    stream: streamOrConsumerName,
    consumer: streamOrConsumerName,
    domain: z.string().min(1).optional(),
    apiPrefix: z.string().min(1).optional(),
    tls: z.object({ secretRef }).optional(),
    auth: z.object({ secretRef }).optional(),
  })
  .refine((n) => !(n.domain !== undefined && n.apiPrefix !== undefined), {
    message: 'set either nats.domain or nats.apiPrefix, not both',
  });

export const StepPolicySchema = z.object({
  type: z.enum(['Pods', 'Percent']),
  value: int32.min(1),
  period: duration,
});

function rulesSchema(defaults: ScalingRules) {
  return z
    .object({
      stabilizationWindow: duration.default(asDuration(defaults.stabilizationWindowSeconds)),
      policies: z.array(StepPolicySchema).max(10).default(asPolicies(defaults)),
      selectPolicy: z.enum(['Max', 'Min', 'Disabled']).default(defaults.selectPolicy),
    })
    .prefault({});
}

export const BehaviorSchema = z
  .object({
    scaleUp: rulesSchema(policyDefaults.scaleUp),
    scaleDown: rulesSchema(policyDefaults.scaleDown),
    cooldownPeriod: duration.default(asDuration(policyDefaults.cooldownPeriodSeconds)),
  })
  .prefault({});

export const PredictiveSchema = z
  .object({
    enabled: z.boolean().default(policyDefaults.predictive.enabled),
    horizon: duration.default(asDuration(policyDefaults.predictive.horizonSeconds)),
    seasonality: duration.optional(),
    maxRelativeError: z.number().gt(0).max(1).default(policyDefaults.predictive.maxRelativeError),
  })
  .prefault({});

export const FallbackSchema = z
  .object({
    failureThreshold: int32.min(1).default(3),
    replicas: int32.min(0).optional(),
    behavior: z.enum(['Static', 'CurrentReplicasIfHigher', 'CurrentReplicasIfLower']).default('Static'),
  })
  .prefault({});

export const EventConsumerSpecSchema = z.object({
  scaleTargetRef: ScaleTargetRefSchema,
  nats: NatsSchema,
  minReplicas: int32.min(0).default(policyDefaults.minReplicas),
  maxReplicas: int32.min(1).max(10000).default(policyDefaults.maxReplicas),
  backlogPerReplica: int32.min(1).default(policyDefaults.backlogPerReplica),
  activationBacklog: int32.min(0).default(policyDefaults.activationBacklog),
  inFlightPerReplica: int32.min(1).optional(),
  pollInterval: duration.default('5s'),
  drainWithin: duration.default(asDuration(policyDefaults.drainWithinSeconds)),
  latencyObjective: duration
    .refine((text) => {
      const value = parseDurationSeconds(text);
      return value !== undefined && value >= 0.1 && value <= 86_400;
    }, 'must be between 100ms and 24h (the p99 wait you want, such as 2s or 1m)')
    .optional(),
  behavior: BehaviorSchema,
  predictive: PredictiveSchema,
  fallback: FallbackSchema,
  paused: z.boolean().default(false),
  pausedReplicas: int32.min(0).max(10000).optional(),
  missingConsumer: z.enum(['RunMinimum', 'Hold']).default('RunMinimum'),
});

export type EventConsumerSpec = z.infer<typeof EventConsumerSpecSchema>;
export type ScaleTargetRef = z.infer<typeof ScaleTargetRefSchema>;
export type NatsSpec = z.infer<typeof NatsSchema>;

/** The condition types jetscale sets, one entry each in status.conditions. */
export type ConditionType =
  'Ready' | 'Active' | 'MetricsAvailable' | 'ScalingLimited' | 'Fallback' | 'Paused';

/** metav1.Condition. */
export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface EventConsumerStatus {
  observedGeneration?: number;
  currentReplicas?: number;
  desiredReplicas?: number;
  backlog?: { pending: number; ackPending: number; redelivered: number; waiting: number; total: number };
  rates?: { arrivalPerSecond?: number; processingPerSecond?: number; perReplicaPerSecond?: number };
  forecast?: { arrivalPerSecond: number; relativeError: number; used: boolean };
  lastScaleTime?: string;
  lastActiveTime?: string;
  lastPollTime?: string;
  /** When status.backlog (and rates) were read; older than lastPollTime when the last polls failed. */
  lastBacklogReadTime?: string;
  consecutiveFailures?: number;
  conditions?: Condition[];
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
