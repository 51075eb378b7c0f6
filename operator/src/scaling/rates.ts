// Arrival and processing rates of a JetStream consumer, estimated from successive consumer-info
// readings. JetStream exposes no rate, only counters and gauges, so over one interval:
//   new deliveries ≈ Δdelivered.consumer_seq − proven redeliveries
//   arrived        ≈ new deliveries + Δnum_pending       (delivered or still waiting)
//   completed      ≈ new deliveries − Δnum_ack_pending   (acknowledged: no longer in flight)
// Redeliveries are neither arrivals nor completions. A redelivered message was already counted
// when it was first delivered, and it leaves num_ack_pending only once, when it is acknowledged.
// Two kinds of redelivery look the same in the counters:
// - a prefetched copy whose ack_wait expired before the client reached it (nats.go Consume()
//   buffers 500 per subscriber: at 200 ms per message that is 100 s of work, past the default 30 s
//   ack_wait). Nothing was done with it; counting it as completed would inflate the processing rate
//   and the per-replica capacity, and the operator would under-scale.
// - a message a handler nak'd to retry it. That retry is work replicas must do, and it is paid for
//   honestly in capacity: a replica that spends a fifth of its handler time on retries completes a
//   fifth fewer messages, so completions ÷ replicas (the per-replica capacity) already carries the
//   cost of retries, in the same unit as arrivals (new messages). Sizing new arrivals by it asks for
//   the replicas the retries need too.
// Redeliveries are proven, not guessed: delivered.stream_seq moves only on new deliveries, by at
// least one per new delivery (more with a filter subject: skipped messages of other subjects), so
// Δconsumer_seq − Δstream_seq is at least the redeliveries; and num_redelivered (a gauge of
// messages awaiting ack that were delivered more than once) rose by no more than the messages
// redelivered for the first time. The larger of the two is subtracted. With a filter subject on a
// stream where other subjects interleave, redeliveries can hide behind the skipped sequences (on a
// real server: 25 deliveries in a second, 12 of them redeliveries, while delivered.stream_seq moved
// 78 over the other subject's messages and num_redelivered fell), and consumer info proves no more:
// num_pending counts only what matches the filter, but what arrived for it is not known apart
// from the deliveries. Such an interval (mayHideRedeliveries) is no capacity evidence, and its
// count of arrivals only the most that can have arrived: with nothing pending at the server, the
// rate before stands in for it (arrivalsWhileRedeliveriesHide); with work waiting, more replicas,
// not fewer.
// Rates are smoothed with a time-aware EWMA, so irregular poll intervals weigh correctly, and are
// taken over intervals of at least MIN_INTERVAL_SECONDS: a reading sooner than that after the last
// one measured (a poll prompted by a watch event) leaves the estimate as it was, and the next
// reading is measured over both.
//
// Per-replica capacity is learnt from intervals whose replicas were busy throughout, with the same
// replicas ready throughout and settled (when the target reports no ready count, a replica count
// counts as ready only `settleSeconds` after it changed: pods still starting would otherwise
// dilute it). While some replicas are new, a reading is a bound: replicas ready for less than
// WARM_UP_SECONDS may still be warming up, so completions ÷ the replicas is at most, and completions
// ÷ the warm ones alone at least, what a warm replica does; replicas that left the ready count
// still finish what they hold (LOWER_BOUND_SETTLE_SECONDS: it can only lower the estimate); pods
// asked for and not ready yet may consume already, and pods taken back finish what they hold
// (completions ÷ every pod asked for, within LOWER_BOUND_SETTLE_SECONDS of being taken back too, is
// a lower end). A figure first learnt while more were asked for than ready is that lower end only
// (perReplicaLowEndOnly) until an interval with none asked for beyond the ready ones measures it:
// completions ÷ ready read 40/s for 20/s pods while 2 of the 4 consuming were counted ready.
// Between busy periods it can only rise: completed ÷ ready replicas over any settled
// interval is at least what each replica can do, so a low reading (a cold start, a slow
// dependency) is raised by completions that prove more, and never lowered by a quiet period. An
// interval much longer than the one before (a poll gap: the operator stalled, or a leader took
// over) proves nothing about capacity — the replicas may have idled, restarted or been rescaled
// in between — while its arrivals and completions still count, averaged over the gap.
//
// Which readings show the replicas busy (and so measure the figure both ways), and which only show
// what they did at least. The counters give, per interval: what was pending at the server, what
// awaited ack (held by the clients: in a handler's hand, or in a buffer before it), the
// completions, and the ready count. They never tell in hand from buffered while the replicas hold
// a steady count and complete what arrives: 200 held by 4 replicas completing 20/s is one handler
// each at 5/s behind a buffer of 49, or 50 handlers each working 10 s with time to spare. So:
// - work waiting at the server at both ends (a full batch a replica): the clients are full and ask
//   for more, so every handler has work. Trusted: the figure is measured both ways.
// - held messages alone (busyOnPrefetch), beyond what the handlers can have in hand and an
//   interval's work: one in hand a replica unless spec.inFlightPerReplica says how many (then
//   that many). Trusted both ways when the user said how many, or when the replicas fell behind
//   in the interval (more arrived than completed, beyond the count's noise: handlers with time to
//   spare keep up). Otherwise the interval is a lower bound: it sets a first figure and raises one,
//   but never lowers a figure measured before. Taken both ways, handlers of 10 s working on 50 at
//   once were read at completions ÷ ready every interval, each replica added lowered the figure
//   that asked for it, and 20/s arriving for 5/s replicas went to maxReplicas (20), asking for 30.
//   A first figure it sets while some ready replicas warm up is a low end only
//   (perReplicaLowEndHeld): what was held then was handed out to fewer of them.
//   The price: one-at-a-time handlers that slow down behind full buffers while arrivals slow down
//   with them, exactly, are not re-measured until work waits at the server or the backlog grows.
// - held messages whose ack floor moved at one replica's share of the completions for a minute
//   (floorPacedBusy): buffers taken in blocks (fetch loops, a batch pulled while the others were
//   busy), the replica at the floor working through the oldest in order, the others completing as
//   much each. Trusted both ways: handlers with time to spare working on what they hold at once
//   move the floor with all the completions. Read as kept up, a 0.65/s figure stood 750 s over
//   replicas that did 0.12/s (the policy fuzzer's adverse world 291460) while 2f sized what they
//   held as drained within 30 s, and messages waited 120-230 s.
//
// max_ack_pending: what a replica holds awaiting ack is mostly its client's prefetch (nats.go's
// Consume() keeps up to 500 per subscriber, nats.js consume() 100), not how many messages its
// handlers work on at once. A full max_ack_pending therefore says nothing by itself: a replica with
// one message in hand is as busy as one with 500, acks free slots, and the server hands them to
// whichever pull request waits. Whether the limit binds is measured instead: while
// max_ack_pending is full and work waits, the processing rate is recorded per ready replica count,
// and the limit binds when more replicas did not raise it (see maxAckPendingBinding).

import { ADAPTIVE_POLL_SECONDS, RATE_NOISE_SIGMAS } from './objective.js';
import { upstreamLagOf } from './backlog.js';
import { heldAtThreshold, waitsWithBacklog } from './refused-backlog.js';
import { nextInHand, validHandlersInHand } from './in-hand.js';
import { fillingHands } from './held-filling.js';
import type { HeldRisingRun } from './held-filling.js';
import {
  acknowledgedBeforeExpiry,
  beyondMaxAgeConfirmSeconds,
  extendTakenRun,
  takenShowsFaster,
  takenShowsNotFaster,
  takenShowsSlower,
  validBeyondMaxAge,
  validTakenRun,
} from './beyond-max-age.js';
import type { BeyondMaxAge, TakenRun } from './beyond-max-age.js';
import type { HandlersInHand, HeldStretch } from './in-hand.js';
import { STREAM_FULL_SHARE } from './stream-full.js';
import { nextRemovedUnworked } from './removed-unworked.js';
import type { RemovedUnworked } from './removed-unworked.js';
import type { BacklogSample, LimitedStreamState, Rates, RemovingLimits, ServerTime } from './types.js';

/**
 * Shortest interval a rate is taken over. The policy asks for a reading every
 * ADAPTIVE_POLL_SECONDS while anything moves, but the controller also reads at once on a watch
 * event (a scale, a spec edit, a pod becoming ready), so two readings can be a fraction of a second
 * apart, and a rate over such an interval is noise: 84 messages of a bursty 50/s stream in 0.2 s
 * read as 420/s, and the panic rule asked for 101 replicas. A reading sooner than this after the
 * last one measured is no interval of its own: the estimate stays as it was and the next reading
 * is measured from the same start, over both. Just under ADAPTIVE_POLL_SECONDS, so that readings
 * the policy asked for, a few milliseconds early by the jitter of a request, are all measured.
 */
export const MIN_INTERVAL_SECONDS = 0.9 * ADAPTIVE_POLL_SECONDS;
/**
 * Largest share of an interval the readings' round trips may take. A reading is stamped when its
 * request was sent, and the server's snapshot is somewhere before the reply came, so an interval's
 * length is uncertain by its readings' round trips. On a 3-node cluster whose consumer leader was
 * stopped, one CONSUMER.INFO was answered after ~5 s, by the new leader: 6 s of arrivals counted
 * over a 1 s interval read 120/s of a 20/s stream (leader-change.int). A reading whose round trip
 * is more than this share of the interval moves no rate: the next reading is measured from the same
 * start, over both, as for a reading sooner than MIN_INTERVAL_SECONDS. The error that remains is at
 * most this share. When it is the interval's start that was slow and the reading itself is not, the
 * interval restarts at the reading instead (restartInterval): held at a start answered 2 s late, no
 * interval would count for 10 s, and the operator sized by the backlog alone that long
 * (real-clients.int: NEEDED asked at poll 7 instead of 2 after one slow first reading). Only for
 * intervals the operator's clock times: one the server's clock times is exact (readingInterval).
 */
export const ROUND_TRIP_SHARE = 0.2;
/**
 * How much faster or slower the server's clock may run than the operator's, as a share of an
 * interval: NTP slews a clock by at most 500 ppm. With STAMP_RESOLUTION_MS, the slack allowed
 * when the server's times are checked against what the operator saw (readingInterval).
 */
export const CLOCK_RATE_TOLERANCE = 0.001;
/** The server's `ts` is read to the millisecond: each end of an interval may be rounded by 1 ms. */
export const STAMP_RESOLUTION_MS = 2;
/**
 * One interval's arrivals count at once at most this multiple of what was seen before it (the
 * interval before, or the confirmed rate): a single batch of a bursty publisher can look like a 50x
 * jump in one reading, and the next reading confirms a real rise. decide.ts sizes panics and the
 * start-up pile-up only from confirmed rates.
 */
export const CONFIRM_FACTOR = 2;
/**
 * A stream counts as sent in batches once its measured dispersion reaches this (variance twice a
 * Poisson stream's): averaged over a minute of 1 s readings, a Poisson stream's estimate stays
 * within about 0.2 of 1, and a step in the rate moves it by at most 0.25.
 */
export const BATCHED_DISPERSION = 2;
/**
 * An interval before holding at least this many messages of a stream measured as independent
 * messages (dispersion below BATCHED_DISPERSION) shows a flowing stream, whose rises count at once
 * towards the confirmed rate: a 40x jump of a 10/s stream is no batch. After fewer (a quiet
 * stretch: the dispersion has nothing to go by) a rise waits for the next reading.
 */
export const FLOWING_MESSAGES = 10;
/**
 * The confirmed rate of a stream sent in batches (dispersion D ≥ BATCHED_DISPERSION) is smoothed
 * over a time constant long enough that its batch noise is at most this share of the rate (one
 * standard deviation). Capping each interval at CONFIRM_FACTOR times what was seen before, as for
 * a stream of independent messages, does not work there: a batch right after a batch counts whole
 * (one batch confirms the next), a batch after an empty reading is cut, and 24/s in batches of 100
 * read every second confirmed up to 50/s while averaging 0.2–0.3 of the true rate
 * (rates.test.ts).
 */
export const CONFIRMED_BATCH_NOISE_SHARE = 0.2;
/**
 * Longest time constant of a batched stream's confirmed rate: a rise of a sparse stream (a batch
 * every 20 s) is confirmed half-way within about 40 s, where its batch noise stays above
 * CONFIRMED_BATCH_NOISE_SHARE.
 */
export const CONFIRMED_BATCH_MAX_TIME_CONSTANT_SECONDS = 60;

/**
 * The time constant of a batched stream's confirmed rate at dispersion D and rate λ: an EWMA over
 * τ of a stream in batches has variance D·λ/(2τ), so τ = D / (2 · share² · λ) holds its standard
 * deviation to CONFIRMED_BATCH_NOISE_SHARE of λ; never shorter than ARRIVAL_TIME_CONSTANT_SECONDS,
 * nor longer than CONFIRMED_BATCH_MAX_TIME_CONSTANT_SECONDS. λ is the lower of the confirmed and
 * the smoothed rate: a confirmed rate that noise took high does not shorten its own time constant
 * (and chase the noise) unless the smoothed rate agrees.
 */
export function batchedConfirmTimeConstant(dispersion: number, rate: number): number {
  const tau = dispersion / (2 * CONFIRMED_BATCH_NOISE_SHARE ** 2 * Math.max(rate, Number.MIN_VALUE));
  return Math.min(CONFIRMED_BATCH_MAX_TIME_CONSTANT_SECONDS, Math.max(ARRIVAL_TIME_CONSTANT_SECONDS, tau));
}
/**
 * One standard deviation of the confirmed arrival rate's estimate (messages per second): an EWMA
 * over τ of a stream of dispersion D at rate λ varies by D·λ/(2τ), τ as rates.ts smooths it
 * (batchedConfirmTimeConstant for a stream sent in batches, ARRIVAL_TIME_CONSTANT_SECONDS
 * otherwise). What the confirmed rate shows above the truth within a few of these is noise the
 * policy knows of (decide.ts: the start-up pile-up).
 */
export function confirmedArrivalNoise(state: RateState): number {
  const confirmed = state.confirmedArrivalPerSecond ?? 0;
  if (!(confirmed > 0)) return 0;
  const dispersion = Math.max(1, state.arrivalDispersion ?? 1);
  const tau =
    dispersion >= BATCHED_DISPERSION
      ? batchedConfirmTimeConstant(dispersion, Math.min(confirmed, state.arrivalPerSecond ?? Infinity))
      : ARRIVAL_TIME_CONSTANT_SECONDS;
  return Math.sqrt((dispersion * confirmed) / (2 * tau));
}
/** Smoothing time constants: arrivals must be followed quickly; capacity is a slow property. */
export const ARRIVAL_TIME_CONSTANT_SECONDS = 10;
export const PROCESSING_TIME_CONSTANT_SECONDS = 10;
export const CAPACITY_TIME_CONSTANT_SECONDS = 60;
/**
 * Outside busy periods a reading moves the per-replica capacity only up, and only when it proves
 * more (completions ÷ the replicas is at most what each can do): it then weighs against at most
 * this many seconds of the figure's evidence, not CAPACITY_TIME_CONSTANT_SECONDS. A figure stays
 * below what the replicas proved (a mean of it and readings above it), but no longer takes minutes
 * to get there: a figure learnt at 12.5/s handlers, which then ran at 50/s, rose by a few tenths a
 * minute — replicas sized by it are never busy, so nothing else could raise it — and kept 6–7
 * replicas where 5–6 were the bound (the policy fuzzer's world 12146).
 */
export const CAPACITY_RISE_SECONDS = 10;
/**
 * Busy intervals add up to a measurement once they span this long: consecutive intervals with
 * every replica busy, warm and counted ready, and none asked for beyond them. When their mean
 * completions per replica is above the figure, the figure is raised to it at once (each interval
 * alone still moves it at the CAPACITY_TIME_CONSTANT_SECONDS pace both ways). Long enough for
 * acknowledgements that reached the server in a burst to even out (one 1–2 s interval read 41.9/s
 * for 20/s handlers).
 */
export const CAPACITY_PROOF_SECONDS = 10;
/** A replica count needs this many seconds at a full max_ack_pending before it counts as evidence. */
export const SATURATION_MIN_SECONDS = 10;
/**
 * Replicas that just became ready are still warming up (JIT, caches, connections) — or, reporting
 * ready before their process consumes, not working at all — for about this long. Intervals
 * starting sooner than this after the ready count rose can only raise the per-replica capacity
 * (what the replicas completed is at least what they can do); intervals starting sooner than this
 * after any change of the ready count are no max_ack_pending evidence.
 */
export const READY_SETTLE_SECONDS = 10;
/**
 * A replica that became ready less than this long before an interval started may still be warming
 * up during it: its first seconds of consuming run slower (JIT, caches, connection pools). Such an
 * interval is a bound on the per-replica capacity, not a measurement: completions ÷ every replica
 * is at most what one warm replica does, completions ÷ the warm ones alone at least (see
 * RateState.last.readyCohorts). Before, every replica counted as warm READY_SETTLE_SECONDS after the
 * ready count rose: 2 replicas at 10/s joined by 2 that served at half speed for their first 20 s
 * (the simulator's --warmup 20@0.5) took the figure to 9.6/s, and a lower figure asks for more
 * replicas, which warm up in turn.
 */
export const WARM_UP_SECONDS = 30;
/** Cohorts of ready replicas kept (RateState.last.readyCohorts); beyond it the oldest merge. */
const MAX_READY_COHORTS = 64;
/**
 * Replicas taken out of the ready count may still finish what they hold until their termination
 * grace period (Kubernetes' default: 30 s) ends. Intervals starting sooner than this after the
 * ready count fell can only lower the per-replica capacity (completions ÷ the ready replicas is at
 * most what each can do), and completions outside busy periods raise it only this long after any
 * change of the ready count.
 */
export const LOWER_BOUND_SETTLE_SECONDS = 30;
/**
 * An interval is a gap — no capacity evidence — when it is longer than GAP_FACTOR times the
 * interval before it and longer than GAP_MIN_SECONDS (adaptive polling doubles its interval, so a
 * factor of 2 is ordinary).
 */
export const GAP_FACTOR = 4;
export const GAP_MIN_SECONDS = 30;
/** Evidence older than this is forgotten, so a cap that once bound is probed again. */
export const SATURATION_MEMORY_SECONDS = 900;
/**
 * The limit binds when going from a to b replicas raised processing by less than this share of
 * the proportional gain (b − a) / a. Only steps of at least SATURATION_MIN_STEP × a are compared:
 * a smaller step's expected gain would drown in measurement noise.
 */
export const SATURATION_GAIN_SHARE = 0.25;
export const SATURATION_MIN_STEP = 1.2;
/** Awaiting ack at least this share of max_ack_pending counts as full. */
export const AT_CAP_SHARE = 0.9;
/** Replica counts remembered at a full max_ack_pending. */
const MAX_AT_CAP_ENTRIES = 8;
/**
 * Two readings at a full max_ack_pending with work waiting describe different handlers (they slowed
 * down or sped up; the messages changed) when one is further than this factor from what the other
 * allows with the same handlers: a count re-read at more than this times its record or less than
 * its record over this, fewer replicas that processed more than this times what more did in all, or
 * more replicas that processed more than this times what fewer did each. Wider than the noise of
 * one interval (acknowledgements reach the server in bursts: one 1–2 s interval read 41.9/s for
 * 20/s handlers).
 */
export const AT_CAP_CHANGED_FACTOR = 3;
/**
 * A limit that binds keeps what more replicas process in all about what fewer did (they split the
 * same slots): more that processed less than fewer by more than this factor in all (each rate at
 * its far end of RATE_NOISE_SIGMAS of noise) were held back by something else, and the pair says
 * nothing of the limit (maxAckPendingBinding). The policy fuzzer's world 330171 (nats.js consume()
 * replicas, one message at a time and 100 buffered, against max_ack_pending 100) kept 6 read at
 * 30/s while 4 more started beside 10 read at 13.3/s once the handlers slowed 4x (within
 * AT_CAP_CHANGED_FACTOR), and read the pair as the limit binding at 6: capped for 630 s, where 10
 * did 50/s again once the handlers recovered. At 1.5 a record of 10 that mixed both handlers
 * (17/s) still capped it. The records are not dropped for it (contradicted): a record that mixes
 * two handlers' rates, read as a third, then lets a probe (at-cap-probe.ts) cap at half wrongly.
 */
export const AT_CAP_KEPT_FACTOR = 1.25;

/**
 * The at-cap records an earlier process kept (RateOptions.carriedAtCap), as this process's, when
 * they are of this reading's limit and show it binding; otherwise undefined. Seconds are bounded by
 * SATURATION_MEMORY_SECONDS, times by the reading (none after it).
 */
function carriedAtCapState(
  carried: RateOptions['carriedAtCap'],
  sample: BacklogSample,
): RateState['atCap'] | undefined {
  if (carried === undefined || carried.maxAckPending !== sample.maxAckPending || !(sample.maxAckPending > 0))
    return undefined;
  const throughput: AtCapThroughput[] = [];
  for (const r of carried.records.slice(0, MAX_AT_CAP_ENTRIES)) {
    if (!Number.isSafeInteger(r.replicas) || r.replicas < 1) return undefined;
    if (!(Number.isFinite(r.perSecond) && r.perSecond >= 0 && Number.isFinite(r.seconds) && r.seconds >= 0))
      return undefined;
    if (!Number.isFinite(r.at) || throughput.some((e) => e.replicas === r.replicas)) return undefined;
    throughput.push({
      replicas: r.replicas,
      perSecond: r.perSecond,
      seconds: Math.min(r.seconds, SATURATION_MEMORY_SECONDS),
      at: Math.min(r.at, sample.at),
      carried: true,
    });
  }
  const state = {
    maxAckPending: sample.maxAckPending,
    throughput: throughput.sort((x, y) => x.replicas - y.replicas),
  };
  return maxAckPendingBinding(
    { last: baseline(sample, 0), atCap: state },
    sample.maxAckPending,
    sample.at,
  ) === undefined
    ? undefined
    : state;
}

/** Processing measured at one ready replica count while max_ack_pending was full and work waited. */
export interface AtCapThroughput {
  replicas: number;
  /** Messages completed per second (time-weighted mean over `seconds`). */
  perSecond: number;
  seconds: number;
  /** Epoch ms of the last interval added. */
  at: number;
  /**
   * The latest intervals in a row that each completed less (`below`) or more than the rest of the
   * record: once they alone contradict the rest (atCapContradicts), the handlers changed and the
   * record starts again from them (recordAtCap). Included in perSecond and seconds.
   */
  run?: { perSecond: number; seconds: number; below: boolean };
  /**
   * The count's latest visit: its intervals since another count was last recorded (or since the
   * record started again), and when the first of them began (epoch ms). A pair of counts shows the
   * limit binding only on the fewer count's visit read after the other count (maxAckPendingBinding).
   * Included in perSecond and seconds. Absent in a carried record and in older state.
   */
  visit?: { since: number; perSecond: number; seconds: number };
  /**
   * Taken over from an earlier process's status (RateOptions.carriedAtCap), not yet added to by this
   * one: a cap it shows keeps the replicas from rising, never lowers them (decide.ts).
   */
  carried?: true;
}

/** Replicas that entered the ready count at the same reading. */
export interface ReadyCohort {
  /** Epoch ms of the reading that first counted them ready (they became ready at most this late). */
  at: number;
  count: number;
}

