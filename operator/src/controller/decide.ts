// The decide step of a reconcile: a pure function of what was observed (spec, backlog reading,
// scale target) and what was remembered (ScalingMemory) that says what the replicas should be,
// why, and what to tell the user. No clock, no I/O: the policy is passed in, `now` arrives as a
// number. The reconciler acts on the verdict and reports it; it never recomputes a decision.
//
// Failure is never a reason to scale wildly: a backlog that cannot be read leaves the replicas
// where they are. Only an unreachable NATS counts toward fallback: after
// fallback.failureThreshold failed polls in a row — spanning at least failureThreshold − 1 poll
// intervals and at least FALLBACK_MIN_OUTAGE_SECONDS (fallbackOutageSeconds) — the target is held at
// fallback.replicas (when set) until the backlog can be read again. A read refused because the connection is busy (slow
// but answering) is a skipped poll, not a failed one: it neither counts nor resets the count.
import { consumersOf, type ConsumerSpec, type EventConsumerSpec } from '../api/v1alpha1/event-consumer.js';
import { pollIntervalMs, toScalingSpec } from '../api/v1alpha1/scaling-spec.js';
import type { BacklogReading } from '../backlog/backlog-source.js';
import type { ScaleReading } from '../kube/scale-client.js';
import type { BacklogSample, ScalingDecision, ScalingHistory, ScalingInput } from '../scaling/types.js';
import type { ConditionUpdate } from './conditions.js';
import type { ScalingMemories, ScalingMemory } from './consumer-state.js';
import { BACKLOG_REASONS } from './reasons.js';

export interface DecideInput {
  spec: EventConsumerSpec;
  /** The consumer read (default: the spec's first, spec.nats for the one-consumer form). */
  consumer?: ConsumerSpec;
  backlog: BacklogReading;
  scale: ScaleReading;
  memory: ScalingMemory;
  now: number;
  policy: (input: ScalingInput) => ScalingDecision;
  /**
   * When the target was last scaled by jetscale as the API server remembers it (policy time, ms),
   * from before this process started: seeds the scale-down hold of a new history.
   */
  lastScaleAt?: number;
  /**
   * The scale-ups of the target an earlier process made within the longest scale-up step policy
   * period (status.scaleUps, validated: scale-up-record.ts carriedScaleUps; policy time, ms): a new
   * history's step policies count them, so a restart does not grant a second full step at once.
   */
  scaleUpsBefore?: Array<{ at: number; from: number; to: number }>;
  /**
   * A late write of the previous leader term seen at this poll (reconciler.ts noticeOutsideChange):
   * the replicas it changed, from and to. A scale-down hold keeps at most `from`, not what the write
   * set.
   */
  lateWrite?: LateWrite;
}

/** A write of the previous leader term that reached the API server after this term began. */
export interface LateWrite {
  from: number;
  to: number;
}

/**
 * The memories with a late write of the previous leader term recorded as a scale event, just
 * before this poll: the step policies then measure their period from the size before it (as the
 * HPA does after a change of its own), so undoing it is not limited by them — a late scale-up of
 * 1 to 8 goes back to 1 at once under a 1-pod-a-minute scale-down policy, and a late scale-down
 * back up within the scale-up policy's allowance.
 */
export function withLateWrite(memories: ScalingMemories, now: number, late: LateWrite): ScalingMemories {
  return Object.fromEntries(
    Object.entries(memories).map(([name, m]) => [
      name,
      {
        ...m,
        history: {
          ...m.history,
          scaleEvents: [...m.history.scaleEvents, { at: now - 1, from: late.from, to: late.to }],
        },
      },
    ]),
  );
}

/** An Event the report step records. */
export interface PlannedEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** A Warning sent at most once per interval whatever its message (EventRecorder.warning). */
  repeatKey?: string;
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

/** One consumer's verdict, pause included: the whole decision of a one-consumer EventConsumer. */
export function decide(input: DecideInput): Verdict {
  const verdict = consumerVerdict(input);
  const held = applyPause(verdict, input.spec);
  if (held) verdict.memory = memoryIfUnchanged(verdict.memory, input.memory);
  else {
    // The step policies count every change made, not only those the policy asked for: a fallback,
    // missingConsumer RunMinimum or a bound applied without a reading changes replicas too (as
    // decideAll records for several consumers).
    const applied = verdict.change?.to ?? verdict.current;
    verdict.memory = {
      ...verdict.memory,
      history: withAppliedChange(verdict.memory.history, input.now, verdict.current, applied),
    };
  }
  verdict.conditions.push(pausedCondition(input.spec));
  return verdict;
}

/** What one consumer alone asks for (no pause applied): from its backlog, or from its failed read. */
function consumerVerdict(input: DecideInput): Verdict {
  const consumer = input.consumer ?? (consumersOf(input.spec)[0] as ConsumerSpec);
  return input.backlog.ok
    ? fromBacklog(input, consumer, input.backlog.sample)
    : fromFailedRead(input, consumer, input.backlog.error);
}

/**
 * spec.pausedReplicas and spec.paused, applied to a verdict: sets its change (or none) and its
 * why. Returns true when the policy's recommendation is not carried out (keep the old history).
 */
function applyPause(
  verdict: Pick<Verdict, 'current' | 'desired' | 'why' | 'change'>,
  spec: EventConsumerSpec,
): boolean {
  const { current, desired } = verdict;
  const hold = spec.pausedReplicas;
  if (hold !== undefined) {
    // Paused at a count (KEDA's paused-replicas): set it once, then hold it whatever the backlog.
    verdict.desired = hold;
    verdict.why =
      hold === current
        ? `paused at pausedReplicas ${hold} (from the backlog alone: ${desired})`
        : `pausedReplicas ${hold}: scaling from ${current} to ${hold} and holding it (from the backlog alone: ${desired})`;
    if (hold !== current) verdict.change = { from: current, to: hold };
    return true;
  }
  if (spec.paused) {
    if (desired === current) return false;
    verdict.why = `paused: would scale from ${current} to ${desired} (${verdict.why})`;
    // The policy records the change it asks for; keep the old history, the change is not made.
    return true;
  }
  if (desired !== current) verdict.change = { from: current, to: desired };
  return false;
}

