// An operator restart (a rollout, an OOM kill, a leader failover) in the policy fuzzer's world
// (fuzz-world.ts World.restartAt): from the first poll at or after it, the policy's state is what a
// new process makes of the EventConsumer's status alone, through the controller's own code — the
// status it writes after each poll (report.ts statusAfterPoll), read back and validated
// (consumer-state.ts newConsumerState, scale-up-record.ts carriedScaleUps), and a new history made
// from it (decide.ts policyInputFor, withScaleDownHold). Everything else the old process kept in
// memory (readings, rates, windows, forecasts) is gone.
//
// The status a restart reads is what the operator's writer had handed over by then (report.ts
// statusLane at the default cadence): what users act on at once, readings every 2-3 minutes, so the
// rates it carries may be minutes old; and in the worlds whose last write is lost
// (World.statusWrites), the one before the write handed over at the last poll, as when the process
// was killed before that write landed. The new process then reads the target's size and its field
// manager as the reconciler does (reconciler.ts lastScaleBefore, scaleUpsBeforeThis: a size the
// status does not name was set by a scale whose status did not land). Simplified: a write handed
// over lands (the writer's queue, its budget and failed writes are not modelled).
import type { EventConsumerObject, EventConsumerStatus } from '../../api/v1alpha1/event-consumer.js';
import type { ClockReading } from '../../clock.js';
import type { ScaleReading } from '../../kube/scale-client.js';
import { newConsumerState, type ScalingMemory, type StatusMemory } from '../../controller/consumer-state.js';
import {
  policyInputFor,
  withScaleDownHold,
  type ConsumersVerdict,
  type Verdict,
} from '../../controller/decide.js';
import { lastScaleBefore, scaleUpsBeforeThis } from '../../controller/reconciler.js';
import {
  DEFAULT_STATUS_CADENCE,
  rememberWritten,
  statusAfterPoll,
  statusFingerprint,
  statusLane,
} from '../../controller/report.js';
import { scaleUpPeriodSeconds } from '../../controller/scale-up-record.js';
import { FIELD_MANAGER } from '../../kube/scale-client.js';
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

/** The EventConsumer's status as the operator builds it after each poll and writes it when due. */
export class StatusTrail {
  /** What the writer remembers: the last status handed over, which the next poll builds on. */
  private memory: StatusMemory;
  private readonly lastLost: boolean;
  /** The status as written (the API server's), and the one before the last write. */
  private written: EventConsumerStatus = { observedGeneration: GENERATION };
  private beforeLastWrite: EventConsumerStatus = this.written;
  /** Whether the last poll handed a status over. */
  private wroteAtLastPoll = false;

  constructor(writes: { refreshJitter: number; lastLost: boolean } = { refreshJitter: 0, lastLost: false }) {
    this.memory = { refreshJitter: writes.refreshJitter };
    this.lastLost = writes.lastLost;
  }

  /**
   * The process restarts: the status it reads (the last written, or the one before a write lost
   * with the process), from which the new process's writer goes on. Its first poll writes, as a new
   * leader term's does (report.ts statusFingerprint: writtenBy is state).
   */
  restart(): EventConsumerStatus {
    const landed = this.lastLost && this.wroteAtLastPoll ? this.beforeLastWrite : this.written;
    this.written = landed;
    this.beforeLastWrite = landed;
    this.wroteAtLastPoll = false;
    this.memory = { refreshJitter: this.memory.refreshJitter, written: landed };
    return landed;
  }

  /** The status after a poll whose decision was (or was not) applied, written when due. */
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
    const status = statusAfterPoll(
      this.memory.written ?? this.written,
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
    const fingerprint = statusFingerprint(status);
    const now = poll.clocks.monotonic;
    this.wroteAtLastPoll = statusLane(fingerprint, this.memory, now, DEFAULT_STATUS_CADENCE) !== undefined;
    if (this.wroteAtLastPoll) {
      rememberWritten(this.memory, status, fingerprint, now);
      this.beforeLastWrite = this.written;
      this.written = status;
    }
  }
}

/** A process started after a restart: what it made of the status, and its memory since. */
export class RestartedProcess {
  private memory: ScalingMemory;
  private readonly lastScaleAt: number | undefined;
  private readonly scaleUpsBefore: Array<{ at: number; from: number; to: number }>;

  constructor(status: EventConsumerStatus, spec: ScalingSpec, poll: PollOf) {
    const clocks = poll.clocks;
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
    // As the reconciler reads them: the target's replicas were last set by jetscale.
    const scale: ScaleReading = {
      specReplicas: poll.current,
      statusReplicas: poll.current,
      resourceVersion: '1',
      replicasManager: { manager: FIELD_MANAGER },
    };
    this.lastScaleAt = lastScaleBefore(obj, TARGET, scale, clocks);
    this.scaleUpsBefore = scaleUpsBeforeThis(obj, TARGET, scale, scaleUpPeriodSeconds(spec.scaleUp), clocks);
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