/** What the estimator keeps between readings (stored in ScalingHistory.rates). */
export interface RateState {
  last: {
    at: number;
    deliveredConsumerSeq: number;
    /** ack_floor.consumer_seq (absent in state kept by older versions: reads as 0). */
    ackFloorConsumerSeq?: number;
    /** ack_floor.stream_seq (absent in older state or readings without it). */
    ackFloorStreamSeq?: number;
    /** delivered.stream_seq (absent in older state: no redelivery is proven from it). */
    deliveredStreamSeq?: number;
    /** num_redelivered (absent in older state: no redelivery is proven from it). */
    redelivered?: number;
    /** The consumer's creation time, when the reading had it (BacklogSample.consumerCreated). */
    consumerCreated?: string;
    /** The consumer's filter subjects, when the reading had them (BacklogSample.consumerFilter). */
    consumerFilter?: string;
    /** The consumer was paused on the server at this reading (BacklogSample.paused). */
    paused?: boolean;
    /** Pull requests waited at the server with messages pending at this reading (refused-backlog.ts waitsWithBacklog). */
    waitedWithBacklog?: boolean;
    /** The reading's round trip in ms (BacklogSample.roundTripMs). */
    roundTripMs?: number;
    /** When the server took the reading, by its clock (BacklogSample.serverTime). */
    serverTime?: ServerTime;
    /** The drops at max_deliver counted at this reading, when known (BacklogSample.deliveryDrops). */
    deliveryDrops?: { count: number; epoch: number };
    /** The stream's counters at this reading, when read (BacklogSample.stream). */
    stream?: { firstSeq: number; lastSeq: number; messages: number; numDeleted: number };
    /** A filtered consumer's stream count on its filters at this reading, when read (BacklogSample.filterStored). */
    filterStored?: number;
    pending: number;
    /**
     * What the mirror or sourced stream had still to copy at this reading, when known
     * (BacklogSample.upstream): absent on other streams, and while it is not known.
     */
    upstreamLag?: number;
    /** A WorkQueue or Interest stream's state at this reading, when its limits remove (BacklogSample.limitRemovals). */
    limitedStream?: LimitedStreamState;
    ackPending: number;
    maxAckPending: number;
    readyReplicas: number;
    /** Since when (ms, the clock of `now`) this many replicas have been ready. */
    readySince: number;
    /** How many were ready before `readySince` (undefined when not seen: the first reading). */
    readyFrom?: number;
    /**
     * Whether this many replicas have completed anything since `readySince` (absent: not yet).
     * Until they have they are not consuming — still starting, or ready before their process
     * consumes — and an interval in which they completed nothing says nothing about what they can do.
     */
    completedSinceReady?: boolean;
    /**
     * When the ready replicas became ready, oldest first, summing to readyReplicas: a fall in the
     * count takes the newest first (the ReplicaSet controller deletes the pods ready for the
     * shortest time first). Absent in older state and at the first reading: all count as warm.
     */
    readyCohorts?: ReadyCohort[];
    /** Replicas asked for (RateOptions.askedReplicas) at this reading (absent in older state). */
    askedReplicas?: number;
  };
  arrivalPerSecond?: number;
  processingPerSecond?: number;
  perReplicaPerSecond?: number;
  /**
   * Seconds of intervals perReplicaPerSecond rests on, up to CAPACITY_TIME_CONSTANT_SECONDS
   * (absent in older state: counts as established).
   */
  perReplicaEvidenceSeconds?: number;
  /**
   * Completions a replica that perReplicaPerSecond rests on, while fewer than
   * SHORT_FIGURE_COMPLETIONS (absent: at least that many, or older state, or a figure carried over:
   * counts as established). A handler busy across either end of an interval moves that interval's
   * count by up to one a replica, so a figure read from one completion a replica may be twice what
   * the handlers do (1 in a 1 s interval for 1.5 s handlers): messages expiring in the replicas'
   * hands lower such a figure to what each did at most (observeRates: inHandAtMost).
   */
  perReplicaEvidenceCompletions?: number;
  /**
   * perReplicaPerSecond is a low end only, learnt while more replicas were asked for than counted
   * ready (see observeRates): pods not counted ready may consume, so completions ÷ every replica that
   * may have consumed is all that is proven. The first interval with none asked for beyond the ready
   * ones measures it and replaces it (absent: measured, or no figure).
   */
  perReplicaLowEndOnly?: boolean;
  /**
   * Since when (ms, the clock of `now`) the figure has been a low end only (perReplicaLowEndOnly):
   * decide.ts re-measures it once that is long (LOW_END_REMEASURE_SECONDS). Absent with a measured
   * figure (and in older state: counts from the next reading).
   */
  perReplicaLowEndSince?: number;
  /**
   * The low end (perReplicaLowEndOnly) was read from messages the replicas held alone, while some
   * ready replicas were still warming up (observeRates: heldWhileWarming): such intervals neither
   * catch it up nor lower it, as they do not lower a measured figure; work waiting at the server,
   * or replicas falling behind, measures it. Absent otherwise.
   */
  perReplicaLowEndHeld?: boolean;
  /**
   * perReplicaPerSecond has only ever been read from intervals in which what the replicas held alone
   * showed them busy while they kept up (observeRates: heldOnlyKeptUp, not by the ack floor's pace),
   * and raised by what they were since seen doing at least: what they did, which no interval with
   * work waiting at the server, replicas falling behind or the floor's pace has measured. Handlers
   * shown to work on many at once (handlersInHand) did it with time to spare (decide.ts
   * inHandKeepsUp). Absent otherwise.
   */
  perReplicaFromHeld?: true;
  /**
   * perReplicaPerSecond was carried over from an earlier process (RateOptions.carriedPerReplicaPerSecond:
   * the EventConsumer's status, which anyone who may write /status can set) and no busy interval of
   * this process has measured the replicas since. The first interval that does replaces it, as a
   * first figure, rather than averaging with it. While it is set decide.ts lets the figure add no
   * replicas (absent: measured here, or no figure).
   */
  perReplicaCarried?: true;
  /**
   * Replicas asked for before the count asked for last fell, and until when (ms) pods taken back
   * then may still consume: a pod taken back finishes what it holds (LOWER_BOUND_SETTLE_SECONDS),
   * and a pod not counted ready may have been consuming already.
   */
  askedBefore?: { count: number; until: number };
  inFlightPerReplica?: number;
  /**
   * How long a message is held from its delivery to its ack when no buffer holds it back: Little's
   * law on awaiting ack (the mean held ÷ the completions per second) over intervals in which the
   * replicas had nothing waiting for them (see observeRates), as a low envelope — it follows a lower
   * interval within HANDLING_FALL_SECONDS and a higher one only over HANDLING_RISE_SECONDS. decide.ts
   * counts the per-replica figure times this as in hand (2f). Undefined until such an interval, then
   * kept through the intervals that measure nothing (a change of the ready count, busy replicas).
   */
  handlingSeconds?: number;
  /**
   * The arrival rate smoothed as arrivalPerSecond is, but with each interval counted at most
   * CONFIRM_FACTOR times what was seen before it (the interval before, or this rate) — for a stream
   * measured as sent in batches, every interval whole over a longer time constant instead
   * (batchedConfirmTimeConstant): what the start-up pile-up is extrapolated from (decide.ts). arrivalPerSecond takes a single batch after
   * a quiet stretch at 39 % of its rate over a 5 s interval (100 messages: 7.9/s), and sizing a
   * 30 s start-up for that took 0 replicas to 9 for 100 messages one replica drains in 20 s
   * (the policy fuzzer's world 2429). Undefined until two intervals are measured.
   */
  confirmedArrivalPerSecond?: number;
  /** The arrival rate over the last interval alone (the forecaster smooths it itself). */
  lastIntervalArrivalPerSecond?: number;
  /**
   * The arrival rate over the interval before the last one. min(this, the last) is the rate both
   * showed: a rise is sustained only when two successive intervals show it (decide.ts).
   */
  previousIntervalArrivalPerSecond?: number;
  /** Length of the interval before the last one (seconds). */
  previousIntervalSeconds?: number;
  /**
   * The intervals with arrivals since the last one without (the reading before them empty): one,
   * or several spanning no more than BATCH_RUN_SECONDS (a batch read over several short readings).
   * arrivalDispersion takes them as one batch when the next reading is empty again (several only
   * when they brought more than Poisson noise explains: beyondPoisson). `quietSeconds` is the
   * empty interval's length before them.
   */
  arrivalRun?: { arrived: number; seconds: number; readings: number; quietSeconds: number };
  /** Length of the last interval (seconds), to tell a poll gap from the usual cadence. */
  lastIntervalSeconds?: number;
  /** Which clock timed the last interval (readingInterval; absent in older state). */
  lastIntervalClock?: 'server' | 'operator';
  /**
   * How much more an interval's arrival count varies than a Poisson stream's of the same rate
   * (variance ÷ mean, at least 1): about the batch size of a publisher that sends in batches.
   * decide.ts discounts the extra noise before counting a rise (beyondBatchNoise).
   */
  arrivalDispersion?: number;
  /**
   * Redeliveries per second the counters prove (EWMA; neither arrivals nor completions). Reported
   * as jetscale_redelivery_rate_messages_per_second; a lower bound on a filtered consumer.
   */
  redeliveryPerSecond?: number;
  /**
   * Set when the consumer was recreated at this reading: its sequence went backwards, or its
   * creation time changed.
   */
  resetAt?: number;
  /**
   * Since when (ms, the clock of `now`) nothing has been acknowledged while messages were
   * redelivered (handlersFailing): the start of the first interval that redelivered and completed
   * nothing with work waiting, until an interval completes something. Undefined otherwise.
   */
  failingSince?: number;
  /**
   * The replicas ready (or asked for, when more) when the failing spell (failingSince) began: replicas that start later in it
   * are not counted (takingNothing's bound cannot grow by a replica per start-up). Set while failing.
   */
  failingReplicas?: number;
  /**
   * A run of intervals, while failing (failingSince), that delivered nothing at all (no new
   * message, no redelivery) and completed nothing while messages waited at the server at both ends
   * with room under max_ack_pending and no pull request waiting: the replicas ask for nothing. Since
   * when and how many intervals. Not across a poll gap. takingNothing reads a long enough one.
   */
  takingNothingRun?: {
    since: number;
    intervals: number;
    /** Counted at max_ack_pending, where only retriesStopped lets an interval count. */
    retriesStopped?: true;
  };
  /**
   * While failing (failingSince): the end (ms) of the spell's last interval that showed a failure
   * (a redelivery, or a drop counted as one). How long the spell went on showing failures, and how
   * long since, say whether the retries stopped (retriesStopped).
   */
  failingShownAt?: number;
  /**
   * Since when (ms, the clock of `now`) the same replicas, with work waiting at the server, have
   * been neither delivered nor completed anything (quietInterval). Undefined otherwise.
   */
  quietSince?: number;
  /**
   * A run of intervals in which the ack floor (ack_floor.consumer_seq) did not move while messages
   * awaited ack at both ends: the oldest message delivered and not acknowledged stayed unacknowledged.
   * Not while any awaiting ack was redelivered (num_redelivered above 0 at either end: a message
   * being retried is failingSince's ground), nor across a poll gap (the operator did not see what
   * happened: NATS down for it too, and clients reconnecting after it come back within seconds),
   * nor once the ready count fell (a pod taken back without draining leaves what it held awaiting
   * ack until ack_wait). Since when, how many intervals, the fewest replicas ready since it began
   * (those that hold the work: replicas that become ready later are not counted), what awaited ack
   * when it began, and whether anything completed in it (then other replicas worked past the oldest
   * message). decide.ts reads a long enough one as replicas stalled (stalledReplicas). Absent
   * otherwise.
   */
  /**
   * A run of intervals in which two or more ready replicas held more than two messages each (below
   * a full max_ack_pending), with no redelivery and the ack floor not going back (floorPacedBusy):
   * where it started (ms), the ack floor and the messages completed (delivered less awaiting ack)
   * then, and what the replicas would have completed since at the floor's pace (each interval's
   * floor move times the replicas ready at its start). Absent otherwise.
   */
  floorPacedRun?: { since: number; floor: number; done: number; atFloorPace: number };
  stuckFloor?: {
    since: number;
    intervals: number;
    replicas: number;
    held: number;
    completed: boolean;
    /** The ack floor it is stuck at. */
    floor: number;
  };
  /**
   * delivered.consumer_seq when the ready count or the count asked for last fell: a pod taken back
   * without draining leaves what it held, delivered up to here, awaiting ack until ack_wait, and
   * that holds the ack floor while the replicas left complete (stalledReplicas).
   */
  fellAtDeliveredSeq?: number;
  /**
   * Drops at max_deliver (max_deliver ≥ 2) the redeliveries seen so far may still lead to, not yet
   * taken from completions (droppedAtMaxDeliver).
   */
  dropBudget?: number;
  /**
   * Completions per ready replica per second over the last interval that completed anything (how
   * fast the replicas were last seen working, when no figure is known yet).
   */
  lastCompletedPerReplica?: number;
  /**
   * A run of intervals in which the stream may have removed messages the replicas held
   * (removedWhileHeld): since when, what it completed, what was held at its start, and whether it
   * has been measured (REMOVAL_RUN_SECONDS).
   */
  removalRun?: { since: number; completed: number; held: number; measured?: boolean };
  /**
   * A run of intervals at one ready count in which what the replicas held alone grew (fellBehind,
   * nothing waiting at the server): its seconds, messages held times seconds, and completions
   * (held-filling.ts fillingHands: whether each interval's completions rose with what was held, as
   * handlers filling their hands do, or kept the run's pace, as a queue's). Absent otherwise.
   */
  heldRisingRun?: HeldRisingRun;
  /**
   * Messages the stream removed from inside it (removedInside) between the last two readings, on a
   * stream that can; absent when not known. The stream's state is read after the consumer's, so a
   * removal counted in one interval of the stream's may show in the consumer's next interval.
   */
  removedInside?: number;
  /** The last interval delivered new messages (removedUnconsumed counts only between two such). */
  deliveredLastInterval?: boolean;
  /**
   * Consecutive busy intervals measured since the last CAPACITY_PROOF_SECONDS were complete
   * (seconds, completions, and replica-seconds they were completed in).
   */
  busySpell?: Spell;
  /**
   * What each replica was shown to do at least, whether busy or not (messages per second): the
   * highest mean of completions ÷ the replicas that may have done them (asked for or ready,
   * whichever is more) over a span of CAPACITY_PROOF_SECONDS of settled intervals. A lower bound
   * of the per-replica capacity, known long before a busy period measures that: decide.ts does
   * not scale below the replicas it shows to keep up while no capacity is measured (3 replicas
   * doing 50/s between them are not scaled to 1 because their backlog is small).
   */
  perReplicaAtLeast?: number;
  /**
   * While the figure is a low end only (perReplicaLowEndOnly): the least high end of the busy
   * intervals seen since, completions ÷ the warm ready replicas. Ready replicas that are busy
   * throughout each do all they can, and anything else (pods not counted ready yet, pods being
   * taken back finishing what they hold, replicas still warming up) only adds completions, so each
   * replica does at most this. decide.ts stops re-measuring the low end once it is within reach.
   * Dropped once the figure or perReplicaAtLeast passes it by AT_MOST_CONTRADICTED_FACTOR.
   */
  perReplicaAtMost?: number;
  /** Settled intervals counted towards perReplicaAtLeast since the last span was complete. */
  shownSpell?: Spell;
  /** Settled intervals, with the messages held, counted towards heldBound since the last span was complete. */
  heldSpell?: Spell;
  /**
   * The intervals of the backlog run under way (RateState.backlogRuns), from the reading before it
   * began, with every replica that may have consumed in each and what was held at that first
   * reading (`heldAtStart`): burstBound's span. Absent between runs, and once an interval of the
   * run is no evidence of completions.
   */
  burstSpell?: Spell & { heldAtStart: number; batched?: true };
  /**
   * The last backlog run that ended within BACKLOG_RUN_MEMORY_SECONDS, read as one interval
   * (burstBound): the messages it drained (completions less what was held at its start), the
   * replica-seconds of every replica that may have consumed in it, its length and when it ended.
   * decide.ts sizes a stream sent in batches for its next burst by it (burstReplicas).
   */
  lastBurst?: {
    messages: number;
    replicaSeconds: number;
    seconds: number;
    endedAt: number;
    /**
     * The arrivals read as sent in batches (arrivalDispersion ≥ BATCHED_DISPERSION) at a reading
     * of the run: between bursts far apart the dispersion settles back to 1 (a minute of empty
     * readings), and decide.ts burstSizing goes on sizing for the next burst by this instead.
     */
    batched?: true;
    /**
     * Seconds from the start of the batched run before it (the lastBurst it replaced, when still
     * remembered) to this one's start: when the next burst is due. decide.ts burstSizing keeps its
     * replicas from a start-up before then, not through the whole quiet spell between bursts.
     */
    everySeconds?: number;
  };
  /**
   * Arrivals per second over the last BURST_MEAN_SECONDS or so (time-weighted, each interval's
   * weight at most that long), and the seconds it spans: a stream sent in bursts has its mean
   * between them, which decide.ts burstSizing counts beside each burst. Dropped at a reset.
   */
  arrivalMean?: { perSecond: number; seconds: number };
  /** Processing by ready replica count at a full max_ack_pending (reset when the limit changes). */
  atCap?: {
    maxAckPending: number;
    throughput: AtCapThroughput[];
    /**
     * When (epoch ms) a reading last dropped records it contradicts (recordAtCap): the handlers
     * changed, and no smaller count has been tried with these (at-cap-probe.ts). Absent: never.
     */
    contradictedAt?: number;
  };
  /**
   * Messages per second a WorkQueue or Interest stream's limits removed before this consumer took
   * them (expiredBeforeDelivery, smoothed over ARRIVAL_TIME_CONSTANT_SECONDS; may dip below 0 by
   * the noise of one reading). Absent where that is not known.
   */
  expiredPerSecond?: number;
  /**
   * Since when (ms, the clock of `now`) every interval has shown the replicas falling behind on a
   * WorkQueue or Interest stream whose limits remove: work waited at the server at both ends, and
   * messages were removed before delivery beyond the noise (EXPIRED_NOISE_MESSAGES,
   * EXPIRED_NOISE_SHARE) or the stream was at the edge where its limits remove (atRemovalEdge).
   * Absent otherwise.
   */
  expiringSince?: number;
  /**
   * What each ready replica took while the stream's limit removed this consumer's backlog (new
   * deliveries ÷ ready replicas per second, evidenceMean, over settled intervals with the same
   * replicas ready and asked for; takenWhileRemoving says which intervals count): while messages
   * expired or were discarded before delivery with work waiting at the server at both ends, or
   * while the stream stood full of this consumer's backlog at a max_msgs / max_bytes limit that
   * discards old with the ack floor moving. A pull client asks for more only as its handlers free
   * room, and there was always more than it could take, so what it took is what it does. Where
   * completions prove nothing (a held message the limit removes reads as an acknowledgement:
   * limitRemovalsPossible; on a real nats-server 29/s a replica for 20/s handlers at the limit)
   * this is the one figure decide.ts sizes by (point 2c), for as long as no per-replica capacity
   * is measured. Where messages expire at the server by age (expiringAtServer: max_age,
   * per-message TTL) intervals that took nothing count too (a replica takes one more only as a
   * handler frees); where a max_msgs / max_bytes limit discards, only intervals that took
   * something. Kept while no per-replica capacity is measured: carried through resets, never
   * forgotten on a clock (forgetting it let the count fall back to the backlog's, the stream fill
   * and drop again, and the count climb: a flap). It is not raised while the replicas keep up
   * (nothing proves more then): a figure too low keeps replicas, never lets messages be removed
   * unworked.
   */
  perReplicaTakenWhileRemoving?: number;
  /** Seconds of intervals perReplicaTakenWhileRemoving rests on (up to CAPACITY_TIME_CONSTANT_SECONDS). */
  takenWhileRemovingSeconds?: number;
  /**
   * perReplicaTakenWhileRemoving's last interval was not one of messages expiring at the server by
   * age (expiringAtServer) but at a max_msgs / max_bytes that discards old: decide.ts 2c's checks
   * of the pace against max_age (takenFasterThanMaxAge) do not hold that figure back, on a stream
   * with max_age too, also once the stream has drained below that limit. Kept with the figure.
   */
  takenAtDiscardLimit?: true;
  /**
   * Messages the stream's own limit removed before this consumer delivered them, as a spell held
   * REMOVED_UNWORKED_HOLD_SECONDS after the last interval that removed any (removed-unworked.ts):
   * what the controller's MessagesRemovedUnworked condition and Warning event tell the user.
   */
  removedUnworked?: RemovedUnworked;
  /**
   * What the replicas took over the current run of settled intervals with the same replicas ready
   * in which messages waited and expired at the server by age (expiringAtServer), intervals that
   * took nothing counted (beyond-max-age.ts TakenRun). Absent outside such a run.
   */
  takenRun?: TakenRun;
  /**
   * The stream's max_age (seconds) at which a run showed each replica taking more than one message
   * per max_age, beyond the largest batch taken at once (beyond-max-age.ts takenShowsFaster):
   * handlers faster than max_age, or more than one a replica. Until then decide.ts (2c) takes no
   * step for messages that wait and expire at the server on a stream with max_age: every replica
   * takes the oldest waiting and each expires in its hands whatever the handler, so the stream
   * cannot tell handlers slower than max_age from too few replicas, and sized at what they took
   * fetch loops with slow handlers climbed to maxReplicas. Carried, through resets too; dropped
   * when handlers are found slower than max_age (beyondMaxAge).
   */
  takenFasterThanMaxAge?: number;
  /**
   * Messages expiring in the replicas' hands (behindInHand: a push consumer, or pull clients whose
   * buffers hold the whole backlog, falling behind on a stream with max_age): at the last settled
   * interval that showed it, `replicas` were ready and each did less than `below` (arrivals ÷
   * them; completions prove nothing there, an expiry reads as an acknowledgement, and deliveries
   * are the arrivals). decide.ts (2c) asks for arrivals ÷ (below × replicas ÷ (replicas + 1)): one
   * more than fell behind, followed by the arrival rate, and kept once nothing expires (no figure
   * measures more there). Carried through resets; dropped once a per-replica capacity is measured.
   * `atLeast`: what each replica was since shown to do at least (fasterInHand), which sizes instead.
   */
  behindInHand?: BehindInHand;
  /**
   * At this reading messages expire in the replicas' hands while each ready replica holds no more
   * than its handlers work on at once (spec.inFlightPerReplica, 1 unless set): nothing queues
   * behind the handlers, so the handling time itself (`seconds`, Little's law: held ÷ arrivals)
   * nears max_age (`maxAgeSeconds`), and more replicas would not shorten it. Not carried.
   */
  handlingNearMaxAge?: { seconds: number; maxAgeSeconds: number };
  /**
   * The last reading at which the stream showed a message acknowledged before it expired
   * (beyond-max-age.ts acknowledgedBeforeExpiry: a gap inside it, or its oldest message short of
   * max_age). Carried.
   */
  ackedBeforeExpiryAt?: number;
  /**
   * Since when (a reading, at or after the ready count last changed) every reading showed messages
   * expiring in the replicas' hands (inHandExpiry) and none acknowledged before it expired. Absent
   * otherwise.
   */
  unackedInHandSince?: number;
  /**
   * Handlers slower than max_age (beyond-max-age.ts): a run as above lasted
   * beyondMaxAgeConfirmSeconds with more replicas ready than fell behind at the last step taken for
   * messages expiring in hand (behindInHand), a replica added with nothing in hand among them. No
   * further step is taken for it, and decide.ts adds no replicas while it lasts. Carried, through
   * resets too; ended by a reading that shows a message acknowledged before it expired.
   */
  beyondMaxAge?: BeyondMaxAge;
  /**
   * The ready count fell (pods replaced: a rollout, a crash) since the last step taken for messages
   * expiring in hand: the next such step is taken without a message shown acknowledged since the
   * ready count last changed, as the first is (a trial step), and beyondMaxAge is dropped. Replicas
   * that replace those that fell behind may run a fixed handler, and may still be too few to show it
   * (each gets the backlog that waited while they started, oldest first). Cleared by that step.
   */
  inHandTrialOpen?: true;
  /**
   * A run of intervals with nothing pending at the server at either end in which what the replicas
   * hold kept level (nextKeptPace): the replicas completed what arrived, whatever they hold. Absent
   * otherwise. decide.ts reads a long enough one as replicas that keep up (keptPaceSeconds).
   */
  keptPace?: KeptPace;
  /**
   * How long the backlog stood beyond what the ready replicas' handlers can have in hand (one each
   * unless spec.inFlightPerReplica says how many), run by run: `since` while one lasts (the reading
   * before it showed none) and `seenAt` (the first reading that showed it), `longestSeconds` the longest that ended within
   * BACKLOG_RUN_MEMORY_SECONDS (at `endedAt`). decide.ts reads it (recentBacklogRunSeconds) for a
   * stream sent in batches.
   */
  backlogRuns?: { since?: number; seenAt?: number; longestSeconds?: number; endedAt?: number };
  /** Settled intervals at the same ready count with nothing pending at the server (in-hand.ts). */
  heldStretch?: HeldStretch;
  /** The last such stretch long enough to compare, at another ready count (in-hand.ts). */
  heldStretchBefore?: HeldStretch;
  /**
   * What the replicas hold was shown to be in their handlers' hands: a scale-up did not shorten
   * the time a message is held, nor raise the completions (in-hand.ts). decide.ts (2f) counts the
   * completions times that time as in hand. Carried through resets and through status.
   */
  handlersInHand?: HandlersInHand;
}

/** A kept-pace run (RateState.keptPace): the run since its start, and its current window. */
export interface KeptPace {
  /** Epoch ms of the reading the run started at, and what was held then. */
  since: number;
  held: number;
  /** Arrived and completed over the whole run. */
  arrived: number;
  completed: number;
  /** The same for the window being counted (KEPT_PACE_WINDOW_SECONDS). */
  windowAt: number;
  windowHeld: number;
  windowArrived: number;
  windowCompleted: number;
}

/**
 * Each window of a kept-pace run (RateState.keptPace) is judged over at most this long: over the
 * whole run the noise allowed would grow with it, and a buffer filling at a few messages a second
 * would hide in it.
 */
export const KEPT_PACE_WINDOW_SECONDS = 10;

/**
 * The kept-pace run after an interval from `from` to `to` (readings: when, and what was held) with
 * nothing pending at the server at either end, in which `arrived` arrived and `completed` completed.
 * What is held must stay level: grown by no more than twice the noise of what arrived and completed
 * (a Poisson count's, times the arrivals' dispersion) both over the current window of
 * KEPT_PACE_WINDOW_SECONDS (a sudden rise after a long run) and over the whole run (a slow one: a
 * buffer filling at e/s beside λ/s arriving shows after about 8λ/e² seconds, where a window alone
 * would never show it below √(8λ/KEPT_PACE_WINDOW_SECONDS)). Beyond either the run starts again at
 * `to`. A fall ends nothing: replicas that drain what they hold keep up.
 */
export function nextKeptPace(
  before: KeptPace | undefined,
  from: { at: number; held: number },
  to: { at: number; held: number },
  arrived: number,
  completed: number,
  dispersion: number,
): KeptPace {
  const fresh = (at: number, held: number): KeptPace => ({
    since: at,
    held,
    arrived: 0,
    completed: 0,
    windowAt: at,
    windowHeld: held,
    windowArrived: 0,
    windowCompleted: 0,
  });
  const known =
    before !== undefined &&
    typeof before === 'object' &&
    [
      before.since,
      before.held,
      before.arrived,
      before.completed,
      before.windowAt,
      before.windowHeld,
      before.windowArrived,
      before.windowCompleted,
    ].every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0) &&
    // Read back from status: a run that starts after its window, or a window after this interval's
    // start, is none.
    before.since <= before.windowAt &&
    before.windowAt <= from.at;
  const run = known ? before : fresh(from.at, from.held);
  const d = Math.max(1, Number.isFinite(dispersion) ? dispersion : 1);
  const grewBeyond = (heldBefore: number, moved: number): boolean =>
    to.held - heldBefore > Math.max(1, 2 * Math.sqrt(d * moved));
  const runArrived = run.arrived + arrived;
  const runCompleted = run.completed + completed;
  const windowArrived = run.windowArrived + arrived;
  const windowCompleted = run.windowCompleted + completed;
  if (
    grewBeyond(run.held, runArrived + runCompleted) ||
    grewBeyond(run.windowHeld, windowArrived + windowCompleted)
  )
    return fresh(to.at, to.held);
  const next: KeptPace = { ...run, arrived: runArrived, completed: runCompleted };
  if ((to.at - run.windowAt) / 1000 >= KEPT_PACE_WINDOW_SECONDS)
    return { ...next, windowAt: to.at, windowHeld: to.held, windowArrived: 0, windowCompleted: 0 };
  return { ...next, windowArrived, windowCompleted };
}

/**
 * How long the replicas have kept pace (RateState.keptPace) at `at`, in seconds: 0 when they have
 * not (something pending at the server, held grown beyond the noise) or it is not known.
 */
export function keptPaceSeconds(state: RateState | undefined, at: number): number {
  const run = state?.keptPace;
  if (run === undefined || typeof run !== 'object' || !Number.isFinite(run.since) || run.since > at) return 0;
  return Math.max(0, (at - run.since) / 1000);
}

/** How long a backlog run that ended is remembered (RateState.backlogRuns). */
export const BACKLOG_RUN_MEMORY_SECONDS = 300;

/**
 * The longest backlog run (RateState.backlogRuns) that ended within BACKLOG_RUN_MEMORY_SECONDS
 * before `at`, or the one that lasts when longer so far, in seconds; undefined when none ended that
 * recently (nothing shows how long this stream's backlog stands).
 */
export function recentBacklogRunSeconds(state: RateState | undefined, at: number): number | undefined {
  const runs = state?.backlogRuns;
  if (runs === undefined || typeof runs !== 'object') return undefined;
  const longest = finiteNonNegative(runs.longestSeconds);
  const endedAt = runs.endedAt;
  if (longest === undefined || typeof endedAt !== 'number' || !Number.isFinite(endedAt)) return undefined;
  if (at - endedAt > BACKLOG_RUN_MEMORY_SECONDS * 1000) return undefined;
  const since = runs.since;
  const lasting = typeof since === 'number' && Number.isFinite(since) ? Math.max(0, (at - since) / 1000) : 0;
  return Math.max(longest, lasting);
}

/**
 * The backlog runs (RateState.backlogRuns) after a reading with `backlog` against `inHand`. The
 * longest is remembered for BACKLOG_RUN_MEMORY_SECONDS after it ended; then the next run to end
 * stands in for it.
 */
function nextBacklogRuns(
  previous: RateState['backlogRuns'],
  lastAt: number,
  at: number,
  backlog: number,
  inHand: number,
): RateState['backlogRuns'] {
  const before = previous !== undefined && typeof previous === 'object' ? previous : {};
  const since = typeof before.since === 'number' && Number.isFinite(before.since) ? before.since : undefined;
  const endedAt = before.endedAt;
  const longest =
    typeof endedAt === 'number' &&
    Number.isFinite(endedAt) &&
    at - endedAt <= BACKLOG_RUN_MEMORY_SECONDS * 1000
      ? finiteNonNegative(before.longestSeconds)
      : undefined;
  const remembered = longest === undefined ? {} : { longestSeconds: longest, endedAt: endedAt as number };
  const seenAt =
    typeof before.seenAt === 'number' && Number.isFinite(before.seenAt) ? before.seenAt : undefined;
  if (backlog >= inHand)
    return { ...remembered, since: since ?? lastAt, seenAt: since === undefined ? at : (seenAt ?? lastAt) };
  if (since === undefined) return longest === undefined ? undefined : remembered;
  const seconds = Math.max(0, (at - since) / 1000);
  return longest !== undefined && longest >= seconds ? remembered : { longestSeconds: seconds, endedAt: at };
}

/**
 * The backlog a backlog run counts (RateState.backlogRuns, burstSpell): what waits at the server
 * and what the replicas hold awaiting ack, less, once nothing waits at the server, what a pod taken
 * back without draining may still hold. Those messages were delivered before the count fell
 * (RateState.fellAtDeliveredSeq) and come back only at ack_wait (30 s by default): while the ack
 * floor stays below them, unmoved since the reading before, they are no burst still being drained.
 * Counted, they kept each run of the policy fuzzer's world 34212 (nats.go Fetch(10) loops, 27.3/s
 * in 2 s of every 120 s, half the pods taken back killed) open 52 s where the burst drained in 20,
 * longer than drainWithinSeconds, so no burst was sized and every one panicked 2 -> 42. At most
 * the messages delivered between the floor and the fall are discounted (a replica left may hold
 * some of them: then the run reads as ended while it works through them).
 */
export function backlogOfRun(
  last: { ackFloorConsumerSeq?: number } | undefined,
  sample: Pick<BacklogSample, 'pending' | 'ackPending' | 'ackFloorConsumerSeq'>,
  fellAtDeliveredSeq: number | undefined,
): number {
  const pending = Math.max(0, sample.pending);
  const held = Math.max(0, sample.ackPending);
  const floor = sample.ackFloorConsumerSeq;
  if (
    pending > 0 ||
    fellAtDeliveredSeq === undefined ||
    !(floor < fellAtDeliveredSeq) ||
    last?.ackFloorConsumerSeq !== floor
  )
    return pending + held;
  return Math.max(0, held - (fellAtDeliveredSeq - floor));
}

/** A finite number ≥ 0 from state read back, or undefined. */
function finiteNonNegative(n: unknown): number | undefined {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined;
}

function ewma(previous: number | undefined, value: number, dtSeconds: number, tau: number): number {
  if (previous === undefined) return value;
  const alpha = 1 - Math.exp(-dtSeconds / tau);
  return previous + alpha * (value - previous);
}

/**
 * The per-replica capacity: the time-weighted mean of the intervals measured so far until they
 * span CAPACITY_TIME_CONSTANT_SECONDS, then an EWMA with that time constant. A plain EWMA would
 * take the first interval whole and let each later one move it by only dt/60: one interval of a
 * second or two is a few dozen acknowledgements, which reach the server in bursts when a client or
 * the server was held up, and the real-client matrix's ack_wait case read 41.9/s a replica where
 * the handlers allow 20/s — and kept about that for the rest of its run. Weighed by their length,
 * ten more seconds at 19/s bring such a first figure to 21/s.
 */
function evidenceMean(
  previous: number | undefined,
  previousSeconds: number | undefined,
  value: number,
  dtSeconds: number,
  maxWeightSeconds = CAPACITY_TIME_CONSTANT_SECONDS,
): { value: number; seconds: number } {
  // A figure from older state, without a record of its evidence, counts as established.
  const weight =
    previous === undefined
      ? 0
      : Math.min(previousSeconds ?? Infinity, CAPACITY_TIME_CONSTANT_SECONDS, maxWeightSeconds);
  return {
    value: ((previous ?? 0) * weight + value * dtSeconds) / (weight + dtSeconds),
    seconds: Math.min(weight + dtSeconds, CAPACITY_TIME_CONSTANT_SECONDS),
  };
}

function baseline(
  sample: BacklogSample,
  readyReplicas: number,
  readySince = sample.at,
  readyFrom?: number,
  readyCohorts?: ReadyCohort[],
): RateState['last'] {
  const last: RateState['last'] = {
    at: sample.at,
    deliveredConsumerSeq: sample.deliveredConsumerSeq,
    ackFloorConsumerSeq: sample.ackFloorConsumerSeq,
    deliveredStreamSeq: sample.deliveredStreamSeq,
    redelivered: sample.redelivered,
    pending: sample.pending,
    ackPending: sample.ackPending,
    maxAckPending: sample.maxAckPending,
    readyReplicas,
    readySince,
  };
  if (sample.ackFloorStreamSeq !== undefined) last.ackFloorStreamSeq = sample.ackFloorStreamSeq;
  if (readyFrom !== undefined) last.readyFrom = readyFrom;
  if (readyCohorts !== undefined && readyCohorts.length > 0) last.readyCohorts = readyCohorts;
  if (sample.consumerCreated !== undefined) last.consumerCreated = sample.consumerCreated;
  if (sample.consumerFilter !== undefined) last.consumerFilter = sample.consumerFilter;
  if (sample.paused === true) last.paused = true;
  if (waitsWithBacklog(sample)) last.waitedWithBacklog = true;
  if (sample.roundTripMs !== undefined && sample.roundTripMs > 0) last.roundTripMs = sample.roundTripMs;
  if (sample.serverTime !== undefined) last.serverTime = { ...sample.serverTime };
  if (sample.stream !== undefined) last.stream = { ...sample.stream };
  if (sample.filterStored !== undefined && 'count' in sample.filterStored)
    last.filterStored = sample.filterStored.count;
  const lag = upstreamLagOf(sample);
  if (lag !== undefined) last.upstreamLag = lag;
  if (sample.limitRemovals?.state !== undefined) last.limitedStream = { ...sample.limitRemovals.state };
  if (sample.deliveryDrops !== undefined && 'count' in sample.deliveryDrops)
    last.deliveryDrops = { ...sample.deliveryDrops };
  return last;
}