export interface DecideAllInput {
  spec: EventConsumerSpec;
  /** Every consumer's reading at this poll, in consumersOf order. */
  readings: Array<{ consumer: ConsumerSpec; backlog: BacklogReading }>;
  scale: ScaleReading;
  /** Each consumer's memory, by name. */
  memories: Record<string, ScalingMemory>;
  now: number;
  policy: (input: ScalingInput) => ScalingDecision;
  /** See DecideInput.lastScaleAt. */
  lastScaleAt?: number;
  /** See DecideInput.scaleUpsBefore. */
  scaleUpsBefore?: DecideInput['scaleUpsBefore'];
  /** See DecideInput.lateWrite. */
  lateWrite?: LateWrite;
}

/** The verdict over all of an EventConsumer's consumers. */
export interface ConsumersVerdict {
  current: number;
  /** The largest of what each consumer asks for (or the paused count). */
  desired: number;
  change?: { from: number; to: number };
  why: string;
  conditions: ConditionUpdate[];
  events: PlannedEvent[];
  /** The error reason of the first consumer that could not be read. */
  errorReason?: string;
  /** Each consumer's own verdict (its desired is what it alone asks for), in spec order. */
  consumers: Array<{ consumer: ConsumerSpec; verdict: Verdict }>;
  /** Each consumer's memory to keep when the change is made (or none is needed). */
  memories: Record<string, ScalingMemory>;
  /** When to read again: the soonest any consumer's policy asks for. */
  nextPollSeconds?: number;
  fallbackActive: boolean;
  /** The most failed polls in a row of any consumer. */
  failures: number;
}

/**
 * Decides over several consumers the way KEDA's HPA does over several metrics: each consumer is
 * sized on its own (its own rates, history, stabilization and fallback state) and the target gets
 * the largest of their needs. A consumer that cannot be read asks for what it would hold alone:
 * the current replicas (so nothing is scaled in while its need is unknown), its fallback after
 * failureThreshold unreachable polls, or max(minReplicas, 1) while it does not exist under
 * missingConsumer RunMinimum. The others can still raise the replicas. Pause applies to the result.
 * With one consumer this is exactly `decide`.
 */
export function decideAll(input: DecideAllInput): ConsumersVerdict {
  const { spec, scale, now } = input;
  const current = scale.specReplicas;
  if (input.readings.length === 1) {
    const { consumer, backlog } = input.readings[0] as DecideAllInput['readings'][number];
    const v = decide({ ...input, consumer, backlog, memory: memoryFor(input.memories, consumer.name) });
    const out: ConsumersVerdict = {
      current: v.current,
      desired: v.desired,
      why: v.why,
      conditions: v.conditions,
      events: v.events,
      consumers: [{ consumer, verdict: v }],
      memories: { [consumer.name]: v.memory },
      fallbackActive: v.memory.fallbackActive,
      failures: v.memory.failures,
    };
    if (v.change) out.change = v.change;
    if (v.errorReason !== undefined) out.errorReason = v.errorReason;
    if (v.read) out.nextPollSeconds = v.read.decision.nextPollSeconds;
    return out;
  }
  const consumers = input.readings.map(({ consumer, backlog }) => ({
    consumer,
    verdict: consumerVerdict({
      ...input,
      consumer,
      backlog,
      memory: memoryFor(input.memories, consumer.name),
    }),
  }));
  // The driver: the first consumer asking for the most.
  let driver = consumers[0] as (typeof consumers)[number];
  for (const c of consumers) if (c.verdict.desired > driver.verdict.desired) driver = c;
  const needs = consumers.map((c) => `${c.consumer.name} ${c.verdict.desired}`).join(', ');
  const verdict: ConsumersVerdict = {
    current,
    desired: driver.verdict.desired,
    why: `consumer ${driver.consumer.name} needs the most (${needs}): ${driver.verdict.why || `holding ${driver.verdict.desired}`}`,
    conditions: combinedConditions(spec, consumers, driver),
    events: combinedEvents(consumers),
    consumers,
    memories: {},
    fallbackActive: consumers.some((c) => c.verdict.memory.fallbackActive),
    failures: Math.max(...consumers.map((c) => c.verdict.memory.failures)),
  };
  const failed = consumers.find((c) => c.verdict.errorReason !== undefined);
  if (failed?.verdict.errorReason !== undefined) verdict.errorReason = failed.verdict.errorReason;
  const polls = consumers.flatMap((c) => (c.verdict.read ? [c.verdict.read.decision.nextPollSeconds] : []));
  if (polls.length > 0) verdict.nextPollSeconds = Math.min(...polls);
  const held = applyPause(verdict, spec);
  const applied = verdict.change?.to ?? current;
  for (const { consumer, verdict: v } of consumers) {
    const previous = memoryFor(input.memories, consumer.name);
    // Each policy recorded the change it asked for; the target gets one change (or none), and the
    // step policies of every consumer must count that one.
    verdict.memories[consumer.name] = held
      ? memoryIfUnchanged(v.memory, previous)
      : { ...v.memory, history: withAppliedChange(v.memory.history, now, current, applied) };
  }
  verdict.conditions.push(pausedCondition(spec));
  return verdict;
}

/** A consumer's memory, or a fresh one for a consumer not polled yet. */
export function memoryFor(memories: Record<string, ScalingMemory>, name: string): ScalingMemory {
  return (
    memories[name] ?? {
      history: { recommendations: [], scaleEvents: [], samples: [] },
      failures: 0,
      fallbackActive: false,
      seeded: false,
    }
  );
}

