// The part of a KEDA ScaledObject (keda.sh/v1alpha1) that `jetscale migrate` reads, validated at
// the edge. Field names and defaults follow KEDA's reference
// (keda-docs content/docs/2.17/reference/scaledobject-spec.md, apis/keda/v1alpha1/scaledobject_types.go)
// and its nats-jetstream scaler (pkg/scalers/nats_jetstream_scaler.go: metadata keys, lagThreshold
// default 10, activationLagThreshold default 0). Unknown fields are kept (loose objects) so the
// converter can name each one it does not carry instead of dropping it silently.
import { z } from 'zod';

const count = z.number().int().min(0).max(2_147_483_647);
const seconds = z.number().int().min(0).max(2_147_483_647);

export const HpaPolicySchema = z.looseObject({
  type: z.enum(['Pods', 'Percent']),
  value: z.number().int().min(1).max(2_147_483_647),
  periodSeconds: z.number().int().min(1).max(1800),
});

export const HpaRulesSchema = z.looseObject({
  stabilizationWindowSeconds: z.number().int().min(0).max(3600).optional(),
  selectPolicy: z.enum(['Max', 'Min', 'Disabled']).optional(),
  policies: z.array(HpaPolicySchema).optional(),
});

export const TriggerSchema = z.looseObject({
  type: z.string().min(1),
  name: z.string().optional(),
  metricType: z.enum(['AverageValue', 'Value', 'Utilization']).optional(),
  useCachedMetrics: z.boolean().optional(),
  // KEDA trigger metadata values are strings (the API server stores them as map[string]string).
  metadata: z.record(z.string(), z.string()).default({}),
  authenticationRef: z.looseObject({ name: z.string().min(1), kind: z.string().optional() }).optional(),
});

export const ScaledObjectSchema = z.looseObject({
  apiVersion: z.string().regex(/^keda\.sh\//, 'must be keda.sh/<version>'),
  kind: z.literal('ScaledObject'),
  metadata: z.looseObject({
    name: z.string().min(1),
    namespace: z.string().min(1).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.looseObject({
    scaleTargetRef: z.looseObject({
      name: z.string().min(1),
      // KEDA takes "" as not set (apis/keda/v1alpha1/gvkr.go ParseGVKR): apps/v1 Deployment.
      apiVersion: z.string().optional(),
      kind: z.string().optional(),
      envSourceContainerName: z.string().optional(),
    }),
    pollingInterval: seconds.optional(),
    cooldownPeriod: seconds.optional(),
    initialCooldownPeriod: seconds.optional(),
    idleReplicaCount: count.optional(),
    minReplicaCount: count.optional(),
    maxReplicaCount: count.optional(),
    fallback: z
      .looseObject({
        failureThreshold: z.number().int().min(0),
        replicas: count,
        behavior: z
          .enum(['static', 'currentReplicas', 'currentReplicasIfHigher', 'currentReplicasIfLower'])
          .optional(),
      })
      .optional(),
    advanced: z
      .looseObject({
        restoreToOriginalReplicaCount: z.boolean().optional(),
        horizontalPodAutoscalerConfig: z
          .looseObject({
            name: z.string().optional(),
            behavior: z
              .looseObject({ scaleUp: HpaRulesSchema.optional(), scaleDown: HpaRulesSchema.optional() })
              .optional(),
          })
          .optional(),
        scalingModifiers: z.unknown().optional(),
      })
      .optional(),
    triggers: z.array(TriggerSchema).min(1),
  }),
});

export type ScaledObject = z.infer<typeof ScaledObjectSchema>;
export type Trigger = z.infer<typeof TriggerSchema>;
export type HpaRules = z.infer<typeof HpaRulesSchema>;

/** The keys of `obj` that `known` does not list (the fields a converter must report). */
export function unknownKeys(obj: object, known: readonly string[]): string[] {
  return Object.keys(obj).filter((k) => !known.includes(k));
}