/**
 * The ready replicas' cohorts after a reading that counts `ready` of them at `at`, `readyBefore`
 * before it: more join as one cohort at `at`, fewer leave newest first. Cohorts that are missing
 * or do not add up to `readyBefore` (older state, the first reading) count as warm. Beyond
 * MAX_READY_COHORTS the oldest merge into the next, taking its later time (warm later, never
 * sooner).
 */
export function nextReadyCohorts(
  before: readonly ReadyCohort[] | undefined,
  readyBefore: number,
  ready: number,
  at: number,
): ReadyCohort[] {
  const cohorts = knownCohorts(before, readyBefore);
  if (ready > readyBefore) cohorts.push({ at, count: ready - readyBefore });
  let leaving = Math.max(0, readyBefore - ready);
  while (leaving > 0) {
    const newest = cohorts.at(-1);
    if (newest === undefined) break;
    const taken = Math.min(leaving, newest.count);
    newest.count -= taken;
    leaving -= taken;
    if (newest.count === 0) cohorts.pop();
  }
  while (cohorts.length > MAX_READY_COHORTS) {
    const [oldest, next] = cohorts;
    if (oldest === undefined || next === undefined) break;
    next.count += oldest.count;
    cohorts.shift();
  }
  return cohorts;
}

/**
 * Cohorts kept in history, checked (history is read back from the EventConsumer's status): a copy
 * when they are well formed and add up to `ready`, else all `ready` as warm (ready since epoch 0).
 */
function knownCohorts(cohorts: unknown, ready: number): ReadyCohort[] {
  const valid =
    Array.isArray(cohorts) &&
    cohorts.every(
      (c: unknown) =>
        typeof c === 'object' &&
        c !== null &&
        Number.isFinite((c as ReadyCohort).at) &&
        Number.isInteger((c as ReadyCohort).count) &&
        (c as ReadyCohort).count > 0,
    ) &&
    (cohorts as ReadyCohort[]).reduce((sum, c) => sum + c.count, 0) === ready;
  if (valid) return (cohorts as ReadyCohort[]).map((c) => ({ at: c.at, count: c.count }));
  return ready > 0 ? [{ at: 0, count: ready }] : [];
}

/** Ready replicas that had been ready for at least `warmUpSeconds` at `at`. */
export function warmReplicas(cohorts: readonly ReadyCohort[], at: number, warmUpSeconds: number): number {
  return cohorts.reduce((sum, c) => (at - c.at >= warmUpSeconds * 1000 ? sum + c.count : sum), 0);
}

/**
 * At (or within AT_CAP_SHARE of) a full max_ack_pending: a reading catches slots freed by acks
 * that the server has not yet refilled, so an exact comparison would rarely hold.
 */
export function atMaxAckPending(ackPending: number, maxAckPending: number): boolean {
  return maxAckPending > 0 && ackPending >= AT_CAP_SHARE * maxAckPending;
}

/**
 * Whether two records at a full max_ack_pending cannot both describe the same handlers
 * (AT_CAP_CHANGED_FACTOR): with the same handlers, more replicas never process much less in all,
 * nor much more each, than fewer do. A limit that binds keeps what they process in all about the
 * same, whatever the count. Each rate is taken at its far end of RATE_NOISE_SIGMAS of Poisson noise
 * on the messages it counts: at 1.2/s read every second, an interval completes 0-3 (the policy
 * fuzzer's adverse world 952023, max_ack_pending 20 against handlers of 400 at once), and 0/s
 * dropped every record beside it, so no two counts were ever compared.
 */
export function atCapContradicts(
  x: Pick<AtCapThroughput, 'replicas' | 'perSecond' | 'seconds'>,
  y: Pick<AtCapThroughput, 'replicas' | 'perSecond' | 'seconds'>,
): boolean {
  const [fewer, more] = x.replicas <= y.replicas ? [x, y] : [y, x];
  const f = countedRateBounds(fewer);
  const m = countedRateBounds(more);
  return (
    f.low > AT_CAP_CHANGED_FACTOR * m.high ||
    m.low * fewer.replicas > AT_CAP_CHANGED_FACTOR * f.high * more.replicas
  );
}

/** A rate counted over `seconds`, widened by RATE_NOISE_SIGMAS of Poisson noise on its count (at least one message's). */
export function countedRateBounds(r: { perSecond: number; seconds: number }): { low: number; high: number } {
  if (!(r.seconds > 0)) return { low: 0, high: Infinity };
  const count = Math.max(0, r.perSecond) * r.seconds;
  const noise = RATE_NOISE_SIGMAS * Math.sqrt(Math.max(1, count));
  return { low: Math.max(0, count - noise) / r.seconds, high: (count + noise) / r.seconds };
}

/**
 * Adds one interval at a full max_ack_pending to the per-replica-count record. A count's record
 * starts again once the intervals in a row on one side of the rest of it (AtCapThroughput.run)
 * contradict that rest (atCapContradicts), and the records of other counts that the count's record,
 * with the interval in it, contradicts are dropped: they were taken with other handlers, and the
 * newest readings describe the handlers now. Averaged in, a count's record of 50/s handlers took
 * 98/s read after they slowed to 12.5/s to 270/s, and 50 replicas processing 610/s then read as not
 * helping (the policy fuzzer's adverse world 930003: 8 replicas held for 1,487/s arriving, waits
 * 179 → 195 s). Accumulated evidence is compared, not one interval: at 1.2/s read every second an
 * interval completes 0-3, and a 0/s interval dropped every record beside it (adverse world 952023),
 * so no two counts stood long enough to be compared.
 */
function recordAtCap(
  previous: RateState['atCap'],
  maxAckPending: number,
  replicas: number,
  completedPerSecond: number,
  dtSeconds: number,
  at: number,
): NonNullable<RateState['atCap']> {
  const fresh = (e: AtCapThroughput): boolean => at - e.at <= SATURATION_MEMORY_SECONDS * 1000;
  const same = previous !== undefined && previous.maxAckPending === maxAckPending;
  const records = same ? previous.throughput.filter(fresh) : [];
  const found = records.find((e) => e.replicas === replicas);
  const others = records.filter((e) => e.replicas !== replicas);
  // A visit goes on while no other count was recorded since this one last was. A carried record
  // was written as read (maxAckPendingBinding's fewer count: its visit), and goes on the same way.
  const visitBefore =
    found === undefined || others.some((e) => e.at > found.at)
      ? undefined
      : found.carried === true
        ? { since: found.at - found.seconds * 1000, perSecond: found.perSecond, seconds: found.seconds }
        : found.visit;
  const { updated, restarted } = addToRecord(found, replicas, completedPerSecond, dtSeconds, at);
  const intervalStart = at - dtSeconds * 1000;
  // A record started again is its run (the latest intervals in a row): the visit is whichever of
  // the two is shorter, both being the record's latest intervals.
  updated.visit =
    visitBefore === undefined
      ? { since: intervalStart, perSecond: completedPerSecond, seconds: dtSeconds }
      : restarted && updated.seconds < visitBefore.seconds + dtSeconds
        ? { since: at - updated.seconds * 1000, perSecond: updated.perSecond, seconds: updated.seconds }
        : withInterval(visitBefore, completedPerSecond, dtSeconds);
  const kept = others.filter((e) => !atCapContradicts(e, updated));
  const contradictedAt =
    restarted || kept.length < others.length ? at : same ? previous.contradictedAt : undefined;
  const throughput = [...kept, updated]
    .sort((x, y) => y.at - x.at)
    .slice(0, MAX_AT_CAP_ENTRIES)
    .sort((x, y) => x.replicas - y.replicas);
  return { maxAckPending, throughput, ...(contradictedAt !== undefined ? { contradictedAt } : {}) };
}

/** A visit's tally with one more interval. */
function withInterval(
  visit: NonNullable<AtCapThroughput['visit']>,
  perSecond: number,
  seconds: number,
): NonNullable<AtCapThroughput['visit']> {
  const total = visit.seconds + seconds;
  return {
    since: visit.since,
    perSecond: (visit.perSecond * visit.seconds + perSecond * seconds) / total,
    seconds: total,
  };
}

/** One count's record with an interval added, and whether the record started again from its run. */
function addToRecord(
  found: AtCapThroughput | undefined,
  replicas: number,
  perSecond: number,
  seconds: number,
  at: number,
): { updated: AtCapThroughput; restarted: boolean } {
  if (found === undefined) return { updated: { replicas, perSecond, seconds, at }, restarted: false };
  const messages = (r: { perSecond: number; seconds: number }): number => r.perSecond * r.seconds;
  // The rest of the record: without its run when this interval extends it, all of it otherwise.
  const restOf = (run: AtCapThroughput['run']): { perSecond: number; seconds: number } => {
    const restSeconds = found.seconds - (run?.seconds ?? 0);
    return restSeconds > 0
      ? {
          perSecond: (messages(found) - (run === undefined ? 0 : messages(run))) / restSeconds,
          seconds: restSeconds,
        }
      : { perSecond: found.perSecond, seconds: 0 };
  };
  const below = perSecond < restOf(found.run).perSecond;
  const continues = found.run !== undefined && found.run.below === below;
  const rest = restOf(continues ? found.run : undefined);
  const runSeconds = (continues ? (found.run?.seconds ?? 0) : 0) + seconds;
  const runMessages = (continues && found.run !== undefined ? messages(found.run) : 0) + perSecond * seconds;
  const run = { perSecond: runMessages / runSeconds, seconds: runSeconds, below };
  if (rest.seconds > 0 && atCapContradicts({ replicas, ...rest }, { replicas, ...run }))
    return { updated: { replicas, perSecond: run.perSecond, seconds: run.seconds, at }, restarted: true };
  const total = found.seconds + seconds;
  return {
    updated: {
      replicas,
      perSecond: (messages(found) + perSecond * seconds) / total,
      seconds: total,
      at,
      run,
    },
    restarted: false,
  };
}

/** The evidence that max_ack_pending binds: `more` replicas did not process more than `fewer`. */
export interface MaxAckPendingBinding {
  maxAckPending: number;
  fewer: AtCapThroughput;
  more: AtCapThroughput;
}

/**
 * Whether max_ack_pending is measured to bind at `maxAckPending`: two replica counts a < b, each
 * observed for SATURATION_MIN_SECONDS at the full limit with work waiting (within the last
 * SATURATION_MEMORY_SECONDS), where b processed less than a plus SATURATION_GAIN_SHARE of the
 * proportional gain but not much less than a in all (AT_CAP_KEPT_FACTOR), and no count above a
 * gained that much. Returns the pair with the fewest replicas, or undefined.
 *
 * Only a pair read with the same handlers on both sides shows it, and the two records cannot show
 * that by themselves: a limit that binds and handlers that changed between them read alike (the
 * same processing in all, the same time a message is held, max_ack_pending over that processing,
 * the same per-replica figure times the count). The order they were read in decides which change
 * passes for a binding limit. Fewer read first and more after (a climb): handlers that slowed in
 * between read as more replicas not helping (the policy fuzzer's adverse world 352011: 1 replica at
 * 5.0/s with 5/s handlers, then 20 at 5.5/s once they slowed to 0.5/s, capped at 1 for 44 s; world
 * 34423: 2 at 100/s, then 3 at 102/s as 50/s handlers slowed to 12.5/s, capped at 2). More first,
 * fewer after (a probe, or a step down): handlers that slowed show as fewer doing less (a gain), and
 * handlers that sped up as fewer doing more in all than more did beyond AT_CAP_KEPT_FACTOR; neither
 * reads as binding. So a pair binds only on the fewer count's latest visit (AtCapThroughput.visit)
 * begun after the more count was last read, compared by that visit alone: its earlier visits may
 * be of other handlers. A carried pair (an earlier process's, written as it bound) keeps its order.
 * A climb's pair (climbBinding) caps nothing: at-cap-probe.ts takes the replicas down to read the
 * fewer count again.
 */
export function maxAckPendingBinding(
  state: RateState | undefined,
  maxAckPending: number,
  now: number,
): MaxAckPendingBinding | undefined {
  const evidence = atCapEvidence(state, maxAckPending, now);
  if (evidence === undefined) return undefined;
  for (const record of evidence) {
    // Not where a count above it gained, whenever that was read (see atCapPair).
    if (evidence.some((more) => above(record, more) && gained(record, more))) continue;
    // The fewer count as read after the other: its latest visit, or a carried record as written.
    const read =
      record.visit !== undefined && record.carried !== true
        ? { since: record.visit.since, fewer: { ...record, ...record.visit } }
        : record.carried === true
          ? { since: record.at, fewer: record }
          : undefined;
    if (read === undefined || read.fewer.seconds < SATURATION_MIN_SECONDS) continue;
    const before = evidence.filter((e) => above(record, e) && e.at <= read.since);
    if (before.some((more) => gained(read.fewer, more))) continue;
    const more = before.find((e) => kept(read.fewer, e));
    if (more !== undefined) {
      const { visit: _visit, run: _run, since: _since, ...fewer } = { since: 0, ...read.fewer };
      return { maxAckPending, fewer, more };
    }
  }
  return undefined;
}

/**
 * A pair that would show the limit binding whatever order its counts were read in, below any that
 * does in the order that shows it (maxAckPendingBinding): a climb, fewer read before more. It caps
 * nothing; at-cap-probe.ts reads the fewer count again.
 */
export function climbBinding(
  state: RateState | undefined,
  maxAckPending: number,
  now: number,
): MaxAckPendingBinding | undefined {
  const measured = maxAckPendingBinding(state, maxAckPending, now)?.fewer.replicas ?? Infinity;
  const evidence = atCapEvidence(state, maxAckPending, now);
  if (evidence === undefined) return undefined;
  for (const fewer of evidence) {
    if (fewer.replicas >= measured) return undefined;
    // Not where a count above it gained: 3 replicas at 15/s, 6 at 30/s and 10 at 13.3/s (a record
    // of slower handlers) do not bind at 3 (the policy fuzzer's world 330171 capped 3, and its
    // backlog grew 27,000 more by the end), nor at 6 (AT_CAP_KEPT_FACTOR).
    if (evidence.some((more) => above(fewer, more) && gained(fewer, more))) continue;
    const more = evidence.find((e) => above(fewer, e) && kept(fewer, e));
    if (more !== undefined) return { maxAckPending, fewer, more };
  }
  return undefined;
}

/** The records long enough to compare at this limit, fresh at `now`; undefined at another limit. */
function atCapEvidence(
  state: RateState | undefined,
  maxAckPending: number,
  now: number,
): AtCapThroughput[] | undefined {
  const atCap = state?.atCap;
  if (atCap === undefined || maxAckPending <= 0 || atCap.maxAckPending !== maxAckPending) return undefined;
  return atCap.throughput.filter(
    (e) => e.seconds >= SATURATION_MIN_SECONDS && now - e.at <= SATURATION_MEMORY_SECONDS * 1000,
  );
}

type CountRate = Pick<AtCapThroughput, 'replicas' | 'perSecond' | 'seconds'>;
/** Whether `more` is a step above `fewer`. */
const above = (fewer: CountRate, more: CountRate): boolean =>
  more.replicas >= Math.max(fewer.replicas + 1, fewer.replicas * SATURATION_MIN_STEP);
/** Whether `more` processed a gain's worth more than `fewer` (SATURATION_GAIN_SHARE of the proportional gain). */
const gained = (fewer: CountRate, more: CountRate): boolean =>
  more.perSecond >=
  fewer.perSecond * (1 + (SATURATION_GAIN_SHARE * (more.replicas - fewer.replicas)) / fewer.replicas);
/**
 * Whether `more` processed about as much in all as `fewer` (AT_CAP_KEPT_FACTOR): not held back by
 * something other than the limit.
 */
const kept = (fewer: CountRate, more: CountRate): boolean =>
  countedRateBounds(fewer).low <= AT_CAP_KEPT_FACTOR * countedRateBounds(more).high;

/**
 * What awaits ack must be at least this share of the messages delivered since the ack floor for
 * it to count as held in buffers: a client works through its buffer in order, so what it holds is
 * the newest deliveries, nearly contiguous; messages waiting for redelivery (nak'd with a delay,
 * ack_wait expired) are scattered far behind them among messages acknowledged since.
 */
export const HELD_SHARE_OF_UNACKED_SPAN = 0.5;

/**
 * Whether what awaits ack at a reading is the newest deliveries (HELD_SHARE_OF_UNACKED_SPAN of the
 * span from the ack floor to the last delivery); true when the floor is not known.
 */
export function heldAreNewest(r: {
  ackPending: number;
  deliveredConsumerSeq: number;
  ackFloorConsumerSeq?: number;
}): boolean {
  return (
    r.ackFloorConsumerSeq === undefined ||
    r.ackPending >= HELD_SHARE_OF_UNACKED_SPAN * (r.deliveredConsumerSeq - r.ackFloorConsumerSeq)
  );
}

/** A run read by floorPacedBusy shows the replicas busy once it is this long (seconds). */
export const FLOOR_PACED_SECONDS = 60;
/** ... and its ack floor has moved by at least this many messages (a pace, not a step). */
export const FLOOR_PACED_MOVES = 3;
/** ... and the replicas completed within this factor, either way, of the floor's pace times their count. */
export const FLOOR_PACED_SHARE = 1.5;
/** ... holding more than this many messages each at both ends of every interval of it. */
export const FLOOR_PACED_HELD_PER_REPLICA = 2;

/**
 * Whether what the replicas hold shows them busy by the ack floor's pace (RateState.floorPacedRun):
 * over a run of FLOOR_PACED_SECONDS or more in which two or more ready replicas held more than
 * FLOOR_PACED_HELD_PER_REPLICA each, below a full max_ack_pending (where the server hands freed
 * slots to whichever request waits), and every interval's completions were theirs (`counted`: no
 * redelivery, gap, pause or failing handlers), the floor moved FLOOR_PACED_MOVES or more and the
 * replicas completed about the floor's pace times their count (within FLOOR_PACED_SHARE either
 * way; each interval's move times the replicas ready at its start). The floor is the oldest
 * message awaiting ack: the replica holding it works through a buffer older than the rest in
 * order, at its own pace, for the whole run, so it was busy throughout, and the others completed
 * as much each. Handlers that work on what they hold at once, with time to spare, move the floor
 * with all the completions (what they hold is the newest deliveries: the policy fuzzer's world
 * 2781, ×50 a pod, 1.1-2.0/s moved for 1.1-2.0/s completed by 2-4 replicas), as do buffers a
 * server fills one message a turn while every replica keeps up; a floor a straggler pins stands,
 * then jumps; behind blocks worked through one after another it jumps whenever the oldest is
 * done, and the run that holds the jump is not read as busy. Read as kept up (heldOnlyKeptUp), a
 * 0.65/s figure stood for 750 s over replicas that each completed 0.12/s, the floor's pace, behind
 * 70-125 held (adverse world 291460: nats.js fetch() loops, handlers slowed from 5/s to 0.125/s),
 * and messages waited 120-230 s while 2f sized them as drained within 30 s.
 */
export function floorPacedBusy(
  run: RateState['floorPacedRun'],
  last: Pick<
    RateState['last'],
    'at' | 'ackPending' | 'maxAckPending' | 'ackFloorConsumerSeq' | 'deliveredConsumerSeq' | 'readyReplicas'
  >,
  sample: Pick<
    BacklogSample,
    'at' | 'ackPending' | 'maxAckPending' | 'ackFloorConsumerSeq' | 'deliveredConsumerSeq' | 'push'
  >,
  readyReplicas: number,
  counted: boolean,
): { run?: RateState['floorPacedRun']; busy: boolean } {
  const floorBefore = last.ackFloorConsumerSeq;
  const holds = (r: { ackPending: number; maxAckPending?: number }, replicas: number): boolean =>
    replicas >= 2 &&
    r.ackPending > FLOOR_PACED_HELD_PER_REPLICA * replicas &&
    !atMaxAckPending(r.ackPending, r.maxAckPending ?? 0);
  if (
    !counted ||
    sample.push === true ||
    floorBefore === undefined ||
    !(sample.ackFloorConsumerSeq >= floorBefore) ||
    !holds(last, last.readyReplicas) ||
    !holds(sample, readyReplicas)
  )
    return { busy: false };
  const start = run ?? {
    since: last.at,
    floor: floorBefore,
    done: last.deliveredConsumerSeq - last.ackPending,
    atFloorPace: 0,
  };
  const next = {
    ...start,
    atFloorPace: start.atFloorPace + (sample.ackFloorConsumerSeq - floorBefore) * last.readyReplicas,
  };
  const seconds = (sample.at - start.since) / 1000;
  const floorMoved = sample.ackFloorConsumerSeq - start.floor;
  const done = sample.deliveredConsumerSeq - sample.ackPending - start.done;
  const atFloorPace = next.atFloorPace;
  const busy =
    seconds >= FLOOR_PACED_SECONDS &&
    floorMoved >= FLOOR_PACED_MOVES &&
    done > 0 &&
    atFloorPace <= FLOOR_PACED_SHARE * done &&
    done <= FLOOR_PACED_SHARE * atFloorPace;
  // A run long enough that does not show them busy starts again here: what it held at its start
  // (replicas not counted ready consuming, a buffer since drained) says nothing of the next minute.
  if (!busy && seconds >= FLOOR_PACED_SECONDS)
    return {
      run: {
        since: sample.at,
        floor: sample.ackFloorConsumerSeq,
        done: sample.deliveredConsumerSeq - sample.ackPending,
        atFloorPace: 0,
      },
      busy,
    };
  return { run: next, busy };
}

/**
 * Whether the messages the replicas held awaiting ack at the start of an interval kept every one of
 * them busy through it: more were held than the interval completed, by at least `leftPerReplica`
 * per ready replica (so on average each still had that many in hand at the end, whatever was
 * delivered meanwhile); they were the newest deliveries (HELD_SHARE_OF_UNACKED_SPAN), not messages
 * waiting out a redelivery delay that no replica has in hand; and the ack floor moved — the held
 * messages are being worked through, not stuck (a handler that never acks, a replica that died
 * holding its buffer pin the floor).
 *
 * One left per replica on average says little about each replica, so observeRates asks for an
 * interval's work at the current figure left per replica (at least one): a margin that these do
 * not meet. With one left on average,
 * a few held messages that no replica works on — a killed pod's buffer, the newest deliveries,
 * awaiting ack_wait while the floor still moves below them — or a few replicas holding a batch
 * while the rest idle (a fetch() loop takes a batch only once it has finished the last) read as
 * busy replicas doing little: the policy fuzzer's worlds 9421 (5/s a replica read as 1.4–3.0/s,
 * 28 replicas for 24/s where 16 is the bound) and 12146 (12.5/s read as 4.4–8.5/s, then 7–9
 * replicas where 5–6 were the bound).
 */
export function busyOnPrefetch(
  before: Pick<RateState['last'], 'ackPending' | 'ackFloorConsumerSeq' | 'deliveredConsumerSeq'>,
  after: Pick<BacklogSample, 'ackFloorConsumerSeq'>,
  readyReplicas: number,
  completed: number,
  leftPerReplica = 1,
  inHandPerReplica = 1,
): boolean {
  const floor = before.ackFloorConsumerSeq;
  if (floor === undefined) return false;
  // Handlers that work on inHandPerReplica at once (one: every client's default) have that many in
  // hand: what is left must be beyond the in-hand ones but one.
  const inHand = Number.isFinite(inHandPerReplica) ? Math.max(1, inHandPerReplica) : 1;
  return (
    readyReplicas > 0 &&
    completed > 0 &&
    before.ackPending - completed >= readyReplicas * (inHand - 1 + Math.max(1, leftPerReplica)) &&
    heldAreNewest(before) &&
    after.ackFloorConsumerSeq > floor
  );
}

/** Reads a RateState back from history, refusing anything that does not look like one. */
export function asRateState(value: unknown): RateState | undefined {
  if (typeof value !== 'object' || value === null || !('last' in value)) return undefined;
  const last: unknown = (value as { last: unknown }).last;
  if (typeof last !== 'object' || last === null) return undefined;
  const at: unknown = (last as { at?: unknown }).at;
  return typeof at === 'number' ? (value as RateState) : undefined;
}

/**
 * Redeliveries between two readings that the counters prove (see the header): Δconsumer_seq beyond
 * Δstream_seq, or the rise of num_redelivered, whichever is larger; never more than the deliveries.
 */
export function provenRedeliveries(
  before: Pick<RateState['last'], 'deliveredConsumerSeq' | 'deliveredStreamSeq' | 'redelivered'>,
  after: Pick<BacklogSample, 'deliveredConsumerSeq' | 'deliveredStreamSeq' | 'redelivered'>,
): number {
  const deliveries = after.deliveredConsumerSeq - before.deliveredConsumerSeq;
  if (!(deliveries > 0)) return 0;
  let proven = 0;
  if (before.deliveredStreamSeq !== undefined) {
    const streamSeq = after.deliveredStreamSeq - before.deliveredStreamSeq;
    if (streamSeq >= 0) proven = Math.max(proven, deliveries - streamSeq);
  }
  if (before.redelivered !== undefined) proven = Math.max(proven, after.redelivered - before.redelivered);
  return Math.min(deliveries, Math.max(0, proven));
}

/**
 * Messages awaiting ack that were redelivered, as a share of an interval's deliveries, above which
 * a filtered consumer's redeliveries may hide beyond what the counters prove even when none were
 * seen in the interval itself. Below it, what can hide is about as few: a poison message retried
 * with backoff keeps one there for good, and must not stop the consumer's capacity from being
 * learnt.
 */
export const HIDDEN_REDELIVERY_SHARE = 0.1;

/**
 * Whether redeliveries between two readings may hide beyond what provenRedeliveries proves: the
 * consumer is filtered (delivered.stream_seq moves over other subjects' messages, so Δstream_seq
 * hides redeliveries), messages were delivered, and redelivery went on — num_redelivered rose or
 * the counters prove some — or more than HIDDEN_REDELIVERY_SHARE of them as many messages awaiting
 * ack had been redelivered at either end (copies expiring in a client's buffer, retries). Seen on
 * a real server: 5 of 10 deliveries redelivered while num_redelivered went from 0 to 1 (the other
 * copies were acknowledged within the second).
 */
export function mayHideRedeliveries(
  before: Pick<RateState['last'], 'deliveredConsumerSeq' | 'deliveredStreamSeq' | 'redelivered'>,
  after: Pick<BacklogSample, 'deliveredConsumerSeq' | 'deliveredStreamSeq' | 'redelivered' | 'filtered'>,
): boolean {
  const deliveries = after.deliveredConsumerSeq - before.deliveredConsumerSeq;
  if (after.filtered !== true || !(deliveries > 0)) return false;
  const redelivered = Math.max(before.redelivered ?? 0, after.redelivered);
  return (
    after.redelivered > (before.redelivered ?? 0) ||
    provenRedeliveries(before, after) > 0 ||
    redelivered > HIDDEN_REDELIVERY_SHARE * deliveries
  );
}

/**
 * What arrived in an interval with nothing pending at the server at either end whose redeliveries
 * may hide among a filtered consumer's new deliveries (mayHideRedeliveries), given `arrived` as
 * counted from them. Each hidden redelivery counts as a new delivery, up to Δdelivered.stream_seq
 * (it moves over the other subjects' messages too), so the count is only the most that can have
 * arrived: a poisoned message nak'd and retried at once forever on a consumer filtered to a 3.2/s
 * subject of a stream carrying 10/s of others read 12-14/s at every reading for as long as it
 * looped, and sized 4-5 replicas where 1 does (policy fuzzer world 930094,
 * test/world-930094-t1009.json). Consumer info proves no more than one new delivery when
 * delivered.stream_seq moved (`streamSeqMoved`), so they are taken at the rate that arrived before
 * (`arrivalPerSecond`), never above the count: a rate that falls below the estimate is followed down
 * as far as the count goes. Nothing pending at either end, the replicas kept up with whatever
 * arrived; once work waits at the server the count is taken as read (more replicas, not fewer), so
 * a subject that gets busier than the replicas keep up with is sized as before. Not seen: a rate
 * that rises while the replicas keep up with it, until they no longer do.
 */
export function arrivalsWhileRedeliveriesHide(
  arrived: number,
  streamSeqMoved: boolean,
  arrivalPerSecond: number | undefined,
  dtSeconds: number,
): number {
  if (arrivalPerSecond === undefined || !Number.isFinite(arrivalPerSecond)) return arrived;
  return Math.min(arrived, Math.max(streamSeqMoved ? 1 : 0, arrivalPerSecond * dtSeconds));
}

