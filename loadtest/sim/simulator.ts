// A deterministic discrete-time simulator of one JetStream consumer and the Deployment consuming
// it, driven by an autoscaler. Messages are modelled as a fluid FIFO of cohorts (arrival time,
// count), which keeps a simulated hour to a few milliseconds while still giving each message's wait
// (arrival → ack). What it models: Poisson arrivals around a trace; per-replica service rate with
// pod-to-pod and tick-to-tick variance; in-flight slots per replica capped by max_ack_pending; pod
// start-up delay and graceful termination (both cost replica-seconds); the autoscaler's own
// intervals; metric staleness (the autoscaler sees the consumer as it was some seconds ago).

import type { BacklogSample } from '../../operator/src/scaling/types.js';
import { Prng, deriveSeed } from './prng.js';
import type { RequestCounts } from './request-cost.js';
import type { Trace } from './traces.js';

export interface WorkloadModel {
  /** Messages/s one replica completes with all its in-flight slots busy. */
  serviceRatePerReplica: number;
  /** Pod-to-pod variation of the service rate (coefficient of variation). */
  serviceRateCv: number;
  /** Tick-to-tick variation of each pod's service rate. */
  tickNoiseCv: number;
  /** Messages one replica works on at once (its handlers' concurrency), each awaiting ack. */
  inFlightPerReplica: number;
  /**
   * Messages one replica's client takes beyond what its handlers work on: a prefetching client's
   * buffer (nats.go Consume() 500, nats.js consume() 100), delivered and awaiting ack while they
   * wait for a handler. Default 0: a replica holds only what it works on. Within max_ack_pending
   * (the buffers compete with the handlers for its slots: the model gives the handlers theirs
   * first). The queue stays one FIFO (a buffer's messages are served in turn with the rest, as if
   * buffers were even): what changes is what the readings show — those messages as awaiting ack
   * instead of pending — which is what the policy has to see through.
   */
  prefetchPerReplica?: number;
  /** Seconds from pod creation to consuming, drawn uniformly per pod. */
  startupSeconds: { min: number; max: number };
  /** Seconds a removed pod keeps running (drain, shutdown) before it is gone. */
  terminationSeconds: number;
  /** The consumer's max_ack_pending (-1 = unlimited). */
  maxAckPending: number;
  /**
   * Seconds before it is counted ready that a new pod already consumes: a container pulls as soon
   * as its process runs, before its readiness probe passes and the Deployment's ready count takes
   * it in (operator/README.md, fd8a0fe). Undefined: DEFAULT_CONSUMES_BEFORE_READY_SECONDS; 0 = it
   * consumes from the moment it is counted ready. Never before the pod was created.
   */
  consumesBeforeReadySeconds?: number;
  /**
   * A new pod's first `seconds` of consuming at `speedShare` of its speed (JIT, connections,
   * caches), so a pod started and soon removed did less work for its replica-seconds: the cost of
   * churn beyond its start-up. Default none. Pods there at the start are warm.
   */
  warmup?: { seconds: number; speedShare: number };
}

/**
 * How long a new pod consumes before it is counted ready, unless the workload says otherwise. The
 * sample consumer (workloads/src/consumer) reports ready once it pulls, and its readiness probe runs
 * every 2 s (charts/jetscale-demo consumer.yaml): the kubelet sees it 0–2 s after the first pull,
 * and its status reaches the Deployment's ready count about a second later, more on a loaded node.
 * Before session 15 the default was 0 (pods consumed only once counted ready), and the bench
 * rewarded a capacity estimate that divides the first scale-up's completions by the ready pods.
 */
export const DEFAULT_CONSUMES_BEFORE_READY_SECONDS = 2;

export const defaultWorkload: WorkloadModel = {
  serviceRatePerReplica: 25,
  serviceRateCv: 0.1,
  tickNoiseCv: 0.05,
  inFlightPerReplica: 10,
  startupSeconds: { min: 10, max: 20 },
  terminationSeconds: 5,
  maxAckPending: 1000,
};

/** What an autoscaler sees at one tick. */
export interface ClusterView {
  /** Epoch ms of the simulated clock. */
  now: number;
  /** The newest consumer reading at least `metricStalenessSeconds` old. */
  sample: BacklogSample;
  /** Deployment spec.replicas. */
  specReplicas: number;
  /** Pods counted ready (they may have consumed for `consumesBeforeReadySeconds` already). */
  readyReplicas: number;
  /** Pods not terminating (Deployment status.replicas): ready plus starting. */
  statusReplicas: number;
}

