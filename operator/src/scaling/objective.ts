// Sizing for a latency objective (spec.latencyObjectiveSeconds): the wait a user wants, instead of
// a backlog per replica they would have to derive from it. Pure functions, no I/O.
//
// A FIFO consumer serving at the arrival rate λ with a queue of Q messages makes the newest one
// wait about Q / λ. So a queue of up to OBJECTIVE_QUEUE_SHARE × λ × objective is allowed to stand
// (that is what the objective buys: replicas run close to full instead of idling for headroom), and
// only what is above it must be drained, within OBJECTIVE_DRAIN_SHARE × objective. Headroom above
// λ shrinks as the objective grows: arrivals and per-pod speeds are noisy, and the standing queue
// absorbs that noise when the objective leaves room for one.
//
// Spare capacity is sized as square-root staffing sizes it (the Halfin–Whitt regime): in replicas,
// headroom × √(replicas the rate needs × OBJECTIVE_SPARE_REFERENCE_REPLICAS), so at the reference
// size it is the headroom's share of the rate, a smaller deployment keeps a larger share spare and
// a larger one a smaller share. A rise of a given size, and Poisson noise, are a larger share of a
// small rate: spare in proportion to the rate left small deployments short when the load rose
// during a pod start-up and kept large ones idle (measured: see loadtest/sim/README.md).
//
//   allowed  = OBJECTIVE_QUEUE_SHARE × λ × objective
//              (at most OBJECTIVE_STREAM_SHARE of what a stream with max_msgs / max_bytes holds)
//   spare    = OBJECTIVE_HEADROOM × (OBJECTIVE_HEADROOM_SECONDS / objective)^OBJECTIVE_HEADROOM_EXPONENT
//            × √(λ × OBJECTIVE_SPARE_REFERENCE_REPLICAS × per-replica rate)
//   capacity = λ + spare
//            + (queue − allowed) / max(1, OBJECTIVE_DRAIN_SHARE × objective)        when queue > allowed
//            + (queue − allowed) / max(OBJECTIVE_FILL_SECONDS, …)                   when queue < allowed
//   never below OBJECTIVE_FLOOR × λ (OBJECTIVE_STREAM_HEADROOM × λ when the stream's share bounds
//   the allowed queue)
//
// Measured in the simulator (loadtest/sim, `make bench-scaling`): swept over the objective this
// traces jetscale's frontier of p99 wait against replica-seconds; see loadtest/sim/README.md.
//
// The poll interval adapts (Knative polls every 2 s; consumer info costs well under a millisecond):
// every ADAPTIVE_POLL_SECONDS while the arrival rate moves beyond its noise, the queue is above
// what the objective allows, or replicas are changing; doubling up to the spec's pollInterval when
// nothing moves.

/** Headroom above the arrival rate at an objective of OBJECTIVE_HEADROOM_SECONDS (RATE_HEADROOM in decide.ts is 1.15). */
export const OBJECTIVE_HEADROOM = 0.15;
/** The objective at which the headroom is OBJECTIVE_HEADROOM; it scales as (this / objective)^0.75. */
export const OBJECTIVE_HEADROOM_SECONDS = 5;
/** How steeply headroom grows as the objective shrinks below what a pod start-up allows. */
export const OBJECTIVE_HEADROOM_EXPONENT = 0.75;
/**
 * The deployment size (replicas the arrival rate needs) at which the spare is the headroom's share
 * of the rate; spare replicas grow as the square root of the size (see the header).
 */
export const OBJECTIVE_SPARE_REFERENCE_REPLICAS = 16;
/** Share of the objective a standing queue may take (the rest is margin for bursts and start-up). */
export const OBJECTIVE_QUEUE_SHARE = 0.5;
/**
 * Share of what a stream with max_msgs / max_bytes holds that a standing queue may take. A quarter,
 * not OBJECTIVE_QUEUE_SHARE: what stands beyond the limit is refused (discard new) or dropped
 * (discard old), and the queue is let fill slowly (OBJECTIVE_FILL_SECONDS) but drained only over
 * OBJECTIVE_DRAIN_SHARE of the objective, far slower than such a stream fills. At half of it a 60 s
 * objective let 100/s fill a 200-message stream again from 5 replicas that did 98/s
 * (stream-full.test.ts, consumer-configs.int).
 */
export const OBJECTIVE_STREAM_SHARE = 0.25;
/**
 * When the stream holds less than the objective would let stand, capacity is at least this multiple
 * of the arrival rate (RATE_HEADROOM in decide.ts, the sizing without an objective): the standing
 * queue that lets replicas run close to full has no room, and running at the arrival rate (the
 * HPA's tolerance keeps a count within 10 % of it) lets the stream fill again.
 */