export interface RateOptions {
  /**
   * Seconds after the replica count changed before its intervals are capacity evidence. 0 when the
   * target reports a ready count (a replica is counted once ready); when it does not, the replica
   * count asked for is all there is, and replicas asked for are still starting for a while.
   */
  settleSeconds?: number;
  /**
   * Replicas asked for (the target's spec). When more are asked for than are ready, pods that are
   * not ready yet may already consume (a container starts pulling before its readiness probe passes
   * and before the Deployment's ready count catches up), so completions ÷ the ready replicas is at
   * most an upper bound and completions ÷ the replicas asked for a lower bound of what one replica
   * does: a reading then moves the estimate only as far as the bound it proves. Replicas asked for
   * at the last reading, or taken back less than LOWER_BOUND_SETTLE_SECONDS before the interval,
   * count as asked for too (a pod taken back finishes what it holds).
   */
  askedReplicas?: number;
  /**
   * A per-replica capacity an earlier process measured (the EventConsumer's status, validated by
   * the controller), taken only when there is no state yet: a restarted operator or a new leader
   * starts from it instead of from "unknown", marked as carried (RateState.perReplicaCarried)
   * until this process's first busy interval replaces it.
   */
  carriedPerReplicaPerSecond?: number;
  /**
   * The carried capacity was a low end only in that process (its status said
   * perReplicaLowEndOnly): it stays one here (RateState.perReplicaLowEndOnly).
   */
  carriedPerReplicaLowEndOnly?: boolean;
  /**
   * ... and one read from held messages alone (its status said perReplicaLowEndHeld): it stays one
   * here (RateState.perReplicaLowEndHeld), only with carriedPerReplicaLowEndOnly.
   */
  carriedPerReplicaLowEndHeld?: boolean;
  /**
   * Held messages an earlier process showed in the handlers' hands (its status said
   * handlersInHand): so they stay here (RateState.handlersInHand) until a change of the ready count
   * shows otherwise.
   */
  carriedHandlersInHand?: { seconds: number; perReplica: number; from: number; to: number };
  /**
   * A failing spell an earlier process was in (its status said handlersFailing): since when (ms,
   * the clock of `now`) and the replicas ready when it began. Taken as this process's own spell
   * (failingSince, failingReplicas), so a restart or a new leader neither adds a second spare replica nor starts
   * the spell's clock over (decide.ts 3d, FAILING_SPARE_AFTER_SECONDS); the first interval that
   * completes something ends it as it ends any spell. Ignored unless `since` is not after the
   * reading and `replicas` is a whole number.
   */
  carriedHandlersFailing?: { since: number; replicas: number };
  /**
   * Records at a full max_ack_pending an earlier process kept (its status said maxAckPendingCap):
   * taken, marked carried (AtCapThroughput.carried), only at the limit this reading shows and only
   * when they show the limit binding (maxAckPendingBinding), so no record that proves nothing is
   * made up; this process's own readings at a count replace that count's record.
   */
  carriedAtCap?: { maxAckPending: number; records: Array<Omit<AtCapThroughput, 'run' | 'carried'>> };
  /**
   * Handlers an earlier process read as slower than max_age (its status said
   * handlersSlowerThanMaxAge): taken as this process's own finding (RateState.beyondMaxAge), so a
   * restart or a new leader adds no trial replica again (decide.ts 3f), only when this reading
   * shows what the finding says still holds (carriedBeyondMaxAge): the same max_age, at least the
   * replicas it was found with ready (fewer: pods replaced, which may run a fixed handler), and no
   * message acknowledged before it expired. A reading that shows one ends it as it ends any.
   */
  carriedBeyondMaxAge?: BeyondMaxAge;
  /**
   * The user's spec.inFlightPerReplica: how many messages one replica's handlers work on at once.
   * A replica is shown busy by what it holds only beyond this many (busyOnPrefetch). Ignored
   * unless a finite number > 0.
   */
  inFlightPerReplica?: number;
}

/** The weight (seconds of evidence) of a capacity carried over from an earlier process. */
export const CARRIED_EVIDENCE_SECONDS = 10;
/** A carried capacity above this (messages/s per replica) is not taken: no status says that. */
export const MAX_CARRIED_PER_REPLICA_PER_SECOND = 1_000_000;

/** Time constant of the arrival dispersion: a property of how publishers send, slow to change. */
export const DISPERSION_TIME_CONSTANT_SECONDS = 60;
/**
 * One pair of successive intervals moves the dispersion by at most this multiple of the figure
 * before: a step in the rate is one huge difference, not a sign of batches, and must not make
 * every later rise look like noise; a stream that does come in batches shows it pair after pair
 * and gets there within about a minute. Not capped: the two pairs around a reading that held
 * messages between two empty ones, or a few readings within BATCH_RUN_SECONDS (a step stays up; a
 * batch that lands alone does not). A sparse stream in batches (5.5/s in batches of 100, 1 s
 * readings) is mostly empty pairs, and capped its batches read 1.0: two batches in successive
 * readings then counted as a 100/s rise (the policy fuzzer's worlds 10686 and 10995).
 */
export const DISPERSION_SAMPLE_CAP = 4;
/**
 * Arrivals that came within this many seconds between two empty readings are one batch to the
 * arrival dispersion, however many readings they span: read at pollInterval's default (5 s) they
 * would have landed in one reading, and the adaptive poll (1-2 s while messages move) must not see
 * the same publisher as sending independent messages. Counted pair by pair, a cron-like producer
 * sending 10x its mean for 2 s of every 20 s, read every second, showed two capped pairs (a step up,
 * a step down) and a run of empty ones: a dispersion of 1.0, so each burst's second reading
 * confirmed 161/s as a rise and panicked from 6 replicas of 5/s to 50 (maxReplicas) where 6
 * drained it in 11 s (pull-clients model, nats.go Fetch(10) loop, 17/s on average).
 */
export const BATCH_RUN_SECONDS = 5;

/**
 * Whether `count` messages are more than a Poisson stream expected to bring `expected` would show:
 * FLOWING_MESSAGES at least, and RATE_NOISE_SIGMAS standard deviations above `expected`.
 */
function beyondPoisson(count: number, expected: number): boolean {
  return count >= FLOWING_MESSAGES && count > expected + RATE_NOISE_SIGMAS * Math.sqrt(Math.max(0, expected));
}

/**
 * One sample of the arrival dispersion from two successive intervals (rates r1 over t1 seconds and
 * r2 over t2) of a stream whose smoothed rate is `smoothed`: for independent batches at a steady
 * rate λ, an interval's rate has variance D·λ/t, so (r2 − r1)² / (λ·(1/t1 + 1/t2)) has mean D — 1
 * for independent messages, about the batch size for batches — and, taken on a difference, does
 * not mind the level.
 */
export function arrivalDispersionSample(
  r1: number,
  t1: number,
  r2: number,
  t2: number,
  smoothed: number,
): number | undefined {
  if (!(smoothed > 0 && t1 > 0 && t2 > 0)) return undefined;
  return (r2 - r1) ** 2 / (smoothed * (1 / t1 + 1 / t2));
}

/** Seconds, completions and replica-seconds summed over the intervals of a span (RateState.busySpell, shownSpell). */
interface Spell {
  seconds: number;
  completed: number;
  replicaSeconds: number;
  /**
   * Messages held awaiting ack integrated over the span (message-seconds, the mean of each
   * interval's two readings), and the readings it was taken from (heldSpell only: heldBound).
   */
  heldSeconds?: number;
  readings?: number;
}

/**
 * A span extended by one interval of `seconds` in which `completed` messages were acknowledged by
 * `replicas`. A span read back from history (the EventConsumer's status) with anything but finite,
 * non-negative figures starts anew.
 */
function extendSpell(
  before: Spell | undefined,
  seconds: number,
  completed: number,
  replicas: number,
  held?: number,
): Spell {
  const known =
    before !== undefined &&
    [before.seconds, before.completed, before.replicaSeconds].every((n) => Number.isFinite(n) && n >= 0);
  const spell: Spell = {
    seconds: (known ? before.seconds : 0) + seconds,
    completed: (known ? before.completed : 0) + completed,
    replicaSeconds: (known ? before.replicaSeconds : 0) + replicas * seconds,
  };
  if (held !== undefined) {
    const heldKnown =
      known &&
      [before.heldSeconds, before.readings].every(
        (n) => typeof n === 'number' && Number.isFinite(n) && n >= 0,
      );
    spell.heldSeconds = (heldKnown ? (before.heldSeconds ?? 0) : 0) + held * seconds;
    spell.readings = (heldKnown ? (before.readings ?? 0) : 0) + 1;
  }
  return spell;
}

/**
 * A low end's high end (RateState.perReplicaAtMost) that the figure or what the replicas were shown
 * to do at least (perReplicaAtLeast) passes by more than this factor is contradicted: the replicas
 * did more than it allows since, so their handlers changed (a faster dependency, a new release),
 * and the bound is dropped. Kept, it stopped re-measuring for good (decide.ts: a bound within
 * RATE_HEADROOM of the figure ends it): the policy fuzzer's world 515031 (FUZZ_SEED=515000
 * FUZZ_WORLDS=300) learnt at most 12.2/s a replica while its handlers did 12.5/s, they then did
 * 50/s, and 3 replicas sized by an 18.4/s low end (at least 18.9/s shown) carried 33.7/s from
 * t = 931 s to the end where 2 do. The same factor as decide.ts RATE_HEADROOM: a figure that
 * creeps up on noisy intervals (provesMore) above a bound by less is within the headroom of it.
 */
export const AT_MOST_CONTRADICTED_FACTOR = 1.15;
/**
 * Standard deviations of the mean held count added before dividing by it (heldBound): the held
 * count at a reading varies about as a Poisson count of its mean, so the span's mean read from a
 * few readings can be low by chance, and the bound must not be high.
 */
export const HELD_BOUND_SIGMAS = 3;
/**
 * heldBound takes a span of at least this many readings: a figure is raised to the highest bound
 * any span showed, so each span's chance of reading high must be small.
 */
export const HELD_BOUND_READINGS = 30;

/**
 * heldBound needs at least this many messages held on average over its span to raise a measured
 * figure: fewer are mostly zeros at the readings, which say more about when they were taken than
 * about how long a message is held. A low end (perReplicaLowEndOnly) is raised from any span that
 * held a message at one reading at least: there the held count is the only evidence of room there
 * is (below).
 */
export const HELD_BOUND_MIN_MESSAGES = 1;

/**
 * What each replica does at least, from a span of settled intervals (Little's law): every message
 * completed was held awaiting ack at least as long as a handler took over it, so the messages held
 * on average are at least completions per second × a handler's time per message, and a replica
 * (one handler or more) completes at least completions per second ÷ messages held. Messages held
 * and not in work (a client's buffer, a pod taken back, a redelivery delay) only make it lower;
 * so does concurrency within a replica. While the replicas hold fewer messages than there are of
 * them (some idle), this is more than completions ÷ replicas, the bound a reading gives otherwise:
 * replicas sized by a low figure are never busy, so no busy interval measures them, and their
 * completions ÷ replicas stay below it (the policy fuzzer's world 40300: a 1.7/s figure, read from
 * 38 replicas of which a few worked through fetch() batches, held 45 replicas of 5/s handlers
 * where 13 carry 64.7/s; they held 14 messages on average). The held count is known at the readings
 * only, so the mean is raised by HELD_BOUND_SIGMAS standard deviations of its estimate (about a
 * Poisson count's, from the readings or, when a message is held longer than they are apart, the
 * span's length ÷ how long one is held): the figure takes the highest bound any span shows, so a
 * span must rarely read high. Simulated (the model in rates.test.ts: one handler per replica,
 * 10–75 % busy, read every 1–5 s; 30 seeds, 150 runs of 600 s), 5/s handlers read at most 4.98/s.
 * Completions ÷ min(replicas, that held count); undefined for a span with fewer than
 * HELD_BOUND_READINGS readings, or that held less than HELD_BOUND_MIN_MESSAGES on average unless
 * `lowEnd`.
 *
 * `lowEnd`: the figure is a low end only, re-measured by sizing at LOW_END_PROBE_FACTOR times it
 * (decide.ts). With 2-4 replicas that sizing rounds back up to the ready count, each replica goes
 * on doing the arrivals ÷ their count, which never passes the figure, and nothing else can show
 * more: the policy fuzzer's worlds 290127 (49.6/s for 200/s handlers, 2 replicas where 1 does),
 * 51221 (136/s, 3 where 1 does) and adverse 313007 (42.7/s; handlers 20/s, then 200/s: 3 where
 * 1 does, to the end) kept 2-3× the replicas needed for their last 600-900 s. Idle handlers hold
 * less than a message each on average, so there the span's mean held, however small, is what
 * shows the room: raised by its HELD_BOUND_SIGMAS standard deviations as a count of mean 1 would
 * be (more than a smaller mean's), 0.26 held over 30 readings proves at most 0.81, and 49.6/s
 * then at least 61/s a replica.
 */
export function heldBound(spell: Spell, lowEnd = false): number | undefined {
  if (spell.heldSeconds === undefined || spell.readings === undefined || !(spell.seconds > 0))
    return undefined;
  const held = spell.heldSeconds / spell.seconds;
  if (spell.readings < HELD_BOUND_READINGS) return undefined;
  if (lowEnd ? !(held > 0) : held < HELD_BOUND_MIN_MESSAGES) return undefined;
  // Readings closer together than a message is held see much the same messages: the span holds
  // about its completions ÷ the mean held independent looks (its length ÷ the time one is held).
  const samples = Math.max(1, Math.min(spell.readings, spell.completed / held));
  const heldAtMost = held + HELD_BOUND_SIGMAS * Math.sqrt(Math.max(1, held) / samples);
  const replicas = spell.replicaSeconds / spell.seconds;
  const divisor = Math.min(replicas, heldAtMost);
  return divisor > 0 ? spell.completed / spell.seconds / divisor : undefined;
}

/**
 * What each replica does at least, from a backlog run read as one interval (RateState.burstSpell):
 * the completions from the reading before the backlog passed the handlers to the first reading at
 * which it was back within them, less what was held at that first reading (work that may have
 * begun before), ÷ the replica-seconds of every replica that may have consumed meanwhile. A
 * stream sent in batches (a cron-like producer) keeps its replicas idle between bursts, so no
 * interval there shows what one does, and a low end read at the first burst (1.75/s for 5/s
 * handlers behind nats.go Fetch(10) loops) sized every later burst: 15-28 replicas where 5 drain
 * one within half of drainWithinSeconds (bursty-fetch-loops.test). Over the run the replicas were
 * busy most of the time, so this is near what they do; idle time at its ends (the readings are
 * 1-2 s apart) only makes it lower, as do replicas counted that did not consume. Undefined for a
 * span that completed nothing beyond what was held at its start.
 */
export function burstBound(spell: Spell & { heldAtStart: number }): number | undefined {
  const completed = spell.completed - spell.heldAtStart;
  return completed > 0 && spell.replicaSeconds > 0 ? completed / spell.replicaSeconds : undefined;
}

/** How long RateState.arrivalMean averages over. */
export const BURST_MEAN_SECONDS = 300;

/**
 * RateState.arrivalMean after an interval of `seconds` in which `arrived` arrived: a time-weighted
 * mean whose earlier weight is at most BURST_MEAN_SECONDS. Read back from history, anything but
 * finite figures starts anew.
 */
export function nextArrivalMean(
  previous: RateState['arrivalMean'],
  arrived: number,
  seconds: number,
): NonNullable<RateState['arrivalMean']> {
  const before =
    previous !== undefined && typeof previous === 'object' ? previous : { perSecond: 0, seconds: 0 };
  const perSecond = finiteNonNegative(before.perSecond);
  const weight =
    perSecond === undefined ? 0 : Math.min(finiteNonNegative(before.seconds) ?? 0, BURST_MEAN_SECONDS);
  const mean = ((perSecond ?? 0) * weight + Math.max(0, arrived)) / (weight + seconds);
  return { perSecond: mean, seconds: Math.min(weight + seconds, BURST_MEAN_SECONDS) };
}

/** RateState.lastBurst read back from history, or undefined when not whole. */
export function validLastBurst(v: unknown): RateState['lastBurst'] {
  if (v === null || typeof v !== 'object') return undefined;
  const { messages, replicaSeconds, seconds, endedAt } = v as Record<string, unknown>;
  const known = [messages, replicaSeconds, seconds, endedAt].map(finiteNonNegative);
  if (known.some((n) => n === undefined) || !((known[1] as number) > 0)) return undefined;
  const [m, r, s, e] = known as number[];
  const { batched, everySeconds } = v as Record<string, unknown>;
  const every = finiteNonNegative(everySeconds);
  return {
    messages: m as number,
    replicaSeconds: r as number,
    seconds: s as number,
    endedAt: e as number,
    ...(batched === true ? { batched: true as const } : {}),
    ...(every !== undefined && every > 0 ? { everySeconds: every } : {}),
  };
}

/** A burst span (RateState.burstSpell) read back from history, or undefined when not whole. */
function validBurstSpell(v: unknown): (Spell & { heldAtStart: number; batched?: true }) | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const { seconds, completed, replicaSeconds, heldAtStart, batched } = v as Record<string, unknown>;
  const known = [seconds, completed, replicaSeconds, heldAtStart].map(finiteNonNegative);
  if (known.some((n) => n === undefined)) return undefined;
  const [s, c, r, h] = known as number[];
  return {
    seconds: s as number,
    completed: c as number,
    replicaSeconds: r as number,
    heldAtStart: h as number,
    ...(batched === true ? { batched: true as const } : {}),
  };
}

/** A whole number ≥ 0 read back from history, or `otherwise`. */
function wholeOr(n: unknown, otherwise: number): number {
  return Number.isSafeInteger(n) && (n as number) >= 0 ? (n as number) : otherwise;
}

/**
 * The replicas asked for before the count asked for last fell, while pods taken back then may still
 * consume at `at` (RateState.askedBefore), or 0. Read back from history: anything but whole numbers
 * is none.
 */
function takenBackUntil(previous: RateState, at: number): number {
  const b = previous.askedBefore;
  if (b === undefined || !Number.isFinite(b.until) || !(b.until > at)) return 0;
  return wholeOr(b.count, 0);
}

/**
 * RateState.askedBefore after a reading at `at` that asks for `askedNow`: a fall from the count
 * asked for at the last reading starts LOWER_BOUND_SETTLE_SECONDS in which the pods taken back may
 * still consume (a count kept from an earlier fall is kept when higher).
 */
function takenBackAsked(
  previous: RateState,
  askedNow: number,
  at: number,
): RateState['askedBefore'] | undefined {
  const before = wholeOr(previous.last.askedReplicas, askedNow);
  const kept = takenBackUntil(previous, at);
  if (askedNow < before)
    return { count: Math.max(before, kept), until: at + LOWER_BOUND_SETTLE_SECONDS * 1000 };
  return kept > askedNow ? previous.askedBefore : undefined;
}

/**
 * The interval restarted at `sample`, measuring nothing: its start was answered too late to time it
 * (ROUND_TRIP_SHARE), and this reading was not. The estimates are kept (arrival, processing,
 * capacity and its bounds, dispersion); what the skipped stretch did is not counted anywhere, so the
 * runs and spells that add intervals up (quiet, stuck floor, removal, busy, shown, held, expiring) start again
 * rather than span a stretch they did not see, and the removals counted over "the interval before"
 * are unknown for the next one (as after a failed STREAM.INFO). The ready count carries as in an
 * interval (readySince, cohorts); drops still to come at max_deliver are allowed for up to what is
 * redelivered now (droppedAtMaxDeliver's cap: the capacity can read lower, never higher).
 */
function restartInterval(
  previous: RateState,
  sample: BacklogSample,
  readyReplicas: number,
  options: RateOptions,
): RateState {
  const last = previous.last;
  const sameReady = readyReplicas === last.readyReplicas;
  const {
    quietSince: _quiet,
    takingNothingRun: _takingNothing,
    stuckFloor: _stuck,
    removalRun: _removal,
    heldRisingRun: _heldRising,
    removedInside: _inside,
    deliveredLastInterval: _delivered,
    busySpell: _busy,
    shownSpell: _shown,
    heldSpell: _held,
    burstSpell: _burst,
    lastBurst: _lastBurst,
    arrivalMean: _arrivalMean,
    keptPace: _keptPace,
    arrivalRun: _arrivalRun,
    backlogRuns: _backlogRuns,
    expiringSince: _expiring,
    handlingNearMaxAge: _nearMaxAge,
    resetAt: _reset,
    dropBudget: _budget,
    askedBefore: _askedBefore,
    ...kept
  } = previous;
  const next: RateState = {
    ...kept,
    last: {
      ...baseline(
        sample,
        readyReplicas,
        sameReady ? (last.readySince ?? last.at) : sample.at,
        sameReady ? last.readyFrom : last.readyReplicas,
        nextReadyCohorts(last.readyCohorts, last.readyReplicas, readyReplicas, sample.at),
      ),
      ...(sameReady && last.completedSinceReady === true ? { completedSinceReady: true } : {}),
    },
  };
  if (options.askedReplicas !== undefined) next.last.askedReplicas = options.askedReplicas;
  const askedBefore = takenBackAsked(previous, options.askedReplicas ?? readyReplicas, sample.at);
  if (askedBefore !== undefined) next.askedBefore = askedBefore;
  if (sample.maxDeliver !== undefined && sample.maxDeliver > 1 && sample.redelivered > 0)
    next.dropBudget = sample.redelivered;
  return next;
}

/** The interval between two readings, and which clock timed it (readingInterval). */
export interface ReadingInterval {
  seconds: number;
  /** 'server': both readings' server times, on one clock; 'operator': when the requests were sent. */
  clock: 'server' | 'operator';
}

/**
 * The interval between the last reading and `sample`, in seconds. By the server's clock when both
 * readings carry its time (ServerTime) from the same clock — one server process, or one consumer
 * leader's term — and the two times fit what the operator saw: the server took each reading
 * between its request and its reply, so the interval lies within [Δsent − the first's round trip,
 * Δsent + the second's round trip], give or take the clocks' rates (CLOCK_RATE_TOLERANCE) and the
 * stamps' resolution. Outside that (a server clock stepped, or going backwards) or with a clock
 * changed (a new consumer leader, a restarted server) or unknown, the operator's clock times it,
 * from when each request was sent, and the round trips bound how far off that can be
 * (ROUND_TRIP_SHARE in observeRates). Timed by the server, an interval is exact however late its
 * replies reached the operator: its event loop's lag no longer matters.
 */
export function readingInterval(
  last: Pick<RateState['last'], 'at' | 'serverTime' | 'roundTripMs'>,
  sample: BacklogSample,
): ReadingInterval {
  const sentSeconds = (sample.at - last.at) / 1000;
  const before = last.serverTime;
  const after = sample.serverTime;
  if (
    before === undefined ||
    after === undefined ||
    typeof before.clock !== 'string' ||
    before.clock !== after.clock ||
    !Number.isFinite(before.at) ||
    !Number.isFinite(after.at)
  )
    return { seconds: sentSeconds, clock: 'operator' };
  const serverSeconds = (after.at - before.at) / 1000;
  const slack = STAMP_RESOLUTION_MS / 1000 + CLOCK_RATE_TOLERANCE * Math.abs(sentSeconds);
  const earliest = sentSeconds - roundTripSeconds(last.roundTripMs) - slack;
  const latest = sentSeconds + roundTripSeconds(sample.roundTripMs) + slack;
  if (!(serverSeconds > 0) || serverSeconds < earliest || serverSeconds > latest)
    return { seconds: sentSeconds, clock: 'operator' };
  return { seconds: serverSeconds, clock: 'server' };
}

function roundTripSeconds(roundTripMs: number | undefined): number {
  return roundTripMs !== undefined && Number.isFinite(roundTripMs) && roundTripMs > 0
    ? roundTripMs / 1000
    : 0;
}

/** Whether an interval is a poll gap: much longer than the usual cadence (see GAP_FACTOR). */
function isGap(previousIntervalSeconds: number | undefined, dtSeconds: number): boolean {
  return (
    previousIntervalSeconds !== undefined &&
    dtSeconds > GAP_MIN_SECONDS &&
    dtSeconds > GAP_FACTOR * previousIntervalSeconds
  );
}

/**
 * Folds one reading into the estimate. Readings that do not move time forward, or move it by less
 * than MIN_INTERVAL_SECONDS, or whose round trips are too long a share of the interval
 * (ROUND_TRIP_SHARE), are ignored (the same state is returned). When
 * the delivered sequence goes backwards, or the consumer's creation time or filter changes, the
 * consumer was recreated (or refiltered in place): counters restart, so the
 * arrival and processing estimates restart too (no negative rates), while the per-replica capacity
 * — a property of the workload, not of the consumer — is kept.
 */