/** The history with this poll's scale event replaced by the change actually made (none if applied = current). */
export function withAppliedChange(
  history: ScalingHistory,
  now: number,
  current: number,
  applied: number,
): ScalingHistory {
  const scaleEvents = history.scaleEvents.filter((e) => e.at !== now);
  if (applied !== current) scaleEvents.push({ at: now, from: current, to: applied });
  return { ...history, scaleEvents };
}

/** The EventConsumer's conditions from its consumers' (Paused is added by the caller). */
/** Events about the target's replicas: every consumer's policy sees the same ones, so one says it. */
const TARGET_EVENT_REASONS = new Set(['ReplicasNotReady', 'ReplicasReady']);

/** Each consumer's events, named; those about the target's replicas once, from the first consumer. */
function combinedEvents(consumers: Array<{ consumer: ConsumerSpec; verdict: Verdict }>): PlannedEvent[] {
  const seen = new Set<string>();
  return consumers.flatMap((c) =>
    c.verdict.events.flatMap((e) => {
      if (!TARGET_EVENT_REASONS.has(e.reason))
        return [{ ...e, message: `consumer ${c.consumer.name}: ${e.message}` }];
      if (seen.has(e.reason)) return [];
      seen.add(e.reason);
      return [e];
    }),
  );
}

function combinedConditions(
  spec: EventConsumerSpec,
  consumers: Array<{ consumer: ConsumerSpec; verdict: Verdict }>,
  driver: { consumer: ConsumerSpec; verdict: Verdict },
): ConditionUpdate[] {
  const of = (c: { verdict: Verdict }, type: ConditionUpdate['type']): ConditionUpdate | undefined =>
    c.verdict.conditions.find((u) => u.type === type);
  const named = (c: { consumer: ConsumerSpec }, u: ConditionUpdate): ConditionUpdate => ({
    ...u,
    message: `consumer ${c.consumer.name}: ${u.message}`,
  });
  const failed = consumers.filter((c) => c.verdict.errorReason !== undefined);
  const read = consumers.filter((c) => c.verdict.read !== undefined);
  const ref = spec.scaleTargetRef;
  const names = consumers.map((c) => c.consumer.name).join(', ');
  const out: ConditionUpdate[] = [];
  const firstFailed = failed[0];
  if (firstFailed === undefined) {
    out.push(
      {
        type: 'Ready',
        status: 'True',
        reason: 'Scaling',
        message: `reading ${consumers.length} consumers (${names}) and scaling ${ref.kind} ${ref.name} to the largest need`,
      },
      {
        type: 'MetricsAvailable',
        status: 'True',
        reason: 'BacklogRead',
        message: read
          .map((c) => `${c.consumer.name}: ${of(c, 'MetricsAvailable')?.message ?? ''}`)
          .join('; '),
      },
    );
  } else {
    const reason = firstFailed.verdict.errorReason as string;
    const which = failed.map((c) => c.consumer.name).join(', ');
    const first = of(firstFailed, 'Ready')?.message ?? reason;
    const message = `${failed.length} of ${consumers.length} consumers could not be read (${which}); replicas are not lowered while a need is unknown. consumer ${firstFailed.consumer.name}: ${first}`;
    out.push(
      { type: 'Ready', status: 'False', reason, message },
      { type: 'MetricsAvailable', status: 'False', reason, message },
    );
  }
  const active = read.find((c) => of(c, 'Active')?.status === 'True');
  if (active) out.push(named(active, of(active, 'Active') as ConditionUpdate));
  else if (firstFailed) out.push(named(firstFailed, of(firstFailed, 'Active') as ConditionUpdate));
  else out.push(named(driver, of(driver, 'Active') as ConditionUpdate));
  out.push(named(driver, of(driver, 'ScalingLimited') as ConditionUpdate));
  // A stream at its limit is said whichever consumer's it is: the first read that says so.
  const full = read.find((c) => of(c, 'StreamFull')?.status === 'True') ?? driver;
  const fullCondition = of(full, 'StreamFull');
  if (fullCondition) out.push(named(full, fullCondition));
  // So are messages a stream's limit removes unworked.
  const removing = read.find((c) => of(c, 'MessagesRemovedUnworked')?.status === 'True') ?? driver;
  const removingCondition = of(removing, 'MessagesRemovedUnworked');
  if (removingCondition) out.push(named(removing, removingCondition));
  // The target's replicas are the same for every consumer: the first one read says it.
  const replicasReady = read.map((c) => of(c, 'ReplicasReady')).find((u) => u !== undefined);
  if (replicasReady) out.push(replicasReady);
  const inFallback = consumers.find((c) => of(c, 'Fallback')?.status === 'True');
  if (inFallback) out.push(named(inFallback, of(inFallback, 'Fallback') as ConditionUpdate));
  else if (firstFailed) out.push(named(firstFailed, of(firstFailed, 'Fallback') as ConditionUpdate));
  else
    out.push({
      type: 'Fallback',
      status: 'False',
      reason: 'MetricsAvailable',
      message: 'every consumer is being read',
    });
  return out;
}

/**
 * The memory to keep when the verdict's change is not made (paused, or the scale write failed): the
 * policy's scale events as they were — the change it recorded did not happen — and everything it
 * observed this poll (readings, rates, readiness, recommendations). Keeping the whole old history
 * instead froze the rates at the last reading before a pause: every poll while paused, and the
 * first after it, measured from that one reading (arrivals averaged over the whole pause).
 */
export function memoryIfUnchanged(next: ScalingMemory, previous: ScalingMemory): ScalingMemory {
  return { ...next, history: { ...next.history, scaleEvents: previous.history.scaleEvents } };
}