export const OBJECTIVE_STREAM_HEADROOM = 1 + OBJECTIVE_HEADROOM;
/** A queue above the allowed one is drained within this share of the objective. */
export const OBJECTIVE_DRAIN_SHARE = 0.5;
/** Capacity never goes below this share of the arrival rate while the queue is under its allowance. */
export const OBJECTIVE_FLOOR = 0.5;
/** A queue below its allowance is let grow toward it over at least this long. */
export const OBJECTIVE_FILL_SECONDS = 60;
/** Poll interval while something moves. */
export const ADAPTIVE_POLL_SECONDS = 1;
/**
 * The longest poll the decision asks for while messages arrive (the spec's pollInterval still caps
 * it): a change is seen within 2 s instead of within the backed-off 5 s. Measured (make
 * bench-scaling's traces, 14 seeds paired, with decide.ts beyondBatchNoise's short-interval rule):
 * p99 −0.3 s (step) to −1.5 s (bursty), none worse beyond the noise, replica-seconds within the
 * noise on every trace; consumer reads 1.2–2.1× as many (33–48 a minute while messages flow), API
 * requests −6 to +10 % (the target is still read once per pollInterval). At 1 s: −0.4 s more on
 * bursty and recurring for +4 % replica-seconds on step (loadtest/sim/README.md "The read").
 */
export const ARRIVING_POLL_SECONDS = 2;
/**
 * While what arrives is within this share of what the ready replicas were shown to do, either way
 * (their measured capacity, or the low end they were shown to do at least, which for replicas never
 * busy is what arrives), the poll stays at ADAPTIVE_POLL_SECONDS: a rise piles up from its first
 * second there, and the panic needs two intervals that show it, so a spike that lands just after
 * a 2 s reading was first seen up to 2 s late and confirmed 1 s after that. Above the
 * 1 ÷ RATE_HEADROOM (0.87) that sized replicas run at. The decision's rules are unchanged; only
 * the readings come sooner (decide.ts also asks for 9/s or more, more for a stream sent in clumps,
 * and every replica ready). Measured (make bench-scaling's runs of default jetscale, 14 seeds,
 * session 33): spike p99 12.54 -> 12.00 s (per seed -0.70 s, 0 to -0.81) at +0.0 %
 * replica-seconds; on every other trace the per-seed medians within 0.01 s p99 and 0.1 %
 * replica-seconds; 1 s polls whenever messages flow cost +1.7 to +4.5 % replica-seconds on step,
 * spike, ramp, diurnal, recorded and demo (loadtest/sim/README.md "Session 33: read every second
 * near capacity").
 */
export const NEAR_CAPACITY_SHARE = 0.9;
/** A change in the arrival rate counts as movement beyond this many standard deviations of Poisson noise. */
export const RATE_NOISE_SIGMAS = 3;

export interface ObjectiveInput {
  objectiveSeconds: number;
  /** Arrival rate to size for (messages/s). */
  arrivalPerSecond: number;
  /** Pending plus awaiting ack. */
  queue: number;
  /** Messages per second one replica completes (measured while busy). */
  perReplicaPerSecond: number;
  /**
   * The most messages the stream holds (max_msgs, or max_bytes at its mean message size:
   * stream-full.ts streamCapacityMessages), when it has such a limit: the queue let stand is at most
   * OBJECTIVE_STREAM_SHARE of it, since what would stand beyond the limit is refused or dropped, and
   * when that bounds it, capacity is at least OBJECTIVE_STREAM_HEADROOM times the arrival rate.
   */
  streamHolds?: number;
}

/** Messages per second the replicas must complete to meet the objective. */
export function objectiveCapacity(input: ObjectiveInput): number {
  const objective = Math.max(0.1, input.objectiveSeconds);
  const arrival = Math.max(0, input.arrivalPerSecond);
  const spare = objectiveSpare(objective, arrival, input.perReplicaPerSecond);
  const allowed = allowedQueue(objective, arrival, input.streamHolds);
  const drainSeconds = Math.max(1, OBJECTIVE_DRAIN_SHARE * objective);
  // Below the allowed queue capacity may dip under the arrival rate (the queue grows toward what
  // the objective allows: that is where a long objective saves replicas), but not below
  // OBJECTIVE_FLOOR × λ, so a quiet spell cannot strip the replicas the rate needs.
  // Filling is slow (OBJECTIVE_FILL_SECONDS): a fast one would cut replicas, let the queue jump and
  // ask for them back a start-up later, over and over.
  const gap = input.queue - allowed;
  const correction = gap > 0 ? gap / drainSeconds : gap / Math.max(drainSeconds, OBJECTIVE_FILL_SECONDS);
  // A stream too small for the queue the objective would let stand: sized as without an objective
  // at least (see OBJECTIVE_STREAM_HEADROOM).
  const floor = streamBoundsQueue(objective, arrival, input.streamHolds)
    ? arrival * OBJECTIVE_STREAM_HEADROOM
    : arrival * OBJECTIVE_FLOOR;
  return Math.max(floor, arrival + spare + correction);
}