export function observeRates(
  previous: RateState | undefined,
  sample: BacklogSample,
  readyReplicas: number,
  options: RateOptions = {},
): RateState {
  if (previous === undefined) {
    const fresh: RateState = { last: baseline(sample, readyReplicas) };
    if (options.askedReplicas !== undefined) fresh.last.askedReplicas = options.askedReplicas;
    const carried = options.carriedPerReplicaPerSecond;
    if (
      carried !== undefined &&
      Number.isFinite(carried) &&
      carried > 0 &&
      carried <= MAX_CARRIED_PER_REPLICA_PER_SECOND
    ) {
      fresh.perReplicaPerSecond = carried;
      fresh.perReplicaEvidenceSeconds = CARRIED_EVIDENCE_SECONDS;
      fresh.perReplicaCarried = true;
      if (options.carriedPerReplicaLowEndOnly === true) {
        fresh.perReplicaLowEndOnly = true;
        if (options.carriedPerReplicaLowEndHeld === true) fresh.perReplicaLowEndHeld = true;
      }
    }
    const inHand = validHandlersInHand({ ...options.carriedHandlersInHand, at: sample.at });
    if (options.carriedHandlersInHand !== undefined && inHand !== undefined) fresh.handlersInHand = inHand;
    const spell = options.carriedHandlersFailing;
    if (
      spell !== undefined &&
      Number.isFinite(spell.since) &&
      spell.since <= sample.at &&
      Number.isSafeInteger(spell.replicas) &&
      spell.replicas >= 0
    ) {
      fresh.failingSince = spell.since;
      fresh.failingReplicas = spell.replicas;
    }
    const atCap = carriedAtCapState(options.carriedAtCap, sample);
    if (atCap !== undefined) fresh.atCap = atCap;
    const beyond = carriedBeyondMaxAge(options.carriedBeyondMaxAge, sample, readyReplicas);
    if (beyond !== undefined) fresh.beyondMaxAge = beyond;
    return fresh;
  }
  const interval = readingInterval(previous.last, sample);
  const dtSeconds = interval.seconds;
  if (!(dtSeconds >= MIN_INTERVAL_SECONDS)) return previous;
  if (interval.clock === 'operator') {
    const roundTripAllowance = ROUND_TRIP_SHARE * dtSeconds;
    if ((sample.roundTripMs ?? 0) / 1000 > roundTripAllowance) return previous;
    if ((previous.last.roundTripMs ?? 0) / 1000 > roundTripAllowance)
      return restartInterval(previous, sample, readyReplicas, options);
  }

  // Recreated: the sequence went backwards, or — when the new consumer has already delivered more
  // than the old one, so it did not — the creation time changed. Counted across the two, the
  // stream's retained messages would read as arrivals (1,950/s in one 1 s interval: rates.test).
  // A filter edited in place is the same to the counters: the stream's messages past the
  // consumer's position that the new filter matches become pending at once, and are no arrivals.
  const createdBefore = previous.last.consumerCreated;
  const filterBefore = previous.last.consumerFilter;
  const recreated =
    sample.deliveredConsumerSeq < previous.last.deliveredConsumerSeq ||
    (createdBefore !== undefined &&
      sample.consumerCreated !== undefined &&
      sample.consumerCreated !== createdBefore) ||
    (filterBefore !== undefined &&
      sample.consumerFilter !== undefined &&
      sample.consumerFilter !== filterBefore);
  if (recreated) {
    const reset: RateState = {
      last: baseline(
        sample,
        readyReplicas,
        sample.at,
        undefined,
        nextReadyCohorts(previous.last.readyCohorts, previous.last.readyReplicas, readyReplicas, sample.at),
      ),
      resetAt: sample.at,
    };
    if (previous.perReplicaPerSecond !== undefined) reset.perReplicaPerSecond = previous.perReplicaPerSecond;
    if (previous.perReplicaEvidenceSeconds !== undefined)
      reset.perReplicaEvidenceSeconds = previous.perReplicaEvidenceSeconds;
    if (previous.perReplicaEvidenceCompletions !== undefined)
      reset.perReplicaEvidenceCompletions = previous.perReplicaEvidenceCompletions;
    if (previous.perReplicaLowEndOnly === true) reset.perReplicaLowEndOnly = true;
    if (previous.perReplicaLowEndSince !== undefined)
      reset.perReplicaLowEndSince = previous.perReplicaLowEndSince;
    if (previous.perReplicaLowEndHeld === true) reset.perReplicaLowEndHeld = true;
    if (previous.perReplicaFromHeld === true) reset.perReplicaFromHeld = true;
    if (previous.perReplicaCarried === true) reset.perReplicaCarried = true;
    if (options.askedReplicas !== undefined) reset.last.askedReplicas = options.askedReplicas;
    const askedBefore = takenBackAsked(previous, options.askedReplicas ?? readyReplicas, sample.at);
    if (askedBefore !== undefined) reset.askedBefore = askedBefore;
    if (previous.inFlightPerReplica !== undefined) reset.inFlightPerReplica = previous.inFlightPerReplica;
    if (previous.handlingSeconds !== undefined) reset.handlingSeconds = previous.handlingSeconds;
    if (previous.perReplicaAtLeast !== undefined) reset.perReplicaAtLeast = previous.perReplicaAtLeast;
    if (previous.perReplicaAtMost !== undefined) reset.perReplicaAtMost = previous.perReplicaAtMost;
    if (previous.atCap !== undefined) reset.atCap = previous.atCap;
    if (previous.perReplicaTakenWhileRemoving !== undefined) {
      reset.perReplicaTakenWhileRemoving = previous.perReplicaTakenWhileRemoving;
      if (previous.takenWhileRemovingSeconds !== undefined)
        reset.takenWhileRemovingSeconds = previous.takenWhileRemovingSeconds;
      if (previous.takenAtDiscardLimit === true) reset.takenAtDiscardLimit = true;
    }
    if (previous.behindInHand !== undefined) reset.behindInHand = previous.behindInHand;
    if (typeof previous.takenFasterThanMaxAge === 'number')
      reset.takenFasterThanMaxAge = previous.takenFasterThanMaxAge;
    const beyondBefore = validBeyondMaxAge(previous.beyondMaxAge);
    if (beyondBefore !== undefined) reset.beyondMaxAge = beyondBefore;
    if (previous.ackedBeforeExpiryAt !== undefined) reset.ackedBeforeExpiryAt = previous.ackedBeforeExpiryAt;
    if (previous.handlersInHand !== undefined) reset.handlersInHand = previous.handlersInHand;
    return reset;
  }

  const last = previous.last;
  const redeliveries = provenRedeliveries(last, sample);
  // Retries may hide among the new deliveries (a filtered consumer): read once, used below.
  const hidesRedeliveries = mayHideRedeliveries(last, sample);
  const newDeliveries = sample.deliveredConsumerSeq - last.deliveredConsumerSeq - redeliveries;
  // Messages removed from the stream before this consumer delivered them (max_age, max_msgs,
  // max_bytes, max_msgs_per_subject with discard old; a purge or a delete): num_pending loses them
  // without a delivery, and delivered.stream_seq skips over them at the next delivery.
  const removed = removedUnconsumed(last, sample, newDeliveries);
  // A mirror or sourced stream copying from its origin: a message copied moves from the lag to
  // num_pending, and is no arrival (a mirror catching up on 20,000 copied them within 0.1 s); what
  // reaches the origin is. Counted when the lag is known at both ends; otherwise the copies count,
  // as on any stream.
  const lagBefore = wholeOr(last.upstreamLag, -1);
  const lagAfter = upstreamLagOf(sample);
  const lagGrew = lagBefore >= 0 && lagAfter !== undefined ? lagAfter - lagBefore : 0;
  // Pending can shrink without deliveries beyond what the skips show (messages removed ahead of
  // the consumer's position, not yet passed): that is not negative arrival, so clamp at zero.
  // On a stream whose limits remove messages from its front (max_age, max_msgs or max_bytes
  // discarding old), messages discarded before any delivery leave num_pending unseen unless the
  // consumer delivered on both sides of them (removedUnconsumed): while a consumer falls behind its
  // deliveries come in bursts, and the arrival rate read low, 47.7/s for 59.8/s arriving
  // (consumer-configs.int, max_msgs 100) — sized for less than arrives while the stream loses
  // messages. Its state is read with every reading there, so for a consumer of every subject what
  // arrived is what was stored: the growth of the stream's last sequence.
  // A filtered consumer's stream count on its filters grows by what arrived for them
  // (filterStoredBetween): no retry hiding behind the other subjects' messages counts there.
  // So is a WorkQueue or Interest stream's whose limits remove (limitRemovals, read with every
  // reading there): messages that wait and expire at the server leave no delivery and keep
  // num_pending level (what arrives replaces what expires), and read as nothing arriving — 0.6-0.9/s
  // for 10/s with nats.js consume() holding its 100 expired messages (expired-at-server.test).
  const filterStored = filterStoredBetween(last, sample);
  const stored =
    filterStored ??
    storedBetween(last, sample) ??
    (sample.filtered === true ? undefined : limitedStreamStored(last, sample));
  const arrivedAsRead = Math.max(
    0,
    stored !== undefined
      ? stored + lagGrew
      : newDeliveries +
          (previous.deliveredLastInterval === true ? removed : 0) +
          Math.max(0, sample.pending) -
          Math.max(0, last.pending) +
          lagGrew,
  );
  const arrived =
    last.pending <= 0 && sample.pending <= 0 && hidesRedeliveries && filterStored === undefined
      ? arrivalsWhileRedeliveriesHide(
          arrivedAsRead,
          sample.deliveredStreamSeq > (last.deliveredStreamSeq ?? Infinity),
          previous.arrivalPerSecond,
          dtSeconds,
        )
      : arrivedAsRead;
  const leftAckPending = Math.max(
    0,
    newDeliveries - (Math.max(0, sample.ackPending) - Math.max(0, last.ackPending)),
  );
  // Messages dropped after their last delivery (max_deliver reached) leave num_ack_pending as an
  // acknowledged one does (consumer.go hasMaxDeliveries: deleted from pending, the ack floor moved):
  // failures, not completions (droppedAtMaxDeliver).
  const drops = droppedAtMaxDeliver(previous.dropBudget, sample, redeliveries, leftAckPending);
  // With max_deliver 1 drops are counted from the server's advisories (droppedAtFirstDelivery);
  // unknown, the interval is no capacity evidence (below).
  const firstDrops = droppedAtFirstDelivery(last, sample);
  const counted = Math.min(firstDrops ?? 0, leftAckPending - drops.dropped);
  const completed = leftAckPending - drops.dropped - counted;
  const arrivedPerSecond = arrived / dtSeconds;
  const completedPerSecond = completed / dtSeconds;

  const sameReady = readyReplicas === last.readyReplicas;
  const readySince = sameReady ? (last.readySince ?? last.at) : sample.at;
  const next: RateState = {
    last: {
      ...baseline(
        sample,
        readyReplicas,
        readySince,
        sameReady ? last.readyFrom : last.readyReplicas,
        nextReadyCohorts(last.readyCohorts, last.readyReplicas, readyReplicas, sample.at),
      ),
      ...(sameReady && (last.completedSinceReady === true || completed > 0)
        ? { completedSinceReady: true }
        : {}),
    },
    arrivalPerSecond: ewma(
      previous.arrivalPerSecond,
      arrivedPerSecond,
      dtSeconds,
      ARRIVAL_TIME_CONSTANT_SECONDS,
    ),
    processingPerSecond: ewma(
      previous.processingPerSecond,
      completedPerSecond,
      dtSeconds,
      PROCESSING_TIME_CONSTANT_SECONDS,
    ),
    redeliveryPerSecond: ewma(
      previous.redeliveryPerSecond,
      redeliveries / dtSeconds,
      dtSeconds,
      PROCESSING_TIME_CONSTANT_SECONDS,
    ),
    lastIntervalArrivalPerSecond: arrivedPerSecond,
    ...(previous.lastIntervalArrivalPerSecond !== undefined
      ? { previousIntervalArrivalPerSecond: previous.lastIntervalArrivalPerSecond }
      : {}),
    ...(previous.lastIntervalSeconds !== undefined
      ? { previousIntervalSeconds: previous.lastIntervalSeconds }
      : {}),
    lastIntervalSeconds: dtSeconds,
    lastIntervalClock: interval.clock,
    ...(newDeliveries > 0 ? { deliveredLastInterval: true } : {}),
  };
  // Every replica that may have consumed during the interval: those asked for at either end, and
  // those taken back within LOWER_BOUND_SETTLE_SECONDS before it, which finish what they hold (and,
  // not counted ready, may have consumed all along).
  const askedNow = options.askedReplicas ?? readyReplicas;
  if (options.askedReplicas !== undefined) next.last.askedReplicas = options.askedReplicas;
  const askedBefore = takenBackAsked(previous, askedNow, sample.at);
  if (askedBefore !== undefined) next.askedBefore = askedBefore;
  const asked = Math.max(askedNow, wholeOr(last.askedReplicas, askedNow), takenBackUntil(previous, last.at));
  if (previous.lastIntervalArrivalPerSecond !== undefined) {
    // State from older versions has no confirmed rate: the smoothed one stands in for it.
    const confirmedBefore = previous.confirmedArrivalPerSecond ?? previous.arrivalPerSecond ?? 0;
    const dispersionBefore = previous.arrivalDispersion ?? 1;
    if (dispersionBefore >= BATCHED_DISPERSION && previous.confirmedArrivalPerSecond !== undefined) {
      // Sent in batches: every interval counts whole, over a time constant long enough to hold the
      // batch noise to CONFIRMED_BATCH_NOISE_SHARE of the rate (batchedConfirmTimeConstant).
      next.confirmedArrivalPerSecond = ewma(
        previous.confirmedArrivalPerSecond,
        arrivedPerSecond,
        dtSeconds,
        batchedConfirmTimeConstant(
          dispersionBefore,
          Math.min(previous.confirmedArrivalPerSecond, previous.arrivalPerSecond ?? Infinity),
        ),
      );
    } else {
      const seenBefore = Math.max(previous.lastIntervalArrivalPerSecond, confirmedBefore);
      const flowing =
        dispersionBefore < BATCHED_DISPERSION &&
        previous.lastIntervalArrivalPerSecond * (previous.lastIntervalSeconds ?? 0) >= FLOWING_MESSAGES;
      next.confirmedArrivalPerSecond = ewma(
        previous.confirmedArrivalPerSecond,
        flowing ? arrivedPerSecond : Math.min(arrivedPerSecond, CONFIRM_FACTOR * seenBefore),
        dtSeconds,
        ARRIVAL_TIME_CONSTANT_SECONDS,
      );
    }
  }
  const dispersion = previous.arrivalDispersion ?? 1;
  const dispersionSample =
    previous.lastIntervalArrivalPerSecond !== undefined &&
    previous.lastIntervalSeconds !== undefined &&
    previous.arrivalPerSecond !== undefined &&
    !isGap(previous.lastIntervalSeconds, dtSeconds)
      ? arrivalDispersionSample(
          previous.lastIntervalArrivalPerSecond,
          previous.lastIntervalSeconds,
          arrivedPerSecond,
          dtSeconds,
          previous.arrivalPerSecond,
        )
      : undefined;
  // Readings that held messages between two empty ones within BATCH_RUN_SECONDS (a batch that
  // landed alone, in one reading or a few) are no step in the rate: taken as one interval, its two
  // pairs count whole, beside the capped ones taken while it came.
  const run = previous.arrivalRun;
  const lone =
    dispersionSample !== undefined &&
    arrived === 0 &&
    run !== undefined &&
    previous.arrivalPerSecond !== undefined &&
    (run.readings === 1 || beyondPoisson(run.arrived, previous.arrivalPerSecond * run.seconds))
      ? (arrivalDispersionSample(
          0,
          run.quietSeconds,
          run.arrived / run.seconds,
          run.seconds,
          previous.arrivalPerSecond,
        ) ?? 0) +
        (arrivalDispersionSample(
          run.arrived / run.seconds,
          run.seconds,
          0,
          dtSeconds,
          previous.arrivalPerSecond,
        ) ?? 0)
      : undefined;
  const runNow =
    arrived === 0
      ? undefined
      : previous.lastIntervalArrivalPerSecond === 0 && previous.lastIntervalSeconds !== undefined
        ? { arrived, seconds: dtSeconds, readings: 1, quietSeconds: previous.lastIntervalSeconds }
        : run !== undefined
          ? {
              arrived: run.arrived + arrived,
              seconds: run.seconds + dtSeconds,
              readings: run.readings + 1,
              quietSeconds: run.quietSeconds,
            }
          : undefined;
  if (runNow !== undefined && (runNow.readings === 1 || runNow.seconds <= BATCH_RUN_SECONDS))
    next.arrivalRun = runNow;
  if (dispersionSample !== undefined)
    next.arrivalDispersion = Math.max(
      1,
      ewma(
        dispersion,
        lone ?? Math.min(dispersionSample, DISPERSION_SAMPLE_CAP * dispersion),
        dtSeconds,
        DISPERSION_TIME_CONSTANT_SECONDS,
      ),
    );
  else if (previous.arrivalDispersion !== undefined) next.arrivalDispersion = previous.arrivalDispersion;

  // Handlers that fail every message (a nak, an ack_wait running out: poison messages, a dependency
  // that is down): messages were redelivered and none completed while work waited. The spell lasts
  // until an interval completes something (an interval with neither, between two ack_wait expiries,
  // proves nothing either way). Its intervals are no capacity evidence: the replicas are not slow,
  // their work fails (every handler nak'ing took a 25/s figure to 4.2/s, and scaling for it would
  // buy replicas that fail the same messages faster).
  // Handlers slower than ack_wait whose prefetched copies expire show the same intervals: copies
  // redelivered, nothing completed — between completions that come every few seconds. Such a run
  // is not failing while the replicas, at the speed known for them (the figure, or the last interval
  // that completed anything), would have completed fewer than STALL_MESSAGES each in it: it is held
  // as a quiet run instead (below), and replicas are still added for the backlog (before, each such
  // poll said HandlersFailing and added none).
  // (Failing is judged on what left num_ack_pending, drops included: an allowance for drops taken
  // from a few acknowledgements must not make working handlers look failing.)
  // Drops counted from advisories are exact: an interval that dropped messages and completed none
  // fails as one that redelivered them does (with max_deliver 1 nothing is redelivered).
  const failingNow =
    handlersFailing(sample, redeliveries, leftAckPending) ||
    (counted > 0 && handlersFailing(sample, counted, completed));
  if (drops.budget !== undefined && drops.budget > 0) next.dropBudget = drops.budget;
  const runStart = previous.quietSince ?? last.at;
  const knownSpeed = previous.perReplicaPerSecond ?? previous.lastCompletedPerReplica;
  const slowButWorking =
    failingNow &&
    previous.failingSince === undefined &&
    knownSpeed !== undefined &&
    knownSpeed * ((sample.at - runStart) / 1000) < STALL_MESSAGES;
  const failingSince =
    completed > 0
      ? undefined
      : failingNow && !slowButWorking
        ? (previous.failingSince ?? runStart)
        : previous.failingSince;
  if (failingSince !== undefined) next.failingSince = failingSince;
  // Failing read from ack_wait expiries while the replicas ask for nothing: a handler hung on its
  // message under nats.go Consume() (its pull of 500 stays open, so the server hands its own
  // expired messages back to it until the 500 are delivered, then nothing: nats-server 2.12,
  // num_redelivered 168 by t = 14 s, then no delivery at all while num_pending grew 0 -> 580). The
  // server would deliver to any replica that asked, so this is a stall, not handlers failing what
  // they are given: nak'ing handlers, or handlers that give up before ack_wait, keep taking
  // deliveries every interval, and max_ack_pending reached or pull requests waiting (refused-backlog.ts)
  // explain nothing delivered otherwise (takingNothing, decide.ts 3d).
  if (failingSince !== undefined) {
    // Those asked for count too: pods not counted ready yet may consume already (a readiness
    // probe, or its report, lagging), and took their share of what they hang on.
    next.failingReplicas =
      previous.failingSince !== undefined && previous.failingReplicas !== undefined
        ? previous.failingReplicas
        : Math.max(last.readyReplicas, last.askedReplicas ?? 0);
    if (failingNow) next.failingShownAt = sample.at;
    else if (previous.failingSince !== undefined && previous.failingShownAt !== undefined)
      next.failingShownAt = previous.failingShownAt;
    const room = (ackPending: number, maxAckPending: number): boolean =>
      !(maxAckPending > 0 && ackPending >= maxAckPending);
    // At max_ack_pending nothing delivered shows no replica asks for nothing: the server may deliver
    // nothing more. Unless the retries that made the spell stopped long ago (retriesStopped).
    const stopped =
      previous.failingSince !== undefined &&
      previous.failingShownAt !== undefined &&
      retriesStopped(previous.failingSince, previous.failingShownAt, sample.at);
    const full = !(
      room(last.ackPending, last.maxAckPending) && room(sample.ackPending, sample.maxAckPending)
    );
    const askedNothing =
      sample.deliveredConsumerSeq === last.deliveredConsumerSeq &&
      (last.deliveredStreamSeq === undefined || sample.deliveredStreamSeq === last.deliveredStreamSeq) &&
      completed === 0 &&
      last.pending > 0 &&
      sample.pending > 0 &&
      sample.waiting === 0 &&
      (!full || stopped) &&
      Math.max(readyReplicas, askedNow) > 0 &&
      sample.paused !== true &&
      !isGap(previous.lastIntervalSeconds, dtSeconds);
    if (askedNothing)
      next.takingNothingRun = {
        since: previous.takingNothingRun?.since ?? last.at,
        intervals: (previous.takingNothingRun?.intervals ?? 0) + 1,
        ...(full || previous.takingNothingRun?.retriesStopped === true
          ? { retriesStopped: true as const }
          : {}),
      };
  }
  if (completed > 0 && readyReplicas > 0) next.lastCompletedPerReplica = completedPerSecond / readyReplicas;
  else if (previous.lastCompletedPerReplica !== undefined)
    next.lastCompletedPerReplica = previous.lastCompletedPerReplica;
  if (
    readyReplicas < last.readyReplicas ||
    (options.askedReplicas !== undefined &&
      last.askedReplicas !== undefined &&
      options.askedReplicas < last.askedReplicas)
  )
    next.fellAtDeliveredSeq = sample.deliveredConsumerSeq;
  else if (previous.fellAtDeliveredSeq !== undefined) next.fellAtDeliveredSeq = previous.fellAtDeliveredSeq;
  // The oldest message awaiting ack not acknowledged (RateState.stuckFloor; stalledReplicas says
  // when that is a stall).
  const floorStuck =
    last.ackFloorConsumerSeq !== undefined &&
    sample.ackFloorConsumerSeq === last.ackFloorConsumerSeq &&
    last.ackPending > 0 &&
    sample.ackPending > 0 &&
    (last.redelivered ?? 0) === 0 &&
    sample.redelivered === 0 &&
    failingSince === undefined &&
    readyReplicas >= last.readyReplicas &&
    !(previous.lastIntervalSeconds !== undefined && dtSeconds > GAP_FACTOR * previous.lastIntervalSeconds);
  if (floorStuck) {
    const run = previous.stuckFloor;
    next.stuckFloor =
      run === undefined
        ? {
            since: last.at,
            intervals: 1,
            replicas: last.readyReplicas,
            held: last.ackPending,
            completed: completed > 0,
            floor: sample.ackFloorConsumerSeq,
          }
        : {
            ...run,
            intervals: run.intervals + 1,
            completed: run.completed || completed > 0,
          };
  }

  // Capacity is only observable while replicas had more work than they could take, and the same
  // replicas were ready throughout (a pod that started mid-interval would make the replicas look
  // slower than they are) and settled, in an interval of the usual length. Work was there
  // throughout when either
  // - at both ends at least a full batch per replica waited at the server (a few pending messages
  //   are normal between pulls and would make idle replicas look slow), or
  // - the replicas' own buffers outlasted the interval (busyOnPrefetch): a prefetching client
  //   (nats.go Consume() buffers 500) takes the whole backlog into its buffer, so nothing waits
  //   at the server although its handler never stops.
  // The margin left per replica is an interval's work at the figure; a figure carried over from an
  // earlier process (perReplicaCarried) is not this process's, and at 100,000/s no buffer was ever
  // that deep, so it counts no more than what the replicas completed in the interval.
  // Not busy when pull requests waited at the server with messages pending at both ends, while what was
  // delivered kept the backlog from growing by more (refused-backlog.ts heldAtThreshold: overflow
  // clients' min_pending): the server hands a waiting request a pending message at once unless the
  // request itself holds it back, so those replicas were asking for work, and their share of what
  // arrived is no capacity (a standing 99 under min_pending 100 read 20/s
  // arriving as 20/s a replica for one, 10/s for two: each replica added read slower).
  const fullBatch = Math.max(1, readyReplicas * (previous.inFlightPerReplica ?? 1));
  const marginPerSecond =
    previous.perReplicaCarried === true
      ? Math.min(previous.perReplicaPerSecond ?? 0, completedPerSecond / Math.max(1, readyReplicas))
      : (previous.perReplicaPerSecond ?? 0);
  const heldBack =
    last.waitedWithBacklog === true && waitsWithBacklog(sample) && heldAtThreshold(last, sample);
  // What the replicas hold shows them busy only beyond what their handlers can have in hand: one
  // each unless the user said how many (spec.inFlightPerReplica, RateOptions.inFlightPerReplica).
  // With one assumed, held messages cannot tell handlers that work on many at once from a buffer
  // in front of one handler (heldOnlyKeptUp below).
  const userInHand =
    options.inFlightPerReplica !== undefined &&
    Number.isFinite(options.inFlightPerReplica) &&
    options.inFlightPerReplica > 0
      ? options.inFlightPerReplica
      : undefined;
  const waitedAtServer = last.pending >= fullBatch && sample.pending >= fullBatch;
  const heldShowsBusy = busyOnPrefetch(
    last,
    sample,
    readyReplicas,
    completed,
    marginPerSecond * dtSeconds,
    userInHand ?? 1,
  );
  // Held messages alone, with nothing waiting at the server, and the replicas completing what
  // arrived (the backlog grew by no more than twice its noise, a Poisson count's times the
  // arrivals' dispersion: fellBehind): busy one-at-a-time handlers behind their clients' buffers,
  // or handlers working on all they hold at once with time to spare (see the header). Such an
  // interval shows what the replicas do at least, not what they can do: it sets a first figure (as
  // before) and raises one (provesMore), but never lowers a measured one (a carried or low-end
  // figure is replaced as before). Falling behind, the replicas did what they can: measured both
  // ways.
  const grew = arrived - completed;
  const growthNoise = 2 * Math.sqrt(Math.max(1, previous.arrivalDispersion ?? 1) * (arrived + completed));
  const fellBehind = grew > Math.max(1, growthNoise);
  const figureMeasured =
    previous.perReplicaPerSecond !== undefined &&
    previous.perReplicaCarried !== true &&
    previous.perReplicaLowEndOnly !== true;
  const heldOnlyKeptUp = heldShowsBusy && !waitedAtServer && userInHand === undefined && !fellBehind;
  // Messages waiting at the server at both ends show the replicas busy only when more waited than
  // the arrivals' own clumping leaves: where no more waited at either end than the growth test's
  // noise (fellBehind: twice a Poisson count's times the arrivals' dispersion) and the backlog
  // neither grew nor fell by more than that (drained: they took more than arrived), the replicas
  // completed what arrived, and completions ÷ ready is their share of the arrivals, not what they
  // can do. A stream sent in clumps leaves a few pending at most readings however idle the replicas
  // are between clumps: taken as busy, each replica added lowered the figure (the policy fuzzer's
  // world 352008: nats.py fetch(1) loops at ~166/s each taking 349.8/s in clumps of 10, 4-46
  // pending a reading against a noise of ~140, read 139 -> 62/s over 900 s and asked 7 where 3 do
  // it). Such an interval, like heldOnlyKeptUp, shows what the replicas do at least: it raises a
  // figure (provesMore) but never lowers a measured one. A standing backlog beyond that noise
  // (decide.test's panics: 500 waiting for replicas at 125/s, read every 5 s) measures both ways.
  const drained = completed - arrived > Math.max(1, growthNoise);
  const keptUpAtServer =
    waitedAtServer && !fellBehind && !drained && Math.max(last.pending, sample.pending) <= growthNoise;
  const heldLowEnd = previous.perReplicaLowEndOnly === true && previous.perReplicaLowEndHeld === true;
  // Held messages do show the replicas busy when the ack floor tells: it has moved at one replica's
  // share of the completions for FLOOR_PACED_SECONDS (floorPacedBusy), so the replica at the floor
  // worked through a standing buffer in order all along, and every other one completed about as
  // much. Then what they hold is a queue, as 2f sizes it, and completions ÷ ready is what each can do.
  const floorPaced = floorPacedBusy(
    previous.floorPacedRun,
    last,
    sample,
    readyReplicas,
    failingSince === undefined &&
      redeliveries === 0 &&
      sample.ackNone !== true &&
      last.paused !== true &&
      sample.paused !== true &&
      !isGap(previous.lastIntervalSeconds, dtSeconds) &&
      !hidesRedeliveries,
  );
  if (floorPaced.run !== undefined) next.floorPacedRun = floorPaced.run;
  const busyThroughout =
    !heldBack &&
    ((waitedAtServer && !(keptUpAtServer && figureMeasured)) ||
      floorPaced.busy ||
      (heldShowsBusy &&
        !(heldOnlyKeptUp && (figureMeasured || heldLowEnd)) &&
        !(keptUpAtServer && figureMeasured)));
  const sameReplicas = readyReplicas > 0 && readyReplicas === last.readyReplicas;
  const steadySeconds = (last.at - readySince) / 1000;
  const settleSeconds = Math.max(0, options.settleSeconds ?? 0);
  // Nor when redeliveries may hide beyond what the counters prove (a filtered consumer): the
  // completions may be copies nobody worked on. Nor when the consumer was paused on the server at
  // either end: the server delivered nothing for part of the interval or all of it (consumer.go,
  // loopAndGatherMsgs), so work waited while replicas idled (a 20 s pause took 25/s to 8.3/s).
  const paused = last.paused === true || sample.paused === true;
  // Nor while this count has completed nothing at all yet (RateState.last.completedSinceReady): a
  // target without a ready count counts a pod from settleSeconds on, and pods that took 60 s against
  // a 30 s settle period read 0/s for 30 s of evidence (the policy fuzzer's world 13152: 9 replicas
  // for 0.9/s at 200/s handlers).
  const startedConsuming = completed > 0 || last.completedSinceReady === true;
  const comparable =
    startedConsuming &&
    sameReplicas &&
    !paused &&
    failingSince === undefined &&
    steadySeconds >= settleSeconds &&
    !isGap(previous.lastIntervalSeconds, dtSeconds) &&
    !hidesRedeliveries;
  let perReplica = previous.perReplicaPerSecond;
  let perReplicaEvidence = previous.perReplicaEvidenceSeconds;
  // (Read back from history: anything but a finite count at or above 0 counts as established.)
  let perReplicaCompletions =
    previous.perReplicaPerSecond === undefined
      ? undefined
      : finiteNonNegative(previous.perReplicaEvidenceCompletions);
  // An interval in which nothing was delivered and nothing completed while work waited is held, not
  // measured (quietInterval): a client whose pull request the server no longer holds (a consumer
  // leader stepped down) receives nothing, and its replica read as completing 0/s (leader-change.int:
  // the capacity was learnt as 0/s). Handlers slower than the poll show such intervals too, so the
  // run is measured together with the interval that ends it, unless the replicas, at the speed
  // known for them, would have completed STALL_MESSAGES each in it and twice what they held
  // (stallShown: a stall, then the interval that ends it is measured alone, or, with no figure yet,
  // not at all). So are clients that acknowledge a batch at once: measured alone, the interval that
  // acknowledged 2,000 read 2,000/s, and a 146/s figure rose by 5.5/s with each 13.7 s batch.
  let capacitySeconds = dtSeconds;
  let capacityEvidence = comparable;
  // Whether what left num_ack_pending over the interval is what the replicas completed, whoever
  // they were (the messages held span, heldBound, needs no more): the reasons below that make an
  // interval no capacity evidence, less those about which replicas did it.
  let completionsKnown =
    failingSince === undefined && !isGap(previous.lastIntervalSeconds, dtSeconds) && !hidesRedeliveries;
  // ack_policy none (BacklogSample.ackNone): the server sees deliveries only, so what a client took
  // into its buffer reads as completed (consumer-configs.int read 24.9/s for 20/s handlers, and a
  // client filling a buffer of 100 at once reads 100/s). What was delivered bounds nothing the
  // replicas did: no capacity is learnt from such a consumer, and replicas follow the backlog.
  if (sample.ackNone === true) {
    capacityEvidence = false;
    completionsKnown = false;
  }
  // max_deliver 1 without a count of drops: any completion may be a message whose only delivery
  // ran out of ack_wait.
  if (firstDrops === undefined) {
    capacityEvidence = false;
    completionsKnown = false;
  }
  // A WorkQueue or Interest stream whose limits remove messages (max_age, max_msgs…): an expiry of
  // a held message leaves num_ack_pending as an acknowledgement does, and acknowledgements remove
  // messages too, so the stream's counters cannot tell them apart. An interval in which the limits
  // could have removed any message is no capacity evidence (as one over a purge); a healthy work
  // queue, whose oldest message is far from max_age and whose count is far from max_msgs, is.
  if (limitRemovalsPossible(last.limitedStream, sample, dtSeconds)) {
    capacityEvidence = false;
    completionsKnown = false;
  }
  // On a stream that removes messages replicas hold (max_age, max_msgs discarding old), a removed
  // message leaves num_ack_pending as if acknowledged (removedWhileHeld). The replicas' clients
  // still work through every message they received, removed or not, so over a run of such
  // intervals the completions count what they do, except at its start: the messages held when
  // removals began leave at once, ahead of the work (consumer-configs.int: 41/s and 61/s in the
  // first two seconds for 20/s handlers, then 20/s on average). A run is measured as one interval
  // once it spans REMOVAL_RUN_SECONDS, less what was held at its start; its intervals after that
  // are lower ends, less what the stream may have removed of what they held.
  const heldRemoved = removedWhileHeld(last, sample);
  let heldRemovedInRun = 0;
  // Removals from inside the stream (max_msgs_per_subject, a delete, a purge by subject) of messages
  // the replicas held leave num_ack_pending as acknowledgements do, ahead of the work, and the first
  // sequence does not show them: the stream's counters bound how many there were
  // (removedInside, over this interval of the stream's and the one before, see RateState). While
  // that bound is above 0 the interval's completions less the bound are a lower end of what the
  // replicas did: it can raise a figure, never set or lower one.
  const insideNow = removedInside(last, sample);
  // Without the interval before (the first interval measured, or a STREAM.INFO that failed), removals
  // between the last consumer snapshot and the stream's are not known: on a stream whose limits
  // remove messages as they arrive the interval is no evidence; where only a user's delete or purge
  // does, one within that round trip (milliseconds) is the risk taken, and the interval counts.
  if (sample.removesInside !== undefined && insideNow !== undefined) next.removedInside = insideNow;
  const before =
    previous.removedInside ??
    (sample.removesInside === 'requests' && insideNow !== undefined ? 0 : undefined);
  const insideBound =
    sample.removesInside === undefined
      ? 0
      : insideNow === undefined || before === undefined
        ? undefined
        : last.ackFloorStreamSeq !== undefined && sample.deliveredStreamSeq <= last.ackFloorStreamSeq
          ? 0
          : insideNow + before;
  if (insideBound === undefined) {
    capacityEvidence = false;
    completionsKnown = false;
  }
  // On a stream that no limit removes from, a removal of held messages is a user's delete or purge:
  // they leave num_ack_pending at once, as acknowledgements would (a purge of 100 held read as 100
  // done in one second), while the client still works through them. A one-off, not work done: the
  // processing rate and the last speed seen keep what they were over the interval it may fall in
  // (removals known, or not known). Limits remove as messages arrive, and over a run the clients'
  // completions count what they do: those keep counting, as the capacity logic below measures them.
  if (sample.removedOnlyOnRequest === true && (heldRemoved !== 0 || insideBound !== 0)) {
    if (previous.processingPerSecond === undefined) delete next.processingPerSecond;
    else next.processingPerSecond = previous.processingPerSecond;
    if (previous.lastCompletedPerReplica === undefined) delete next.lastCompletedPerReplica;
    else next.lastCompletedPerReplica = previous.lastCompletedPerReplica;
  }
  let capacityCompleted = completed;
  let removalRun: RateState['removalRun'];
  if (heldRemoved === undefined) {
    capacityEvidence = false;
    completionsKnown = false;
  } else if (heldRemoved > 0 && comparable) {
    const run = previous.removalRun ?? { since: last.at, completed: 0, held: Math.max(0, last.ackPending) };
    if (run.measured === true) {
      // Once measured, a single interval of the run is no measurement: what it completed may be
      // held messages removed ahead of the work (nats.js refills its buffer 25 at a time, and a 1 s
      // interval read 25/s for 20/s handlers). Less every held message the stream may have
      // removed in it, it is a lower end (below).
      removalRun = run;
      heldRemovedInRun = heldRemoved;
    } else {
      const runCompleted = run.completed + completed;
      const runSeconds = (sample.at - run.since) / 1000;
      // Measured at the first interval that closes it busy: one that ends with less waiting (a refill
      // of the client's buffer just taken) would not count it, and the run, once measured, gives
      // low ends only (consumer-configs.int: 81 pending at the 10 s mark, ~87 held a replica, and no
      // figure in 15 readings).
      if (runSeconds >= REMOVAL_RUN_SECONDS && busyThroughout) {
        capacityCompleted = Math.max(0, runCompleted - run.held);
        capacitySeconds = runSeconds;
        removalRun = { ...run, completed: runCompleted, measured: true };
      } else {
        capacityEvidence = false;
        removalRun = { ...run, completed: runCompleted };
      }
    }
  } else if (heldRemoved > 0) capacityEvidence = false;
  else if (
    heldRemoved === 0 &&
    comparable &&
    busyThroughout &&
    previous.removalRun !== undefined &&
    previous.removalRun.measured !== true
  ) {
    // An interval inside a run, with work waiting throughout, in which the stream removed nothing
    // the replicas held: their clients were working through what they held, removed or not (a
    // nats.js client with a buffer of removed messages pulls nothing for a second, and its
    // messages, all removed, leave nothing awaiting ack). It belongs to the run: dropping the run
    // there started it again, and runs broken every 4-5 s never spanned REMOVAL_RUN_SECONDS
    // (consumer-configs.int, max_msgs_per_subject 1 over 150 subjects: no figure in 20 readings).
    removalRun = { ...previous.removalRun, completed: previous.removalRun.completed + completed };
    capacityEvidence = false;
  }
  if ((heldRemoved ?? 0) > 0 || (insideBound ?? 0) > 0) completionsKnown = false;
  if (removalRun !== undefined) next.removalRun = removalRun;
  // A run broken by an interval that is not comparable is dropped: it starts again. Quiet runs are
  // for intervals without removals.
  const quietKnown = comparable && heldRemoved === 0 && removalRun === undefined;
  if (quietKnown && (slowButWorking || quietInterval(last, sample, fullBatch, newDeliveries, completed))) {
    next.quietSince = previous.quietSince ?? last.at;
    capacityEvidence = false;
  } else if (quietKnown && previous.quietSince !== undefined) {
    const quietSeconds = Math.max(0, (last.at - previous.quietSince) / 1000);
    const speed = perReplica ?? completedPerSecond / Math.max(1, readyReplicas);
    // Nothing was delivered or completed in the run, so what the replicas held is what they hold at
    // its end.
    if (!stallShown(speed, Math.max(1, readyReplicas), quietSeconds, Math.max(0, last.ackPending)))
      capacitySeconds += quietSeconds;
    else if (perReplica === undefined) capacityEvidence = false;
  }
  const lowEndBound = (insideBound ?? 0) + heldRemovedInRun;
  const lowEndOnly = lowEndBound > 0;
  if (lowEndOnly) capacityCompleted = Math.max(0, capacityCompleted - lowEndBound);
  const capacityPerSecond = capacityCompleted / capacitySeconds;
  const completedPerReplica = capacityPerSecond / Math.max(1, readyReplicas);
  // Outside busy periods a reading counts only when it raises the estimate: each replica completed
  // more than the estimate says it can, so the estimate is low.
  const provesMore =
    perReplica !== undefined &&
    completedPerReplica > perReplica &&
    steadySeconds >= Math.max(settleSeconds, LOWER_BOUND_SETTLE_SECONDS);
  // Just after the ready count fell a reading is a bound, not a measurement: replicas leaving still
  // finish what they hold (LOWER_BOUND_SETTLE_SECONDS), so it can only lower the estimate; with no
  // estimate yet it is not taken.
  const leaving =
    last.readyFrom !== undefined &&
    readyReplicas < last.readyFrom &&
    steadySeconds < LOWER_BOUND_SETTLE_SECONDS;
  // A reading is an interval [completions ÷ every replica that may have consumed, completions ÷ the
  // warm ones] when
  // - more were asked for than ready: pods not counted ready yet may consume already (see
  //   RateOptions.askedReplicas), so the low end divides by the replicas asked for;
  // - some ready replicas became ready less than WARM_UP_SECONDS (after settleSeconds) before the
  //   interval: they may do less than they will, so the high end divides by the warm ones alone
  //   (none warm: no high end).
  // It raises a figure to at most its low end and lowers it to at least its high end.
  // With no figure yet, completions ÷ ready is the figure when none are asked for beyond the ready
  // ones (warming replicas only make it low). While more are asked for, the first figure is the low
  // end, or what the replicas were shown to do at least (perReplicaAtLeast) when more, and it is a
  // low end only (RateState.perReplicaLowEndOnly): the first interval with none asked for beyond
  // the ready ones replaces it, as a first figure. Taking completions ÷ ready there (as before)
  // read 40/s for 20/s pods while 2 of the 4 consuming were counted ready, kept it for 40 s (the
  // others warming) and took 4 minutes to come down; sized by it, the arrival rate asks for half
  // the replicas it needs. The low end alone, kept as a figure that only the usual pace raised,
  // over-scaled the simulator's step 2.5x in replica-seconds (2 of 20 asked ready: a tenth); replaced
  // once readiness catches up, it costs the simulator's bursty trace +16.8 % replica-seconds (p99
  // −0.50 s), whose bursts are all busy while more are asked for than ready: the price of a figure
  // that is never high.
  const warm = warmReplicas(
    knownCohorts(last.readyCohorts, last.readyReplicas),
    last.at,
    settleSeconds + WARM_UP_SECONDS,
  );
  const lowEndFigure = previous.perReplicaLowEndOnly === true && perReplica !== undefined;
  const catchesUp =
    lowEndFigure &&
    asked <= readyReplicas &&
    capacityEvidence &&
    busyThroughout &&
    !leaving &&
    !lowEndOnly &&
    readyReplicas > 0;
  // A figure carried over from an earlier process (RateState.perReplicaCarried) is replaced by this
  // process's first busy interval, as a first figure: averaged with it, as the evidence of 10 s it
  // was given, a figure of 0.001/s written into status by hand took 25/s replicas to 8.3/s. While
  // more are asked for than ready, an interval is only a bound (below): a carried figure within it
  // is kept, as the earlier process kept its own there (and carried no longer: busyBehind), and one
  // outside it is replaced. Replaced there too, it was the interval's low end, completions ÷ every
  // replica asked for: a new process taking over while a panic's 37 pods still started read
  // 125/s ÷ 38 and asked for maxReplicas where the earlier one held 38 (controller/
  // carried-panic.test; the policy fuzzer's world 36029 restarted while its pods started: 7 -> 50,
  // where the process that kept running asked for 20).
  const carriedFigure = previous.perReplicaCarried === true && perReplica !== undefined;
  const measuresCarried =
    carriedFigure && capacityEvidence && busyThroughout && !leaving && !lowEndOnly && readyReplicas > 0;
  const boundsCarried =
    measuresCarried &&
    perReplica !== undefined &&
    asked > readyReplicas &&
    perReplica >= capacityPerSecond / asked &&
    (warm === 0 || perReplica <= capacityPerSecond / warm);
  const replacesCarried = measuresCarried && !boundsCarried;
  if (catchesUp || replacesCarried) {
    perReplica = undefined;
    perReplicaEvidence = undefined;
    perReplicaCompletions = undefined;
  }
  // Whether the figure has only ever been read from held messages while the replicas kept up
  // (RateState.perReplicaFromHeld): an interval that shows them busy otherwise, and moves the
  // figure, measures it.
  // Nor does an interval in which what the replicas held alone grew while their completions rose
  // with it (held-filling.ts fillingHands): handlers taking work into their hands until they hold
  // what arrives times the handling time look as if they fell behind, and completions ÷ ready then
  // is what they did at least (nats.py push ×500 at 30/s read 8/s a replica for handlers of 50/s,
  // and, as measured, no step down was ever taken at 4 where 1 does). A queue behind busy
  // handlers keeps its pace while it grows, and measures the figure as before.
  const filled = fillingHands(previous.heldRisingRun, {
    rising:
      heldShowsBusy &&
      !waitedAtServer &&
      userInHand === undefined &&
      fellBehind &&
      !heldBack &&
      comparable &&
      completionsKnown,
    readyReplicas,
    seconds: dtSeconds,
    heldFrom: Math.max(0, last.ackPending),
    heldTo: Math.max(0, sample.ackPending),
    completed: Math.max(0, completed),
  });
  if (filled.run !== undefined) next.heldRisingRun = filled.run;
  const heldAlone = (heldOnlyKeptUp || filled.filling) && !floorPaced.busy;
  let fromHeld = previous.perReplicaFromHeld === true && perReplica !== undefined;
  let figureLowEndOnly = lowEndFigure && !catchesUp && !replacesCarried;
  // A first figure from what the replicas held alone, while some ready replicas were still warming
  // up, is a low end (RateState.perReplicaLowEndHeld): the messages held at the interval's start
  // were handed out while fewer were ready, or to replicas not yet at their pace, so they show busy
  // only the replicas that hold them, and completions ÷ every ready replica is what each did at
  // least. Taken as measured, a push consumer's 99 held by the one member ready first, drained at
  // its 12.5/s beside 19 idle members, read 0.75/s a replica for 50/s handlers, and handlers that
  // work on 500 at once read 0.5/s for 50/s (the policy fuzzer's worlds 61747 and 2995: 4 -> 8 and
  // 4 -> 9 where 3 is the bound); kept-up held intervals never lowered or re-measured it.
  let heldWhileWarming = false;
  let reading: number | undefined = completedPerReplica;
  const firstLowEnd = perReplica === undefined && asked > readyReplicas;
  if (firstLowEnd)
    reading = Math.max(capacityPerSecond / asked, finiteNonNegative(previous.perReplicaAtLeast) ?? 0);
  else if ((asked > readyReplicas || warm < readyReplicas) && readyReplicas > 0 && perReplica !== undefined) {
    const low = capacityPerSecond / Math.max(asked, readyReplicas);
    const high = warm > 0 ? capacityPerSecond / warm : Infinity;
    reading = low > perReplica ? low : high < perReplica ? high : undefined;
  }
  if (lowEndOnly) {
    const low = capacityPerSecond / Math.max(asked, readyReplicas, 1);
    reading = perReplica !== undefined && low > perReplica ? low : undefined;
  }
  if (capacityEvidence && (busyThroughout || provesMore) && reading !== undefined) {
    const updated = evidenceMean(
      perReplica,
      perReplicaEvidence,
      reading,
      capacitySeconds,
      !busyThroughout && perReplica !== undefined && reading > perReplica
        ? CAPACITY_RISE_SECONDS
        : CAPACITY_TIME_CONSTANT_SECONDS,
    );
    // A bound that does not move the figure adds no evidence to it.
    const taken = perReplica === undefined ? !leaving : leaving ? updated.value < perReplica : true;
    if (taken) {
      // (The completions a replica the reading rests on: the reading times its seconds.)
      const restsOn = reading * capacitySeconds;
      if (perReplica === undefined) {
        heldWhileWarming = heldOnlyKeptUp && warm < readyReplicas;
        figureLowEndOnly = firstLowEnd || heldWhileWarming;
        fromHeld = heldAlone;
        perReplicaCompletions = restsOn;
      } else {
        if (busyThroughout && !heldAlone) fromHeld = false;
        if (perReplicaCompletions !== undefined) perReplicaCompletions += restsOn;
      }
      perReplica = updated.value;
      perReplicaEvidence = updated.seconds;
    }
  }
  // A figure from held messages alone that a busy interval (work waiting at the server, or
  // replicas falling behind at their pace) bears out without moving it (the reading between its
  // low and high ends while pods start) is measured all the same: the first interval of a queue
  // growing in the clients' buffers cannot be told from hands filling (held-filling.ts), and left
  // read from held, a queue's 5/s figure kept perReplicaFromHeld for 42 s behind a growing buffer.
  if (
    fromHeld &&
    previous.perReplicaPerSecond !== undefined &&
    capacityEvidence &&
    busyThroughout &&
    !heldAlone &&
    !leaving &&
    !lowEndOnly
  )
    fromHeld = false;
  // A spell of busy intervals whose replicas were all warm, ready and alone is a measurement: when
  // it spans CAPACITY_PROOF_SECONDS and shows more than the figure, the figure is low — replicas
  // sized by it fall behind while it creeps up at the evidence's pace — and is raised to it.
  const measured =
    capacityEvidence &&
    busyThroughout &&
    asked <= readyReplicas &&
    warm >= readyReplicas &&
    !leaving &&
    !lowEndOnly;
  if (measured) {
    const spell = extendSpell(previous.busySpell, capacitySeconds, capacityCompleted, readyReplicas);
    if (spell.seconds < CAPACITY_PROOF_SECONDS) next.busySpell = spell;
    else {
      const mean = spell.completed / spell.replicaSeconds;
      if (perReplica !== undefined && mean > perReplica) {
        perReplica = mean;
        if (perReplicaCompletions !== undefined) perReplicaCompletions += mean * spell.seconds;
        if (!heldAlone) fromHeld = false;
        perReplicaEvidence = Math.min(
          CAPACITY_TIME_CONSTANT_SECONDS,
          Math.max(perReplicaEvidence ?? CAPACITY_TIME_CONSTANT_SECONDS, spell.seconds),
        );
      }
    }
  }
  // What the replicas were shown to do at least, busy or not (RateState.perReplicaAtLeast): settled
  // intervals only — LOWER_BOUND_SETTLE_SECONDS after any change of the ready count, so replicas
  // that left and still finish what they hold do not count — divided by every replica that may have
  // consumed, over spans of CAPACITY_PROOF_SECONDS (acknowledgements reaching the server in a burst
  // even out). It only rises: each span is a bound of its own.
  const shownBefore = finiteNonNegative(previous.perReplicaAtLeast);
  if (shownBefore !== undefined) next.perReplicaAtLeast = shownBefore;
  if (capacityEvidence && !leaving && steadySeconds >= LOWER_BOUND_SETTLE_SECONDS && readyReplicas > 0) {
    const spell = extendSpell(
      previous.shownSpell,
      capacitySeconds,
      capacityCompleted,
      Math.max(asked, readyReplicas),
    );
    if (spell.seconds < CAPACITY_PROOF_SECONDS) next.shownSpell = spell;
    else if (spell.replicaSeconds > 0)
      next.perReplicaAtLeast = Math.max(shownBefore ?? 0, spell.completed / spell.replicaSeconds);
  }
  // The messages held over a span prove what a handler does whoever held them (heldBound: each
  // completed message was held at least as long as a handler took over it, and a replica is busy
  // only while it holds one), so the span runs on across changes of the ready count, its replicas
  // counted as every one that may have consumed (those asked for or taken back, and those that
  // left the ready count within LOWER_BOUND_SETTLE_SECONDS: they finish what they hold). Restarted
  // at each change, as the span of completions ÷ replicas must be, it never came to
  // HELD_BOUND_READINGS where a low figure keeps the count flapping at its edge: the policy
  // fuzzer's world 1111, read with the ack floor its world then reported, took 12.5/s handlers
  // for 3.5/s, and 4-5 replicas carrying 11.4/s, the count changing every half minute or so, held
  // that figure for its last 700 s (rates.test). Not within LOWER_BOUND_SETTLE_SECONDS of a first
  // reading: how many were ready before it, and may still finish what they hold, is not known.
  const mayHaveConsumed = Math.max(asked, readyReplicas, leaving ? (last.readyFrom ?? 0) : 0);
  const readyBeforeKnown = last.readyFrom !== undefined || steadySeconds >= LOWER_BOUND_SETTLE_SECONDS;
  if (completionsKnown && readyBeforeKnown && mayHaveConsumed > 0) {
    const heldSpell = extendSpell(
      previous.heldSpell,
      dtSeconds,
      completed,
      mayHaveConsumed,
      (Math.max(0, last.ackPending) + Math.max(0, sample.ackPending)) / 2,
    );
    if ((heldSpell.readings ?? 0) < HELD_BOUND_READINGS) next.heldSpell = heldSpell;
    else {
      // A figure below what the span proves (heldBound) is low: raised to it at once.
      // Not for a stream sent in batches whose last burst was read as one interval (lastBurst):
      // there what is held at a reading depends on where the reading falls against the bursts,
      // not on how long a message is held (readings that keep landing between bursts see next to
      // nothing held), and the bound read 7.68/s for 5/s handlers (nats.go Fetch(10) loops, 300
      // in 2 s of every 60 s, 10 s polls; burst-drain.test). Its bursts show what a replica does
      // instead (burstBound). Gated on the dispersion alone, world 290127 (a push deliver group,
      // no burst read) kept 2 replicas where 1 does (low-end-remeasure.test).
      const proven =
        (previous.arrivalDispersion ?? 1) < BATCHED_DISPERSION ||
        validLastBurst(previous.lastBurst) === undefined
          ? heldBound(heldSpell, figureLowEndOnly)
          : undefined;
      if (perReplica !== undefined && proven !== undefined && proven > perReplica) {
        perReplica = proven;
        perReplicaEvidence = Math.min(
          CAPACITY_TIME_CONSTANT_SECONDS,
          Math.max(perReplicaEvidence ?? 0, heldSpell.seconds),
        );
      }
    }
  }
  next.arrivalMean = nextArrivalMean(previous.arrivalMean, arrived, dtSeconds);
  const burstBeforeNow = validLastBurst(previous.lastBurst);
  if (burstBeforeNow !== undefined && sample.at - burstBeforeNow.endedAt <= BACKLOG_RUN_MEMORY_SECONDS * 1000)
    next.lastBurst = burstBeforeNow;
  // A backlog run read as one interval (burstBound): begun at the reading before it (the run's
  // `since`), ended at the first reading with the backlog back within the handlers. A run whose
  // start this process did not see, or with an interval whose completions are not known, shows
  // nothing. It raises a low end only, as the messages held do (heldBound): a stream sent in
  // batches is never re-measured by sizing (decide.ts remeasuring), so nothing else would.
  const runHandlers = Math.max(1, readyReplicas * (userInHand ?? 1));
  const backlogRunBefore = typeof previous.backlogRuns?.since === 'number';
  const runBacklog = backlogOfRun(last, sample, next.fellAtDeliveredSeq);
  const backlogRunNow = runBacklog >= runHandlers;
  const burstBefore = backlogRunBefore ? validBurstSpell(previous.burstSpell) : undefined;
  if (
    (backlogRunBefore ? burstBefore !== undefined : backlogRunNow) &&
    completionsKnown &&
    readyBeforeKnown &&
    mayHaveConsumed > 0
  ) {
    const batched =
      burstBefore?.batched === true ||
      (next.arrivalDispersion ?? previous.arrivalDispersion ?? 1) >= BATCHED_DISPERSION;
    const burstSpell = {
      ...extendSpell(burstBefore, dtSeconds, completed, mayHaveConsumed),
      heldAtStart: burstBefore?.heldAtStart ?? Math.max(0, last.ackPending),
      ...(batched ? { batched: true as const } : {}),
    };
    if (backlogRunNow) next.burstSpell = burstSpell;
    else {
      const shown = burstBound(burstSpell);
      if (shown !== undefined) {
        // Batched too when it came after a batched one with a quiet spell between them at least
        // as long as itself: at 5/s in 2 s of every 60 s, read every 2-5 s, the dispersion can stay
        // under BATCHED_DISPERSION through a whole burst (1.1-1.6), and the burst after it then
        // panicked 6 -> 41. When the next burst is due: from the start of the batched run before.
        const startedAt = sample.at - burstSpell.seconds * 1000;
        const quietBefore =
          burstBeforeNow === undefined ? undefined : (startedAt - burstBeforeNow.endedAt) / 1000;
        const runBatched =
          batched ||
          (burstBeforeNow?.batched === true &&
            quietBefore !== undefined &&
            quietBefore >= burstSpell.seconds);
        const everySeconds =
          runBatched && burstBeforeNow?.batched === true
            ? (startedAt - (burstBeforeNow.endedAt - burstBeforeNow.seconds * 1000)) / 1000
            : undefined;
        next.lastBurst = {
          messages: burstSpell.completed - burstSpell.heldAtStart,
          replicaSeconds: burstSpell.replicaSeconds,
          seconds: burstSpell.seconds,
          endedAt: sample.at,
          ...(runBatched ? { batched: true as const } : {}),
          ...(everySeconds !== undefined && everySeconds > 0 ? { everySeconds } : {}),
        };
      }
      if (figureLowEndOnly && perReplica !== undefined && shown !== undefined && shown > perReplica) {
        perReplica = shown;
        perReplicaEvidence = Math.min(
          CAPACITY_TIME_CONSTANT_SECONDS,
          Math.max(perReplicaEvidence ?? 0, burstSpell.seconds),
        );
      }
    }
  }
  // Messages removed before any replica took them, on a WorkQueue or Interest stream whose limits
  // remove (expiredBeforeDelivery): while they are, the replicas do not keep up, and what they
  // take is what they can do (RateState.perReplicaTakenWhileRemoving, takenWhileRemoving).
  const expired = expiredBeforeDelivery(last, sample, newDeliveries);
  // The same count, told to the user (removed-unworked.ts): which limit, how many, held a while.
  const storedInInterval = expired === undefined ? undefined : limitedStreamStored(last, sample);
  const removedSpell = nextRemovedUnworked(
    previous.removedUnworked,
    expired !== undefined && storedInInterval !== undefined && sample.limitRemovals !== undefined
      ? {
          removed: expired,
          stored: storedInInterval,
          pendingBefore: Math.max(0, last.pending),
          seconds: dtSeconds,
          at: sample.at,
          limits: sample.limitRemovals.limits,
          state: sample.limitRemovals.state,
        }
      : undefined,
    sample.at,
  );
  if (removedSpell !== undefined) next.removedUnworked = removedSpell;
  const takenBefore = finiteNonNegative(previous.perReplicaTakenWhileRemoving);
  if (takenBefore !== undefined) {
    next.perReplicaTakenWhileRemoving = takenBefore;
    const seconds = finiteNonNegative(previous.takenWhileRemovingSeconds);
    if (seconds !== undefined) next.takenWhileRemovingSeconds = seconds;
    if (previous.takenAtDiscardLimit === true) next.takenAtDiscardLimit = true;
  }
  if (expired !== undefined) {
    next.expiredPerSecond = ewma(
      Number.isFinite(previous.expiredPerSecond) ? previous.expiredPerSecond : undefined,
      expired / dtSeconds,
      dtSeconds,
      ARRIVAL_TIME_CONSTANT_SECONDS,
    );
    // Known here: expiredBeforeDelivery counted from the same two sequences.
    const storedNow = limitedStreamStored(last, sample) ?? 0;
    // Falling behind: work waited at the server throughout, and the stream removed messages (or is
    // at the edge where it does). With nothing waiting at the server the replicas take all that
    // arrives; messages that still expire then do so in their clients' buffers (a buffer longer
    // than max_age at the handlers' pace), which more replicas shorten only as they drain them.
    const expiringNow =
      last.pending > 0 &&
      sample.pending > 0 &&
      (expired > Math.max(EXPIRED_NOISE_MESSAGES, EXPIRED_NOISE_SHARE * storedNow) || atRemovalEdge(sample));
    if (expiringNow) next.expiringSince = previous.expiringSince ?? last.at;
    const settled =
      sameReplicas &&
      !paused &&
      // Pods taken back stop taking messages (they finish what they hold): not `asked`.
      Math.max(askedNow, wholeOr(last.askedReplicas, askedNow)) <= readyReplicas &&
      steadySeconds >= Math.max(READY_SETTLE_SECONDS, settleSeconds) &&
      !isGap(previous.lastIntervalSeconds, dtSeconds);
    // Where messages wait and expire at the server (max_age, per-message TTL: expiringAtServer),
    // every replica takes the oldest waiting, a moment short of its age limit, and a replica takes
    // one more only as a handler frees: an interval that took nothing is what they did, and
    // leaving it out read a replica taking one per 4 s as 0.5/s (nats.js consume() flapped 1 <-> 2
    // whatever its handlers). Where a max_msgs / max_bytes limit discards, only intervals that took
    // something count (a hung client would otherwise lower the figure there).
    const atServerExpiry = settled && expiringNow && expiringAtServer(last, sample);
    // What they took over the run, intervals that took nothing counted (beyond-max-age.ts
    // TakenRun): whether each takes more than one message per max_age (takenFasterThanMaxAge), or
    // fewer than one per twice max_age (handlers slower than max_age: beyondMaxAge).
    const runBefore = expiringNow && sameReplicas ? validTakenRun(previous.takenRun) : undefined;
    if (runBefore !== undefined && runBefore.replicas === readyReplicas) next.takenRun = runBefore;
    if (atServerExpiry)
      next.takenRun = extendTakenRun(runBefore, {
        since: last.at,
        replicas: readyReplicas,
        seconds: dtSeconds,
        deliveries: newDeliveries,
      });
    const takingSettled =
      settled && takenWhileRemoving(last, sample, expiringNow) && (newDeliveries > 0 || atServerExpiry);
    if (takingSettled) {
      const taken = evidenceMean(
        takenBefore,
        next.takenWhileRemovingSeconds,
        newDeliveries / dtSeconds / readyReplicas,
        dtSeconds,
      );
      next.perReplicaTakenWhileRemoving = taken.value;
      next.takenWhileRemovingSeconds = taken.seconds;
      if (atServerExpiry) delete next.takenAtDiscardLimit;
      else next.takenAtDiscardLimit = true;
    }
  }
  // A run that shows each replica taking more than one message per max_age (beyond-max-age.ts
  // takenShowsFaster): sizing at what they take helps; carried for that max_age until handlers
  // are found slower than it.
  const maxAgeOfRun = sample.limitRemovals?.limits.maxAgeSeconds;
  const takenRunNow = next.takenRun;
  if (maxAgeOfRun !== undefined && previous.takenFasterThanMaxAge === maxAgeOfRun)
    next.takenFasterThanMaxAge = maxAgeOfRun;
  if (maxAgeOfRun !== undefined && takenRunNow !== undefined && takenShowsFaster(takenRunNow, maxAgeOfRun))
    next.takenFasterThanMaxAge = maxAgeOfRun;
  else if (
    maxAgeOfRun !== undefined &&
    takenRunNow !== undefined &&
    takenShowsNotFaster(takenRunNow, maxAgeOfRun)
  )
    delete next.takenFasterThanMaxAge;
  // Messages expiring in the replicas' hands (a push consumer is sent all that arrives, so nothing
  // waits at the server however far behind its subscribers are): RateState.behindInHand, and
  // RateState.handlingNearMaxAge when nothing queues behind the handlers.
  const inHand = inHandExpiry(last, sample, next.arrivalPerSecond, readyReplicas, options.inFlightPerReplica);
  let inHandAtMost: number | undefined;
  const behindBefore = validBehindInHand(previous.behindInHand);
  if (behindBefore !== undefined) {
    // Contradicted once messages are held shorter than the replicas then took for each
    // (fasterInHand): after IN_HAND_CONTRADICTED_SECONDS of it, each is shown to do at least one
    // per longest mean time held of that run (atLeast), which sizes instead (decide.ts 2c).
    const held = fasterInHand(behindBefore, last, sample, next.arrivalPerSecond);
    const { below, replicas, atLeast } = behindBefore;
    const kept = { below, replicas, ...(atLeast !== undefined ? { atLeast } : {}) };
    if (held === undefined) next.behindInHand = kept;
    else {
      const fasterSince = behindBefore.fasterSince ?? last.at;
      const heldAtMost = Math.max(behindBefore.heldAtMost ?? 0, held);
      next.behindInHand =
        sample.at - fasterSince < IN_HAND_CONTRADICTED_SECONDS * 1000
          ? { ...kept, fasterSince, heldAtMost }
          : { below, replicas, atLeast: Math.max(atLeast ?? 0, 1 / heldAtMost) };
    }
  }
  // Handlers slower than max_age (beyond-max-age.ts): after a step for messages expiring in hand,
  // the step's replicas ready and nothing acknowledged before it expired for
  // beyondMaxAgeConfirmSeconds. Until a reading shows a message acknowledged since the ready count
  // last changed, no further step is taken: the replica added last, with nothing in hand, would
  // have acknowledged its first messages at once with handlers faster than max_age.
  const maxAgeNow = sample.limitRemovals?.limits.maxAgeSeconds;
  const streamNow = sample.limitRemovals?.state;
  const acked =
    streamNow !== undefined && maxAgeNow !== undefined && sample.filtered !== true
      ? acknowledgedBeforeExpiry(streamNow, inHandEdgeSeconds(maxAgeNow, next.arrivalPerSecond))
      : undefined;
  const readyFell = readyReplicas < last.readyReplicas;
  const trialOpen = readyFell || previous.inHandTrialOpen === true;
  const beyondBefore = readyFell ? undefined : validBeyondMaxAge(previous.beyondMaxAge);
  delete next.beyondMaxAge;
  delete next.unackedInHandSince;
  delete next.inHandTrialOpen;
  if (trialOpen) next.inHandTrialOpen = true;
  if (acked === true) next.ackedBeforeExpiryAt = sample.at;
  else {
    // (Reading times need not be whole milliseconds: a monotonic clock's are not.)
    const ackedAt = previous.ackedBeforeExpiryAt;
    if (typeof ackedAt === 'number' && Number.isFinite(ackedAt)) next.ackedBeforeExpiryAt = ackedAt;
    // (For the max_age it was found on: raised, what the handlers take is to be seen again.)
    if (beyondBefore !== undefined && maxAgeNow === beyondBefore.maxAgeSeconds)
      next.beyondMaxAge = beyondBefore;
    const unackedSince = previous.unackedInHandSince;
    if (inHand !== undefined && acked === false && sameReplicas && !paused)
      next.unackedInHandSince =
        typeof unackedSince === 'number' && Number.isFinite(unackedSince) && unackedSince >= readySince
          ? unackedSince
          : last.at;
  }
  const ackedSinceReady = (next.ackedBeforeExpiryAt ?? -Infinity) >= readySince;
  // (A step taken, applied, and its replicas ready: more than fell behind then.)
  const stepped = behindBefore !== undefined && readyReplicas > behindBefore.replicas && !trialOpen;
  if (
    next.beyondMaxAge === undefined &&
    stepped &&
    !ackedSinceReady &&
    maxAgeNow !== undefined &&
    next.unackedInHandSince !== undefined &&
    sample.at - next.unackedInHandSince >= beyondMaxAgeConfirmSeconds(maxAgeNow) * 1000
  )
    next.beyondMaxAge = { since: next.unackedInHandSince, replicas: readyReplicas, maxAgeSeconds: maxAgeNow };
  // ... or, where messages wait and expire at the server, a run in which the replicas took fewer
  // than one message per twice max_age each (beyond-max-age.ts takenShowsSlower).
  if (
    next.beyondMaxAge === undefined &&
    !ackedSinceReady &&
    maxAgeNow !== undefined &&
    takenRunNow !== undefined &&
    takenRunNow.replicas === readyReplicas &&
    takenShowsSlower(takenRunNow, maxAgeNow)
  )
    next.beyondMaxAge = { since: takenRunNow.since, replicas: readyReplicas, maxAgeSeconds: maxAgeNow };
  if (next.beyondMaxAge !== undefined) delete next.takenFasterThanMaxAge;
  if (inHand !== undefined && !paused) {
    if (!inHand.queued)
      next.handlingNearMaxAge = { seconds: inHand.heldSeconds, maxAgeSeconds: inHand.maxAgeSeconds };
    else if (
      next.beyondMaxAge === undefined &&
      (!stepped || ackedSinceReady) &&
      sameReplicas &&
      Math.max(askedNow, wholeOr(last.askedReplicas, askedNow)) <= readyReplicas &&
      steadySeconds >= Math.max(READY_SETTLE_SECONDS, settleSeconds) &&
      !isGap(previous.lastIntervalSeconds, dtSeconds) &&
      // Replicas added since the last such interval fall behind too: the replicas that fell behind
      // then keep the messages already pushed to them (expired ones too: a handler works on them
      // all the same) and drain them only at their pace less their share of what arrives, while a
      // replica that keeps up holds little. Counted from the mean time held: held ÷ arrivals ÷
      // max_age of the ready replicas are behind (at 4 replicas where 3 fell behind, ~3).
      inHand.behindReplicas >= Math.min(behindBefore?.replicas ?? 0, readyReplicas - 1) + IN_HAND_STEP_MARGIN
    ) {
      next.behindInHand = { below: inHand.arrivalPerSecond / readyReplicas, replicas: readyReplicas };
      delete next.inHandTrialOpen;
      inHandAtMost = inHand.arrivalPerSecond / readyReplicas;
    }
  }
  // A figure resting on fewer than SHORT_FIGURE_COMPLETIONS completions a replica
  // (RateState.perReplicaEvidenceCompletions) is no measurement of what each can do: handlers slower
  // than the poll complete 0 or 1 a replica in an interval, and one interval with one read 1/s for
  // handlers of 0.67/s (the policy fuzzer's expiry world 375020). Where max_age then removes held
  // messages in every interval no interval measures it again, so messages expiring in the replicas'
  // hands, each replica doing less than the arrivals ÷ them (inHandAtMost, as behindInHand), lower
  // it to that: sized by the figure, replicas are added until nothing expires in their hands. A
  // figure resting on more is not lowered so (an expiry is read as an acknowledgement there, and
  // handlers slower than max_age hold what arrives times max_age at any count: beyondMaxAge).
  if (
    perReplica !== undefined &&
    perReplicaCompletions !== undefined &&
    perReplicaCompletions < SHORT_FIGURE_COMPLETIONS &&
    inHandAtMost !== undefined &&
    inHandAtMost > 0 &&
    perReplica > inHandAtMost
  )
    perReplica = inHandAtMost;
  // A busy interval that measures nothing (the ready count changed, replicas warm up, pods not
  // counted ready may consume) still shows the replicas falling behind: the rate term must be free
  // to add replicas then, and the carried figure is no longer what sizes them alone. Every replica
  // that may have consumed does at least completions ÷ all of them, so the figure is raised to that
  // when below (a figure of 0.001/s written by hand cannot ask for more than this process's own low
  // end does) and is carried no longer. Kept carried instead, the rate term held 9 replicas for 30 s
  // of a re-measured low end while 640 piled up (decide.test, LOW_END_REMEASURE_SECONDS).
  const busyBehind =
    carriedFigure && !replacesCarried && busyThroughout && completionsKnown && mayHaveConsumed > 0;
  if (busyBehind && perReplica !== undefined)
    perReplica = Math.max(perReplica, completed / dtSeconds / mayHaveConsumed);
  if (perReplica !== undefined) next.perReplicaPerSecond = perReplica;
  if (perReplica !== undefined && fromHeld) next.perReplicaFromHeld = true;
  // A capacity measured: what fell behind in hand has served.
  if (perReplica !== undefined) delete next.behindInHand;
  if (perReplica !== undefined && carriedFigure && !replacesCarried && !busyBehind)
    next.perReplicaCarried = true;
  if (perReplica !== undefined && figureLowEndOnly) {
    next.perReplicaLowEndOnly = true;
    if (heldWhileWarming || (heldLowEnd && !catchesUp && !replacesCarried)) next.perReplicaLowEndHeld = true;
    // A high end the replicas were since shown to pass is dropped (AT_MOST_CONTRADICTED_FACTOR).
    const boundBefore =
      previous.perReplicaLowEndOnly === true ? finiteNonNegative(previous.perReplicaAtMost) : undefined;
    const atMostBefore =
      boundBefore !== undefined &&
      Math.max(perReplica, next.perReplicaAtLeast ?? 0) > boundBefore * AT_MOST_CONTRADICTED_FACTOR
        ? undefined
        : boundBefore;
    const highEnd =
      capacityEvidence && busyThroughout && !lowEndOnly && warm > 0 ? capacityPerSecond / warm : undefined;
    const atMost = highEnd === undefined ? atMostBefore : Math.min(atMostBefore ?? Infinity, highEnd);
    if (atMost !== undefined) next.perReplicaAtMost = atMost;
    next.perReplicaLowEndSince =
      previous.perReplicaLowEndOnly === true ? (previous.perReplicaLowEndSince ?? sample.at) : sample.at;
  }
  if (perReplica !== undefined && perReplicaEvidence !== undefined)
    next.perReplicaEvidenceSeconds = perReplicaEvidence;
  if (
    perReplica !== undefined &&
    perReplicaCompletions !== undefined &&
    perReplicaCompletions < SHORT_FIGURE_COMPLETIONS
  )
    next.perReplicaEvidenceCompletions = perReplicaCompletions;

  // While messages wait, every ready replica holds what its client asks for, or its share of a full
  // max_ack_pending: what it holds now (measured at the limit too, so the figure follows the
  // replica count instead of freezing at what one replica held before the limit was reached).
  let inFlight = previous.inFlightPerReplica;
  if (sample.pending > 0 && readyReplicas > 0 && sample.ackPending > 0 && !paused) {
    inFlight = ewma(inFlight, sample.ackPending / readyReplicas, dtSeconds, CAPACITY_TIME_CONSTANT_SECONDS);
  }
  if (inFlight !== undefined) next.inFlightPerReplica = inFlight;

  const backlogRuns = nextBacklogRuns(
    previous.backlogRuns,
    last.at,
    sample.at,
    runBacklog,
    Math.max(1, readyReplicas * (userInHand ?? 1)),
  );
  if (backlogRuns !== undefined) next.backlogRuns = backlogRuns;

  // Held messages in the handlers' hands, told from a queue by what a scale-up did to the mean time
  // a message is held (in-hand.ts). Only over intervals in which nothing waited at the server, the
  // completions are completions, what is held is the newest deliveries (no buffer older than the
  // rest), max_ack_pending is not full, and a new ready count has had settleSeconds to consume; not
  // once the user said how many the handlers work on at once (then 2f counts that many).
  const inHandEvidence = nextInHand(
    {
      ...(previous.heldStretch !== undefined ? { stretch: previous.heldStretch } : {}),
      ...(previous.heldStretchBefore !== undefined ? { before: previous.heldStretchBefore } : {}),
      ...(previous.handlersInHand !== undefined ? { shown: previous.handlersInHand } : {}),
    },
    {
      fromAt: last.at,
      toAt: sample.at,
      heldFrom: Math.max(0, last.ackPending),
      heldTo: Math.max(0, sample.ackPending),
      arrived,
      completed,
      readyFrom: last.readyReplicas,
      readyTo: readyReplicas,
      dispersion: previous.arrivalDispersion ?? 1,
      eligible:
        userInHand === undefined &&
        last.pending === 0 &&
        sample.pending === 0 &&
        completionsKnown &&
        redeliveries === 0 &&
        !paused &&
        sample.ackNone !== true &&
        heldAreNewest(last) &&
        heldAreNewest(sample) &&
        !atMaxAckPending(sample.ackPending, sample.maxAckPending) &&
        steadySeconds >= settleSeconds,
    },
  );
  if (inHandEvidence.stretch !== undefined) next.heldStretch = inHandEvidence.stretch;
  if (inHandEvidence.before !== undefined) next.heldStretchBefore = inHandEvidence.before;
  if (inHandEvidence.shown !== undefined) next.handlersInHand = inHandEvidence.shown;

  // Whether the replicas keep pace with what arrives, whatever they hold (RateState.keptPace):
  // nothing pending at the server at either end, and what they hold level within its noise
  // (nextKeptPace). Handlers that work on many messages at once hold rate × handling time in hand; held
  // level, with nothing waiting for them, is what they need in hand, not a queue that grows. Only
  // over intervals whose completions are known to be completions, not across a gap or a pause.
  if (
    last.pending === 0 &&
    sample.pending === 0 &&
    completionsKnown &&
    !paused &&
    failingSince === undefined
  ) {
    next.keptPace = nextKeptPace(
      previous.keptPace,
      { at: last.at, held: Math.max(0, last.ackPending) },
      { at: sample.at, held: Math.max(0, sample.ackPending) },
      arrived,
      completed,
      previous.arrivalDispersion ?? 1,
    );
  }

  // How long a handler holds a message (RateState.handlingSeconds): measured only while the replicas
  // had nothing waiting for them, so that what they held was what they worked on. Nothing pending at
  // the server at either end, and the replicas completed no more than UNSATURATED_SHARE of what the
  // figure before this interval says they can do: each was idle part of the interval, so its
  // client's buffer ran empty, and what awaited ack waited for a handler, not behind other messages
  // (Little's law: held = completions × time held). While they are busy the two cannot be told
  // apart from the counters (1,000 held by 80/s completions is 12.5 s of handling or 12.5 s in a
  // buffer), so busy intervals measure nothing. An interval that proved redeliveries, or whose
  // completions are not known to be completions, is no evidence either. A low envelope: a figure
  // read high (a per-replica figure that is itself too high lets busy replicas pass for idle ones,
  // and a hung handler's held messages count as held) only creeps up, and what it makes decide.ts
  // miss is buffered messages, as before 2f, never replicas added for messages in hand.
  // Nor when one replica's buffer is older than the rest (session 28): idle replicas beside a push
  // subscriber that took 800 while it ran alone read a "handling time" of 10 s, that buffer's wait,
  // and 2f then counted 200 a replica in hand and nothing buffered. Such a buffer shows as held
  // messages that are not the newest deliveries (HELD_SHARE_OF_UNACKED_SPAN) at either end, or,
  // before the floor falls that far behind, as messages held longer than the same replicas have
  // been ready (HANDLING_STEADY_FACTOR): they were taken by fewer.
  // Kept through the intervals that measure nothing (busy ones, and those within
  // HANDLING_STEADY_FACTOR times the time held of a change of the ready count): it is the
  // handlers' time, not the count's. Dropped there, it came back only after each change had stood
  // that long, and 2f counted one a replica in hand meanwhile: the policy fuzzer's world 515518
  // (a push deliver group with 500 handlers at once, 10 s each, 299/s) flapped 50 <-> 32-35 for
  // 900 s, 50 while the 3,000 held read as buffered, 32 once the handling time was measured at 50,
  // 50 again at the first reading after the fall. Not once what is held is no longer the newest
  // deliveries: a buffer older than the rest (one replica took it alone) may have been measured
  // before the floor fell that far behind (6.3 s for 80/s over one push subscriber's 500,
  // buffered-awaiting-ack.test), and is drained by 2f as one replica's. And measured only while
  // the replicas keep pace (keptPace: nothing pending, what they hold level within its noise): a
  // figure gone stale lets a growing buffer pass for idle handlers (handlers 40x slower under a 5/s
  // figure: 6.1 s read over a fetch loop's buffer filling at 0.5/s, adverse world 291460,
  // floor-paced.test), which, kept, hid it from 2f.
  const handlingBefore = finiteNonNegative(previous.handlingSeconds);
  const figureBefore = finiteNonNegative(previous.perReplicaPerSecond);
  const heldSeconds =
    completed > 0
      ? ((Math.max(0, last.ackPending) + Math.max(0, sample.ackPending)) / 2) * (dtSeconds / completed)
      : 0;
  if (
    heldAreNewest(last) &&
    heldAreNewest(sample) &&
    steadySeconds >= HANDLING_STEADY_FACTOR * heldSeconds &&
    comparable &&
    completionsKnown &&
    completed > 0 &&
    redeliveries === 0 &&
    last.pending === 0 &&
    sample.pending === 0 &&
    figureBefore !== undefined &&
    figureBefore > 0 &&
    completedPerSecond <= UNSATURATED_SHARE * readyReplicas * figureBefore &&
    keptPaceSeconds(next, sample.at) > 0
  ) {
    const seconds = heldSeconds;
    next.handlingSeconds =
      handlingBefore === undefined
        ? seconds
        : ewma(
            handlingBefore,
            seconds,
            dtSeconds,
            seconds < handlingBefore ? HANDLING_FALL_SECONDS : HANDLING_RISE_SECONDS,
          );
  } else if (handlingBefore !== undefined && heldAreNewest(sample)) next.handlingSeconds = handlingBefore;

  // Processing at a full max_ack_pending, by replica count: full at both ends, work waiting at both
  // ends, the same replicas ready throughout and for READY_SETTLE_SECONDS before (a pod that
  // reports ready before its process consumes would read as a replica that adds nothing), and the
  // same limit. After a fall, not while the replicas taken away may still finish what they hold
  // (leaving, LOWER_BOUND_SETTLE_SECONDS): their completions would read as the fewer replicas
  // doing as much as more did, which is what says the limit binds (at-cap-probe.ts takes the count
  // down to measure that).
  // Once the ack floor has passed every message delivered when the count fell (fellAtDeliveredSeq),
  // all that the replicas taken away held is acknowledged: they finish nothing more, and hold no
  // slot (a killed pod's messages hold theirs until ack_wait), so leaving no longer matters. A
  // probe of nats.js consume() replicas (a few held each) is then judged within seconds, not 30.
  const leftAcknowledged =
    previous.fellAtDeliveredSeq !== undefined &&
    last.ackFloorConsumerSeq !== undefined &&
    last.ackFloorConsumerSeq >= previous.fellAtDeliveredSeq;
  const settled =
    steadySeconds >= Math.max(READY_SETTLE_SECONDS, settleSeconds) && (!leaving || leftAcknowledged);
  const fullThroughout =
    atMaxAckPending(last.ackPending, last.maxAckPending) &&
    atMaxAckPending(sample.ackPending, sample.maxAckPending) &&
    last.maxAckPending === sample.maxAckPending &&
    last.pending > 0 &&
    sample.pending > 0;
  if (fullThroughout && comparable && settled) {
    next.atCap = recordAtCap(
      previous.atCap,
      sample.maxAckPending,
      readyReplicas,
      completedPerSecond,
      dtSeconds,
      sample.at,
    );
  } else if (previous.atCap !== undefined) {
    next.atCap = previous.atCap;
  }
  return next;
}

