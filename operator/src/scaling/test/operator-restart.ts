// An operator restart (a rollout, an OOM kill, a leader failover) in the policy fuzzer's world
// (fuzz-world.ts World.restartAt): from the first poll at or after it, the policy's state is what a
// new process makes of the EventConsumer's status alone, through the controller's own code — the
// status it writes after each poll (report.ts statusAfterPoll), read back and validated
// (consumer-state.ts newConsumerState, scale-up-record.ts carriedScaleUps), and a new history made
// from it (decide.ts policyInputFor, withScaleDownHold). Everything else the old process kept in
// memory (readings, rates, windows, forecasts) is gone.
//
// Simplified: the status is taken as written at every poll. The operator writes what users act on
// at once and readings every 2-3 minutes (report.ts statusLane), so a real restart may read rates a
// few minutes old; the fuzzer's restart reads the last poll's.
import type { EventConsumerObject, EventConsumerStatus } from '../../api/v1alpha1/event-consumer.js';
import { monotonicTimeOf, type ClockReading } from '../../clock.js';
import { newConsumerState, type ScalingMemory } from '../../controller/consumer-state.js';
import {
  policyInputFor,
  withScaleDownHold,
  type ConsumersVerdict,
  type Verdict,
} from '../../controller/decide.js';
import { statusAfterPoll } from '../../controller/report.js';
import { carriedScaleUps, scaleUpPeriodSeconds } from '../../controller/scale-up-record.js';
import { decide } from '../decide.js';
import type { BacklogSample, ScalingDecision, ScalingSpec } from '../types.js';

const CONSUMER = { name: 'c', stream: 'S', consumer: 'c', servers: ['nats://fuzz:4222'] };
const TARGET = 'apps/v1/Deployment/worker';
const GENERATION = 1;

/** One poll of the world, as the controller sees it. */
export interface PollOf {
  spec: ScalingSpec;
  sample: BacklogSample;
  current: number;
  /** Ready replicas, when the target reports them. */
  ready?: number;
  /** Policy time (the sample's clock) and wall time of the poll. */
  clocks: ClockReading;
}

/** The EventConsumer's status as the operator writes it after each poll. */
export class StatusTrail {
  status: EventConsumerStatus = { observedGeneration: GENERATION };

  /** The status after a poll whose decision was (or was not) applied. */
  record(poll: PollOf, decision: ScalingDecision, applied: boolean): void {
    const { current } = poll;
    const changed = applied && decision.desiredReplicas !== current;
    const verdict = {
      current,
      desired: decision.desiredReplicas,
      why: decision.reason,
      memory: { history: decision.history, failures: 0, fallbackActive: false, seeded: true },
      read: { sample: poll.sample, decision },
      conditions: [],
      events: [],
      ...(changed ? { change: { from: current, to: decision.desiredReplicas } } : {}),
    } as Verdict;
    const all = {
      current,
      desired: verdict.desired,
      why: verdict.why,
      conditions: [],
      events: [],
      consumers: [{ consumer: CONSUMER, verdict }],
      memories: { c: verdict.memory },
      fallbackActive: false,
      failures: 0,
      ...(changed ? { change: verdict.change } : {}),
    } as ConsumersVerdict;
    const scale = {
      specReplicas: current,
      statusReplicas: current,
      ...(poll.ready !== undefined ? { readyReplicas: poll.ready } : {}),
      resourceVersion: '1',
    };
    this.status = statusAfterPoll(
      this.status,
      GENERATION,
      scale,
      all,
      { wall: poll.clocks.wall },
      changed ? TARGET : undefined,
      {
        upPeriodSeconds: scaleUpPeriodSeconds(poll.spec.scaleUp),
        ...(changed ? { change: { from: current, to: decision.desiredReplicas } } : {}),
      },
    );
  }
}

/** A process started after a restart: what it made of the status, and its memory since. */
export class RestartedProcess {
  private memory: ScalingMemory;
  private readonly lastScaleAt: number | undefined;
  private readonly scaleUpsBefore: Array<{ at: number; from: number; to: number }>;

  constructor(status: EventConsumerStatus, spec: ScalingSpec, clocks: ClockReading) {
    const obj = {
      apiVersion: 'jetscale.io/v1alpha1',
      kind: 'EventConsumer',
      metadata: { name: 'ec', namespace: 'fuzz', uid: 'u1', generation: GENERATION },
      spec: {},
      status,
    } as unknown as EventConsumerObject;
    const fingerprint = (): { state: string; band: string; all: string } => ({
      state: '',
      band: '',
      all: '',
    });
    this.memory = newConsumerState(obj, fingerprint, clocks).scaling.c ?? {
      history: { recommendations: [], scaleEvents: [], samples: [] },
      failures: 0,
      fallbackActive: false,
      seeded: false,
    };
    // As reconciler.ts lastScaleBefore reads it (the status always landed here): ahead = now.
    const last = status.lastScaleTime === undefined ? NaN : Date.parse(status.lastScaleTime);
    this.lastScaleAt = Number.isFinite(last)
      ? monotonicTimeOf(Math.min(last, clocks.wall), clocks)
      : undefined;
    this.scaleUpsBefore = carriedScaleUps(status, TARGET, scaleUpPeriodSeconds(spec.scaleUp), clocks);
  }

  /** The policy's decision at a poll, as the controller makes it (decide.ts fromBacklog). */
  decide(poll: PollOf): ScalingDecision {
    const now = poll.sample.at;
    const { policyInput, holdUntil } = policyInputFor({
      scaling: poll.spec,
      memory: this.memory,
      consumer: CONSUMER,
      sample: poll.sample,
      scale: {
        specReplicas: poll.current,
        ...(poll.ready !== undefined ? { readyReplicas: poll.ready } : {}),
      },
      now,
      ...(this.lastScaleAt !== undefined ? { lastScaleAt: this.lastScaleAt } : {}),
      ...(this.scaleUpsBefore.length > 0 ? { scaleUpsBefore: this.scaleUpsBefore } : {}),
    });
    const hold = holdUntil !== undefined && now < holdUntil ? holdUntil : undefined;
    const decision = withScaleDownHold(decide(policyInput), {
      holdUntil: hold,
      now,
      current: poll.current,
      scaling: poll.spec,
    });
    this.pendingHold = hold;
    return decision;
  }

  private pendingHold: number | undefined;

  /** Keeps what the decision left (when it was applied: the fuzzer's world drops a failed scale's history). */
  keep(decision: ScalingDecision): void {
    this.memory = {
      history: decision.history,
      failures: 0,
      fallbackActive: false,
      seeded: true,
      ...(this.pendingHold !== undefined ? { scaleDownHoldUntil: this.pendingHold } : {}),
    };
  }
}
