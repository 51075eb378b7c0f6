// The fixture the carried-* controller tests share: one EventConsumer `ec` (generation 3) scaling
// Deployment `worker` from consumer `c` on stream `S`, a first process polled through the controller's
// decide step, the status it writes (report.ts statusAfterPoll), and a new process made from that
// status alone (consumer-state.ts newConsumerState) — what a restart or a new leader starts from.
import {
  parseEventConsumerSpec,
  type EventConsumerObject,
  type EventConsumerSpec,
  type EventConsumerStatus,
} from '../../api/v1alpha1/event-consumer.js';
import type { ScaleReading } from '../../kube/scale-client.js';
import { decide as policyDecide, emptyHistory } from '../../scaling/index.js';
import type { BacklogSample } from '../../scaling/types.js';
import type { ScalingMemory } from '../consumer-state.js';
import { decide, type ConsumersVerdict, type DecideInput, type Verdict } from '../decide.js';
import { statusAfterPoll, type ScaleRecord } from '../report.js';

/** The generation the fixture's object is at, and its status was written for. */
export const GENERATION = 3;

/** The consumer every fixture reads. */
export const CONSUMER = { name: 'c', stream: 'S', consumer: 'c' } as NonNullable<DecideInput['consumer']>;

/** The spec of `ec`: the consumer above, `worker`, and whatever `over` sets (it must parse). */
export function carriedSpec(over: Record<string, unknown> = {}): EventConsumerSpec {
  const parsed = parseEventConsumerSpec({ ...RAW_SPEC, ...over });
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.spec;
}

const RAW_SPEC = {
  scaleTargetRef: { name: 'worker' },
  nats: { servers: ['nats://x:4222'], stream: 'S', consumer: 'c' },
  minReplicas: 1,
  maxReplicas: 50,
  backlogPerReplica: 100,
};

/** A memory as a consumer polled for the first time has it. */
export function freshMemory(): ScalingMemory {
  return { history: emptyHistory(), failures: 0, fallbackActive: false, seeded: false };
}

/** The scale target as read: `replicas` asked for, `ready` of them ready. */
export function scaleOf(replicas: number, ready = replicas): ScaleReading {
  return { specReplicas: replicas, statusReplicas: replicas, readyReplicas: ready, resourceVersion: '1' };
}

export interface PollRun {
  memory: ScalingMemory;
  replicas: number;
  verdicts: Verdict[];
}

/**
 * Polls every `stepSeconds` (5 s) from scenario second `from` to `to`, on a monotonic clock at
 * `base` for second 0, through the controller's decide step with the real policy. The replicas
 * follow each verdict (the scale write succeeds) unless `follow` says not at that second;
 * `ready(asked)` is how many of them are ready.
 */
export function pollsOf(options: {
  spec: EventConsumerSpec;
  reading: (at: number, t: number) => BacklogSample;
  memory: ScalingMemory;
  replicas: number;
  base: number;
  from: number;
  to: number;
  stepSeconds?: number;
  ready?: (asked: number) => number;
  follow?: (t: number) => boolean;
  input?: Partial<DecideInput>;
}): PollRun {
  const { spec, reading, base, from, to } = options;
  const step = options.stepSeconds ?? 5;
  let memory = options.memory;
  let replicas = options.replicas;
  const verdicts: Verdict[] = [];
  for (let t = from; t <= to; t += step) {
    const now = base + t * 1000;
    const v = decide({
      spec,
      consumer: CONSUMER,
      backlog: { ok: true, sample: reading(now, t) },
      scale: scaleOf(replicas, options.ready?.(replicas) ?? replicas),
      memory,
      now,
      policy: policyDecide,
      ...options.input,
    });
    memory = v.memory;
    if (options.follow?.(t) ?? true) replicas = v.desired;
    verdicts.push(v);
  }
  return { memory, replicas, verdicts };
}

/**
 * The status a poll with this (one-consumer) verdict writes at wall time `wall`, the target at
 * `scale`; `scaled` when that poll changed the target's replicas (report.ts ScaleRecord).
 */
export function statusOf(
  verdict: Verdict,
  scale: ScaleReading,
  wall: number,
  base: EventConsumerStatus = { observedGeneration: GENERATION },
  scaled?: ScaleRecord,
): EventConsumerStatus {
  const all = {
    current: verdict.current,
    desired: verdict.desired,
    why: verdict.why,
    conditions: [],
    events: [],
    consumers: [{ consumer: CONSUMER, verdict }],
    memories: { [CONSUMER.name]: verdict.memory },
    fallbackActive: false,
    failures: 0,
  } as ConsumersVerdict;
  if (verdict.change !== undefined) all.change = verdict.change;
  return statusAfterPoll(
    base,
    GENERATION,
    scale,
    all,
    { wall },
    scaled === undefined ? undefined : TARGET_KEY,
    scaled,
  );
}

/** The key of the fixture's target (observe.ts targetKey of `worker`). */
export const TARGET_KEY = 'apps/v1/Deployment/worker';

/** `ec` at `generation` with this status. */
export function objectWith(status: EventConsumerStatus, generation = GENERATION): EventConsumerObject {
  return {
    apiVersion: 'jetscale.io/v1alpha1',
    kind: 'EventConsumer',
    metadata: { name: 'ec', namespace: 'ns', uid: 'u1', generation },
    spec: RAW_SPEC,
    status,
  } as unknown as EventConsumerObject;
}

/** A status fingerprint that says nothing (newConsumerState's argument; these tests write no status). */
export const noFingerprint = (): { state: string; band: string; all: string } => ({
  state: '',
  band: '',
  all: '',
});

/**
 * A wall clock for a carried-status test: `iso(s)` is s seconds before `wall`, and `clocks` is what the
 * reconciler reads (wall and monotonic).
 */
export function carriedClock(
  wallIso: string,
  monotonic = 7_000_000,
): { WALL: number; iso: (secondsAgo: number) => string; clocks: { wall: number; monotonic: number } } {
  const wall = Date.parse(wallIso);
  return {
    WALL: wall,
    iso: (secondsAgo) => new Date(wall - secondsAgo * 1000).toISOString(),
    clocks: { wall, monotonic },
  };
}

/** A status.consumers[] entry's identity and Ready fields for CONSUMER, as report.ts writes them. */
export const CONSUMER_ENTRY = {
  name: 'c',
  stream: 'S',
  consumer: 'c',
  ready: 'True',
  reason: 'Scaling',
  message: '',
} as const;