/**
 * Messages removed from the stream before this consumer delivered them, as an unfiltered consumer's
 * delivered.stream_seq shows them: it moves by one per new delivery and skips the sequences removed
 * in between (nats-server keeps it as the stream sequence of the last new delivery; redeliveries do
 * not move it). On a stream that discards old messages while the consumer falls behind, num_pending
 * stays at the limit and these are the arrivals that were never delivered: without them one
 * replica taking 20/s of 60/s read as 20/s arriving, and the policy kept 1 replica while two
 * thirds were discarded. Counted as arrivals only when the interval before delivered too: after a
 * stretch without deliveries (no replica, a pause) the first skip passes removals of that whole
 * stretch, which are not this interval's arrivals. A filtered consumer's sequence also skips other
 * subjects' messages: 0 there.
 */
export function removedUnconsumed(
  before: Pick<RateState['last'], 'deliveredStreamSeq'>,
  after: Pick<BacklogSample, 'deliveredStreamSeq' | 'filtered'>,
  newDeliveries: number,
): number {
  if (after.filtered === true || before.deliveredStreamSeq === undefined || !(newDeliveries > 0)) return 0;
  return Math.max(0, after.deliveredStreamSeq - before.deliveredStreamSeq - newDeliveries);
}

/**
 * Messages stored in the stream between two readings, for a consumer of every subject of a stream
 * whose state is read with its readings (removesHeld); undefined otherwise or when either reading
 * lacks the stream's last sequence. Each end is the stream's last sequence as far as that reading
 * shows it (storedUpTo): a state taken over from an earlier reading (a default-config stream whose
 * consumer's held counters stood still, jetstream-backlog-source.ts streamStateFor) is older than
 * the consumer's counters.
 */