function fromBacklog(input: DecideInput, consumer: ConsumerSpec, sample: BacklogSample): Verdict {
  const { spec, scale, memory, now } = input;
  const current = scale.specReplicas;
  const events: PlannedEvent[] = [];
  if (memory.fallbackActive) {
    events.push({
      type: 'Normal',
      reason: 'FallbackEnded',
      message: `the backlog of consumer "${consumer.consumer}" can be read again; scaling from the backlog resumes`,
    });
  }
  const scaling = scalingSpecFor(spec, consumer);
  const { policyInput, holdUntil: hold } = policyInputFor({
    scaling,
    memory,
    consumer,
    sample,
    scale,
    now,
    ...(input.lastScaleAt === undefined ? {} : { lastScaleAt: input.lastScaleAt }),
    ...(input.scaleUpsBefore === undefined ? {} : { scaleUpsBefore: input.scaleUpsBefore }),
  });
  let holdUntil = hold;
  let decision = input.policy(policyInput);
  if (holdUntil !== undefined && now >= holdUntil) holdUntil = undefined;
  decision = withScaleDownHold(decision, {
    holdUntil,
    now,
    current,
    scaling,
    ...(input.lateWrite === undefined ? {} : { lateWriteFrom: input.lateWrite.from }),
  });
  const desired = decision.desiredReplicas;
  const ref = spec.scaleTargetRef;
  const backlogText = metricsText(sample);
  const conditions: ConditionUpdate[] = [
    {
      type: 'Ready',
      status: 'True',
      reason: 'Scaling',
      message: `reading consumer "${consumer.consumer}" on stream "${consumer.stream}" and scaling ${ref.kind} ${ref.name}`,
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
    streamFullCondition(decision),
    removedUnworkedCondition(decision),
    { type: 'Fallback', status: 'False', reason: 'MetricsAvailable', message: 'the backlog is being read' },
    replicasReadyCondition(decision, ref),
  ];
  // A pause on the server (nats-server 2.11+ pause_until) is told once when seen and once when it
  // ends: the policy holds the replicas meanwhile (ScalingLimited=ConsumerPaused says so each poll).
  const wasPaused = memory.history.samples.at(-1)?.paused === true;
  const where = `consumer "${consumer.consumer}" on stream "${consumer.stream}"`;
  if (sample.paused === true && !wasPaused)
    events.push({
      type: 'Warning',
      reason: 'ConsumerPaused',
      message: `${where} is paused on the server${sample.pauseRemainingSeconds !== undefined ? ` for another ${Math.round(sample.pauseRemainingSeconds)}s` : ''}: nothing is delivered to any replica, so none are added for its ${sample.pending + sample.ackPending} backlog until it resumes (nats consumer resume, or wait for its pause_until)`,
    });
  if (sample.paused !== true && wasPaused)
    events.push({
      type: 'Normal',
      reason: 'ConsumerResumed',
      message: `${where} is no longer paused on the server: scaling from its backlog resumes`,
    });
  // Messages reaching max_age in the handlers themselves (no queue behind them): told when it
  // starts; the policy adds no replicas for it, and the reason says so at every poll.
  const nearMaxAge = decision.handlingNearMaxAge;
  if (nearMaxAge !== undefined && nearMaxAge.started)
    events.push({
      type: 'Warning',
      reason: 'HandlingNearMaxAge',
      message: `${where}: ${nearMaxAge.message}`,
      // Its figures move at every poll, and it can flicker on and off from one reading to the
      // next: one Event per interval (10 min), not one per start.
      repeatKey: 'handling-near-max-age',
    });
  // Messages the stream's own limit removed before this consumer delivered them
  // (scaling/removed-unworked.ts): told when it starts; the condition says it while it lasts.
  const removedUnworked = decision.removedUnworked;
  if (removedUnworked !== undefined && removedUnworked.started)
    events.push({
      type: 'Warning',
      reason: 'MessagesRemovedUnworked',
      message: `${where}: ${removedUnworked.message}`,
      // A spell that ends and starts again (a stream that fills in every burst): one Event per
      // interval (10 min).
      repeatKey: 'messages-removed-unworked',
    });
  // Handlers slower than the stream's max_age (scaling/beyond-max-age.ts): told when found; the
  // policy adds no replicas while it lasts, and ScalingLimited=HandlersSlowerThanMaxAge says so
  // whenever something asks for more.
  const beyondMaxAge = decision.handlersSlowerThanMaxAge;
  if (beyondMaxAge !== undefined && beyondMaxAge.started)
    events.push({
      type: 'Warning',
      reason: 'HandlersSlowerThanMaxAge',
      message: `${where}: ${beyondMaxAge.message}`,
      // Its message carries how long, and a replica lost and replaced looks again: one Event per
      // interval (10 min).
      repeatKey: 'handlers-slower-than-max-age',
    });
  const readiness = decision.readiness;
  if (readiness !== undefined && readiness.overdue > 0 && !readiness.wasOverdue)
    events.push({ type: 'Warning', reason: 'ReplicasNotReady', message: readiness.message });
  if (readiness !== undefined && readiness.overdue === 0 && readiness.wasOverdue)
    events.push({
      type: 'Normal',
      reason: 'ReplicasReady',
      message: `every replica asked for is ready or starting again (${readiness.message}); scaling up is allowed again`,
    });
  return {
    current,
    desired,
    why: decision.reason,
    memory: withHold(
      {
        ...withoutCarried(memory),
        history: decision.history,
        failures: 0,
        fallbackActive: false,
        seeded: true,
      },
      holdUntil,
    ),
    read: { sample, decision },
    conditions,
    events,
  };
}

/** What the policy is asked at a reading (policyInputFor). */
export interface PolicyInputOf {
  /** The policy's spec for the consumer read (scalingSpecFor). */
  scaling: ScalingInput['spec'];
  memory: ScalingMemory;
  consumer: Pick<ConsumerSpec, 'stream' | 'consumer'>;
  sample: BacklogSample;
  scale: Pick<ScaleReading, 'specReplicas' | 'readyReplicas' | 'rollout'>;
  now: number;
  /** See DecideInput.lastScaleAt. */
  lastScaleAt?: number;
  /** See DecideInput.scaleUpsBefore. */
  scaleUpsBefore?: DecideInput['scaleUpsBefore'];
}

/**
 * The policy's input for a reading, and the scale-down hold to keep: the memory's history, or a new
 * one seeded as a restart's (its stabilization window with the target's size, its step policies'
 * record with the scale-ups an earlier process made, a scale-down hold from its last scale), and
 * what an earlier process left in status, for this history's first reading. The one place a new
 * process (a restart, a new leader) is made from status; the policy fuzzer's restarts use it too.
 */
export function policyInputFor(input: PolicyInputOf): {
  policyInput: ScalingInput;
  holdUntil: number | undefined;
} {
  const { scaling, memory, consumer, sample, scale, now } = input;
  const current = scale.specReplicas;
  let history = memory.history;
  let holdUntil = memory.scaleDownHoldUntil;
  if (!memory.seeded && (history.recommendations.length === 0 || memory.returned)) {
    // A new leader (or a restarted one) has no recommendations in memory. Seed the window with
    // the size the target has, so the stabilization windows hold it for one window as if this
    // process had watched it all along, instead of scaling down at its first poll. So does a
    // target come back to after a rename (its own recommendations kept; it was not watched since).
    history = { ...history, recommendations: [...history.recommendations, { at: now, replicas: current }] };
    // Nor does it have the step policies' record of the changes made: a scale made just before the
    // restart may have used a period's whole allowance (1 pod per 60 s, stepped 10 s before the
    // restart: the new process stepped again once its seeded window passed). Until the longest
    // scale-down period has passed since that scale, no scale-down — conservative, since the old
    // process may have allowed one after a scale-up. A target come back to has its own record.
    if (!memory.returned) {
      holdUntil = scaleDownHoldAfterRestart(scaling, input.lastScaleAt, now);
      // The scale-ups it made within the scale-up policies' periods (status.scaleUps): counted as
      // this history's own, so the periods they began go on (scale-up-record.ts).
      // (Before this poll: this poll's own change is recorded at `now`, withAppliedChange.)
      const before = (input.scaleUpsBefore ?? []).map((e) => ({ ...e, at: Math.min(e.at, now - 1) }));
      if (before.length > 0)
        history = {
          ...history,
          scaleEvents: [...before, ...history.scaleEvents].sort((a, b) => a.at - b.at),
        };
      // The panic window it was holding (status, validated when read back: carried-panic.ts): held
      // to the same end, and ended sooner by the policy's own rule, as after a panic of its own.
      const panic = memory.carriedPanic;
      if (
        panic !== undefined &&
        history.panicUntil === undefined &&
        now < panic.until &&
        panic.stream === consumer.stream &&
        panic.consumer === consumer.consumer
      )
        history = { ...history, panicUntil: panic.until };
    }
  }
  const policyInput: ScalingInput = {
    spec: scaling,
    sample,
    currentReplicas: current,
    history,
    now,
  };
  if (scale.readyReplicas !== undefined) policyInput.readyReplicas = scale.readyReplicas;
  if (scale.rollout !== undefined) policyInput.rollout = scale.rollout;
  // The capacity an earlier process measured (status, validated when read back), for the first
  // reading of this history only, only for the stream and consumer it was measured on, and only
  // while it is recent (a first reading that comes after failed ones may be much later).
  const carried = memory.carriedCapacity;
  if (
    carried !== undefined &&
    history.rates === undefined &&
    !(carried.usableUntil !== undefined && now > carried.usableUntil) &&
    carried.stream === consumer.stream &&
    carried.consumer === consumer.consumer
  ) {
    policyInput.carriedPerReplicaPerSecond = carried.perReplicaPerSecond;
    if (carried.lowEndOnly === true) policyInput.carriedPerReplicaLowEndOnly = true;
    if (carried.lowEndHeld === true) policyInput.carriedPerReplicaLowEndHeld = true;
    if (carried.handlersInHand !== undefined) policyInput.carriedHandlersInHand = carried.handlersInHand;
  }
  // The failing spell an earlier process was in (status, validated when read back), on the same
  // terms: so a restart neither makes a second spare replica nor starts the spell's clock over.
  const spell = memory.carriedHandlersFailing;
  if (
    spell !== undefined &&
    history.rates === undefined &&
    now <= spell.usableUntil &&
    spell.stream === consumer.stream &&
    spell.consumer === consumer.consumer
  )
    policyInput.carriedHandlersFailing = { since: Math.min(spell.since, now), replicas: spell.replicas };
  // The replicas an earlier process found overdue (status, validated when read back), for the first
  // reading of this history: so a restart or a new leader does not add more of the pods that do not
  // become ready for the deadline its own readings need (scaling/readiness.ts carriedReadiness
  // bounds its age by that deadline).
  const overdue = memory.carriedReplicasOverdue;
  if (overdue !== undefined && history.readiness === undefined)
    policyInput.carriedReplicasOverdue = {
      at: Math.min(overdue.at, now),
      asked: overdue.asked,
      overdue: overdue.overdue,
    };
  // What an earlier process learnt of max_ack_pending (status, validated when read back), on the
  // capacity's terms: so a restart neither climbs past a measured cap again nor probes again at once.
  const atCap = memory.carriedAtCap;
  if (
    atCap !== undefined &&
    history.rates === undefined &&
    now <= atCap.usableUntil &&
    atCap.stream === consumer.stream &&
    atCap.consumer === consumer.consumer
  ) {
    const { stream: _stream, consumer: _consumer, usableUntil: _until, ...learnt } = atCap;
    policyInput.carriedAtCap = learnt;
  }
  // Handlers an earlier process read as slower than max_age (status, validated when read back), on
  // the capacity's terms and not during a rollout (new pods may run a fixed handler: within one
  // process a fall in the ready count reopens a trial step for them): so a restart adds no trial
  // replica again. The policy takes it only when its first reading shows it still holds.
  const slower = memory.carriedHandlersSlowerThanMaxAge;
  if (
    slower !== undefined &&
    history.rates === undefined &&
    now <= slower.usableUntil &&
    scale.rollout === undefined &&
    slower.stream === consumer.stream &&
    slower.consumer === consumer.consumer
  )
    policyInput.carriedHandlersSlowerThanMaxAge = {
      since: Math.min(slower.since, now),
      replicas: slower.replicas,
      maxAgeSeconds: slower.maxAgeSeconds,
    };
  return { policyInput, holdUntil };
}

/**
 * The decision with a new history's scale-down hold applied (policyInputFor): while it lasts, no
 * fewer than the replicas there are. `holdUntil` undefined (or passed): the decision as it is.
 */
export function withScaleDownHold(
  decision: ScalingDecision,
  hold: {
    holdUntil: number | undefined;
    now: number;
    current: number;
    scaling: ScalingInput['spec'];
    /** See DecideInput.lateWrite: the size before a late write of the previous leader term. */
    lateWriteFrom?: number;
  },
): ScalingDecision {
  const { holdUntil, now, current, scaling } = hold;
  // The hold keeps what the target has, never more than maxReplicas: a bound lowered (or an
  // object recreated with a lower one) applies at once, as the HPA's does, whatever the step
  // policies' record says.
  // Nor more than the size before a late write of the previous leader term: the hold keeps what
  // that term's step policies allowed, not what its late write set.
  const heldAt = Math.min(current, hold.lateWriteFrom ?? current, Math.max(1, scaling.maxReplicas));
  if (holdUntil !== undefined && decision.desiredReplicas < heldAt)
    return {
      ...decision,
      desiredReplicas: heldAt,
      limitedBy: 'StepPolicy',
      reason: `held at ${heldAt} for another ${Math.ceil((holdUntil - now) / 1000)}s: the target was scaled before this process started, and the scale-down policy's period (${maxScaleDownPeriodSeconds(scaling)}s) since then has not passed (${decision.reason})`,
      history: withAppliedChange(decision.history, now, current, heldAt),
    };
  return decision;
}

/**
 * The MetricsAvailable message: the backlog read, with what a mirror or sourced stream has still to
 * copy (counted), or why that is not known.
 */
export function metricsText(sample: BacklogSample): string {
  const upstream = sample.upstream;
  const lag = upstream !== undefined && 'lag' in upstream ? upstream.lag : 0;
  const pending =
    lag > 0 && upstream !== undefined && 'lag' in upstream
      ? `${sample.pending} pending and ${lag} not yet copied from the ${upstream.from}`
      : `${sample.pending} pending`;
  const text = `backlog ${sample.pending + lag + sample.ackPending} (${pending}, ${sample.ackPending} awaiting ack)`;
  return upstream !== undefined && 'unknown' in upstream
    ? `${text}, and more may come that is not counted: ${upstream.unknown}`
    : text;
}

/**
 * The memory without a carried capacity, failing spell or replicas overdue (a reading has been
 * taken, and its rates and readiness now hold them) and without a run of failed reads (this one succeeded).
 */
function withoutCarried(memory: ScalingMemory): ScalingMemory {
  const {
    carriedCapacity: _used,
    carriedHandlersFailing: _spell,
    carriedReplicasOverdue: _overdue,
    carriedAtCap: _atCap,
    carriedHandlersSlowerThanMaxAge: _slower,
    carriedPanic: _panic,
    failingSince: _over,
    returned: _seeded,
    ...rest
  } = memory;
  return rest;
}

function withFailingSince(memory: ScalingMemory, failingSince: number | undefined): ScalingMemory {
  if (failingSince === undefined) return memory;
  return { ...memory, failingSince };
}

/** The longest period of the scale-down step policies (0 when scale-down is disabled or has none). */
function maxScaleDownPeriodSeconds(scaling: ScalingInput['spec']): number {
  const rules = scaling.scaleDown;
  if (rules.selectPolicy === 'Disabled') return 0;
  return Math.max(0, ...rules.policies.map((p) => p.periodSeconds));
}

/** The scale-down hold of a new history: the longest scale-down period after the last scale, if still ahead. */
export function scaleDownHoldAfterRestart(
  scaling: ScalingInput['spec'],
  lastScaleAt: number | undefined,
  now: number,
): number | undefined {
  if (lastScaleAt === undefined || !Number.isFinite(lastScaleAt)) return undefined;
  const until = Math.min(lastScaleAt, now) + maxScaleDownPeriodSeconds(scaling) * 1000;
  return until > now ? until : undefined;
}

function withHold(memory: ScalingMemory, holdUntil: number | undefined): ScalingMemory {
  const { scaleDownHoldUntil: _previous, ...rest } = memory;
  return holdUntil === undefined ? rest : { ...rest, scaleDownHoldUntil: holdUntil };
}

/**
 * StreamFull: the stream is at its max_msgs / max_bytes limit with the consumer's backlog filling
 * it, so it refuses (discard new) or drops (discard old) what arrives beyond the room the replicas
 * free (scaling/stream-full.ts). True names the limit and what to change.
 */
export function streamFullCondition(decision: ScalingDecision): ConditionUpdate {
  const full = decision.streamFull;
  if (full === undefined)
    return {
      type: 'StreamFull',
      status: 'False',
      reason: 'BelowStreamLimits',
      message: 'the stream is not at its max_msgs or max_bytes with this consumer behind (or has neither)',
    };
  return {
    type: 'StreamFull',
    status: 'True',
    reason: full.discard === 'new' ? 'StreamRefusingMessages' : 'StreamDroppingMessages',
    message: full.message,
  };
}

/**
 * MessagesRemovedUnworked: the stream's own limit (max_age, max_msgs / max_bytes with discard old,
 * per-message TTL) removed messages before this consumer delivered them (scaling/removed-unworked.ts),
 * held a while after the last interval that removed any. True names the limit, how many were
 * removed in the last interval and what to change.
 */
export function removedUnworkedCondition(decision: ScalingDecision): ConditionUpdate {
  const removed = decision.removedUnworked;
  if (removed === undefined)
    return {
      type: 'MessagesRemovedUnworked',
      status: 'False',
      reason: 'NoneRemovedUnworked',
      message:
        "the stream's limits removed no message before this consumer delivered it (or the stream has no limit that removes, keeps messages after delivery, or the consumer is filtered: then it is not known)",
    };
  const reasons = {
    max_age: 'RemovedByMaxAge',
    max_msgs: 'RemovedByMaxMsgs',
    max_bytes: 'RemovedByMaxBytes',
    'per-message TTL': 'RemovedByMessageTTL',
  } as const;
  return {
    type: 'MessagesRemovedUnworked',
    status: 'True',
    reason: reasons[removed.limit],
    message: removed.message,
  };
}

/**
 * ReplicasReady: False while replicas asked for have not been ready for the readiness deadline
 * (the policy then adds none); Ready stays True, since jetscale itself works.
 */
function replicasReadyCondition(
  decision: ScalingDecision,
  ref: EventConsumerSpec['scaleTargetRef'],
): ConditionUpdate {
  const r = decision.readiness;
  if (r === undefined)
    return {
      type: 'ReplicasReady',
      status: 'Unknown',
      reason: 'NotReported',
      message: `${ref.kind} ${ref.name} does not report ready replicas (jetscale reads them from Deployments and StatefulSets)`,
    };
  if (r.overdue > 0)
    return { type: 'ReplicasReady', status: 'False', reason: 'ReplicasNotReady', message: r.message };
  return {
    type: 'ReplicasReady',
    status: 'True',
    reason: r.starting > 0 ? 'ReplicasStarting' : 'AllReady',
    message: r.message,
  };
}

/**
 * The shortest run of failed reads that starts fallback, whatever the poll interval: a JetStream
 * leader election (a node of a cluster stopped or restarted) leaves CONSUMER.INFO unanswered while
 * followers wait for the lost leader before they campaign — ~6 s measured on a 3-node cluster — and
 * the new leader then answers from the replicated state. That is no outage to fall back from; the
 * replicas are held meanwhile, and every failed poll still says NatsUnreachable.
 *
 * From nats-server 2.12's raft.go: a follower's timer is re-armed at every append or heartbeat from
 * the leader (each second at least) for a random 4–9 s (minElectionTimeoutDefault..
 * maxElectionTimeoutDefault); it campaigns when it fires, and wins within a vote's round trip. Reads
 * sent before that time out (nobody answers for a consumer whose leader the others still believe
 * alive); reads sent after it get "no leader" answers, asked again within the poll
 * (jetstream-backlog-source.ts ELECTION_RETRY_MS). So one round's run of failed reads, first to
 * last, lasts less than the time from the leader's loss to the first campaign: at most 9 s. Two
 * survivors that campaign within a round trip of each other split the vote (each has voted for
 * itself); each stays a candidate and campaigns again when its timer, re-armed for a new random
 * 4–9 s on becoming one, fires first (switchState, runAsCandidate): at most 9 + 9 = 18 s from the
 * loss. 20 s covers that, and the first read's and the last's differing lengths (a 2 s timeout at
 * JETSCALE_NATS_TIMEOUT_MS's default, up to 3 s of "no leader" retries). What it does not cover: a
 * second split vote in a row (rarer still), and followers that keep the timer at 1 s while behind
 * on applies (processed < commit) or at 4–9 s while catching up, for as long as that lasts.
 *
 * One floor for every Unreachable read, not a longer one for election-like failures only: until the
 * worst election has passed, a run of timeouts and "no leader" answers cannot be told from a lost
 * quorum or a partition, and a rolling restart that takes the operator's own server shows first as
 * a lost connection, then as another server's election; the floor would hinge on which came last.
 * The replicas are held meanwhile, never scaled down on a failed read, so the longer floor only
 * delays holding fallback.replicas. KEDA's fallback counts failureThreshold (3) failed metric reads
 * in a row, made each pollingInterval (30 s) and at the HPA's 15 s sync: half a minute or more by
 * default; this is 20 s at the defaults. Before it
 * was 10 s, and a split vote in a routine rolling restart could move the Deployment to
 * fallback.replicas.
 */
export const FALLBACK_MIN_OUTAGE_SECONDS = 20;

/**
 * How long reads must have failed before fallback starts: failureThreshold polls at pollInterval
 * span failureThreshold − 1 intervals, and so must the failed reads, whatever extra polls watch
 * events brought in between (each counts as a failed poll); never less than
 * FALLBACK_MIN_OUTAGE_SECONDS. So the threshold means the same at every poll interval: at the
 * default 5 s polls 3 failed polls span 10 s, so the floor decides (20 s); from 10 s polls up the
 * polls' span does; at 1 s, 3 polls no longer mean 3 s.
 */
export function fallbackOutageSeconds(spec: EventConsumerSpec): number {
  const polls = Math.max(0, spec.fallback.failureThreshold - 1);
  return Math.max(FALLBACK_MIN_OUTAGE_SECONDS, (polls * pollIntervalMs(spec)) / 1000);
}

function fromFailedRead(
  input: DecideInput,
  consumer: ConsumerSpec,
  error: { kind: keyof typeof BACKLOG_REASONS; message: string },
): Verdict {
  const { spec, scale, memory, now } = input;
  const current = scale.specReplicas;
  const reason = BACKLOG_REASONS[error.kind];
  // Busy: the read was not sent because others already wait on a slow connection. A server that
  // answers slowly is not a dead one: the poll is skipped, the count of failed polls stays.
  const skipped = error.kind === 'Busy';
  const failures = skipped ? memory.failures : memory.failures + 1;
  // When this run of failed reads began (this process's first, for counts carried over a restart).
  const failingSince = skipped ? memory.failingSince : (memory.failingSince ?? now);
  const failingSeconds = failingSince === undefined ? 0 : Math.max(0, now - failingSince) / 1000;
  const outageSeconds = fallbackOutageSeconds(spec);
  const threshold = spec.fallback.failureThreshold;
  const fallbackReplicas =
    spec.fallback.replicas === undefined ? undefined : fallbackTarget(spec.fallback, current);
  const countsTowardFallback = error.kind === 'Unreachable';
  const events: PlannedEvent[] = [];
  const conditions: ConditionUpdate[] = [];
  let desired = current;
  let why = '';
  let fallbackActive = skipped && memory.fallbackActive;
  const startFloor = Math.max(spec.minReplicas, 1);
  if (error.kind === 'ConsumerNotFound' && spec.missingConsumer === 'RunMinimum' && current < startFloor) {
    // The application may be what creates the consumer (its durable on start, or again after
    // inactive_threshold removed it at zero replicas): holding it at zero would wait forever.
    desired = startFloor;
    why = `consumer "${consumer.consumer}" does not exist: running ${startFloor} replica${startFloor === 1 ? '' : 's'} so the application can create it (spec.missingConsumer RunMinimum)`;
    conditions.push({
      type: 'Fallback',
      status: 'False',
      reason: 'NotApplicable',
      message: `the consumer does not exist: ${startFloor} replica${startFloor === 1 ? '' : 's'} kept running so the application can create it (spec.missingConsumer: Hold leaves replicas alone)`,
    });
  } else if (
    countsTowardFallback &&
    failures >= threshold &&
    (memory.fallbackActive || failingSeconds >= outageSeconds) &&
    fallbackReplicas !== undefined
  ) {
    if (!memory.fallbackActive) {
      events.push({
        type: 'Warning',
        reason: 'FallbackStarted',
        message: `${failures} polls in a row failed over ${Math.round(failingSeconds)}s (${error.message}); holding ${fallbackReplicas} replicas (${fallbackText(spec.fallback)}) until the backlog can be read`,
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
  } else if (skipped) {
    // Replicas stay where they are; a fallback already holding them goes on holding.
    conditions.push(
      memory.fallbackActive
        ? {
            type: 'Fallback',
            status: 'True',
            reason,
            message: `still holding ${current} replicas (${fallbackText(spec.fallback)}): this poll was skipped because NATS answers slowly (${error.message})`,
          }
        : {
            type: 'Fallback',
            status: 'False',
            reason,
            message: `this poll was skipped because NATS answers slowly; a slow server is not a dead one, so it does not count toward fallback (${failures} of ${threshold} failed polls so far)`,
          },
    );
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
              message: `${failures} of ${threshold} failed polls, over ${Math.round(failingSeconds)}s of ${outageSeconds}s, before fallback.replicas ${fallbackReplicas} (both must be reached: a JetStream leader election is no outage); replicas are held until then`,
            },
    );
  }
  const bounded = withinBounds(spec, current, desired);
  if (bounded.desired !== desired) {
    desired = bounded.desired;
    why = `${why ? `${why}; ` : ''}${bounded.why}`;
  }
  events.push({ type: 'Warning', reason, message: error.message });
  const unknown = `not known: the backlog could not be read (${error.message})`;
  conditions.push(
    { type: 'Ready', status: 'False', reason, message: error.message },
    { type: 'MetricsAvailable', status: 'False', reason, message: error.message },
    { type: 'Active', status: 'Unknown', reason, message: unknown },
    { type: 'ScalingLimited', status: 'Unknown', reason, message: unknown },
    { type: 'StreamFull', status: 'Unknown', reason, message: unknown },
    { type: 'MessagesRemovedUnworked', status: 'Unknown', reason, message: unknown },
  );
  return {
    current,
    desired,
    why,
    memory: withFailingSince({ ...memory, failures, fallbackActive }, failingSince),
    errorReason: reason,
    conditions,
    events,
  };
}

/**
 * The replica bounds without a reading, as the HPA applies them (it raises to minReplicas and lowers
 * to maxReplicas before it asks for metrics): a bound changed while the backlog cannot be read (an
 * outage, credentials that cannot be read), a fallback that keeps a higher current count, or
 * replicas set by hand meanwhile never leave the target outside them. A target at zero stays there
 * (scaled to zero, or held by missingConsumer Hold). `desired` is what would be held otherwise.
 */
export function withinBounds(
  spec: Pick<EventConsumerSpec, 'minReplicas' | 'maxReplicas'>,
  current: number,
  desired: number,
): { desired: number; why: string } {
  const maxReplicas = Math.max(1, spec.maxReplicas);
  if (desired > maxReplicas)
    return {
      desired: maxReplicas,
      why: `capped by maxReplicas ${maxReplicas} while the backlog cannot be read`,
    };
  if (current > 0 && desired < spec.minReplicas) {
    const raised = Math.min(spec.minReplicas, maxReplicas);
    return { desired: raised, why: `raised to minReplicas ${raised} while the backlog cannot be read` };
  }
  return { desired, why: '' };
}

/** The policy's spec for one consumer: the EventConsumer's, with that consumer's own thresholds. */
function scalingSpecFor(spec: EventConsumerSpec, consumer: ConsumerSpec): ScalingInput['spec'] {
  const scaling = toScalingSpec(spec);
  if (consumer.backlogPerReplica !== undefined) scaling.backlogPerReplica = consumer.backlogPerReplica;
  if (consumer.activationBacklog !== undefined) scaling.activationBacklog = consumer.activationBacklog;
  return scaling;
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
