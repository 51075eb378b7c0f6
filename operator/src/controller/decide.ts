// The decide step of a reconcile: a pure function of what was observed (spec, backlog reading,
// scale target) and what was remembered (ScalingMemory) that says what the replicas should be,
// why, and what to tell the user. No clock, no I/O: the policy is passed in, `now` arrives as a
// number. The reconciler acts on the verdict and reports it; it never recomputes a decision.
//
// Failure is never a reason to scale wildly: a backlog that cannot be read leaves the replicas
// where they are. Only an unreachable NATS counts toward fallback: after
// fallback.failureThreshold failed polls in a row the target is held at fallback.replicas (when
// set) until the backlog can be read again.
import type { EventConsumerSpec } from '../api/v1alpha1/event-consumer.js';
import { toScalingSpec } from '../api/v1alpha1/scaling-spec.js';
import type { BacklogReading } from '../backlog/backlog-source.js';
import type { ScaleReading } from '../kube/scale-client.js';
import type { BacklogSample, ScalingDecision, ScalingInput } from '../scaling/types.js';
import type { ConditionUpdate } from './conditions.js';
import type { ScalingMemory } from './consumer-state.js';
import { BACKLOG_REASONS } from './reasons.js';

export interface DecideInput {
  spec: EventConsumerSpec;
  backlog: BacklogReading;
  scale: ScaleReading;
  memory: ScalingMemory;
  now: number;
  policy: (input: ScalingInput) => ScalingDecision;
}

/** An Event the report step records. */
export interface PlannedEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface Verdict {
  /** The target's spec.replicas as observed. */
  current: number;
  /** What the replicas should be (reported in status even while paused). */
  desired: number;
  /** The change to make, if any: absent when desired equals current or the EventConsumer is paused. */
  change?: { from: number; to: number };
  /** One sentence: what was seen and decided. */
  why: string;
  /** The memory to keep when the change is made (or none is needed). See memoryIfUnchanged. */
  memory: ScalingMemory;
  /** The reading and the policy's decision, when the backlog was read. */
  read?: { sample: BacklogSample; decision: ScalingDecision };
  /** The error reason when the backlog could not be read. */
  errorReason?: string;
  conditions: ConditionUpdate[];
  events: PlannedEvent[];
}

export function decide(input: DecideInput): Verdict {
  const verdict = input.backlog.ok
    ? fromBacklog(input, input.backlog.sample)
    : fromFailedRead(input, input.backlog.error);
  const { current, desired } = verdict;
  const hold = input.spec.pausedReplicas;
  if (hold !== undefined) {
    // Paused at a count (KEDA's paused-replicas): set it once, then hold it whatever the backlog.
    verdict.desired = hold;
    verdict.memory = memoryIfUnchanged(verdict.memory, input.memory);
    verdict.why =
      hold === current
        ? `paused at pausedReplicas ${hold} (from the backlog alone: ${desired})`
        : `pausedReplicas ${hold}: scaling from ${current} to ${hold} and holding it (from the backlog alone: ${desired})`;
    if (hold !== current) verdict.change = { from: current, to: hold };
  } else if (input.spec.paused) {
    if (desired !== current) {
      verdict.why = `paused: would scale from ${current} to ${desired} (${verdict.why})`;
      // The policy records the change it asks for; keep the old history, the change is not made.
      verdict.memory = memoryIfUnchanged(verdict.memory, input.memory);
    }
  } else if (desired !== current) {
    verdict.change = { from: current, to: desired };
  }
  verdict.conditions.push(pausedCondition(input.spec));
  return verdict;
}

/** The memory to keep when the verdict's change is not made: the policy's history as it was. */
export function memoryIfUnchanged(next: ScalingMemory, previous: ScalingMemory): ScalingMemory {
  return { ...next, history: previous.history };
}