export function storedBetween(
  before: Pick<RateState['last'], 'stream' | 'deliveredStreamSeq' | 'pending'>,
  after: Pick<BacklogSample, 'removesHeld' | 'filtered' | 'stream' | 'deliveredStreamSeq' | 'pending'>,
): number | undefined {
  if (after.removesHeld !== true || after.filtered === true) return undefined;
  return lastSeqGrowth(storedUpTo(before), storedUpTo(after));
}

/**
 * What arrived for a filtered consumer between two readings, from its stream's count on its
 * filters (BacklogSample.filterStored, read only on a stream whose limits remove nothing): the
 * count's growth, when known at both ends and it did not shrink (a user's delete or purge: not
 * known then); otherwise undefined. Consumer info alone counts a retry hidden behind the other
 * subjects' messages as a new delivery: a poisoned message retried at once from the first readings
 * read as arrivals at the other subjects' rate, 6 times what arrived (filtered-redelivery.int).
 */
export function filterStoredBetween(
  before: Pick<RateState['last'], 'filterStored'>,
  after: Pick<BacklogSample, 'filterStored' | 'filtered'>,
): number | undefined {
  if (after.filtered !== true || after.filterStored === undefined || !('count' in after.filterStored))
    return undefined;
  return lastSeqGrowth(before.filterStored, after.filterStored.count);
}

/**
 * The last sequence a consumer of every subject shows its stream stored up to at a reading: the
 * stream's last_seq, or its position (delivered.stream_seq) plus num_pending when that is further.
 * Read just after the consumer info, a fresh last_seq is never below it; one taken over from an
 * earlier reading is, by what arrived since. Counted from that stale last_seq, a stream whose
 * replicas all stalled read no arrivals for up to STREAM_STATE_REUSE_MS while num_pending grew by
 * 20 a second, then all of them at once when the state was read again: 300 in one 1 s interval
 * (leader-change.int, s26).
 */
function storedUpTo(
  reading: Pick<RateState['last'], 'stream' | 'deliveredStreamSeq' | 'pending'>,
): number | undefined {
  const lastSeq = reading.stream?.lastSeq;
  if (lastSeq === undefined) return undefined;
  const position =
    reading.deliveredStreamSeq !== undefined && reading.pending > 0
      ? reading.deliveredStreamSeq + reading.pending
      : undefined;
  return position !== undefined && Number.isSafeInteger(position) && position > lastSeq ? position : lastSeq;
}

/**
 * Messages a stream stored between two readings of its last sequence: their difference, when both
 * are whole numbers (read back from history, the EventConsumer's status: anything else is not
 * known) and the sequence did not go back (a stream recreated); otherwise undefined.
 */
function lastSeqGrowth(before: number | undefined, after: number | undefined): number | undefined {
  if (before === undefined || after === undefined) return undefined;
  if (!Number.isSafeInteger(before) || !Number.isSafeInteger(after) || after < before) return undefined;
  return after - before;
}

/**
 * How many of the messages the replicas held awaiting ack between two readings the stream may have
 * removed (a limits stream's max_age, max_msgs or max_bytes): those held lie above the ack floor's
 * stream sequence at the start (all at or below it were acknowledged) and at most at the last
 * delivered one; those removed lie below the stream's first sequence at the end (read after the
 * consumer info). 0 on a stream that removes none; undefined when it may and the first sequence or
 * the floor is not known. An upper bound: acknowledged messages in that span count too.
 */
export function removedWhileHeld(
  before: Pick<RateState['last'], 'ackFloorStreamSeq'>,
  after: Pick<BacklogSample, 'removesHeld' | 'streamFirstSeq' | 'deliveredStreamSeq'>,
): number | undefined {
  if (after.removesHeld !== true) return 0;
  if (after.streamFirstSeq === undefined || before.ackFloorStreamSeq === undefined) return undefined;
  return Math.max(0, Math.min(after.streamFirstSeq - 1, after.deliveredStreamSeq) - before.ackFloorStreamSeq);
}

/** Seconds of slack in limitRemovalsPossible's max_age rule: the stream is read just after the consumer. */
export const LIMIT_REMOVAL_MARGIN_SECONDS = 2;

/**
 * Whether a WorkQueue or Interest stream's limits (BacklogSample.limitRemovals) could have removed a
 * message between two readings `dtSeconds` apart; false on other streams. Only a message that was in
 * the stream at the first reading can reach max_age within the interval (unless max_age is shorter
 * than it), and none did if the oldest then was younger than max_age less the interval
 * (LIMIT_REMOVAL_MARGIN_SECONDS of slack); max_msgs and max_msgs_per_subject discard only once the
 * stream holds more than they allow, which it cannot have if it held fewer at the first reading
 * than the limit less what it stored since (acknowledgements only lower the count); max_bytes
 * likewise, each message stored counted at twice the largest mean size read. Per-message TTLs are
 * bounded by nothing read: always possible. True when the state is not known at both ends.
 */
export function limitRemovalsPossible(
  before: LimitedStreamState | undefined,
  after: Pick<BacklogSample, 'limitRemovals'>,
  dtSeconds: number,
): boolean {
  const removals = after.limitRemovals;
  if (removals === undefined) return false;
  const { limits, state } = removals;
  if (limits.msgTtl === true) return true;
  // Read back from history (the EventConsumer's status): anything but whole numbers is not known.
  const known = (st: LimitedStreamState | undefined): st is LimitedStreamState =>
    st !== undefined &&
    [st.messages, st.bytes, st.lastSeq].every((n) => Number.isSafeInteger(n) && n >= 0) &&
    Number.isFinite(st.oldestAgeSeconds);
  if (!known(before) || !known(state)) return true;
  const stored = state.lastSeq - before.lastSeq;
  if (stored < 0) return true;
  const age = limits.maxAgeSeconds;
  if (age !== undefined && before.oldestAgeSeconds >= age - dtSeconds - LIMIT_REMOVAL_MARGIN_SECONDS)
    return true;
  if (age !== undefined && age <= dtSeconds + LIMIT_REMOVAL_MARGIN_SECONDS && stored > 0) return true;
  const most = before.messages + stored;
  if (limits.maxMsgs !== undefined && most > limits.maxMsgs) return true;
  if (limits.maxMsgsPerSubject !== undefined && most > limits.maxMsgsPerSubject) return true;
  if (limits.maxBytes !== undefined) {
    const meanSize = Math.max(
      before.messages > 0 ? before.bytes / before.messages : 0,
      state.messages > 0 ? state.bytes / state.messages : 0,
    );
    if (stored > 0 && meanSize === 0) return true;
    if (before.bytes + 2 * meanSize * stored > limits.maxBytes) return true;
  }
  return false;
}

/**
 * How many messages the stream removed from inside it between two readings, on a stream that can
 * (BacklogSample.removesInside): all it removed — what it stored (last_seq moved) less what its
 * message count grew by — less those that lay below its new first sequence (removals from the
 * front: removedWhileHeld's). At least first_seq's move less the gaps below it before (num_deleted
 * counts them, the whole stream's) were there and are gone. An upper bound: removals of messages
 * already acknowledged, or not yet delivered, or of other subjects, count too. 0 on a stream that
 * cannot; undefined when the counters are not known at both ends or go backwards (the stream was
 * recreated).
 */
export function removedInside(
  before: Pick<RateState['last'], 'stream'>,
  after: Pick<BacklogSample, 'removesInside' | 'stream'>,
): number | undefined {
  if (after.removesInside === undefined) return 0;
  const b = before.stream;
  const a = after.stream;
  // Read back from history (the EventConsumer's status): anything but whole numbers is not known.
  const whole = (c: typeof b): c is NonNullable<typeof b> =>
    c !== undefined &&
    [c.firstSeq, c.lastSeq, c.messages, c.numDeleted].every((n) => Number.isSafeInteger(n) && n >= 0);
  if (!whole(b) || !whole(a)) return undefined;
  const stored = a.lastSeq - b.lastSeq;
  const removed = stored - (a.messages - b.messages);
  if (stored < 0 || a.firstSeq < b.firstSeq || removed < 0) return undefined;
  const front = Math.max(0, a.firstSeq - b.firstSeq - b.numDeleted);
  return Math.max(0, removed - front);
}

/**
 * A run of intervals in which the stream removed messages the replicas held is measured as one once
 * it spans this long, less what was held at its start (removed ahead of the work, those count as
 * completed within the first seconds): what the replicas' clients held beyond that then reads at
 * most a tenth of itself per second above what they did.
 */
export const REMOVAL_RUN_SECONDS = 10;

/**
 * A per-replica figure resting on fewer completions a replica than this is short
 * (RateState.perReplicaEvidenceCompletions): a handler busy across either end of an interval moves
 * its count by up to one a replica, a tenth of this.
 */
export const SHORT_FIGURE_COMPLETIONS = 10;

/**
 * Replicas that, at the speed known for them, would each have completed this many messages in a
 * run of quiet intervals did not just work slowly through it: their deliveries stalled.
 */
export const STALL_MESSAGES = 10;

/**
 * Replicas holding the oldest message awaiting ack stall (a hung handler, a stopped process) once
 * it stayed unacknowledged this long: longer than a client takes to reconnect (nats.go and nats.js
 * wait 2 s between attempts) or a long GC pause.
 */
export const STALL_MIN_SECONDS = 10;
/**
 * ... and once, at the speed known for them, they would have completed this many times what awaited
 * ack when it began: a client that acknowledges a batch at once (AckAll on its last message, or
 * acks sent after the batch) completes nothing until its handlers are done with all of it.
 */
export const STALL_HELD_FACTOR = 2;

/**
 * Replicas that stalled: the oldest message awaiting ack stayed unacknowledged (RateState.stuckFloor)
 * for at least two intervals and STALL_MIN_SECONDS, longer than the replicas, at the figure, take
 * to complete what awaited ack when it began (stallShown). When nothing completed meanwhile, every
 * replica ready since it began (`completedNone`): replicas that became ready later and complete
 * nothing either (a dependency every handler hangs on) are not counted, so the count cannot grow
 * by a stall per start-up. When others completed, the one that holds the oldest message, unless it
 * was delivered before the ready count or the count asked for fell (RateState.fellAtDeliveredSeq:
 * the policy fuzzer's world 80078 read a killed pod's message, awaiting its 30 s ack_wait, as a
 * replica stalled), or while nothing completes and nothing waits at the server (the replicas left are
 * idle). None with no figure. decide.ts counts them as carrying nothing.
 */
export function stalledReplicas(state: RateState): Stall | undefined {
  const run = state.stuckFloor;
  const speed = state.perReplicaPerSecond;
  if (run === undefined || speed === undefined || !(speed > 0) || !(run.replicas > 0)) return undefined;
  const seconds = (state.last.at - run.since) / 1000;
  if (run.intervals < 2 || seconds < STALL_MIN_SECONDS) return undefined;
  // The oldest message may be one a pod taken back left (delivered before the count fell): it waits
  // for ack_wait, and no replica left holds it. That explains the floor while others complete, and
  // while nothing waits at the server for the replicas left (they complete nothing because nothing
  // is there to take: the policy fuzzer's world 80078 with slow readings kept 2 idle replicas
  // "stalled" beside a killed pod's one message for its 30 s ack_wait). Replicas left that complete
  // nothing while work waits at the server for them are stalled all the same.
  if (
    run.floor < (state.fellAtDeliveredSeq ?? -Infinity) &&
    (run.completed || Math.max(0, state.last.pending) + (state.last.upstreamLag ?? 0) === 0)
  )
    return undefined;
  const replicas = run.completed ? 1 : run.replicas;
  if (!stallShown(speed, replicas, seconds, run.held)) return undefined;
  return { replicas, seconds, held: run.held, completedNone: !run.completed };
}

/**
 * Replicas that take nothing while failing (takingNothing) do so for at least this long: more than
 * twice what a client waits between reconnect attempts (nats.go and nats.js: 2 s), during which its
 * pull requests are gone too.
 */
export const TAKING_NOTHING_MIN_SECONDS = 5;

/**
 * Replicas that take nothing while failing (RateState.takingNothingRun): for at least two intervals
 * and TAKING_NOTHING_MIN_SECONDS, in a failing spell of at least STALL_MIN_SECONDS, nothing was delivered or completed with work waiting at the server and room
 * under max_ack_pending. `replicas` is how many were ready when the failing spell began
 * (failingReplicas): decide.ts adds replicas beside them, bounded by that count, and none for
 * replicas that start later and take nothing either. Undefined otherwise.
 */