export interface Autoscaler {
  readonly name: string;
  /** Called every tick; returns new spec.replicas or undefined to leave them. Owns its own timers. */
  tick(view: ClusterView): number | undefined;
  /** Requests sent so far (request-cost.ts); references that read the trace send none. */
  requests?(): RequestCounts;
}

export interface SimulationOptions {
  seed: number;
  trace: Trace;
  workload?: WorkloadModel;
  /** Defaults to the trace's duration. */
  durationSeconds?: number;
  /**
   * After the duration arrivals stop and the run goes on, at most this long, until the queue is
   * empty: messages still queued at the end are then served and waited for, and draining them is
   * paid in replica-seconds, instead of counting at the age they had reached for free. 0 (the
   * default) = stop at the duration.
   */
  drainLimitSeconds?: number;
  tickSeconds?: number;
  metricStalenessSeconds?: number;
  latencyObjectiveSeconds?: number;
  initialReplicas?: number;
  /** Resolution of the recorded timeline (for charts). */
  timelineStepSeconds?: number;
  /**
   * Messages arriving from this time on are also measured apart (`p99AfterWarmupSeconds`): for a
   * trace whose pattern can only be learnt once seen (the trace's `warmupSeconds`).
   */
  warmupSeconds?: number;
}

export interface TimelinePoint {
  t: number;
  arrivalPerSecond: number;
  backlog: number;
  specReplicas: number;
  readyReplicas: number;
}

export interface RunResult {
  trace: string;
  policy: string;
  seed: number;
  durationSeconds: number;
  /** Seconds run past the duration to drain the queue (0 without a drain, or if it was empty). */
  drainSeconds: number;
  arrived: number;
  processed: number;
  backlogAtEnd: number;
  p50WaitSeconds: number;
  p99WaitSeconds: number;
  /** p99 wait of the messages that arrived after `warmupSeconds` (= p99WaitSeconds without one). */
  p99AfterWarmupSeconds: number;
  /**
   * The whole run's p99 had every message arriving after `warmupSeconds` waited nothing: the
   * floor, for this run's behaviour before the warm-up, of any policy that learns the pattern then.
   */
  p99PerfectAfterWarmupSeconds: number;
  maxWaitSeconds: number;
  peakBacklog: number;
  replicaSeconds: number;
  scaleEvents: number;
  /** Pods created after the start (the initial replicas not counted): the policy's churn. */
  podStarts: number;
  /**
   * Pods created within REBOUND_SECONDS of a lowered replica count: capacity given back and bought
   * again soon after (flapping on a lull).
   */
  podStartsAfterScaleDown: number;
  secondsOverObjective: number;
  latencyObjectiveSeconds: number;
  /** Consumer reads (NATS) per minute of the run: the poll's cost on the NATS side. */
  consumerReadsPerMinute: number;
  /** Requests to the Kubernetes API server per minute of the run. */
  apiRequestsPerMinute: number;
  timeline: TimelinePoint[];
}

/** Wait-time histogram (0.1 s bins up to an hour) weighted by message counts, with exact max. */
class WaitHistogram {
  static readonly binSeconds = 0.1;
  private readonly bins = new Float64Array(36_001);
  private total = 0;
  max = 0;

  get count(): number {
    return this.total;
  }

  add(waitSeconds: number, count: number): void {
    if (!(count > 0)) return;
    const w = Math.max(0, waitSeconds);
    const bin = Math.min(this.bins.length - 1, Math.floor(w / WaitHistogram.binSeconds));
    this.bins[bin] = (this.bins[bin] ?? 0) + count;
    this.total += count;
    if (w > this.max) this.max = w;
  }

  quantile(q: number): number {
    if (this.total === 0) return 0;
    const target = q * this.total;
    let seen = 0;
    for (let i = 0; i < this.bins.length; i++) {
      const c = this.bins[i] ?? 0;
      if (seen + c >= target && c > 0) {
        // Interpolate within the bin: counts inside a bin are spread evenly.
        const within = (target - seen) / c;
        return Math.min(this.max, (i + within) * WaitHistogram.binSeconds);
      }
      seen += c;
    }
    return this.max;
  }
}

