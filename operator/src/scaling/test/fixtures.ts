// Builders shared by the scaling tests: consistent consumer readings and specs with HPA defaults.

import { withScalingDefaults } from '../defaults.js';
import type { ScalingSpecInput } from '../defaults.js';
import type { BacklogSample, ScalingRules, ScalingSpec } from '../types.js';

export const T0 = Date.UTC(2026, 0, 1);

/** The HPA's default behaviour (pkg/apis/autoscaling/v2/defaults.go), for KEDA-compatible cases. */
export const hpaScaleUp: ScalingRules = {
  stabilizationWindowSeconds: 0,
  policies: [
    { type: 'Percent', value: 100, periodSeconds: 15 },
    { type: 'Pods', value: 4, periodSeconds: 15 },
  ],
  selectPolicy: 'Max',
};
export const hpaScaleDown: ScalingRules = {
  stabilizationWindowSeconds: 300,
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
  selectPolicy: 'Max',
};

export function hpaLikeSpec(overrides: ScalingSpecInput = {}): ScalingSpec {
  return withScalingDefaults({ scaleUp: hpaScaleUp, scaleDown: hpaScaleDown, ...overrides });
}

/**
 * A reading; counters default so that nothing has been delivered yet. delivered.stream_seq follows
 * delivered.consumer_seq unless given (no redeliveries, no filtered-out messages).
 */
export function sample(overrides: Partial<BacklogSample> = {}): BacklogSample {
  return {
    deliveredStreamSeq: overrides.deliveredConsumerSeq ?? 0,
    at: T0,
    pending: 0,
    ackPending: 0,
    redelivered: 0,
    waiting: 0,
    deliveredConsumerSeq: 0,
    ackFloorConsumerSeq: 0,
    maxAckPending: -1,
    ...overrides,
  };
}

/** A reading consistent with totals: delivered = completed + ackPending, pending = arrived − delivered. */
export function sampleFromTotals(
  at: number,
  arrived: number,
  completed: number,
  ackPending: number,
  maxAckPending = -1,
): BacklogSample {
  const delivered = completed + ackPending;
  return sample({
    at,
    pending: Math.max(0, arrived - delivered),
    ackPending,
    deliveredConsumerSeq: delivered,
    deliveredStreamSeq: delivered,
    ackFloorConsumerSeq: completed,
    maxAckPending,
  });
}