export function takingNothing(
  state: RateState,
): { seconds: number; replicas: number; retriesStopped: boolean } | undefined {
  const run = state.takingNothingRun;
  if (state.failingSince === undefined || run === undefined) return undefined;
  const seconds = (state.last.at - run.since) / 1000;
  if (
    run.intervals < 2 ||
    seconds < TAKING_NOTHING_MIN_SECONDS ||
    (state.last.at - state.failingSince) / 1000 < STALL_MIN_SECONDS
  )
    return undefined;
  return {
    seconds,
    replicas: Math.max(0, state.failingReplicas ?? state.last.readyReplicas),
    retriesStopped: run.retriesStopped === true,
  };
}

/**
 * A failing spell whose retries stopped (RateState.failingShownAt) was silent for at least this long
 * and RETRIES_STOPPED_FACTOR times as long as it went on showing failures: longer than the delay a
 * consumer's backoff of a minute or two puts between the retries of messages its handlers fail.
 */
export const RETRIES_STOPPED_MIN_SECONDS = 120;
/** See RETRIES_STOPPED_MIN_SECONDS. */
export const RETRIES_STOPPED_FACTOR = 2;

/**
 * A failing spell (failingSince) this long, with work waiting, allows one replica beside those ready
 * when it began: a spare replica (decide.ts 3d). Redeliveries that never stop and nothing completed are
 * handlers that fail every message, and equally the only member of a push deliver group (or a pull
 * client whose open request takes its own expired messages back) hung for good on what it holds:
 * the server hands its messages back to it at each ack_wait. Only another replica can tell the two
 * apart. 300 s is 10 of the default ack_wait (30 s) with nothing completed, past
 * RETRIES_STOPPED_MIN_SECONDS (a spell that went silent gets one replica from 120 s on) and past the
 * pauses a process comes back from (a stop-the-world pause, a dependency's failover, a node under
 * memory pressure: retries-stopped.test pauses 120 s), and the time scale users of the HPA already
 * wait for a change of course (its scale-down stabilization window, KEDA's cooldownPeriod: 300 s).
 * The cost when the handlers do fail everything: one pod for the rest of the spell.
 */
export const FAILING_SPARE_AFTER_SECONDS = 300;

/**
 * Whether a failing spell that began at `since` and last showed a failure (a redelivery) at `shownAt`
 * has, by `at`, stopped showing them: handlers that fail every message keep it coming back (a nak at
 * once, an ack_wait running out each ack_wait, a backoff at its steps), so a silence far longer than
 * the retries took while they came (RETRIES_STOPPED_FACTOR times, and RETRIES_STOPPED_MIN_SECONDS at
 * least) shows the replicas hold their messages rather than fail them: a member of a push deliver
 * group that was paused, whose expired messages the server pushed back to it and whose client works
 * through the stale copies first (policy-fuzz adverse world 606014: 600 s of nothing delivered,
 * redelivered or acknowledged at max_ack_pending 1000 while pending grew, after 120 s of
 * redeliveries), or a handler hung on what it holds with a long ack_wait.
 */
export function retriesStopped(since: number, shownAt: number, at: number): boolean {
  const silentSeconds = (at - shownAt) / 1000;
  const shownSeconds = Math.max(0, (shownAt - since) / 1000);
  return silentSeconds >= Math.max(RETRIES_STOPPED_MIN_SECONDS, RETRIES_STOPPED_FACTOR * shownSeconds);
}

/** Replicas that stalled (stalledReplicas). */
export interface Stall {
  replicas: number;
  /** How long the oldest message awaiting ack has stayed unacknowledged. */
  seconds: number;
  /** What awaited ack when it began. */
  held: number;
  /** Nothing completed meanwhile: every replica ready since stalled. */
  completedNone: boolean;
}

/**
 * Whether `replicas` that completed nothing for `seconds` while holding `held` stalled rather than
 * worked slowly: at `speed` each they would have completed STALL_MESSAGES each, and, together,
 * STALL_HELD_FACTOR times what they held.
 */
export function stallShown(speed: number, replicas: number, seconds: number, held: number): boolean {
  return speed * replicas * seconds >= Math.max(STALL_MESSAGES * replicas, STALL_HELD_FACTOR * held);
}

/**
 * An interval that delivered nothing new and completed nothing while at least a full batch waited
 * at the server at both ends: the replicas received nothing (their pull requests are gone: a
 * consumer leader stepped down, a client lost its subscription) or each works on one slow message.
 * Either way the interval alone says nothing about how fast they work.
 */
export function quietInterval(
  before: Pick<RateState['last'], 'pending'>,
  after: Pick<BacklogSample, 'pending'>,
  fullBatch: number,
  newDeliveries: number,
  completed: number,
): boolean {
  return newDeliveries <= 0 && completed <= 0 && before.pending >= fullBatch && after.pending >= fullBatch;
}

/**
 * How many of the messages that left num_ack_pending between two readings may have been dropped at
 * max_deliver rather than acknowledged (consumer.go hasMaxDeliveries: deleted from pending, the ack
 * floor moved, as an acknowledgement does). With max_deliver n ≥ 2 a message is dropped only after
 * n − 1 redeliveries, so each redelivery seen allows at most 1/(n − 1) of a drop: that allowance
 * (the budget, carried at most num_redelivered: a message still to be dropped is a redelivered one)
 * is taken from the next completions. Retries that later succeed leave some allowance behind: the
 * capacity reads lower, never higher. With max_deliver 1 nothing is redelivered before a drop and
 * the counters do not show drops (a real server: num_redelivered 0 while hanging handlers'
 * messages were dropped at 17/s): not handled (0), nor without max_deliver.
 */
export function droppedAtMaxDeliver(
  budget: number | undefined,
  after: Pick<BacklogSample, 'redelivered' | 'maxDeliver'>,
  redeliveries: number,
  leftAckPending: number,
): { dropped: number; budget?: number } {
  const max = after.maxDeliver;
  if (max === undefined || !(max > 1)) return { dropped: 0 };
  const allowed = (budget ?? 0) + Math.max(0, redeliveries) / (max - 1);
  const dropped = Math.min(allowed, leftAckPending);
  return { dropped, budget: Math.min(allowed - dropped, Math.max(0, after.redelivered)) };
}

/**
 * Messages dropped at max_deliver 1 between two readings, from the counts of the server's
 * MAX_DELIVERIES advisories (BacklogSample.deliveryDrops): each one's only delivery ran out of
 * ack_wait, and it left num_ack_pending as an acknowledged one does (consumer.go
 * hasMaxDeliveries). 0 for other consumers (max_deliver n ≥ 2: droppedAtMaxDeliver); undefined
 * when not counted at both ends within one epoch of the connection (advisories are lost while it is
 * down), or when the user may not subscribe to them.
 */
export function droppedAtFirstDelivery(
  before: Pick<RateState['last'], 'deliveryDrops'>,
  after: Pick<BacklogSample, 'maxDeliver' | 'deliveryDrops'>,
): number | undefined {
  if (after.maxDeliver !== 1) return 0;
  const a = after.deliveryDrops;
  const b = before.deliveryDrops;
  if (a === undefined || !('count' in a) || b === undefined || !('count' in b)) return undefined;
  // Read back from history (the EventConsumer's status): anything but whole numbers is not known.
  if (![a.count, b.count].every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined;
  if (a.epoch !== b.epoch || a.count < b.count) return undefined;
  return a.count - b.count;
}

/**
 * An interval in which the handlers failed: messages were redelivered (proven by the counters) and
 * none completed, while work waited (pending or awaiting ack at its end).
 */
export function handlersFailing(
  after: Pick<BacklogSample, 'pending' | 'ackPending'>,
  redeliveries: number,
  completed: number,
): boolean {
  return (
    redeliveries > 0 && completed === 0 && Math.max(0, after.pending) + Math.max(0, after.ackPending) > 0
  );
}

/**
 * The replicas count as having had nothing waiting for them (RateState.handlingSeconds) in an interval in
 * which they completed at most this share of what the per-replica figure says they can do: below
 * it each was idle a fifth of the time at least, and its client's buffer ran empty.
 */
export const UNSATURATED_SHARE = 0.8;

/**
 * RateState.handlingSeconds is measured only once the same replicas have been ready for this
 * multiple of the time measured: what they hold was then delivered to them, not taken by fewer
 * replicas before (a buffer one took alone). Held messages in hand are at most about twice the mean
 * time old.
 */
export const HANDLING_STEADY_FACTOR = 2;
/** RateState.handlingSeconds follows a lower reading over this time constant. */
export const HANDLING_FALL_SECONDS = 10;
/** RateState.handlingSeconds follows a higher reading over this time constant (see there). */
export const HANDLING_RISE_SECONDS = 600;

/** The public view of the estimate (what goes into a decision and the EventConsumer status). */
export function ratesOf(state: RateState | undefined): Rates {
  const rates: Rates = {};
  if (state?.arrivalPerSecond !== undefined) rates.arrivalPerSecond = state.arrivalPerSecond;
  if (state?.processingPerSecond !== undefined) rates.processingPerSecond = state.processingPerSecond;
  if (state?.redeliveryPerSecond !== undefined) rates.redeliveryPerSecond = state.redeliveryPerSecond;
  if (state?.perReplicaPerSecond !== undefined) rates.perReplicaPerSecond = state.perReplicaPerSecond;
  if (state?.perReplicaPerSecond !== undefined && state.perReplicaLowEndOnly === true) {
    rates.perReplicaLowEndOnly = true;
    if (state.perReplicaLowEndHeld === true) rates.perReplicaLowEndHeld = true;
  }
  const inHand = validHandlersInHand(state?.handlersInHand);
  if (inHand !== undefined) {
    const { seconds, perReplica, from, to } = inHand;
    rates.handlersInHand = { seconds, perReplica, from, to };
  }
  if (state?.inFlightPerReplica !== undefined) rates.inFlightPerReplica = state.inFlightPerReplica;
  if (state?.failingSince !== undefined)
    rates.handlersFailing = {
      seconds: Math.max(0, (state.last.at - state.failingSince) / 1000),
      replicas: Math.max(0, state.failingReplicas ?? state.last.readyReplicas),
    };
  return rates;
}

/**
 * Messages a WorkQueue or Interest stream whose limits remove (BacklogSample.limitRemovals) removed
 * between two readings before this consumer delivered them: what it stored (its last sequence
 * moved) less what the consumer delivered new less what num_pending grew by. Every message stored
 * matches a consumer of every subject, and it is delivered, still pending, or gone before either:
 * expired (max_age), discarded (max_msgs, max_bytes), or deleted. Undefined for a filtered consumer
 * (the stream stores other subjects' messages too) and when the stream's state is not known at both
 * ends or went backwards (recreated). The stream is read just after the consumer, so one interval
 * can be off by what arrived within those round trips, either way; over successive intervals that
 * cancels (the sum is stored less delivered less pending's growth over the whole span).
 */
export function expiredBeforeDelivery(
  before: Pick<RateState['last'], 'limitedStream' | 'pending'>,
  after: Pick<BacklogSample, 'limitRemovals' | 'filtered' | 'pending'>,
  newDeliveries: number,
): number | undefined {
  if (after.filtered === true) return undefined;
  const stored = limitedStreamStored(before, after);
  if (stored === undefined) return undefined;
  return stored - newDeliveries - (Math.max(0, after.pending) - Math.max(0, before.pending));
}

/** What a stream with removing limits stored between two readings (lastSeqGrowth). */
function limitedStreamStored(
  before: Pick<RateState['last'], 'limitedStream'>,
  after: Pick<BacklogSample, 'limitRemovals'>,
): number | undefined {
  return lastSeqGrowth(before.limitedStream?.lastSeq, after.limitRemovals?.state?.lastSeq);
}

/**
 * An interval's expiries before delivery (expiredBeforeDelivery) show a consumer falling behind
 * once above this many messages and EXPIRED_NOISE_SHARE of what the stream stored in it: the stream
 * is read a moment after the consumer, and what arrives in between reads as a few expiries, or as
 * a few negative ones.
 */
export const EXPIRED_NOISE_MESSAGES = 2;
export const EXPIRED_NOISE_SHARE = 0.05;

/** The oldest message at this share of max_age: messages are about to expire, or expire. */
export const EXPIRY_EDGE_AGE_SHARE = 0.8;
/** The stream within this share of max_bytes: a message stored discards the oldest. */
export const EXPIRY_EDGE_BYTES_SHARE = 0.95;
/**
 * The consumer waits for or holds at least this share of what the stream holds: the stream's
 * oldest message is its own (an Interest stream keeps a message until every consumer has it).
 */
export const OWN_BACKLOG_SHARE = 0.9;

/**
 * Held messages this old (a share of max_age) with nothing waiting at the server: they expire in
 * the replicas' hands (inHandExpiry). Close to max_age, not at EXPIRY_EDGE_AGE_SHARE: replicas that
 * keep up with handlers that take most of max_age hold messages that old without losing any.
 */
export const IN_HAND_EXPIRY_AGE_SHARE = 0.95;
/**
 * Messages expire in the replicas' hands only while the mean time they are held (Little's law:
 * held ÷ arrivals) is at least this share of max_age, i.e. at least this share of the replicas'
 * buffers are behind: push delivery to a deliver group picks a member at random, so one buffer is
 * longer than the rest, and the oldest message alone (still >= 0.95 max_age at 4 replicas of 19/s
 * for 60/s, session 28's experiment) would read one long buffer as every replica behind.
 */
export const IN_HAND_MEAN_AGE_SHARE = 0.5;
/**
 * An interval counts as behind in hand once the replicas behind (mean time held ÷ max_age × ready)
 * exceed those that were behind at the last such interval by this much (RateState.behindInHand).
 */
export const IN_HAND_STEP_MARGIN = 0.5;

/**
 * Whether messages expire in the replicas' hands over an interval, on a WorkQueue or Interest
 * stream with max_age read at both ends: at both readings nothing waits at the server, the
 * consumer holds at least OWN_BACKLOG_SHARE of what the stream holds, and the stream's oldest
 * message is IN_HAND_EXPIRY_AGE_SHARE of max_age old (less one arrival interval, at least
 * EXPIRY_EDGE_AGE_SHARE of it); and the mean time held (Little's law: held ÷
 * arrivals, at both ends) is IN_HAND_MEAN_AGE_SHARE of max_age or more. A push consumer with a
 * deliver group (nats.go QueueSubscribe, nats.py subscribe(queue=)) is sent all that arrives, so
 * nothing waits at the server however far behind its subscribers are; an expiry of a held message
 * reads as an acknowledgement and the deliveries are the arrivals: neither shows the replicas
 * falling behind. 60/s pushed to 2 replicas doing 19/s on max_age 3 s held ~185, two thirds
 * expired unworked, and the policy kept the 2 replicas the backlog asked for (zz-push-expiry).
 * `queued`: each ready replica holds more than its handlers work on at once (spec.inFlightPerReplica,
 * 1 unless set), so messages wait behind them; otherwise the handling time alone nears max_age.
 * Undefined when not (filtered consumer: the stream holds other subjects' messages).
 */
export function inHandExpiry(
  before: Pick<RateState['last'], 'pending' | 'ackPending' | 'limitedStream'>,
  after: Pick<BacklogSample, 'pending' | 'ackPending' | 'filtered' | 'limitRemovals'>,
  arrivalPerSecond: number | undefined,
  readyReplicas: number,
  inFlightPerReplica: number | undefined,
):
  | {
      arrivalPerSecond: number;
      heldSeconds: number;
      maxAgeSeconds: number;
      behindReplicas: number;
      queued: boolean;
    }
  | undefined {
  const maxAge = after.limitRemovals?.limits.maxAgeSeconds;
  if (after.filtered === true || maxAge === undefined || !Number.isFinite(maxAge) || !(maxAge > 0))
    return undefined;
  if (arrivalPerSecond === undefined || !Number.isFinite(arrivalPerSecond) || !(arrivalPerSecond > 0))
    return undefined;
  if (!Number.isInteger(readyReplicas) || readyReplicas < 1) return undefined;
  const ends = [
    { pending: before.pending, ackPending: before.ackPending, st: before.limitedStream },
    { pending: after.pending, ackPending: after.ackPending, st: after.limitRemovals?.state },
  ];
  const edge = inHandEdgeSeconds(maxAge, arrivalPerSecond);
  for (const e of ends) {
    const st = e.st;
    if (st === undefined || !(st.messages > 0) || !(e.pending <= 0) || !(e.ackPending > 0)) return undefined;
    if (e.ackPending < OWN_BACKLOG_SHARE * st.messages) return undefined;
    if (!(st.oldestAgeSeconds >= edge)) return undefined;
    if (e.ackPending / arrivalPerSecond < IN_HAND_MEAN_AGE_SHARE * maxAge) return undefined;
  }
  const held = Math.min(before.ackPending, after.ackPending);
  const heldSeconds = (before.ackPending + after.ackPending) / 2 / arrivalPerSecond;
  const inFlight =
    inFlightPerReplica !== undefined && Number.isFinite(inFlightPerReplica) && inFlightPerReplica > 0
      ? inFlightPerReplica
      : 1;
  return {
    arrivalPerSecond,
    heldSeconds,
    maxAgeSeconds: maxAge,
    behindReplicas: (Math.min(heldSeconds, maxAge) / maxAge) * readyReplicas,
    queued: held > readyReplicas * inFlight,
  };
}

/**
 * A finding of handlers slower than max_age an earlier process made (RateOptions.carriedBeyondMaxAge),
 * when this process's first reading shows it still holds: well formed and begun no later than the
 * reading, on the max_age this reading shows (raised, what the handlers take is to be seen again),
 * with at least the replicas it was found with ready (fewer: pods replaced, as a rollout or a crash
 * does, which reopens a trial step within one process too), and no message shown acknowledged
 * before it expired. Undefined otherwise: the process reads the handlers afresh.
 */
function carriedBeyondMaxAge(
  carried: BeyondMaxAge | undefined,
  sample: BacklogSample,
  readyReplicas: number,
): BeyondMaxAge | undefined {
  const finding = validBeyondMaxAge(carried);
  if (finding === undefined || finding.since > sample.at) return undefined;
  const limited = sample.limitRemovals;
  if (limited?.state === undefined || sample.filtered === true) return undefined;
  if (limited.limits.maxAgeSeconds !== finding.maxAgeSeconds) return undefined;
  if (!(readyReplicas >= finding.replicas)) return undefined;
  // (The oldest message's edge at its lowest, whatever the arrival rate, which a first reading does
  // not know yet: at the highest, 10 held at 2/s on max_age 5 s read as acknowledged at 4.6 s.)
  if (acknowledgedBeforeExpiry(limited.state, EXPIRY_EDGE_AGE_SHARE * finding.maxAgeSeconds) !== false)
    return undefined;
  return finding;
}

/**
 * How old the stream's oldest message is when every message expires: up to one arrival interval
 * short of max_age (2/s on max_age 3 s: 2.5 s at times), never below EXPIRY_EDGE_AGE_SHARE of it.
 * Without an arrival rate, IN_HAND_EXPIRY_AGE_SHARE of it.
 */
export function inHandEdgeSeconds(maxAgeSeconds: number, arrivalPerSecond: number | undefined): number {
  const interval =
    arrivalPerSecond !== undefined && Number.isFinite(arrivalPerSecond) && arrivalPerSecond > 0
      ? 1 / arrivalPerSecond
      : 0;
  return Math.max(EXPIRY_EDGE_AGE_SHARE * maxAgeSeconds, IN_HAND_EXPIRY_AGE_SHARE * maxAgeSeconds - interval);
}

/** RateState.behindInHand (see there). */
export interface BehindInHand {
  below: number;
  replicas: number;
  /** Each replica was shown to do at least this (per second) since (fasterInHand). */
  atLeast?: number;
  /** The run of intervals that contradict `below`: when it began, and its longest mean time held. */
  fasterSince?: number;
  heldAtMost?: number;
}

/**
 * RateState.behindInHand read back from history: finite, below > 0, a whole replica count >= 1;
 * atLeast > 0 or none; a run's start and longest time held both finite (> 0) or none.
 */
export function validBehindInHand(v: unknown): BehindInHand | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { below, replicas, atLeast, fasterSince, heldAtMost } = v as Record<string, unknown>;
  if (typeof below !== 'number' || !Number.isFinite(below) || !(below > 0)) return undefined;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 1) return undefined;
  const out: BehindInHand = { below, replicas };
  if (typeof atLeast === 'number' && Number.isFinite(atLeast) && atLeast > 0) out.atLeast = atLeast;
  // (A run not read back whole starts again.)
  if (
    typeof fasterSince === 'number' &&
    Number.isFinite(fasterSince) &&
    typeof heldAtMost === 'number' &&
    Number.isFinite(heldAtMost) &&
    heldAtMost > 0
  ) {
    out.fasterSince = fasterSince;
    out.heldAtMost = heldAtMost;
  }
  return out;
}

/**
 * RateState.behindInHand is contradicted after this long of intervals that each show it
 * (fasterInHand): long enough that a rise in arrivals, read before what the replicas hold grows
 * with it, cannot.
 */
export const IN_HAND_CONTRADICTED_SECONDS = 60;
/** ... by at least this factor (the mean time held times `below` under 1 ÷ it). */
export const IN_HAND_CONTRADICTED_FACTOR = 1.5;

/**
 * The mean time a message was held over an interval (Little's law: awaiting ack ÷ arrivals, at
 * both ends) when it contradicts RateState.behindInHand: nothing waiting at the server at either
 * end, messages arriving and held, and that time under 1 ÷ (IN_HAND_CONTRADICTED_FACTOR × below).
 * A message is held at least as long as a handler works on it, so a replica does at least one
 * message per mean time held (more with handlers that work on many at once); the replicas that
 * fell behind each did less than `below`, so they took longer than 1 ÷ below over each while the
 * handlers are the same. Shorter, the handlers got faster (a fix deployed), and the remembered count
 * held the replicas for good (push-expiry.test: 64/s for 18/s handlers, fixed to 60/s at 400 s,
 * kept 4 to the end on main 6099f6b where 2 do). Undefined when it does not, or nothing is held
 * at either end (a time held below what the readings resolve proves no bound).
 */
export function fasterInHand(
  behind: { below: number },
  before: Pick<RateState['last'], 'pending' | 'ackPending'>,
  after: Pick<BacklogSample, 'pending' | 'ackPending'>,
  arrivalPerSecond: number | undefined,
): number | undefined {
  if (arrivalPerSecond === undefined || !Number.isFinite(arrivalPerSecond) || !(arrivalPerSecond > 0))
    return undefined;
  if (!(before.pending <= 0) || !(after.pending <= 0)) return undefined;
  if (!(before.ackPending > 0) || !(after.ackPending > 0)) return undefined;
  const heldSeconds = (before.ackPending + after.ackPending) / 2 / arrivalPerSecond;
  return heldSeconds * IN_HAND_CONTRADICTED_FACTOR * behind.below < 1 ? heldSeconds : undefined;
}

/**
 * Whether a WorkQueue or Interest stream whose limits remove is at the edge where they do, with its
 * oldest messages this consumer's (OWN_BACKLOG_SHARE): the oldest message is EXPIRY_EDGE_AGE_SHARE
 * of max_age old, or the stream holds max_msgs (or EXPIRY_EDGE_BYTES_SHARE of max_bytes). Messages
 * expire from a replica's buffer too, and those leave num_ack_pending as acknowledgements do
 * (expiredBeforeDelivery does not see them): a nats.js client buffering 100 at 20/s holds each
 * message 5 s, so with max_age 3 s every message expired in a buffer while nothing expired before
 * delivery. False for a filtered consumer (the stream holds other subjects' messages).
 */
export function atRemovalEdge(
  after: Pick<BacklogSample, 'limitRemovals' | 'filtered' | 'pending' | 'ackPending'>,
): boolean {
  const limits = after.limitRemovals?.limits;
  const st = after.limitRemovals?.state;
  if (after.filtered === true || limits === undefined || st === undefined || !(st.messages > 0)) return false;
  if (Math.max(0, after.pending) + Math.max(0, after.ackPending) < OWN_BACKLOG_SHARE * st.messages)
    return false;
  return (
    (limits.maxAgeSeconds !== undefined &&
      st.oldestAgeSeconds >= EXPIRY_EDGE_AGE_SHARE * limits.maxAgeSeconds) ||
    (limits.maxMsgs !== undefined && st.messages >= limits.maxMsgs) ||
    (limits.maxBytes !== undefined && st.bytes >= EXPIRY_EDGE_BYTES_SHARE * limits.maxBytes)
  );
}

/**
 * perReplicaTakenWhileRemoving once it rests on TAKEN_EVIDENCE_SECONDS of intervals (undefined
 * before). One interval is one refill of a client's buffer or none: nats.js consume() takes 25-50
 * at a time, and a first figure from one second read 12.5/s a replica for 20/s handlers on a real
 * nats-server and held 10 replicas where 6 do (limit-removal-steady.int).
 */
export function takenWhileRemovingFigure(
  state: Pick<RateState, 'perReplicaTakenWhileRemoving' | 'takenWhileRemovingSeconds'>,
): number | undefined {
  const taken = finiteNonNegative(state.perReplicaTakenWhileRemoving);
  // A figure from older state, without a record of its evidence, counts as established.
  const seconds = finiteNonNegative(state.takenWhileRemovingSeconds) ?? Infinity;
  return taken !== undefined && seconds >= TAKEN_EVIDENCE_SECONDS ? taken : undefined;
}

/** Seconds of intervals perReplicaTakenWhileRemoving must rest on before it sizes (as a removal run: REMOVAL_RUN_SECONDS). */
export const TAKEN_EVIDENCE_SECONDS = 10;

/**
 * Whether an interval shows what the replicas take while the stream's limit removes this consumer's
 * backlog (RateState.perReplicaTakenWhileRemoving): messages expired or were discarded before
 * delivery with work waiting at the server at both ends (`expiringNow`), or the stream stood full
 * of this consumer's backlog at both readings (streamFullOfBacklog) while the replicas completed
 * work (the ack floor moved: naks, redeliveries and hung handlers do not move it). Full, a pull
 * client's buffer is refilled as its handlers free room, whether or not the server still holds
 * anything pending: prefetching clients can hold all a full stream has between them
 * (consumer-configs.int, nats.js consume() with 100 buffered, 200 of 200 stored and none pending).
 */
export function takenWhileRemoving(
  before: Pick<RateState['last'], 'limitedStream' | 'pending' | 'ackPending' | 'ackFloorConsumerSeq'>,
  after: Pick<BacklogSample, 'limitRemovals' | 'filtered' | 'pending' | 'ackPending' | 'ackFloorConsumerSeq'>,
  expiringNow: boolean,
): boolean {
  if (expiringNow) return true;
  const limits = after.limitRemovals?.limits;
  if (limits === undefined || after.filtered === true) return false;
  return (
    streamFullOfBacklog(limits, before.limitedStream, before) &&
    streamFullOfBacklog(limits, after.limitRemovals?.state, after) &&
    before.ackFloorConsumerSeq !== undefined &&
    after.ackFloorConsumerSeq > before.ackFloorConsumerSeq
  );
}

/**
 * Whether a stream whose limits remove holds at least STREAM_FULL_SHARE of its max_msgs or max_bytes
 * (those discard old: RemovingLimits) and the consumer's backlog is at least that share of what it
 * holds (stream-full.ts atStreamLimit's rule, read from the removing limits and state).
 */
function streamFullOfBacklog(
  limits: RemovingLimits,
  state: LimitedStreamState | undefined,
  consumer: { pending: number; ackPending: number },
): boolean {
  if (state === undefined || !(state.messages > 0)) return false;
  if (Math.max(0, consumer.pending) + Math.max(0, consumer.ackPending) < STREAM_FULL_SHARE * state.messages)
    return false;
  return atDiscardLimit(limits, state);
}

/** Whether a stream holds at least STREAM_FULL_SHARE of a max_msgs or max_bytes that discards old (RemovingLimits). */
function atDiscardLimit(limits: RemovingLimits, state: LimitedStreamState | undefined): boolean {
  if (state === undefined) return false;
  return (
    (limits.maxMsgs !== undefined &&
      limits.maxMsgs > 0 &&
      state.messages >= STREAM_FULL_SHARE * limits.maxMsgs) ||
    (limits.maxBytes !== undefined &&
      limits.maxBytes > 0 &&
      state.bytes >= STREAM_FULL_SHARE * limits.maxBytes)
  );
}

/**
 * The stream's max_age where what it removes expires by age (decide.ts 2c's pace checks:
 * RateState.takenFasterThanMaxAge), or undefined: without max_age, while the stream stands at
 * STREAM_FULL_SHARE of a max_msgs / max_bytes that discards old, where what goes is discarded at
 * that limit as on a stream without max_age (and no run of expiringAtServer intervals is counted),
 * and while the taken figure was last learnt there (RateState.takenAtDiscardLimit: drained below
 * the limit, the stream reads as one with max_age alone, and holding that figure back let the
 * count fall to what the backlog asks and the stream fill again).
 */
export function maxAgeExpiring(
  after: Pick<BacklogSample, 'limitRemovals'>,
  state: Pick<RateState, 'takenAtDiscardLimit'> = {},
): number | undefined {
  const limits = after.limitRemovals?.limits;
  if (limits?.maxAgeSeconds === undefined || state.takenAtDiscardLimit === true) return undefined;
  return atDiscardLimit(limits, after.limitRemovals?.state) ? undefined : limits.maxAgeSeconds;
}

/**
 * Whether what an interval's stream removed before delivery expired at the server by age (its
 * max_age, or per-message TTLs) rather than being discarded at a max_msgs / max_bytes limit: an
 * age limit, and the stream below STREAM_FULL_SHARE of any limit that discards at both readings.
 * There every replica takes the oldest waiting, which expires in its hands whatever the handler,
 * and a replica takes one more only as a handler frees, so intervals that took nothing are part of
 * what the replicas take (RateState.perReplicaTakenWhileRemoving, RateState.takenRun).
 */
export function expiringAtServer(
  before: Pick<RateState['last'], 'limitedStream'>,
  after: Pick<BacklogSample, 'limitRemovals'>,
): boolean {
  const limits = after.limitRemovals?.limits;
  if (limits === undefined || (limits.maxAgeSeconds === undefined && limits.msgTtl !== true)) return false;
  return !atDiscardLimit(limits, before.limitedStream) && !atDiscardLimit(limits, after.limitRemovals?.state);
}