interface Pod {
  readyAt: number;
  /** When it starts pulling: readyAt, or earlier by consumesBeforeReadySeconds. */
  consumesAt: number;
  /** Until when it serves at the warm-up's share of its speed. */
  warmUntil: number;
  speed: number;
  terminatingUntil?: number;
}

/**
 * The consumer's counters as a server reports them: whole messages. The fluid queue completes and
 * delivers fractions of a message per tick; a server counts a message acknowledged or delivered
 * only whole, so the reading rounds both sequences (to the nearest: never more than half a message
 * off the fluid). Before session 24 the reading carried the fractions, and `queue − ackPending`
 * left ~1e-12 "pending" beside waiting pull requests at nearly every busy reading of bursty, which
 * the standing-backlog rule (refused-backlog.ts) took for a backlog the requests held back. A real
 * reading cannot show that: the edge (backlog/jetstream-backlog-source.ts consumerInfoProblems)
 * refuses a counter that is not a whole number.
 */
export function serverCounts(
  arrived: number,
  processed: number,
  delivered: number,
  consumingPods: number,
  inFlightPerReplica: number,
): Pick<
  BacklogSample,
  'pending' | 'ackPending' | 'waiting' | 'deliveredConsumerSeq' | 'deliveredStreamSeq' | 'ackFloorConsumerSeq'
> {
  const stored = Math.round(arrived);
  const ackFloor = Math.min(stored, Math.round(processed));
  const deliveredSeq = Math.min(stored, Math.max(ackFloor, Math.round(delivered)));
  const ackPending = deliveredSeq - ackFloor;
  return {
    pending: stored - deliveredSeq,
    ackPending,
    waiting: Math.max(0, consumingPods - Math.ceil(ackPending / inFlightPerReplica)),
    deliveredConsumerSeq: deliveredSeq,
    deliveredStreamSeq: deliveredSeq,
    ackFloorConsumerSeq: ackFloor,
  };
}

/**
 * The messages a server has seen acknowledged at the end of a tick: those that arrived at least one
 * service time before (`arrivedServiceTimeAgo`, the tick's arrivals spread evenly over it), as far
 * as the handlers' `capacity` this tick took them beyond `ackedBefore`. The fluid queue itself
 * completes a message only at the end of the first tick at least one service time after its tick's
 * midpoint, so read from it a message stayed in hand up to a tick longer, or shorter, than it is
 * handled: 250.6 held at 500/s for 0.4 s handlers (in-flight 10) where Little's law gives 200, 125.3
 * where it gives 80 (in-flight 4), 125 where it gives 160 (in-flight 8), 0 where it gives 20
 * (in-flight 1; session 31 patched that case alone), and every policy read the difference as work
 * (jetscale's heldBound, KEDA's lag, the oracle's backlog). Only the reading: the service and the
 * waits stay the fluid's. Never backwards; never more than the handlers could have done.
 */
export function ackedAtReading(ackedBefore: number, arrivedServiceTimeAgo: number, capacity: number): number {
  return Math.max(ackedBefore, Math.min(arrivedServiceTimeAgo, ackedBefore + Math.max(0, capacity)));
}

/**
 * Cumulative arrivals by tick, read at any instant with each tick's arrivals spread evenly over it
 * (as Poisson arrivals are, on average). Readings move forward only, so the ticks before the last
 * one read are dropped.
 */
class ArrivalsByTick {
  /** Cumulative arrivals at the end of each tick from `firstTick` on. */
  private readonly byTick: number[] = [];
  private firstTick = 0;
  /** Cumulative arrivals at the start of `firstTick`. */
  private beforeFirst = 0;

  constructor(private readonly dt: number) {}

  /** The next tick's cumulative arrivals at its end. */
  record(arrivedByEnd: number): void {
    this.byTick.push(arrivedByEnd);
  }

  /** Arrivals before `at` seconds (an instant no earlier than the last one read). */
  before(at: number): number {
    if (at <= 0) return 0;
    const position = at / this.dt;
    const tick = Math.floor(position);
    if (tick - this.firstTick > 4096) {
      const drop = tick - this.firstTick;
      this.beforeFirst = this.byTick[drop - 1] ?? this.beforeFirst;
      this.byTick.splice(0, drop);
      this.firstTick = tick;
    }
    const i = tick - this.firstTick;
    const start = i > 0 ? (this.byTick[i - 1] ?? this.beforeFirst) : this.beforeFirst;
    const end = this.byTick[i] ?? this.byTick.at(-1) ?? start;
    return start + (end - start) * (position - tick);
  }
}