function fromBacklog(input: DecideInput, sample: BacklogSample): Verdict {
  const { spec, scale, memory, now } = input;
  const current = scale.specReplicas;
  const events: PlannedEvent[] = [];
  if (memory.fallbackActive) {
    events.push({
      type: 'Normal',
      reason: 'FallbackEnded',
      message: `the backlog of consumer "${spec.nats.consumer}" can be read again; scaling from the backlog resumes`,
    });
  }
  let history = memory.history;
  if (!memory.seeded && history.recommendations.length === 0) {
    // A new leader (or a restarted one) has no recommendations in memory. Seed the window with
    // the size the target has, so the stabilization windows hold it for one window as if this
    // process had watched it all along, instead of scaling down at its first poll.
    history = { ...history, recommendations: [{ at: now, replicas: current }] };
  }
  const policyInput: ScalingInput = {
    spec: toScalingSpec(spec),
    sample,
    currentReplicas: current,
    history,
    now,
  };
  if (scale.readyReplicas !== undefined) policyInput.readyReplicas = scale.readyReplicas;
  const decision = input.policy(policyInput);
  const desired = decision.desiredReplicas;
  const ref = spec.scaleTargetRef;
  const backlogText = `backlog ${sample.pending + sample.ackPending} (${sample.pending} pending, ${sample.ackPending} awaiting ack)`;
  const conditions: ConditionUpdate[] = [
    {
      type: 'Ready',
      status: 'True',
      reason: 'Scaling',
      message: `reading consumer "${spec.nats.consumer}" on stream "${spec.nats.stream}" and scaling ${ref.kind} ${ref.name}`,
    },
    { type: 'MetricsAvailable', status: 'True', reason: 'BacklogRead', message: backlogText },
    {
      type: 'Active',
      status: decision.active ? 'True' : 'False',
      reason: decision.activity.reason,
      message: decision.activity.message,
    },
    decision.limitedBy
      ? {
          type: 'ScalingLimited',
          status: 'True',
          reason: decision.limitedBy,
          message: `${decision.recommendedReplicas} replicas recommended, ${desired} allowed: ${decision.reason}`,
        }
      : {
          type: 'ScalingLimited',
          status: 'False',
          reason: 'DesiredWithinLimits',
          message: `${desired} replicas, as recommended`,
        },
    { type: 'Fallback', status: 'False', reason: 'MetricsAvailable', message: 'the backlog is being read' },
  ];
  return {
    current,
    desired,
    why: decision.reason,
    memory: { ...memory, history: decision.history, failures: 0, fallbackActive: false, seeded: true },
    read: { sample, decision },
    conditions,
    events,
  };
}