/**
 * Whether the stream (`streamHolds` messages at most) is too small for the queue the objective
 * would let stand at this arrival rate: OBJECTIVE_STREAM_SHARE of it is less than
 * OBJECTIVE_QUEUE_SHARE of the objective's worth of arrivals.
 */
export function streamBoundsQueue(
  objectiveSeconds: number,
  arrivalPerSecond: number,
  streamHolds: number | undefined,
): boolean {
  return (
    streamHolds !== undefined &&
    OBJECTIVE_STREAM_SHARE * streamHolds <
      OBJECTIVE_QUEUE_SHARE * Math.max(0, arrivalPerSecond) * Math.max(0, objectiveSeconds)
  );
}

/**
 * Spare capacity (messages/s) above the arrival rate for an objective: objectiveHeadroom's share
 * of the rate at OBJECTIVE_SPARE_REFERENCE_REPLICAS replicas' worth of arrivals, growing as the
 * square root of the rate (square-root staffing). Without a per-replica rate: the share of the rate.
 */
export function objectiveSpare(
  objectiveSeconds: number,
  arrivalPerSecond: number,
  perReplicaPerSecond: number,
): number {
  const arrival = Math.max(0, arrivalPerSecond);
  const share = objectiveHeadroom(objectiveSeconds);
  if (!(perReplicaPerSecond > 0)) return share * arrival;
  return share * Math.sqrt(arrival * OBJECTIVE_SPARE_REFERENCE_REPLICAS * perReplicaPerSecond);
}

/**
 * Spare capacity (share of the arrival rate, at the reference size) for an objective. An objective shorter than a pod
 * start-up can only be met through a rise by replicas already running, so it buys spare capacity;
 * a long one lets a standing queue absorb noise, so replicas run close to full.
 */
export function objectiveHeadroom(objectiveSeconds: number): number {
  const objective = Math.max(0.1, objectiveSeconds);
  return OBJECTIVE_HEADROOM * (OBJECTIVE_HEADROOM_SECONDS / objective) ** OBJECTIVE_HEADROOM_EXPONENT;
}

/**
 * The queue the objective lets stand at this arrival rate: no more than OBJECTIVE_STREAM_SHARE of
 * what the stream holds (`streamHolds`, when it has max_msgs / max_bytes).
 */
export function allowedQueue(
  objectiveSeconds: number,
  arrivalPerSecond: number,
  streamHolds?: number,
): number {
  return Math.min(
    OBJECTIVE_QUEUE_SHARE * Math.max(0, arrivalPerSecond) * Math.max(0, objectiveSeconds),
    OBJECTIVE_STREAM_SHARE * (streamHolds ?? Infinity),
  );
}

/**
 * True when `interval` (messages/s over `intervalSeconds`) differs from the smoothed rate by more
 * than Poisson noise would explain: a real change, not a noisy reading.
 */
export function rateMoved(interval: number, smoothed: number, intervalSeconds: number): boolean {
  if (!(intervalSeconds > 0)) return false;
  const sigma = Math.sqrt(Math.max(smoothed, 1) / intervalSeconds);
  return Math.abs(interval - smoothed) > RATE_NOISE_SIGMAS * sigma;
}

export interface PollInput {
  /** Seconds since the previous reading (undefined on the first). */
  lastIntervalSeconds?: number;
  moving: boolean;
  /** Messages flow (one or more per ARRIVING_POLL_SECONDS): back off to at most that. */
  arriving?: boolean;
  /**
   * ... within NEAR_CAPACITY_SHARE of what the ready replicas were shown to do: back off to no more
   * than ADAPTIVE_POLL_SECONDS.
   */
  nearCapacity?: boolean;
  /** The longest interval: the spec's pollInterval. */
  maxSeconds: number;
}

/**
 * Next poll: ADAPTIVE_POLL_SECONDS while moving, else double the last interval up to maxSeconds, or
 * up to ARRIVING_POLL_SECONDS while messages arrive (ADAPTIVE_POLL_SECONDS near capacity).
 */
export function nextPollSeconds(input: PollInput): number {
  const max = Math.max(ADAPTIVE_POLL_SECONDS, input.maxSeconds);
  if (input.moving) return Math.min(ADAPTIVE_POLL_SECONDS, max);
  const arrivingLongest = input.nearCapacity === true ? ADAPTIVE_POLL_SECONDS : ARRIVING_POLL_SECONDS;
  const longest = input.arriving === true ? Math.min(max, arrivingLongest) : max;
  const last = input.lastIntervalSeconds ?? longest;
  return Math.min(longest, Math.max(ADAPTIVE_POLL_SECONDS, last * 2));
}