/**
 * Each pod's random draws (start-up, speed) from its own generator, keyed by its place in the deployment (the
 * k-th replica) and by how many pods started in that place before it — not from one stream taken in start order.
 * With one stream a policy that starts one pod fewer early shifts the draw of every later pod, so a paired
 * comparison of two policies on one seed measured that shift as well as the policies (±0.25 s of p99 per seed on
 * the recorded trace, session 34). Keyed, two policies that start the same places get the same pods.
 */
export function podGenerators(seed: number): (place: number) => Prng {
  const startsAtPlace: number[] = [];
  return (place) => {
    const starts = startsAtPlace[place] ?? 0;
    startsAtPlace[place] = starts + 1;
    return new Prng(deriveSeed(deriveSeed(seed, place), starts));
  };
}

/** The simulated clock's epoch: `now` and sample times are this plus the simulated seconds. */
export const EPOCH_MS = Date.UTC(2026, 0, 1);

/** A pod started this soon after the replica count was lowered counts as a rebound (`podStartsAfterScaleDown`). */
export const REBOUND_SECONDS = 60;

export function simulate(options: SimulationOptions, autoscaler: Autoscaler): RunResult {
  const workload = options.workload ?? defaultWorkload;
  const trace = options.trace;
  const duration = options.durationSeconds ?? trace.durationSeconds;
  const dt = options.tickSeconds ?? 0.5;
  const staleness = options.metricStalenessSeconds ?? 1;
  const objective = options.latencyObjectiveSeconds ?? 10;
  const timelineStep = options.timelineStepSeconds ?? 10;
  const arrivalsPrng = new Prng(deriveSeed(options.seed, 1));
  const podPrngFor = podGenerators(deriveSeed(options.seed, 2));
  const noisePrng = new Prng(deriveSeed(options.seed, 3));

  const early = Math.max(0, workload.consumesBeforeReadySeconds ?? DEFAULT_CONSUMES_BEFORE_READY_SECONDS);
  const prefetch = Math.max(0, workload.prefetchPerReplica ?? 0);
  const warmupSeconds = Math.max(0, workload.warmup?.seconds ?? 0);
  const warmupShare = Math.min(1, Math.max(0, workload.warmup?.speedShare ?? 1));
  const newPod = (now: number, alreadyReady: boolean, place: number): Pod => {
    const podPrng = podPrngFor(place);
    const readyAt = alreadyReady
      ? now
      : now + podPrng.uniform(workload.startupSeconds.min, workload.startupSeconds.max);
    const consumesAt = alreadyReady ? now : Math.max(now, readyAt - early);
    return {
      readyAt,
      consumesAt,
      warmUntil: alreadyReady ? now : consumesAt + warmupSeconds,
      speed: Math.max(0.2, 1 + workload.serviceRateCv * podPrng.normal()),
    };
  };

  // Queue of cohorts; `head` advances instead of shifting so dequeueing stays O(1).
  const cohortAt: number[] = [];
  const cohortCount: number[] = [];
  let head = 0;
  let queue = 0;

  let pods: Pod[] = [];
  let specReplicas = options.initialReplicas ?? 1;
  for (let i = 0; i < specReplicas; i++) pods.push(newPod(0, true, i));

  const histogram = new WaitHistogram();
  const warmup = options.warmupSeconds ?? 0;
  const afterWarmup = new WaitHistogram();
  const beforeWarmup = new WaitHistogram();
  let arrived = 0;
  let processed = 0;
  let delivered = 0;
  // What the server has seen acknowledged: the same service as the fluid's, but each tick's arrivals
  // spread over the tick and each done one service time after it arrived, at the instant of the
  // reading (below, `ackedAtReading`).
  let acked = 0;
  const arrivedByTick = new ArrivalsByTick(dt);
  let peakBacklog = 0;
  let replicaSeconds = 0;
  let scaleEvents = 0;
  let podStarts = 0;
  let podStartsAfterScaleDown = 0;
  let lastScaleDownAt = -Infinity;
  let secondsOverObjective = 0;
  const timeline: TimelinePoint[] = [];
  let arrivedSinceTimeline = 0;
  let nextTimelineAt = timelineStep;

  // Samples by tick, for staleness: the autoscaler reads the one `staleness` seconds old.
  const samples: BacklogSample[] = [];
  const staleTicks = Math.max(0, Math.round(staleness / dt));

  const ticks = Math.round(duration / dt);
  const drainTicks = Math.round(Math.max(0, options.drainLimitSeconds ?? 0) / dt);
  let runEnd = duration;
  for (let tick = 0; tick < ticks || (queue > 0 && tick < ticks + drainTicks); tick++) {
    const t = tick * dt;
    const end = t + dt;
    runEnd = Math.max(duration, end);

    // Arrivals, spread over the tick: stamped at its midpoint. None in the drain.
    const arrivals = tick < ticks ? arrivalsPrng.poisson(trace.rateAt(t + dt / 2) * dt) : 0;
    if (arrivals > 0) {
      cohortAt.push(t + dt / 2);
      cohortCount.push(arrivals);
      queue += arrivals;
      arrived += arrivals;
      arrivedSinceTimeline += arrivals;
    }
    arrivedByTick.record(arrived);

    // Service: consuming pods fill their slots from the queue (capped by max_ack_pending); each slot
    // completes messages at serviceRate / inFlightPerReplica (a warming pod at its share of that).
    let readyCount = 0;
    let consumingCount = 0;
    let speedSum = 0;
    let liveCount = 0;
    for (const p of pods) {
      if (p.terminatingUntil !== undefined) continue;
      liveCount++;
      if (p.readyAt <= t) readyCount++;
      if (p.consumesAt <= t) {
        consumingCount++;
        speedSum += p.speed * (t < p.warmUntil ? warmupShare : 1);
      }
    }
    // Independent per-pod noise summed over n pods: relative spread cv / √n (one draw per tick).
    if (consumingCount > 0) {
      speedSum *= Math.max(0, 1 + (workload.tickNoiseCv / Math.sqrt(consumingCount)) * noisePrng.normal());
    }
    const slots = consumingCount * workload.inFlightPerReplica;
    const inFlightCap = workload.maxAckPending > 0 ? Math.min(slots, workload.maxAckPending) : slots;
    const inFlight = Math.min(queue, inFlightCap);
    const fill = slots > 0 ? inFlight / slots : 0;
    // A message completes no sooner than one service time after it arrived: without this the fluid
    // queue would empty within a tick at light load and JetStream's awaiting-ack count (Little's
    // law: arrival rate × service time) would read 0.
    const serviceSeconds = workload.inFlightPerReplica / workload.serviceRatePerReplica;
    let eligible = 0;
    for (let i = head; i < cohortCount.length && (cohortAt[i] ?? end) <= end - serviceSeconds; i++) {
      eligible += cohortCount[i] ?? 0;
    }
    const capacity = speedSum * workload.serviceRatePerReplica * fill * dt;
    let toProcess = Math.min(eligible, capacity);
    processed += toProcess;
    queue -= toProcess;
    while (toProcess > 1e-9 && head < cohortCount.length) {
      const available = cohortCount[head] ?? 0;
      const taken = Math.min(available, toProcess);
      histogram.add(end - (cohortAt[head] ?? end), taken);
      if ((cohortAt[head] ?? 0) >= warmup) afterWarmup.add(end - (cohortAt[head] ?? end), taken);
      else beforeWarmup.add(end - (cohortAt[head] ?? end), taken);
      toProcess -= taken;
      if (taken >= available - 1e-9) head++;
      else cohortCount[head] = available - taken;
    }
    if (queue < 1e-9) queue = 0;
    if (head > 4096 && head * 2 > cohortCount.length) {
      cohortAt.splice(0, head);
      cohortCount.splice(0, head);
      head = 0;
    }

    // The consumer as JetStream reports it at the end of the tick: in hand what its handlers hold at
    // that instant (ackedAtReading). Deliveries never go backwards: messages held by pods that went
    // away stay awaiting ack until completed. A prefetching client holds its buffer's worth more
    // (prefetchPerReplica), within max_ack_pending.
    acked = ackedAtReading(acked, arrivedByTick.before(end - serviceSeconds), capacity);
    const holdPerReplica = workload.inFlightPerReplica + prefetch;
    const holdSlots = consumingCount * holdPerReplica;
    const holdCap = workload.maxAckPending > 0 ? Math.min(holdSlots, workload.maxAckPending) : holdSlots;
    delivered = Math.max(delivered, acked + Math.min(arrived - acked, holdCap));
    const sample: BacklogSample = {
      at: EPOCH_MS + end * 1000,
      ...serverCounts(arrived, acked, delivered, consumingCount, holdPerReplica),
      redelivered: 0,
      maxAckPending: workload.maxAckPending,
    };
    samples.push(sample);
    if (samples.length > staleTicks + 1) samples.shift();
    peakBacklog = Math.max(peakBacklog, queue);
    const headAge = head < cohortAt.length ? end - (cohortAt[head] ?? end) : 0;
    if (headAge > objective) secondsOverObjective += dt;

    // Pods cost from creation to the end of their termination: count this tick's pods before the
    // autoscaler changes them (new pods start costing from the next tick).
    replicaSeconds += pods.length * dt;

    // Autoscaler.
    const seen = samples[0] ?? sample;
    const statusReplicas = liveCount;
    const desired = autoscaler.tick({
      now: EPOCH_MS + end * 1000,
      sample: seen,
      specReplicas,
      readyReplicas: readyCount,
      statusReplicas,
    });
    if (desired !== undefined && desired !== specReplicas) {
      scaleEvents++;
      const lowered = Math.floor(desired) < specReplicas;
      specReplicas = Math.max(0, Math.floor(desired));
      let live = pods.filter((p) => p.terminatingUntil === undefined);
      while (live.length < specReplicas) {
        const pod = newPod(end, false, live.length);
        pods.push(pod);
        live.push(pod);
        podStarts++;
        if (end - lastScaleDownAt <= REBOUND_SECONDS) podStartsAfterScaleDown++;
      }
      if (lowered) lastScaleDownAt = end;
      if (live.length > specReplicas) {
        // Like a ReplicaSet: remove pods still starting first, then the youngest ready ones.
        live = [...live].sort((a, b) => b.readyAt - a.readyAt);
        for (const pod of live.slice(0, live.length - specReplicas)) {
          pod.terminatingUntil = pod.readyAt > end ? end : end + workload.terminationSeconds;
        }
      }
    }
    if (pods.some((p) => p.terminatingUntil !== undefined && p.terminatingUntil <= end)) {
      pods = pods.filter((p) => p.terminatingUntil === undefined || p.terminatingUntil > end);
    }

    if (end >= nextTimelineAt) {
      timeline.push({
        t: end,
        arrivalPerSecond: arrivedSinceTimeline / timelineStep,
        backlog: queue,
        specReplicas,
        readyReplicas: readyCount,
      });
      arrivedSinceTimeline = 0;
      nextTimelineAt += timelineStep;
    }
  }

  // Messages still queued at the end count with the age they have reached (a lower bound), so a
  // policy cannot look good by leaving a backlog behind.
  for (let i = head; i < cohortCount.length; i++) {
    histogram.add(runEnd - (cohortAt[i] ?? runEnd), cohortCount[i] ?? 0);
    if ((cohortAt[i] ?? 0) >= warmup) afterWarmup.add(runEnd - (cohortAt[i] ?? runEnd), cohortCount[i] ?? 0);
    else beforeWarmup.add(runEnd - (cohortAt[i] ?? runEnd), cohortCount[i] ?? 0);
  }
  // The top 1 % of all messages, taken from those before the warm-up only (the rest waited 0).
  const tail = 0.01 * histogram.count;
  const p99PerfectAfterWarmupSeconds =
    beforeWarmup.count > tail ? beforeWarmup.quantile(1 - tail / beforeWarmup.count) : 0;

  return {
    trace: trace.name,
    policy: autoscaler.name,
    seed: options.seed,
    durationSeconds: duration,
    drainSeconds: runEnd - duration,
    arrived,
    processed,
    backlogAtEnd: queue,
    p50WaitSeconds: histogram.quantile(0.5),
    p99WaitSeconds: histogram.quantile(0.99),
    p99AfterWarmupSeconds: afterWarmup.quantile(0.99),
    p99PerfectAfterWarmupSeconds,
    maxWaitSeconds: histogram.max,
    peakBacklog,
    replicaSeconds,
    scaleEvents,
    podStarts,
    podStartsAfterScaleDown,
    secondsOverObjective,
    latencyObjectiveSeconds: objective,
    consumerReadsPerMinute: ((autoscaler.requests?.().consumerReads ?? 0) * 60) / runEnd,
    apiRequestsPerMinute: ((autoscaler.requests?.().apiRequests ?? 0) * 60) / runEnd,
    timeline,
  };
}