function fromFailedRead(
  input: DecideInput,
  error: { kind: keyof typeof BACKLOG_REASONS; message: string },
): Verdict {
  const { spec, scale, memory } = input;
  const current = scale.specReplicas;
  const reason = BACKLOG_REASONS[error.kind];
  const failures = memory.failures + 1;
  const threshold = spec.fallback.failureThreshold;
  const fallbackReplicas =
    spec.fallback.replicas === undefined ? undefined : fallbackTarget(spec.fallback, current);
  const countsTowardFallback = error.kind === 'Unreachable';
  const events: PlannedEvent[] = [];
  const conditions: ConditionUpdate[] = [];
  let desired = current;
  let why = '';
  let fallbackActive = false;
  const startFloor = Math.max(spec.minReplicas, 1);
  if (error.kind === 'ConsumerNotFound' && spec.missingConsumer === 'RunMinimum' && current < startFloor) {
    // The application may be what creates the consumer (its durable on start, or again after
    // inactive_threshold removed it at zero replicas): holding it at zero would wait forever.
    desired = startFloor;
    why = `consumer "${spec.nats.consumer}" does not exist: running ${startFloor} replica${startFloor === 1 ? '' : 's'} so the application can create it (spec.missingConsumer RunMinimum)`;
    conditions.push({
      type: 'Fallback',
      status: 'False',
      reason: 'NotApplicable',
      message: `the consumer does not exist: ${startFloor} replica${startFloor === 1 ? '' : 's'} kept running so the application can create it (spec.missingConsumer: Hold leaves replicas alone)`,
    });
  } else if (countsTowardFallback && failures >= threshold && fallbackReplicas !== undefined) {
    if (!memory.fallbackActive) {
      events.push({
        type: 'Warning',
        reason: 'FallbackStarted',
        message: `${failures} polls in a row failed (${error.message}); holding ${fallbackReplicas} replicas (${fallbackText(spec.fallback)}) until the backlog can be read`,
      });
    }
    fallbackActive = true;
    desired = fallbackReplicas;
    why = `fallback: ${failures} consecutive failed polls (${error.message})`;
    conditions.push({
      type: 'Fallback',
      status: 'True',
      reason,
      message: `holding ${fallbackReplicas} replicas (${fallbackText(spec.fallback)}) after ${failures} failed polls: ${error.message}`,
    });
  } else {
    // Hold the last decision: the replicas stay where they are.
    conditions.push(
      !countsTowardFallback
        ? {
            type: 'Fallback',
            status: 'False',
            reason: 'NotApplicable',
            message: 'replicas are held: this error does not trigger fallback, fix its cause',
          }
        : fallbackReplicas === undefined
          ? {
              type: 'Fallback',
              status: 'False',
              reason: 'NotConfigured',
              message: `${failures} failed polls; replicas are held where they are because spec.fallback.replicas is not set (set it to hold a fixed count after ${threshold} failed polls)`,
            }
          : {
              type: 'Fallback',
              status: 'False',
              reason: 'BelowFailureThreshold',
              message: `${failures} of ${threshold} failed polls before fallback.replicas ${fallbackReplicas}; replicas are held until then`,
            },
    );
  }
  events.push({ type: 'Warning', reason, message: error.message });
  const unknown = `not known: the backlog could not be read (${error.message})`;
  conditions.push(
    { type: 'Ready', status: 'False', reason, message: error.message },
    { type: 'MetricsAvailable', status: 'False', reason, message: error.message },
    { type: 'Active', status: 'Unknown', reason, message: unknown },
    { type: 'ScalingLimited', status: 'Unknown', reason, message: unknown },
  );
  return {
    current,
    desired,
    why,
    memory: { ...memory, failures, fallbackActive },
    errorReason: reason,
    conditions,
    events,
  };
}

/** The replicas fallback holds (KEDA's fallback.behavior): exactly fallback.replicas, or the current count when higher / lower. */
export function fallbackTarget(fallback: EventConsumerSpec['fallback'], current: number): number {
  const replicas = fallback.replicas ?? current;
  switch (fallback.behavior) {
    case 'CurrentReplicasIfHigher':
      return Math.max(current, replicas);
    case 'CurrentReplicasIfLower':
      return Math.min(current, replicas);
    default:
      return replicas;
  }
}

function fallbackText(fallback: EventConsumerSpec['fallback']): string {
  return fallback.behavior === 'Static'
    ? `spec.fallback.replicas ${fallback.replicas}`
    : `spec.fallback.replicas ${fallback.replicas}, behavior ${fallback.behavior}`;
}

export function pausedCondition(spec: EventConsumerSpec): ConditionUpdate {
  if (spec.pausedReplicas !== undefined)
    return {
      type: 'Paused',
      status: 'True',
      reason: 'PausedAtReplicas',
      message: `spec.pausedReplicas is ${spec.pausedReplicas}: the target is held at ${spec.pausedReplicas} replicas whatever the backlog; remove the field to resume scaling`,
    };
  return spec.paused
    ? {
        type: 'Paused',
        status: 'True',
        reason: 'PausedBySpec',
        message:
          'spec.paused is true: the backlog is read but replicas are not changed; set it to false to resume scaling',
      }
    : { type: 'Paused', status: 'False', reason: 'NotPaused', message: 'scaling is enabled' };
}
