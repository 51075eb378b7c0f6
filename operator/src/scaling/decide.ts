// jetscale's scaling policy: one pure function from (spec, consumer reading, replicas, history, now)
// to a decision. The operator's controller and the simulator call exactly this.
//
// 1. Backlog term (KEDA-compatible): ceil((pending + ackPending) / backlogPerReplica), left at the
//    current count when within the HPA's 10 % tolerance. This term is a floor: jetscale never asks
//    for fewer replicas than the backlog needs. What handlers that work on many messages at once
//    have in hand (2f: spec.inFlightPerReplica each, a measured handling time's worth, or what a
//    change of count showed in hand) is left out of ackPending: more replicas finish it no sooner.
//    What waits at the server and in the clients' buffers beyond the hands is counted as before.
// 2. Rate term (once rates are known): replicas to keep up with the arrival rate (RATE_HEADROOM
//    above it) and drain what is pending within drainWithinSeconds, at the per-replica capacity
//    measured while replicas were busy. The arrival rate reacts fast to a rise (the last interval
//    counts as soon as it exceeds the smoothed rate, up to CONFIRM_FACTOR times the interval before
//    it until the next reading confirms it: one interval can hold a single batch) and slowly to a
//    fall, except to an end: once the last interval brought no more than half the smoothed rate
//    and ENDED_SIGMAS below it (arrivalEnded: a burst that stopped), what arrives is that
//    interval's rate. While more arrives than
//    the ready replicas do (at a confirmed rate: rates.ts confirmedArrivalPerSecond, beyond its
//    own noise while nothing waits at the server, and for a stream sent in clumps while messages
//    wait, beyond it above the mean rate of the last start-up: meanArrivalSince), the queue
//    keeps growing until new pods consume (about predictive.horizonSeconds, or the longest recent
//    start-up the ready count showed when longer: readiness.ts): that pile-up is sized for at once
//    and drained within
//    PANIC_DRAIN_SECONDS (with a latency objective: only what it would take the queue past what
//    the objective lets stand counts, added to what is queued).
//    Predictive mode (spec.predictive) only ever adds replicas ahead of a rise it expects, never
//    sizing below what the reactive policy needs: a burst that each of the last two cycles of a
//    period found in the arrival history saw one horizon ahead (seasonality.ts), and, with a
//    season told (predictive.seasonality), the forecast `horizonSeconds` ahead when it expects a
//    rise, while its measured error is within maxRelativeError and the latest reading lies within
//    that band. A trend-only forecast and a forecast of a fall are reported, not sized for.
// 2a. Capacity not measured yet (no busy period seen: a new EventConsumer next to a running
//    Deployment, a new leader, a restarted operator): no fewer replicas than shown to keep up with
//    the arrival rate (RATE_HEADROOM above it) at what each ready replica was shown to do at least,
//    busy or not (rates.ts perReplicaAtLeast); all the current ones until that is shown. With a
//    latency objective, what the objective's rule (objective.ts) asks at that capacity instead of
//    RATE_HEADROOM: the queue it lets stand may grow. Only while ready replicas complete work and
//    work arrives; never above the current count.
// 2c. Messages expiring before any replica takes them, on a WorkQueue or Interest stream whose
//    limits remove (max_age, max_msgs / max_bytes discarding old, per-message TTL): completions
//    prove no capacity there (an expiry of a held message reads as an acknowledgement: rates.ts
//    limitRemovalsPossible), and the backlog max_age keeps short under-sizes. While work waits at
//    the server and expires (rates.ts expiringSince), or the stream stands full of this consumer's
//    backlog at a limit that discards old while the replicas complete work, what the replicas take
//    is what they can do (rates.ts perReplicaTakenWhileRemoving, the one "taken while the limit
//    removes" figure; where messages expire at the server by age, intervals that took nothing
//    counted): with no per-replica capacity measured, replicas are sized at it for the arrival rate
//    (RATE_HEADROOM above it), and stay sized at it once nothing is removed (no flapping: the figure
//    is not forgotten while no capacity is measured), once it rests on TAKEN_EVIDENCE_SECONDS of
//    intervals. While messages still expire with the same replicas ready for EXPIRY_GROW_SECONDS,
//    one more is asked for. Within maxReplicas and the step policies. On a stream with max_age,
//    neither step is taken until a run of such intervals has shown each replica taking more than
//    one message per max_age beyond the largest batch taken at once (rates.ts
//    takenFasterThanMaxAge): every replica takes the oldest waiting and each expires in its hands
//    whatever the handler, so only what they take tells handlers slower than max_age (fewer than
//    one per max_age each) from too few replicas.
//    Messages expiring in the replicas' hands (rates.ts inHandExpiry: a push consumer with a
//    deliver group is sent all that arrives, so nothing waits at the server; pull clients whose
//    buffers hold the whole backlog): over a settled interval with nothing pending, the oldest
//    message at max_age, the mean time held (held ÷ arrivals) at least half of it, and each
//    replica holding more than its handlers work on (spec.inFlightPerReplica, 1 unless set), the
//    replicas each did less than arrivals ÷ ready (rates.ts behindInHand): one more is asked for,
//    followed by the arrival rate and kept once nothing expires; once a message is held for
//    IN_HAND_CONTRADICTED_SECONDS less than one replica then took for each (rates.ts fasterInHand:
//    the handlers were fixed), sized at the one message per longest mean time held each replica
//    was then shown to do, when fewer (main 6099f6b kept 4 where 2 do for good). Again only once the replicas
//    added since fall behind too (the mean time held says how many are behind): those that fell
//    behind keep their long buffers for minutes, one replica's buffer can be longer than the rest
//    (a deliver group's member is picked at random), and more replicas would only ratchet. Each
//    replica holding no more than its handlers work on: the handling time itself nears max_age,
//    none are added, and decision.handlingNearMaxAge says what to change (the controller's
//    HandlingNearMaxAge Warning event).
// 2e. A stream at its max_msgs / max_bytes limit with this consumer's backlog filling it
//    (stream-full.ts, from BacklogSample.streamLimit: the stream's config and state): it refuses
//    what it has no room for (discard new: no counter shows it, so the arrival rate read is what the
//    replicas make room for, a lower bound of the demand) or drops its oldest (discard old). While
//    the replicas complete work, no fewer than the current count; once the stream has stayed at its
//    limit STREAM_FULL_CONFIRM_SECONDS with every replica asked for ready and busy (completing at
//    least STREAM_FULL_BUSY_SHARE of what the per-replica figure says), STREAM_FULL_STEP_SHARE more
//    (at least one), within maxReplicas and the step policies. None added while they complete
//    nothing, fail every message, are paused or refuse the backlog. With a latency objective the
//    queue let stand is at most a quarter of what the stream holds, and when that bounds it the
//    capacity asked is at least RATE_HEADROOM times the arrivals (objective.ts streamHolds): a 60 s
//    objective otherwise let 100/s against 2 replicas of 20/s stand at the limit for good
//    (consumer-configs.int), and at half of it with no floor, 5 replicas doing 98/s filled it again
//    (stream-full.test). decision.streamFull says so (the StreamFull condition). Where no
//    per-replica figure is measured (a stream whose limit removes: rates.ts limitRemovalsPossible),
//    busy means completing work with the ack floor moving, and what each ready replica took there
//    sizes the replicas (2c: rates.ts perReplicaTakenWhileRemoving).
// 2b. Panic (Knative's idea, fitted to pods that take a while to start): when the last interval's
//    (confirmed as in 2: at most CONFIRM_FACTOR times the interval before it)
//    arrivals (an interval of at least MIN_INTERVAL_SECONDS: a reading sooner than that after the
//    last measured one measures nothing, rates.ts) are at least PANIC_FACTOR times what the current replicas can do and pending grew to
//    match (two counters agree, so one odd reading cannot panic), size at once for that arrival
//    rate plus draining, within PANIC_DRAIN_SECONDS, the backlog there will be once a pod asked for
//    now consumes: pending + shortfall × the start-up (as in 2: predictive.horizonSeconds, documented
//    as about the time a new replica needs to start consuming and used whether or not prediction is
//    enabled, or the measured start-up when longer). The
//    jump stays within the scale-up step policies, selectPolicy, maxReplicas and max_ack_pending:
//    the policies are the user's limit on growth (measured: skipping them would take the bursty
//    trace's p99 from 20.8 to 17.8 s, the spike's from 17.2 to 16.7 s). After the last panic reading the
//    count is not lowered for PANIC_WINDOW_SECONDS, whatever the scale-down window, unless the
//    panic is over sooner: what it sized for is drained (pending within a second of the ready
//    replicas' work, plus what a latency objective lets stand) and the last interval brought no
//    more than the ready replicas do. The scale-down window then still brakes the way down.
// 2d. Stalled replicas (rates.ts stalledReplicas: the oldest message awaiting ack unacknowledged far
//    longer than the figure says the replicas take; a hung handler, a stopped process) carry
//    nothing: the rate term sizes the others beside them. It adds replicas only while nothing
//    completes at all and work waits at the server; otherwise it only keeps the replicas beside
//    a stalled one from being taken away.
// 2f. Messages awaiting ack beyond what the ready replicas can be handling wait in their clients'
//    buffers: every default consume path hands its handler one message at a time and buffers more
//    (nats.go Consume() 500, jnats 500, async-nats 200-300, nats.js 100, NATS.Net 1,000; a push
//    consumer's subscribers are sent up to max_ack_pending). Without an objective the rate term
//    drains them within drainWithinSeconds as it does what is pending (with one, objective.ts
//    already counts everything awaiting ack as queued), beside a start-up pile-up too: they are
//    standing prefetch no new pod can take, not the surge the pile-up's PANIC_DRAIN_SECONDS is for
//    (drained within it, 280 buffered took the policy fuzzer's world 2693 12 -> 28, bound 26).
//    Before, the rate term sized from the pending only: ci4's nats.go QueueSubscribe() read
//    "Backlog 1,0xx (0-195 pending, 1,000 awaiting ack)", "draining 0 pending within 30s needs 5",
//    and the 994 buffered waited about 12 s each until 226 s. What the replicas can be handling, a
//    replica: spec.inFlightPerReplica when the user set it (their handlers' concurrency); otherwise
//    the per-replica figure times the time a message is held from delivery to ack while nothing
//    waits for the replicas (rates.ts handlingSeconds: Little's law, measured only while they do
//    clearly less than the figure, so their buffers ran empty), at least one — the clients'
//    default. Little's law over awaiting ack because it is the only reading that tells in hand from
//    buffered, and only while the replicas are not busy: while they are, 1,000 held by 80/s
//    completions is 12.5 s of handling or 12.5 s in a buffer alike. Until measured, one each: a
//    wrong one costs replicas in proportion to the handling time over drainWithinSeconds (handlers
//    of 5 s working on many at once: +17 %), never a buffer left standing. Once a change of the
//    ready count left the mean time held and the completions as they were (rates.ts
//    handlersInHand, in-hand.ts), the completions times that time are in hand too, whatever the
//    count, and the reason says to set spec.inFlightPerReplica (HandlersConcurrent): nats.go
//    Consume() ×50 with 10 s handlers at 4/s stayed at 12 replicas where the figure asks 5, a push
//    consumer ×500 at 30/s climbed to 10 where it asks 4 (handlers-in-hand.test). While such
//    replicas keep up, one fewer at a time is asked, each step judged the same way, and a step that
//    overfills their hands is sized back (in-hand-step.ts): the ×50 at 4/s comes down to 1. Not counted (left to 2d
//    and 3d): while replicas are stalled (a hung handler's buffer is drained by no replica added
//    beside it), while handlers fail, while the consumer is paused, and while what awaits ack is
//    not the newest deliveries (rates.ts HELD_SHARE_OF_UNACKED_SPAN: messages waiting for a
//    redelivery, scattered behind the ack floor among messages acknowledged since, and a stuck
//    floor behind a hung buffer). Per-pod buffers drain at the handler's pace less the pod's share
//    of what arrives, so more replicas shorten them by taking arrivals elsewhere; one pod that took
//    1,000 alone still needs 1,000 ÷ its handler's rate. That is what an ack floor that moves with
//    what awaits ack less than HELD_SHARE_OF_UNACKED_SPAN of the span behind the last delivery, and
//    no redelivery, shows (unevenBuffers: one replica's buffer older than the rest, a push
//    subscriber sent up to max_ack_pending while it ran alone; a real server keeps the floor at its
//    oldest message, push-consumer.int) on a push consumer (sample.push: its subscribers are sent
//    what max_ack_pending allows, busy or not) whose floor moved in every interval for
//    UNEVEN_PACE_WINDOW_SECONDS (floorOverWindow: a replica works through its buffer in order;
//    concurrent handlers acknowledging out of order pin the floor at a straggler, then it jumps, and
//    taken as one replica's their in-hand messages asked 10 <-> 16 where 10 is the even count, main
//    6099f6b). On a pull consumer a client holds only what it asked
//    for, and the floor falls behind as well when replicas just progress unevenly (fetch() loops,
//    which ask again only once a batch is handled, while pods start) or concurrent handlers
//    acknowledge out of order: taken as one replica's, the policy fuzzer's world 2693 went 35 -> 46
//    where the bound is 36 (main 6913a32). There the buffer is one replica's only while every ready
//    replica asks for more (num_waiting at least the ready count: the one with the old buffer takes
//    its share of what arrives) and the floor has moved at one replica's pace for
//    UNEVEN_PACE_WINDOW_SECONDS while the others completed more (onePacedFloor: a prefetching
//    client's batch taken before the others started); otherwise it is drained evenly, as the newest
//    deliveries are. When it is one replica's buffer: what awaits ack beyond what the replicas have in hand
//    (completions × the in-hand time, Little's law, at most a full hand each) is then taken as that
//    one replica's, drained at its figure less its share of the arrivals within drainWithinSeconds,
//    or within UNEVEN_DRAIN_FACTOR times what its handlers alone take when longer, and the reason
//    says within how long. Before, it was drained at the replicas' total spare capacity ("within
//    30s" for one push subscriber's 700, which took 105 s) or, once the floor fell that far behind,
//    not counted at all. Not for a latency objective (objective.ts counts what awaits ack as
//    queued, evenly). The max_ack_pending cap (3) bounds what this adds.
//    Scale-down: a replica taken away stops pulling; what its client holds is handled if it
//    drains on SIGTERM (workloads/go-consumer does: Drain()), or comes back after ack_wait (latency, not
//    loss). The rate term keeps replicas while buffers stand, so at steady load a replica taken
//    away holds about its in-hand share; the policy does not size for the ack_wait of messages a
//    client drops on exit (no reading shows them apart from buffered ones until they expire). A
//    scale-down of ready replicas while buffered messages are counted says so in its reason (the
//    Scaled Event): what they hold reaches the others at once only if they hand it back on
//    SIGTERM, otherwise after ack_wait.
// 3. HPA behaviour: stabilization windows, then step policies (behavior.ts), then bounds:
//    [minReplicas, min(maxReplicas, what max_ack_pending lets work in parallel)]. max_ack_pending
//    caps replicas only when it is known to bind: never more replicas than max_ack_pending (no
//    more messages than that are in flight, so a further replica would hold nothing); fewer when
//    the user set inFlightPerReplica (cap ceil(max_ack_pending / inFlightPerReplica)), or when more
//    replicas measurably did not raise the processing rate while it was full (rates.ts,
//    maxAckPendingBinding: the fewer read after the more, so that handlers that changed between
//    them cannot pass for the limit; cap at the fewer replicas). Held at maxReplicas (or such a cap), the
//    count cannot rise to measure it again: at-cap-probe.ts tries half the replicas for a while
//    when there is a cap to find. Awaiting-ack ÷ replicas is not used: with prefetching clients it
//    is prefetch, not concurrency.
// 3b. Replicas that do not become ready (readiness.ts): while any replica asked for has not been
//    ready for spec.readinessDeadlineSeconds, no replicas are added — the backlog grows because
//    they fail, and more of the same pods would fail too. Scale-down and the bounds still apply.
// 3c. A consumer paused on the server (sample.paused, nats-server 2.11+ pause_until): nothing is
//    delivered until it resumes, so no replicas are added and none are started from zero; the
//    readings still feed the arrival rate (rates.ts takes no capacity from them), and the next
//    reading is asked for when the pause is due to end.
// 3d. Handlers that fail every message (rates.ts failingSince: messages redelivered and none
//    completed while work waited, until an interval completes one): no replicas are added — the
//    backlog is redeliveries, and more replicas would only fail the same messages faster (KEDA
//    scales such a consumer to its maximum). Scale-down and the bounds still apply. Except where the
//    replicas take nothing (rates.ts takingNothing: nothing delivered at all while work waits at the
//    server with room under max_ack_pending and no pull request waiting, for 5 s in a failing spell
//    of 10 s): what expired was their own held messages (a handler hung under nats.go Consume(),
//    whose open pull takes them back), a stall (2d): replicas are added beside them, at most the
//    replicas ready when the spell began plus what the figure says (one with no figure), none for
//    replicas that start later and take nothing too. Nak'ing handlers keep taking deliveries.
//    At max_ack_pending the same run counts only once the spell's retries stopped (rates.ts
//    retriesStopped: nothing redelivered for twice as long as the spell showed redeliveries, and
//    120 s at least; failing handlers keep their messages coming back): then one replica is added
//    beside them and no more (policy-fuzz adverse world 606014, a paused push subscriber).
//    And once a spell has lasted FAILING_SPARE_AFTER_SECONDS (300 s), one replica is allowed beside
//    those ready when it began, a spare replica, whatever the counters show: the only member of a push
//    deliver group (or a pull client whose open request takes its own expired messages back) hung
//    for good on what it holds gets its messages back at each ack_wait, so its redeliveries never
//    stop, and to the counters it is handlers that fail every message. The spare replica completes what
//    comes back to it (the spell ends, and the backlog sizes the count again) or fails it too (the
//    count holds with the spare for the rest of the spell). The spell is carried over a restart
//    (status rates.handlersFailing), so a new process does not add a second spare.
// 3e. Pull requests that refuse the backlog (refused-backlog.ts): requests wait at the server with
//    messages pending and room under max_ack_pending, and nothing is delivered across an interval.
//    Examples are overflow clients pulling with min_pending (nats-server delivers to them only
//    while num_pending >= min_pending), a pull's max_bytes below the message size, or a pinned
//    client. More replicas pulling the same way would be refused too. So no replicas are added,
//    and the refused pending messages are left out of the sizing: the count may go down, within
//    the scale-down rules, to what carries the arrivals and what awaits ack, and never to zero
//    while anything is pending. A run shorter than an interval (a first reading) is not confirmed
//    yet. It adds no replicas either, and the next reading comes at once.
// 3f. Handlers slower than the stream's max_age (beyond-max-age.ts, rates.ts beyondMaxAge): after a
//    step for messages expiring in the replicas' hands (2c), the step's replicas ready, and no
//    reading for 15 s (at least twice max_age) showing a message acknowledged before it expired
//    (a gap inside the stream, or its oldest message younger than max_age), though a replica
//    added with nothing in hand acknowledges its first messages at once when its handler is faster.
//    Then every message expires in a handler whatever the count: no replicas are added while it
//    lasts (HandlersSlowerThanMaxAge; decision.handlersSlowerThanMaxAge, the controller's Warning),
//    and 2c asks for one more than the ready ones only as what it reads, held here. A reading that
//    shows an acknowledgement ends it; a fall in the ready count (a rollout) allows one more trial step.
//    While it lasts and messages arrive, the replicas it was found with are kept (no fewer than the
//    count there is). A restarted process takes it back from status (rates.handlersSlowerThanMaxAge)
//    when its first reading shows it still holds, so it takes no trial step again. Where messages
//    wait and expire at the server it is also found from what the replicas take: for 15 s (at least
//    twice max_age) something, and fewer than one message per twice max_age each
//    (beyond-max-age.ts takenShowsSlower); 2c's steps for what expires at the server are not taken
//    while it lasts.
// 4. Zero: leave zero as soon as the backlog exceeds activationBacklog; go to zero only when for
//    cooldownPeriodSeconds nothing was pending, nothing awaited ack and no message was delivered
//    between readings (traffic that fast handlers keep at backlog 0 is still traffic).
// 5. A consumer on a mirror or a sourced stream (sample.upstream): the origin's messages not yet
//    copied (the mirror's or sources' lag) count as pending, since its replicas will have them. While
//    that is not known (no contact with the origin yet, contact lost, an error, or a filtered consumer
//    that may or may not match them) the backlog read may be short by any amount: no replicas are
//    lowered on it, to zero or otherwise (ScalingLimited=UpstreamLagUnknown says what is not known).
//
// History limits: recommendations older than the longer stabilization window are dropped (and at
// most MAX_RECOMMENDATIONS kept: exact for a 3600 s window down to a 3.6 s poll interval; faster
// polling shortens the longest windows to MAX_RECOMMENDATIONS readings), scale events older than the longest policy period are dropped (at
// most MAX_SCALE_EVENTS), and the last MAX_SAMPLES readings are kept. Rates and forecast state are
// constant-size. `decide` assumes the controller applies what it decides: a scale change is recorded
// as a scale event. If the scale request fails, keep the previous history instead of the returned one.
// An empty history is the first sight of a target, with nothing to hold: a caller that starts next
// to a running target (a new leader, a restarted operator, the simulator) seeds
// history.recommendations with the target's size at its first reading, as the HPA does
// (recordInitialRecommendation), so the stabilization windows hold it for one window; the
// controller also holds scale-down for the longest scale-down period after the last scale it sees
// (controller/decide.ts scaleDownHoldAfterRestart: only it knows that time). Without either, the
// first reading scales down at once (with a carried per-replica figure, 23 replicas to 11 in a
// session-16 test).
// Seeding inside decide was measured and not kept: it changed what 4 unit tests start from and gave
// the policy fuzzer's world 1440, which starts from an empty history, a scale-up past its bound.

import { backlogOf } from './backlog.js';
import { scaleDownLimit, scaleUpLimit, stabilize } from './behavior.js';
import { asForecastState, forecastArrival, observeArrival } from './forecast.js';
import type { ForecastResult, ForecastState } from './forecast.js';
import {
  ADAPTIVE_POLL_SECONDS,
  ARRIVING_POLL_SECONDS,
  allowedQueue,
  NEAR_CAPACITY_SHARE,
  nextPollSeconds,
  objectiveCapacity,
  RATE_NOISE_SIGMAS,
  rateMoved,
} from './objective.js';
import { asSeasonalityState, expectedRate, observeSeasonality } from './seasonality.js';
import type { SeasonalityState } from './seasonality.js';
import {
  asRateState,
  BATCHED_DISPERSION,
  CONFIRM_FACTOR,
  confirmedArrivalNoise,
  heldAreNewest,
  keptPaceSeconds,
  recentBacklogRunSeconds,
  maxAckPendingBinding,
  climbBinding,
  MIN_INTERVAL_SECONDS,
  validLastBurst,
  observeRates,
  ratesOf,
  READY_SETTLE_SECONDS,
  readingInterval,
  stalledReplicas,
  maxAgeExpiring,
  takenWhileRemovingFigure,
  takingNothing,
  validBehindInHand,
  FAILING_SPARE_AFTER_SECONDS,
} from './rates.js';
import { shownInHandMessages, validHandlersInHand } from './in-hand.js';
import { removedUnworkedMessage, validRemovedUnworked } from './removed-unworked.js';
import { asInHandStepState, nextInHandStep } from './in-hand-step.js';
import { beyondMaxAgeText, takenShowsFaster, validBeyondMaxAge, validTakenRun } from './beyond-max-age.js';
import { asReadinessState, carriedReadiness, observeReadiness } from './readiness.js';
import { asAtCapProbeState, nextAtCapProbe, probeClockStart, PROBE_MAX_SECONDS } from './at-cap-probe.js';
import type { AtCapProbe } from './at-cap-probe.js';
import { backlogRefusal } from './refused-backlog.js';
import {
  STREAM_FULL_BUSY_SHARE,
  STREAM_FULL_CONFIRM_SECONDS,
  STREAM_FULL_STEP_SHARE,
  streamCapacityMessages,
  streamFullRun,
  streamFullText,
} from './stream-full.js';
import type { ReadinessReport, ReadinessState } from './readiness.js';
import type { RateState } from './rates.js';
import type {
  BacklogSample,
  MaxAckPendingCap,
  ScalingDecision,
  ScalingHistory,
  ScalingInput,
  ScalingLimit,
  ScalingSpec,
} from './types.js';

export { BATCHED_DISPERSION, CONFIRM_FACTOR } from './rates.js';

/** HPA tolerance: no change while the needed/provided ratio is within 10 % of 1. */
export const TOLERANCE = 0.1;
/**
 * Size for this much more than the arrival rate: near 100 % utilisation any burst queues up, and
 * per-replica capacity is itself an estimate.
 */
export const RATE_HEADROOM = 1.15;
/**
 * A per-replica figure that has been a low end only (rates.ts perReplicaLowEndOnly) for this long
 * is re-measured: see LOW_END_PROBE_FACTOR.
 */
export const LOW_END_REMEASURE_SECONDS = 300;
/**
 * Re-measuring a low-end figure: the rate term sizes as if each replica did this multiple of it
 * (the user's headroom kept), so the replicas do up to LOW_END_PROBE_FACTOR ÷ RATE_HEADROOM (1.3)
 * times the figure. Either they keep up, which proves more (rates.ts: completions per replica
 * above the figure raise it) and the next step sizes from the raised figure, or they are busy,
 * which measures them (rates.ts catchesUp, with every replica ready) or bounds them from above
 * (rates.ts perReplicaAtMost). Once bounded, the rate term sizes at that bound when it is lower
 * (each replica does at most it, so no more is ever asked of them), and re-measuring stops once the
 * bound is within RATE_HEADROOM of the figure (a bound the replicas later pass is dropped: rates.ts
 * AT_MOST_CONTRADICTED_FACTOR). At worst (the figure was right) the replicas fall
 * 30 % short until then: the backlog term and the start-up pile-up size for the queue as for any
 * shortfall, and the busy replicas measure the figure. With 2-4 replicas this sizing rounds back
 * up to the ready count (⌈0.77 n⌉ = n), and each goes on doing the arrivals ÷ n, which never passes
 * the figure: there what the idle handlers hold raises it (rates.ts heldBound with a low end).
 */
export const LOW_END_PROBE_FACTOR = 1.5;
/**
 * Replicas that have kept pace this long (rates.ts keptPaceSeconds: nothing pending at the server,
 * what they hold level within its noise) keep up, however many messages they hold (keepingUp, 2).
 * Two of rates.ts's KEPT_PACE_WINDOW_SECONDS: a buffer that fills shows in one of them.
 */
export const KEPT_PACE_SECONDS = 20;
/**
 * While messages expire before any replica takes them (2c) with the same replicas ready for this
 * long, one more is asked for. Longer than READY_SETTLE_SECONDS, after which rates.ts learns what
 * the replicas take while the limit removes (perReplicaTakenWhileRemoving), so that figure sizes the
 * step when it can, instead of one replica at a time.
 */
export const EXPIRY_GROW_SECONDS = 2 * READY_SETTLE_SECONDS;
/**
 * A stream sent in batches whose backlog runs of the last BACKLOG_RUN_MEMORY_SECONDS (rates.ts
 * recentBacklogRunSeconds: the backlog beyond what the ready replicas can have in hand, reading to
 * reading) all drained within this share of drainWithinSeconds has replicas that absorb its batches:
 * while they are idle at a reading with a low end, they keep up (keepingUp) as for independent
 * messages. See keepingUp.
 */
export const BATCH_DRAIN_SHARE = 0.5;
/**
 * burstSizing keeps no replicas for the next burst through a quiet spell between bursts of at
 * least this many start-ups (the longer of predictive.horizonSeconds and the start-ups measured),
 * only from a start-up and a poll before it is due. Bursts closer than that keep them throughout:
 * taken away and started again within a start-up or two they save little, and the count would
 * rise again while nothing arrives (nats.go Fetch(10) loops, 17/s in 2 s of every 60 s: 5 -> 13
 * with the quiet spell 43 s at 3 measured start-ups of 12 s).
 */
export const BURST_QUIET_STARTUPS = 3;
/** burstSizing counts a stream's mean (rates.ts arrivalMean) once it spans this long. */
export const BURST_MEAN_MIN_SECONDS = 60;
/**
 * How a stream sent in batches (BATCHED_DISPERSION now, or at a reading of the last run: rates.ts
 * lastBurst.batched) is sized for its bursts, from the last backlog run that ended (rates.ts
 * lastBurst) when it drained within drainWithinSeconds, or a start-up more when it ended before the
 * next burst was due (a longer one is a backlog, sized as one): `replicas` drain a burst as large
 * within `targetSeconds` (the latency objective, or BATCH_DRAIN_SHARE of drainWithinSeconds) at
 * what a replica did over it or the figure, whichever is more; while a run lasts (`lasting` seconds
 * so far, under `targetSeconds`), `drainNow` replicas drain what is queued at the figure in the
 * time left. Between runs `keep` says whether those replicas are kept for the next burst now: when
 * bursts came `everySeconds` apart with a quiet spell of BURST_QUIET_STARTUPS start-ups or more
 * between them, from `leadSeconds` (a pod's measured start-up and a poll) before the next is due
 * (`dueInSeconds`) until as long after; else, or before a second burst has timed them, while the
 * arrivals read as batched. `withinDrain` replicas drain one within drainWithinSeconds (or the
 * objective): as many or more there are kept as they are, not raised to `replicas`. Undefined
 * otherwise.
 */
export function burstSizing(
  spec: ScalingSpec,
  rateState: RateState,
  at: number,
  backlog: number,
  perReplica: number | undefined,
  objective: number | undefined,
  startupSeconds: number,
  leadSeconds: number,
):
  | {
      replicas: number;
      messages: number;
      seconds: number;
      targetSeconds: number;
      withinDrain: number;
      keep: boolean;
      everySeconds?: number;
      dueInSeconds?: number;
      lasting?: number;
      drainNow?: number;
    }
  | undefined {
  const last = validLastBurst(rateState.lastBurst);
  const batchedNow = (rateState.arrivalDispersion ?? 1) >= BATCHED_DISPERSION;
  // A run that met too few replicas drains in a start-up and drainWithinSeconds: still a burst (a
  // minute of empty readings between bursts far apart takes the dispersion back to 1, and a burst
  // that came to one replica then drained in 30-40 s: session 34's experiment 60b9d93, where every
  // later burst then went uncapped, 4 -> 36). Not when it lasted as long as bursts came apart
  // (lastBurst.everySeconds), past when the next was due: that is bursts run together, a backlog
  // sized as one (jnats fetch() loops, 17/s in 2 s of every 20 s, read a 31.4 s run of two bursts
  // as one, held the next burst to 7 replicas where 12 were asked, and the backlog left over asked
  // 8 -> 11 later).
  const runTogether =
    last !== undefined && last.everySeconds !== undefined && last.seconds >= last.everySeconds;
  if (
    last === undefined ||
    !(batchedNow || last.batched === true) ||
    last.seconds > spec.drainWithinSeconds + (runTogether ? 0 : startupSeconds) ||
    perReplica === undefined ||
    !(perReplica > 0) ||
    !(last.messages > 0)
  )
    return undefined;
  // The stream's mean beside its bursts, once it spans BURST_MEAN_MIN_SECONDS.
  const arrivalMean = rateState.arrivalMean;
  if (arrivalMean === undefined || !(arrivalMean.seconds >= BURST_MEAN_MIN_SECONDS)) return undefined;
  const mean = arrivalMean.perSecond;
  const targetSeconds = objective ?? BATCH_DRAIN_SHARE * spec.drainWithinSeconds;
  const each = Math.max(perReplica, last.messages / last.replicaSeconds);
  // What the run drained beyond the stream's mean over its length is the burst; the replicas
  // drain it within the target beside that mean.
  const beyondMean = Math.max(0, last.messages - mean * last.seconds);
  const replicas = Math.ceil((beyondMean / targetSeconds + mean) / each);
  // What drains one within drainWithinSeconds (or the latency objective): the replicas there are
  // kept, not raised to `replicas`, while they are at least this many.
  const withinDrain = Math.ceil((beyondMean / (objective ?? spec.drainWithinSeconds) + mean) / each);
  // Kept from a start-up before the next burst is due, so the pods asked for are ready when it
  // comes, until a start-up after it (a burst a little late); not through the quiet spell between
  // bursts far apart (nats.go Fetch(10) loops, 17/s in 2 s of every 120 s, kept 26-28 replicas
  // through every 118 s between bursts on d0dd71a where 1 carries the mean).
  const every = last.everySeconds;
  const timed = every !== undefined && every - last.seconds >= BURST_QUIET_STARTUPS * startupSeconds;
  const dueInSeconds =
    every === undefined ? undefined : (last.endedAt - last.seconds * 1000 + every * 1000 - at) / 1000;
  const notOverdue = dueInSeconds !== undefined && dueInSeconds >= -leadSeconds;
  const keep = timed ? notOverdue && dueInSeconds <= leadSeconds : batchedNow || notOverdue;
  const out = {
    replicas,
    messages: last.messages,
    seconds: last.seconds,
    targetSeconds,
    withinDrain,
    keep,
    ...(timed ? { everySeconds: every, dueInSeconds } : {}),
  };
  // From the first reading that showed the run: the reading before it may be a long poll back (at
  // zero replicas, 10 s), and counted from there what is queued had no time left to drain.
  const runs = rateState.backlogRuns;
  if (typeof runs?.since !== 'number' || !Number.isFinite(runs.since)) return out;
  const seen = typeof runs.seenAt === 'number' && Number.isFinite(runs.seenAt) ? runs.seenAt : runs.since;
  const lasting = Math.max(0, (at - seen) / 1000);
  if (lasting >= targetSeconds) return undefined;
  return { ...out, lasting, drainNow: Math.ceil(backlog / (perReplica * (targetSeconds - lasting))) };
}
/** Panic when the last interval's arrivals reach this multiple of the current replicas' capacity. */
export const PANIC_FACTOR = 2;
/**
 * In panic, drain the expected backlog within this long (or drainWithinSeconds if shorter): the
 * backlog is already as old as a start-up, so the usual 30 s would double the wait of its messages.
 */
export const PANIC_DRAIN_SECONDS = 10;
/** No scale-down for this long after the last panic reading (Knative's stable window). */
export const PANIC_WINDOW_SECONDS = 60;
/**
 * Messages buffered behind a moving ack floor (2f: one replica's buffer older than the rest) are
 * drained within drainWithinSeconds, or within this multiple of the time that replica's handlers
 * alone take for them when that is longer: it drains at its figure less its share of what arrives,
 * so replicas added shorten it only by taking arrivals elsewhere, and a drain at its full pace
 * would need every arrival elsewhere (without bound). At 2 the count asked is at most twice what
 * the arrivals need (each replica's share of arrivals at most half its figure).
 */
export const UNEVEN_DRAIN_FACTOR = 2;
/**
 * 2f takes a pull consumer's buffer behind a moving ack floor as one replica's only when the floor
 * moved at most this multiple of the per-replica figure in each interval (onePacedFloor): that
 * replica works through its buffer one message per completion, at about the figure (the slack: a
 * replica's pace varies around it).
 */
export const UNEVEN_FLOOR_PACE = 1.5;
/**
 * ... over this long (the kept readings): a straggler among concurrent handlers can leave the floor
 * moving slowly for an interval or two before it stops or jumps.
 */
export const UNEVEN_PACE_WINDOW_SECONDS = 10;
/**
 * ... while the replicas completed at least this multiple of what the floor moved: others
 * acknowledge beside the one that holds the oldest (with one replica, or acks out of order, the
 * floor follows what completes).
 */
export const UNEVEN_COMPLETED_OVER_FLOOR = 1.5;
/** Pending must have grown by at least this share of what the arrival excess implies. */
const PANIC_GROWTH_AGREEMENT = 0.5;
/**
 * Zero also waits until the time without activity is longer than ZERO_GAP_FACTOR times the longest
 * pause that activity came back from, among the kept readings (MAX_SAMPLES), within a start-up
 * (predictive.horizonSeconds). A reading sees only what happened since the one before, so with a
 * short cooldown a pause between two batches of a flowing stream looks idle: the policy fuzzer's
 * world 250 (cooldown 0, batches of 100 every ~2 s) went to zero between every two batches, a cold
 * start each time. A one-off burst has no such pause, so its cooldown is unchanged. Three times:
 * the pauses of independent publishers are about exponential, so the longest of a few dozen is
 * often exceeded by half (1.5× still went to zero on an 8 s pause after pauses up to 5 s), and
 * rarely three-fold.
 */
export const ZERO_GAP_FACTOR = 3;
/** Longest poll the decision suggests; the controller polls at min(this suggestion, spec.pollInterval). */
export const MAX_POLL_SECONDS = 300;
export const MAX_RECOMMENDATIONS = 1024;
export const MAX_SCALE_EVENTS = 256;
export const MAX_SAMPLES = 32;

/** A rise counts at once only beyond this many standard deviations of the batches' extra noise. */
export const BATCH_NOISE_SIGMAS = 2;
/**
 * A reading over a shorter interval than this counts a rise only beyond the Poisson noise it has
 * more than a reading over this long (the poll at rest, pollInterval's default): see
 * beyondBatchNoise.
 */
export const RISE_NOISE_REFERENCE_SECONDS = 5;

/**
 * What an interval's arrival rate shows beyond the extra noise of a stream sent in batches: the
 * rate less BATCH_NOISE_SIGMAS standard deviations of the variance that batches add to a Poisson
 * stream of that rate ((D − 1)·rate/t, D the measured dispersion, rates.ts). A stream of
 * independent messages (D = 1) is judged as before. A 1 s interval of a 26.6/s stream sent in
 * batches of 10 holds 2.7 batches on average, and two successive ones held 5.5 and 6 (55 and
 * 60/s) in the policy fuzzer's world 1440, which went to 20 replicas where 17 is the bound.
 * A reading over less than RISE_NOISE_REFERENCE_SECONDS also gives up the Poisson noise it has
 * more than one over that long, one standard deviation of it (√(D·rate)·(1/√t − 1/√5)): read every
 * 1–2 s, a steady 50/s stream showed "rises" of 10–15 % at every other reading, each sized for, and
 * the scale-down window kept the highest of them (make bench-scaling, 2 s polls: replica-seconds
 * +1–2 % on step, spike and recorded; 1 s polls +4–9 %). Over 5 s or more nothing changes; a step
 * still counts nearly whole (400/s over 1 s: 389/s). It only lowers how far a rise counts at once:
 * the smoothed rate still takes every reading in.
 */
export function beyondBatchNoise(rate: number, seconds: number, dispersion = 1): number {
  if (!(seconds > 0)) return rate;
  const batched =
    dispersion >= BATCHED_DISPERSION
      ? Math.max(0, rate - BATCH_NOISE_SIGMAS * Math.sqrt(((dispersion - 1) * rate) / seconds))
      : rate;
  const shortInterval = Math.max(0, 1 / Math.sqrt(seconds) - 1 / Math.sqrt(RISE_NOISE_REFERENCE_SECONDS));
  return Math.max(0, batched - Math.sqrt(Math.max(1, dispersion) * rate) * shortInterval);
}

/** arrivalEnded: how many standard deviations below the smoothed rate the last interval must be. */
export const ENDED_SIGMAS = 3;
/**
 * arrivalEnded: the least an interval holds at the smoothed rate for its emptiness to tell an end.
 * Below it the stream's batches can be most of it before their dispersion is measured: a first
 * clump of 10 read as 5/s over 2 s, then an empty 2 s, read as ended (handlers-in-hand.test's
 * nats.js consume() ×64 in clumps of 10), and the trajectory after went 1 -> 7 where 2 carry it.
 */
export const ENDED_MIN_MESSAGES = 20;
/**
 * An arrival seen to have ended: the last interval (`seconds` long) brought no more than
 * 1 / PANIC_FACTOR of the smoothed rate before it, and less than that rate by more than
 * ENDED_SIGMAS standard deviations of what an interval that long holds at it (a stream sent in
 * batches, `dispersion` D: D times the Poisson variance), the interval holding at least
 * ENDED_MIN_MESSAGES at that rate. A burst that stopped reads so at the first reading after it, a
 * step that lasts never, and a steady stream read every second in at most 0.05 % of its readings
 * (20/s: 6 or fewer arrive; below 20/s, or in batches too coarse for the interval, never:
 * first-bursts.test).
 */
export function arrivalEnded(
  smoothed: number,
  lastInterval: number,
  seconds: number,
  dispersion = 1,
): boolean {
  if (
    !(seconds >= MIN_INTERVAL_SECONDS) ||
    !(smoothed * seconds >= ENDED_MIN_MESSAGES) ||
    !(lastInterval >= 0)
  )
    return false;
  const noise = Math.sqrt((Math.max(1, dispersion) * smoothed) / seconds);
  return lastInterval <= smoothed / PANIC_FACTOR && lastInterval < smoothed - ENDED_SIGMAS * noise;
}

export function emptyHistory(): ScalingHistory {
  return { recommendations: [], scaleEvents: [], samples: [] };
}

function wholeNonNegative(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n % 1 === 0 ? 0 : 1);
}

/**
 * Messages per second that drain what is pending and the start-up pile-up in time: the pile-up,
 * and as much of what is pending (the oldest, which will have waited a start-up more by the time
 * new pods consume), within PANIC_DRAIN_SECONDS (or drainWithin if shorter); the rest of what is
 * pending within drainWithin. Continuous in the pile-up: on a step the pile-up dwarfs what is
 * pending and all of it drains fast (the step trace's p99, see the rate term), while a pile-up of
 * a few messages rushes only a few. Before, any pile-up of a message or more switched all that was
 * pending to the fast drain: 109 messages piling up took draining 373 pending from 120 s to 10 s,
 * and the policy fuzzer's world 9421 asked for 33 replicas where 32 was the bound.
 */
export function drainPerSecond(pending: number, startupBacklog: number, drainWithinSeconds: number): number {
  const fast = Math.min(pending, startupBacklog);
  return (
    (startupBacklog + fast) / Math.min(PANIC_DRAIN_SECONDS, drainWithinSeconds) +
    (pending - fast) / drainWithinSeconds
  );
}

/** One interval's arrivals as decide() keeps them (history.arrivals). */
export interface ArrivalInterval {
  /** End of the interval (ms, the clock of `now`). */
  at: number;
  seconds: number;
  perSecond: number;
}

/** The rate of the last start-up is read over at least this many seconds of intervals. */
export const STARTUP_MEAN_MIN_SECONDS = 30;
/** At most this many intervals are kept (history.arrivals): a long start-up's worth at 1 s polls. */
export const MAX_ARRIVAL_INTERVALS = 128;

/** The kept intervals, dropping anything that is not one (history comes back from the caller). */
export function asArrivalTrail(value: unknown): ArrivalInterval[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (v): v is ArrivalInterval =>
      typeof v === 'object' &&
      v !== null &&
      Number.isFinite((v as ArrivalInterval).at) &&
      Number.isFinite((v as ArrivalInterval).seconds) &&
      (v as ArrivalInterval).seconds > 0 &&
      Number.isFinite((v as ArrivalInterval).perSecond) &&
      (v as ArrivalInterval).perSecond >= 0,
  );
}

/**
 * The mean arrival rate over the intervals that ended within the last `spanSeconds` before `now`
 * (each counted for its length); undefined while they cover less than half of that span.
 */
export function meanArrivalSince(
  trail: readonly ArrivalInterval[],
  now: number,
  spanSeconds: number,
): number | undefined {
  let seconds = 0;
  let messages = 0;
  for (const i of trail) {
    if (i.at <= now - spanSeconds * 1000 || i.at > now) continue;
    seconds += i.seconds;
    messages += i.perSecond * i.seconds;
  }
  return seconds > 0 && seconds >= spanSeconds / 2 ? messages / seconds : undefined;
}

/** Replicas needed for `needed` units of work at `perReplica` each, honouring the tolerance. */
function withTolerance(needed: number, perReplica: number, currentReplicas: number): number {
  if (currentReplicas > 0) {
    const ratio = needed / (currentReplicas * perReplica);
    if (Math.abs(1 - ratio) <= TOLERANCE) return currentReplicas;
  }
  return Math.ceil(needed / perReplica);
}

/**
 * Messages delivered between two readings (redeliveries included). A consumer recreated in between
 * restarts its sequences: any change then counts as at least one delivery.
 */
function deliveriesBetween(before: BacklogSample, after: BacklogSample): number {
  const consumerSeq = after.deliveredConsumerSeq - before.deliveredConsumerSeq;
  if (consumerSeq > 0) return consumerSeq;
  return consumerSeq < 0 || after.deliveredStreamSeq !== before.deliveredStreamSeq ? 1 : 0;
}

/**
 * The longest stretch between two readings with activity (anything pending or awaiting ack, or a
 * delivery since the reading before) among `samples`, in seconds, counting only stretches up to
 * `startupSeconds`: a pause that activity came back from within about a pod's start-up, so going to
 * zero for it would only have bought a cold start. Sparse traffic (a message every few minutes)
 * still goes to zero between messages after its cooldown. 0 when there is none.
 */
function longestResumedGapSeconds(samples: readonly BacklogSample[], startupSeconds: number): number {
  let lastActive: number | undefined;
  let longest = 0;
  samples.forEach((s, i) => {
    const before = samples[i - 1];
    const activeHere =
      Math.max(0, s.pending) + Math.max(0, s.ackPending) > 0 ||
      (before !== undefined && deliveriesBetween(before, s) > 0);
    if (!activeHere) return;
    const gap = lastActive === undefined ? 0 : (s.at - lastActive) / 1000;
    if (gap <= startupSeconds) longest = Math.max(longest, gap);
    lastActive = s.at;
  });
  return longest;
}

/** What a user does about a max_ack_pending cap, measured or tried for (one sentence). */
const RAISE_OR_ACCEPT =
  'To let more replicas work, raise max_ack_pending on the consumer with nats consumer edit <stream> <consumer> --max-pending <n>; to accept the cap, set spec.inFlightPerReplica to what a replica works on at once: max_ack_pending ÷ it then caps the replicas, and no smaller count is tried';

/**
 * The replicas max_ack_pending lets work in parallel, when known to bind. Always: no more replicas
 * than max_ack_pending, since at most that many messages are in flight and a replica with nothing
 * in hand does nothing (the server hands each freed slot to the next waiting pull request in turn,
 * so up to that many replicas do all get work: measured, see test/pull-clients.ts). Fewer when the
 * user's inFlightPerReplica says so, or when measured (more replicas did not raise processing
 * while it was full). The smallest applies. Undefined when max_ack_pending is unlimited.
 */
function maxAckPendingCap(
  spec: ScalingSpec,
  sample: BacklogSample,
  rateState: RateState,
  current: number,
  now: number,
): MaxAckPendingCap | undefined {
  const limit = sample.maxAckPending;
  if (!(limit > 0)) return undefined;
  let cap: MaxAckPendingCap = {
    replicas: Math.max(1, Math.floor(limit)),
    source: 'Slots',
    evidence: `at most ${fmt(limit)} messages await ack at once, so no more than ${fmt(limit)} replicas can have one in hand`,
  };
  if (spec.inFlightPerReplica !== undefined && spec.inFlightPerReplica > 0) {
    const replicas = Math.max(1, Math.ceil(limit / spec.inFlightPerReplica));
    if (replicas < cap.replicas)
      cap = {
        replicas,
        source: 'InFlightPerReplica',
        evidence: `spec.inFlightPerReplica ${fmt(spec.inFlightPerReplica)} lets ${replicas} replicas work at once`,
      };
    return cap;
  }
  const binding = maxAckPendingBinding(rateState, limit, now);
  // Records carried over from an earlier process's status hold the replicas from rising above the
  // cap they show, never below the count there is (a status is input from outside).
  const carried = binding !== undefined && (binding.fewer.carried === true || binding.more.carried === true);
  const replicas =
    binding === undefined
      ? undefined
      : carried
        ? Math.max(binding.fewer.replicas, current)
        : binding.fewer.replicas;
  if (binding !== undefined && replicas !== undefined && replicas < cap.replicas) {
    const { fewer, more } = binding;
    cap = {
      replicas,
      source: 'Measured',
      evidence: `while it was full, ${more.replicas} replicas processed ${fmt(more.perSecond)}/s and then ${fewer.replicas} processed ${fmt(fewer.perSecond)}/s${carried ? ' (carried over from status)' : ''}, so more replicas do not help: the ${fmt(limit)} messages it lets await ack at once bound processing. ${RAISE_OR_ACCEPT}`,
    };
  }
  return cap;
}

/**
 * The at-cap probe state an earlier process had (ScalingInput.carriedAtCap), for a history that has
 * none: when its last probe started (so probes stay PROBE_GAP_SECONDS apart over a restart), and the
 * probe under way, only at this reading's limit and when the replicas are already at its count or
 * fewer (a carried probe never lowers them). Times after `now` count as now.
 */
function carriedAtCapProbe(
  carried: ScalingInput['carriedAtCap'],
  sample: BacklogSample,
  current: number,
  now: number,
): ReturnType<typeof asAtCapProbeState> {
  if (carried === undefined || carried.maxAckPending !== sample.maxAckPending) return undefined;
  const probe = carried.probe;
  return asAtCapProbeState({
    ...(carried.probeStartedAt !== undefined ? { startedAt: Math.min(carried.probeStartedAt, now) } : {}),
    ...(probe !== undefined && current <= probe.to
      ? { active: { ...probe, since: Math.min(probe.since, now), maxAckPending: sample.maxAckPending } }
      : {}),
  });
}

/** The clause of a probe's cap (at-cap-probe.ts): what was seen at the count it comes from, and what it tries. */
function probeEvidence(probe: AtCapProbe, rateState: RateState, ready: number, now: number): string {
  const from = rateState.atCap?.throughput.find((e) => e.replicas === probe.from);
  const seen =
    from === undefined
      ? `while it was full with work waiting, ${probe.from} replicas`
      : `while it was full with work waiting, ${probe.from} replicas processed ${fmt(from.perSecond)}/s`;
  // A count a climb read before the count in place (rates.ts climbBinding) is read again, or as
  // near it as the scale-down rules allow.
  const before = (rateState.atCap?.throughput ?? [])
    .filter((e) => e.replicas <= probe.to && e.at <= probe.since)
    .at(-1);
  const fewer =
    before === undefined
      ? `and no fewer were measured, so ${probe.to} are tried`
      : `and ${before.replicas} processed ${fmt(before.perSecond)}/s only before them, so ${probe.to} are tried ${before.replicas === probe.to ? 'again' : '(as few as the scale-down rules allow, or half, at their pace)'}`;
  // On the way down at the scale-down rules' pace its seconds start again at each fall (at-cap-probe.ts).
  const left =
    ready > probe.to
      ? `, taken there at the pace the scale-down rules allow, and for up to ${fmt(PROBE_MAX_SECONDS)}s once there`
      : ` for up to ${fmt(Math.max(0, PROBE_MAX_SECONDS - (now - probeClockStart(probe, rateState, ready)) / 1000))}s more`;
  return `${seen} ${fewer}${left}: if they process as much, more replicas do not help and it caps there; if they fall behind, or leave room under it, the replicas go back at once. ${RAISE_OR_ACCEPT}`;
}

/** Messages awaiting ack that wait in the clients' buffers (2f), and how that was reckoned. */
interface Buffered {
  /** Awaiting ack beyond `inHand`. */
  messages: number;
  /** What the ready replicas can be handling at once. */
  inHand: number;
  /** Where the per-replica in-hand figure came from, as a clause. */
  why: string;
  /**
   * Not the newest deliveries but behind an ack floor that moves (one replica's buffer older than
   * the others': it took them alone), with no redelivery in the interval: drained at one
   * replica's pace (unevenDrain), not at the replicas' total spare capacity. The span from the
   * floor to the last delivery.
   */
  unevenSpan?: number;
}

/** What the ready replicas have in their handlers' hands (2f), and how that was reckoned. */
interface InHand {
  /** What the ready replicas can be handling at once: the larger of `counted` and what a change of count showed. */
  messages: number;
  /** What they can be handling at once by the per-replica in-hand figure (at least one each). */
  counted: number;
  /** Where the per-replica in-hand figure came from, as a clause. */
  why: string;
  /** Beyond one a replica: the user said so, a handling time measured it, or a change of count showed it. */
  many: boolean;
  /** Behind an ack floor that moves: the span from the floor to the last delivery (Buffered.unevenSpan). */
  unevenSpan?: number;
}

/**
 * What the ready replicas can be handling of what awaits ack (2f): spec.inFlightPerReplica each
 * when the user set it; otherwise the figure times the handling time measured, at least one each,
 * or what a change of count showed in hand (rates.ts handlersInHand). Undefined when what awaits
 * ack is not known to be worked through (see the header): replicas stalled, handlers failing, the
 * consumer paused, or the messages held not the newest deliveries (HELD_SHARE_OF_UNACKED_SPAN:
 * messages waiting for a redelivery are scattered behind the ack floor, and no replica has them in
 * hand).
 */
function inHandAwaitingAck(
  spec: ScalingSpec,
  sample: BacklogSample,
  rateState: RateState,
  previous: RateState['last'] | undefined,
  ready: number,
  perReplica: number | undefined,
  stalled: boolean,
  samples: readonly BacklogSample[],
): InHand | undefined {
  const ackPending = Math.max(0, sample.ackPending);
  if (
    !(ackPending > 0) ||
    ready <= 0 ||
    stalled ||
    rateState.failingSince !== undefined ||
    sample.paused === true
  )
    return undefined;
  const unackedSpan = sample.deliveredConsumerSeq - sample.ackFloorConsumerSeq;
  // ackPending > 0 here: the sample's own count.
  const behind = !heldAreNewest(sample);
  if (behind && !unevenBuffers(sample, previous)) return undefined;
  // Worked through behind a moving floor, but one replica's buffer only on a push consumer whose
  // floor has moved in every interval of the window (floorOverWindow), or on a pull consumer while
  // every ready replica asks for more and the floor has moved at one replica's pace while the
  // others completed more (onePacedFloor); otherwise what awaits ack is spread over replicas that
  // progress unevenly (fetch loops, out-of-order acks), drained as evenly as the newest deliveries are.
  const floor = behind ? floorOverWindow(samples, sample, perReplica) : undefined;
  const uneven =
    floor !== undefined && (sample.push === true || (sample.waiting >= ready && onePacedFloor(floor)));
  // Read back from history: anything but a finite number ≥ 0 is none.
  const h: unknown = rateState.handlingSeconds;
  const handling = typeof h === 'number' && Number.isFinite(h) && h >= 0 ? h : undefined;
  const measured =
    handling !== undefined && perReplica !== undefined && Number.isFinite(perReplica) && perReplica > 0
      ? perReplica * handling
      : 0;
  const userSet = spec.inFlightPerReplica !== undefined && spec.inFlightPerReplica > 0;
  const perReplicaInHand = userSet ? (spec.inFlightPerReplica ?? 1) : Math.max(1, measured);
  // Behind a moving floor the replicas beside the old buffer are not saturated: what they all have
  // in hand is what they complete times the time one is in hand (Little's law), not a full hand
  // each. Counted a full hand each, 8 replicas of 50 at once "had" the 350 awaiting ack in hand
  // while one of them held 100 behind its 50, and the count flapped 5 <-> 8 as replicas came and went.
  const completing = rateState.processingPerSecond;
  const inHand =
    uneven &&
    perReplica !== undefined &&
    perReplica > 0 &&
    completing !== undefined &&
    Number.isFinite(completing) &&
    completing >= 0
      ? Math.min(ready * perReplicaInHand, (completing * perReplicaInHand) / perReplica)
      : ready * perReplicaInHand;
  // Shown in the handlers' hands (rates.ts handlersInHand: a scale-up did not shorten the time a
  // message is held): what the replicas complete times that time (Little's law), whatever their
  // count, beside the noise of a count of messages held (IN_HAND_NOISE_SIGMAS, a Poisson count's
  // times the arrivals' dispersion). Not behind a moving floor: a buffer older than the rest. Nor
  // while work waits at the server: the hands are full then, and what 2f drains beyond one a
  // replica is headroom the rate term lacks at its edge (the bench's recorded trace, seed 1: 5
  // replicas of 10 at once holding 50 with 7-21 pending, "109/s arriving at 25.0/s per replica
  // needs 5", p99 2.20 -> 2.68 s when they were counted in hand).
  const shown =
    userSet || behind || sample.pending > 0 ? undefined : validHandlersInHand(rateState.handlersInHand);
  const shownInHand = shownInHandMessages(shown, completing, rateState.arrivalDispersion);
  const each = userSet
    ? `spec.inFlightPerReplica ${fmt(perReplicaInHand)} each`
    : measured > 1
      ? `${fmt(perReplicaInHand)} each, ${fmt(perReplica ?? 0)}/s for the ${fmt(handling ?? 0)}s a message was held while nothing waited for them`
      : 'one each, as a client hands its handler one message at a time';
  const why =
    inHand < ready * perReplicaInHand
      ? `the ${fmt(completing ?? 0)}/s they complete times the ${fmt(perReplicaInHand / (perReplica ?? 1))}s one is in hand, at ${each}`
      : each;
  const messages = Math.max(inHand, shownInHand);
  return {
    messages,
    counted: inHand,
    why,
    many: messages > ready,
    ...(uneven ? { unevenSpan: unackedSpan } : {}),
  };
}

/**
 * What awaits ack beyond what the ready replicas can be handling (2f): messages a prefetching
 * client holds in its buffer, or a push consumer's subscribers were sent, waiting for the one
 * handler of their replica. Undefined when none, or when what awaits ack is not known to be
 * worked through (inHandAwaitingAck).
 */
function bufferedAwaitingAck(ackPending: number, inHand: InHand | undefined): Buffered | undefined {
  if (inHand === undefined) return undefined;
  const messages = Math.floor(Math.max(0, ackPending) - inHand.messages);
  if (!(messages > 0)) return undefined;
  return {
    messages,
    inHand: inHand.counted,
    why: inHand.why,
    ...(inHand.unevenSpan !== undefined ? { unevenSpan: inHand.unevenSpan } : {}),
  };
}

/**
 * The reason's clause for held messages shown to be in the handlers' hands (rates.ts
 * handlersInHand), while the replicas hold more than one each and 2f counts none of it buffered:
 * what showed it, and the setting that says it (spec.inFlightPerReplica). Empty otherwise.
 */
function handlersInHandClause(
  spec: ScalingSpec,
  rateState: RateState,
  ackPending: number,
  ready: number,
  buffered: Buffered | undefined,
): string {
  if (spec.inFlightPerReplica !== undefined && spec.inFlightPerReplica > 0) return '';
  const shown = validHandlersInHand(rateState.handlersInHand);
  if (shown === undefined || buffered !== undefined || !(ackPending > ready)) return '';
  return `; the ${fmt(ackPending)} awaiting ack are in the handlers' hands, not queued (HandlersConcurrent): with ${shown.from} ready replicas and with ${shown.to} a message was held ${fmt(shown.seconds)}s and as many were completed, so the handlers work on many at once, about ${fmt(shown.perReplica)} a replica at ${Math.min(shown.from, shown.to)}; set spec.inFlightPerReplica to how many each works on at once (at least ${fmt(shown.perReplica)}) to size by it`;
}

/**
 * What awaits ack is not the newest deliveries (HELD_SHARE_OF_UNACKED_SPAN), yet is worked through
 * in order: the ack floor moved since the interval's start, nothing was redelivered in it (the
 * consumer and stream sequences moved together on an unfiltered consumer, and num_redelivered is
 * 0 at both ends) and nothing awaits a redelivery. That is one replica's buffer older than the
 * others' — a push consumer's subscriber sent up to max_ack_pending while it ran alone, a
 * prefetching client's batch taken before the other replicas started — drained at that replica's
 * pace while the others acknowledge what arrives after it. Messages waiting out a redelivery
 * delay (nak'd, ack_wait expired) or a hung handler's buffer pin the floor, or come with
 * redeliveries; the pull-clients model before session 28 kept the floor at delivered − ackPending
 * and never showed this, a real server does (and so does the fuzz world's model).
 */
export function unevenBuffers(
  sample: BacklogSample,
  previous:
    | Pick<
        RateState['last'],
        'ackFloorConsumerSeq' | 'deliveredConsumerSeq' | 'deliveredStreamSeq' | 'redelivered'
      >
    | undefined,
): boolean {
  if (previous === undefined || sample.filtered === true) return false;
  const floorBefore = previous.ackFloorConsumerSeq;
  const streamBefore = previous.deliveredStreamSeq;
  if (floorBefore === undefined || streamBefore === undefined) return false;
  const deliveries = sample.deliveredConsumerSeq - previous.deliveredConsumerSeq;
  const newDeliveries = sample.deliveredStreamSeq - streamBefore;
  return (
    sample.ackFloorConsumerSeq > floorBefore &&
    deliveries >= 0 &&
    deliveries === newDeliveries &&
    sample.redelivered === 0 &&
    (previous.redelivered ?? 0) === 0
  );
}

/** How the ack floor moved over the last UNEVEN_PACE_WINDOW_SECONDS of kept readings (floorOverWindow). */
export interface FloorWindow {
  seconds: number;
  /** How far the floor moved, in consumer sequences. */
  floorMoved: number;
  /** What the replicas completed (delivered less awaiting ack). */
  completed: number;
  /** In every interval it moved at most UNEVEN_FLOOR_PACE times the per-replica figure (and one message). */
  paced: boolean;
}

/**
 * The ack floor over UNEVEN_PACE_WINDOW_SECONDS of the kept readings before `sample` (oldest
 * first), when it moved in every interval long enough for one replica to complete two at the
 * per-replica figure: a replica working through a buffer in order moves it at each completion.
 * Undefined otherwise: no figure, too few readings, a counter that went back, or an interval in
 * which the floor stood still — concurrent handlers that acknowledge out of order leave it pinned
 * at a straggler while the others complete, then it jumps (uneven-buffers.test: a push deliver
 * group of 50 async handlers a member, read as one replica's buffer on main 6099f6b, 10 <-> 16
 * replicas where the figure's even count is 10).
 */
export function floorOverWindow(
  samples: readonly BacklogSample[],
  sample: BacklogSample,
  perReplica: number | undefined,
): FloorWindow | undefined {
  if (perReplica === undefined || !Number.isFinite(perReplica) || !(perReplica > 0)) return undefined;
  let later = sample;
  let seconds = 0;
  let floorMoved = 0;
  let completed = 0;
  let paced = true;
  for (let i = samples.length - 1; i >= 0 && seconds < UNEVEN_PACE_WINDOW_SECONDS; i--) {
    const before = samples[i];
    if (before === undefined) return undefined;
    const dt = readingInterval(before, later).seconds;
    const moved = later.ackFloorConsumerSeq - before.ackFloorConsumerSeq;
    const done =
      later.deliveredConsumerSeq - later.ackPending - (before.deliveredConsumerSeq - before.ackPending);
    if (
      !(dt > 0) ||
      !(moved >= 0) ||
      !(done >= 0) ||
      later.deliveredConsumerSeq < before.deliveredConsumerSeq ||
      (moved === 0 && perReplica * dt >= 2)
    )
      return undefined;
    if (moved > UNEVEN_FLOOR_PACE * perReplica * dt + 1) paced = false;
    seconds += dt;
    floorMoved += moved;
    completed += done;
    later = before;
  }
  return seconds >= UNEVEN_PACE_WINDOW_SECONDS && floorMoved > 0
    ? { seconds, floorMoved, completed, paced }
    : undefined;
}

/**
 * A pull consumer's ack floor has moved at one replica's pace over the window (floorOverWindow): in
 * every interval, never by more than UNEVEN_FLOOR_PACE times the per-replica figure (and one
 * message), while the replicas completed at least UNEVEN_COMPLETED_OVER_FLOOR times what it moved.
 * The oldest message awaiting ack is then in one replica's buffer, which it works through in
 * order, one message per completion, while the others acknowledge what was delivered after it (a
 * prefetching client's batch taken before the others started). Replicas that progress unevenly
 * (nats.js fetch() loops while pods start, the policy fuzzer's world 2693) or concurrent handlers
 * that acknowledge out of order (a slow one pins the floor, then it jumps) leave the floor behind
 * too, but it follows what all of them complete, in jumps and stops: world 2693 at 1136.7 s moved it
 * 102 in 1 s for 123 completions, where one replica does 5/s, and sized for one replica's pace that
 * asked 35 -> 46 (bound 36). Not for a push consumer: a deliver group sends each member its share
 * in turn, so past the block one member took alone, its buffer's messages lie between the others'
 * (already acknowledged) and the floor moves at its pace times the members
 * (buffered-awaiting-ack.test's push subscriber: 320 a 2 s reading for one member's 20/s).
 */
export function onePacedFloor(floor: FloorWindow): boolean {
  return floor.paced && floor.completed >= UNEVEN_COMPLETED_OVER_FLOOR * floor.floorMoved;
}

/**
 * Replicas that drain `messages` held by one replica (2f, Buffered.unevenSpan) within the drain
 * time, when `arrival` is shared among them and each does `perReplica`: that replica does its
 * figure less its share, arrival ÷ replicas. The time is drainWithinSeconds, or
 * UNEVEN_DRAIN_FACTOR times what its handlers alone take when longer (no count drains it sooner
 * than they do).
 */
function unevenDrain(
  arrival: number,
  perReplica: number,
  messages: number,
  drainSeconds: number,
): { capacity: number; seconds: number } {
  const seconds = Math.max(drainSeconds, (UNEVEN_DRAIN_FACTOR * messages) / perReplica);
  const spare = perReplica - messages / seconds;
  return { capacity: (Math.max(0, arrival) / spare) * perReplica, seconds };
}

/** Why no per-replica capacity can be learnt from this consumer's readings, as a clause ('' when it can). */
function unlearntCapacity(sample: ScalingInput['sample']): string {
  if (sample.ackNone === true)
    return ' (no per-replica capacity is learnt with ack_policy none: the server counts a delivery as done, whether or not a handler reached it)';
  const drops = sample.deliveryDrops;
  if (sample.maxDeliver === 1 && drops !== undefined && 'unknown' in drops)
    return ` (no per-replica capacity is learnt: with max_deliver 1 a message whose ack_wait ran out is dropped and reads as acknowledged, and drops are not counted: ${drops.unknown})`;
  const limits = sample.limitRemovals?.limits;
  if (limits?.msgTtl === true)
    return ' (no per-replica capacity is learnt: on a WorkQueue or Interest stream with per-message TTLs a held message that expires reads as acknowledged, and nothing read bounds when one does)';
  if (limits !== undefined)
    return ` (a per-replica capacity is learnt only from intervals in which the stream's ${[
      limits.maxAgeSeconds !== undefined ? `max_age ${fmt(limits.maxAgeSeconds)}s` : '',
      limits.maxMsgs !== undefined ? `max_msgs ${fmt(limits.maxMsgs)}` : '',
      limits.maxBytes !== undefined ? `max_bytes ${fmt(limits.maxBytes)}` : '',
      limits.maxMsgsPerSubject !== undefined ? `max_msgs_per_subject ${fmt(limits.maxMsgsPerSubject)}` : '',
    ]
      .filter((t) => t !== '')
      .join(
        ', ',
      )} could not remove a message: on a WorkQueue or Interest stream a held message it removes reads as acknowledged)`;
  return '';
}

/** What makes pull requests refuse a backlog, and what to change (ScalingLimited=BacklogRefused). */
const REFUSAL_CAUSES =
  "Likely causes: overflow clients pulling with min_pending above num_pending, or with min_ack_pending above num_ack_pending (priority_policy overflow); a pull whose max_bytes is below the message size; a pinned_client group whose pinned client stopped pulling. To have it drained, lower the clients' min_pending or min_ack_pending, raise max_bytes, or unpin (nats consumer unpin)";
const REFUSAL_CAUSES_SHORT = 'e.g. overflow clients pulling with min_pending above num_pending';

export function decide(input: ScalingInput): ScalingDecision {
  const { spec, sample, now, history } = input;
  const current = wholeNonNegative(input.currentReplicas);
  const ready = wholeNonNegative(input.readyReplicas ?? input.currentReplicas);
  // A consumer on a mirror or a sourced stream: what the stream has still to copy from its origin
  // is work for the replicas as much as what it holds (5). Counted as pending.
  const upstream = sample.upstream;
  const lagUnknown = upstream !== undefined && 'unknown' in upstream ? upstream.unknown : undefined;
  const read = backlogOf(sample);
  const upstreamLag = read.upstreamLag ?? 0;
  const pending = read.pending + upstreamLag;
  const ackPending = read.ackPending;
  const backlog = read.total;
  const maxReplicas = Math.max(1, wholeNonNegative(spec.maxReplicas));
  const minReplicas = Math.min(wholeNonNegative(spec.minReplicas), maxReplicas);
  const backlogPerReplica = spec.backlogPerReplica > 0 ? spec.backlogPerReplica : 1;

  // Rates and forecast.
  const previousRates = asRateState(history.rates);
  // Without a ready count, replicas asked for count as ready at once: capacity readings wait until a
  // new count has had about a start-up's time (predictive.horizonSeconds) to come up, so pods still
  // starting (or still finishing after a scale-down) do not bend the per-replica figure.
  const rateState = observeRates(previousRates, sample, ready, {
    settleSeconds:
      input.readyReplicas === undefined ? Math.max(READY_SETTLE_SECONDS, spec.predictive.horizonSeconds) : 0,
    askedReplicas: current,
    ...(input.carriedPerReplicaPerSecond !== undefined
      ? { carriedPerReplicaPerSecond: input.carriedPerReplicaPerSecond }
      : {}),
    ...(input.carriedPerReplicaLowEndOnly === true ? { carriedPerReplicaLowEndOnly: true } : {}),
    ...(input.carriedPerReplicaLowEndHeld === true ? { carriedPerReplicaLowEndHeld: true } : {}),
    ...(input.carriedHandlersInHand !== undefined
      ? { carriedHandlersInHand: input.carriedHandlersInHand }
      : {}),
    ...(input.carriedHandlersFailing !== undefined
      ? { carriedHandlersFailing: input.carriedHandlersFailing }
      : {}),
    ...(input.carriedAtCap?.records !== undefined
      ? {
          carriedAtCap: {
            maxAckPending: input.carriedAtCap.maxAckPending,
            records: input.carriedAtCap.records,
          },
        }
      : {}),
    ...(input.carriedHandlersSlowerThanMaxAge !== undefined
      ? { carriedBeyondMaxAge: input.carriedHandlersSlowerThanMaxAge }
      : {}),
    ...(spec.inFlightPerReplica !== undefined ? { inFlightPerReplica: spec.inFlightPerReplica } : {}),
  });
  const rates = ratesOf(rateState);
  // Readiness: only when the target reports it (a /scale subresource alone does not).
  let readinessState: ReadinessState | undefined;
  let readiness: ReadinessReport | undefined;
  if (input.readyReplicas !== undefined) {
    const previousReadiness =
      asReadinessState(history.readiness) ??
      carriedReadiness(input.carriedReplicasOverdue, now, spec.readinessDeadlineSeconds ?? 0);
    ({ state: readinessState, report: readiness } = observeReadiness(previousReadiness, {
      now,
      asked: current,
      ready,
      ...(input.rollout === undefined ? {} : { rollout: input.rollout }),
      deadlineSeconds: spec.readinessDeadlineSeconds ?? 0,
    }));
  }
  let forecastState: ForecastState | undefined;
  let forecast: ForecastResult | undefined;
  if (spec.predictive.enabled) {
    forecastState = asForecastState(history.forecast);
    const interval = rateState.lastIntervalArrivalPerSecond;
    if (rateState !== previousRates && rateState.resetAt === undefined && interval !== undefined) {
      forecastState = observeArrival(forecastState, spec.predictive, sample.at, interval);
    }
    if (forecastState !== undefined) forecast = forecastArrival(forecastState, spec.predictive);
  }
  // Recurring load (seasonality.ts), found in the history itself: what the last two cycles saw
  // one horizon from now.
  let seasonalityState: SeasonalityState | undefined;
  let recurring: number | undefined;
  if (spec.predictive.enabled) {
    seasonalityState = asSeasonalityState(history.seasonality);
    const interval = rateState.lastIntervalArrivalPerSecond;
    if (
      previousRates !== undefined &&
      rateState !== previousRates &&
      rateState.resetAt === undefined &&
      interval !== undefined
    ) {
      seasonalityState = observeSeasonality(seasonalityState, previousRates.last.at, sample.at, interval);
    }
    if (seasonalityState !== undefined)
      recurring = expectedRate(seasonalityState, sample.at + spec.predictive.horizonSeconds * 1000);
  }

  // The arrival rate of each recent interval (meanArrivalSince), this one's included; a reset (a
  // consumer recreated) starts it again.
  const arrivalTrail = rateState.resetAt !== undefined ? [] : asArrivalTrail(history.arrivals);
  if (
    rateState !== previousRates &&
    rateState.resetAt === undefined &&
    rateState.lastIntervalArrivalPerSecond !== undefined &&
    (rateState.lastIntervalSeconds ?? 0) > 0
  ) {
    arrivalTrail.push({
      at: sample.at,
      seconds: rateState.lastIntervalSeconds ?? 0,
      perSecond: rateState.lastIntervalArrivalPerSecond,
    });
  }
  // How long a pod asked for now takes to consume: predictive.horizonSeconds, or the longest of the
  // recent start-ups the target's ready count showed when longer (readiness.ts). A 120 s latency
  // objective with pods that took 60 s against the 30 s horizon let the queue fill to what the
  // objective allows before asking for pods, which came a start-up later with the queue past it:
  // 121 s of wait (the policy fuzzer's worlds 9899 and 10726).
  const startupSeconds = Math.max(spec.predictive.horizonSeconds, readiness?.startupSeconds ?? 0);

  // Activity: anything pending or awaiting ack, or any delivery since the previous reading, keeps
  // the consumer awake. Deliveries do not activate from zero (no replica of ours consumed them).
  const previousSample = history.samples.at(-1);
  // Pull requests that wait at the server with messages pending and room under max_ack_pending, and
  // take none of them (refused-backlog.ts: min_pending on overflow groups, a pull's max_bytes below
  // the message size, a pinned client). More replicas that pull the same way would take none
  // either. So no replicas are added for that backlog, and its pending messages are left out of the
  // sizing: the replicas go to what carries the arrivals and what awaits ack (3e). A run shorter
  // than an interval (a first reading) is not confirmed yet. It adds no replicas until the next
  // reading, which comes at once, shows deliveries or confirms it.
  const refusal = backlogRefusal(history.samples, sample);
  // A standing backlog (overflow clients given a message each time num_pending reaches their
  // min_pending, while messages keep arriving): the level the requests hold back is left out, and
  // the rest, with the arrivals, is sized as usual.
  const refusedPending =
    refusal?.state === 'refused'
      ? Math.max(0, sample.pending)
      : refusal?.state === 'standing'
        ? Math.max(0, Math.min(sample.pending, refusal.level))
        : 0;
  const sizedPending = pending - refusedPending;
  const sizedBacklog = backlog - refusedPending;
  const refusalLimit: ScalingLimit = refusal?.state === 'refused' ? 'BacklogRefused' : 'BacklogUnconfirmed';
  const deliveries = previousSample === undefined ? 0 : deliveriesBetween(previousSample, sample);
  const active = backlog > spec.activationBacklog || ackPending > 0 || (current > 0 && deliveries > 0);
  // Active until the latest moment the reading may show: its snapshot is somewhere in its round trip
  // (stamped when sent), so the cooldown to zero counts from the reply, not from the request.
  const roundTripMs = Number.isFinite(sample.roundTripMs) ? Math.max(0, sample.roundTripMs ?? 0) : 0;
  const lastActiveAt =
    backlog > 0 || deliveries > 0 ? Math.max(now, sample.at + roundTripMs) : (history.lastActiveAt ?? now);
  const pendingText =
    upstreamLag > 0 && upstream !== undefined && 'lag' in upstream
      ? `${fmt(pending)} pending, of which ${fmt(upstreamLag)} not yet copied from the ${upstream.from}`
      : `${fmt(pending)} pending`;
  const backlogText = `backlog ${fmt(backlog)} (${pendingText}, ${fmt(ackPending)} awaiting ack)`;
  const activity: ScalingDecision['activity'] =
    backlog > spec.activationBacklog
      ? {
          reason: 'BacklogAboveActivation',
          message: `${backlogText} is above activationBacklog ${fmt(spec.activationBacklog)}`,
        }
      : ackPending > 0
        ? { reason: 'AwaitingAck', message: `${fmt(ackPending)} messages await ack` }
        : current > 0 && deliveries > 0
          ? {
              reason: 'MessagesDelivered',
              message: `${fmt(deliveries)} messages were delivered since the previous reading ${fmt((sample.at - (previousSample?.at ?? sample.at)) / 1000)}s before`,
            }
          : {
              reason: 'NoBacklog',
              message: `${backlogText} is not above activationBacklog ${fmt(spec.activationBacklog)}${current > 0 ? ' and nothing was delivered since the previous reading' : ''}`,
            };

  // Raw recommendation: backlog term as a floor, rate term on top once capacity is known. With a
  // latency objective the objective replaces the backlog floor once capacity is known.
  const perReplica = rates.perReplicaPerSecond;
  const objective = spec.latencyObjectiveSeconds;
  // A stream with max_msgs / max_bytes holds no more than that: the objective's standing queue is
  // at most a quarter of it, and capacity then no less than RATE_HEADROOM times the arrivals
  // (objective.ts streamHolds), or the objective would let the stream fill and refuse (or drop)
  // what arrives while asking for no replica (2e).
  const streamHolds = streamCapacityMessages(sample);
  const streamHoldsInput = streamHolds !== undefined ? { streamHolds } : {};
  const objectiveMode = objective !== undefined && perReplica !== undefined && perReplica > 0;
  // A figure carried over from an earlier process (rates.ts perReplicaCarried: the EventConsumer's
  // status, which anyone who may write /status can set) is not this process's measurement: until a
  // busy interval replaces it, it may keep replicas, never add them. A tiny one written by hand sized
  // the arrival rate at it: maxReplicas at the second reading (redteam6, session 20: 5 -> 20). So
  // the rate term adds none beyond max(current, the backlog term), it does not panic, and with a
  // latency objective the backlog term stays the floor it is without a figure (an absurdly high one
  // would size the objective at 1 replica for any queue).
  const carriedFigure = rateState.perReplicaCarried === true && perReplica !== undefined;
  let rateReplicas: number | undefined;
  let rateText = '';
  const intervalSeconds =
    previousRates !== undefined && rateState !== previousRates
      ? (sample.at - previousRates.last.at) / 1000
      : 0;
  // Movement: this interval's arrivals against the smoothed rate *before* it (after it, a long
  // interval would already have pulled the average to itself).
  const moved =
    previousRates?.arrivalPerSecond !== undefined &&
    rateState.lastIntervalArrivalPerSecond !== undefined &&
    rateMoved(rateState.lastIntervalArrivalPerSecond, previousRates.arrivalPerSecond, intervalSeconds);
  // Fast attack, slow decay: a jump in arrivals shows in the last intervals before the EWMA catches
  // up. It counts once two successive intervals show it (`sustained`: the lower of the two): one
  // interval can hold a single batch of a bursty publisher — 50 messages in one 1 s reading of a
  // 0.8/s stream read as 50/s, and sizing the start-up pile-up for it asked for 20 replicas (the
  // policy fuzzer, seed 123). A rise that lasts is confirmed by the next reading, which the
  // adaptive poll takes ADAPTIVE_POLL_SECONDS later because the last interval moved. With an
  // objective (and its 1 s polls) only a jump beyond Poisson noise counts, or every noisy reading
  // would be sized for.
  const lastInterval = rateState.lastIntervalArrivalPerSecond;
  const previousIntervalRate = rateState.previousIntervalArrivalPerSecond;
  const sustained =
    lastInterval !== undefined && previousIntervalRate !== undefined
      ? Math.min(
          beyondBatchNoise(
            lastInterval,
            rateState.lastIntervalSeconds ?? 0,
            // As measured before this interval: a step is one huge difference, not its own noise.
            previousRates?.arrivalDispersion,
          ),
          CONFIRM_FACTOR * previousIntervalRate,
        )
      : undefined;
  // Slow decay is for a stream that goes on, not one that stopped: once the last interval shows
  // the arrival ended (arrivalEnded), what arrives now is that interval's rate, and the smoothed
  // rate, which keeps the stopped arrival for a minute, adds no replicas. A cron-like producer
  // (170/s for 2 s of every 20 s) to nats.go Fetch(10) loops of 5/s handlers, read 1 s after the
  // burst: 319 pending, nothing arrived since, and the smoothed 153/s asked for 150 replicas (41 by
  // the step policy) where 9 drain what is queued within drainWithinSeconds at the 1.25/s low end
  // (first-bursts.test). The scale-down window still holds what the replicas were asked for.
  // It stands while each interval since brings no more than 1 / PANIC_FACTOR of the rate it ended
  // from and the smoothed rate, still carrying the stopped arrival, is at least PANIC_FACTOR times
  // the interval's (once it has decayed to about what arrives, it is what arrives again): the quiet
  // after a burst also measures the stream as sent in batches, whose dispersion then reads every
  // quiet second as within noise, and the smoothed rate came back at the next reading (600 in one
  // 5 s reading of an idle consumer, then 23 asked, then 41).
  const endedBefore = history.arrivalEnded;
  const endedStands =
    endedBefore !== undefined &&
    Number.isFinite(endedBefore.at) &&
    Number.isFinite(endedBefore.perSecond) &&
    endedBefore.perSecond > 0 &&
    endedBefore.at <= sample.at &&
    rateState.resetAt === undefined &&
    lastInterval !== undefined &&
    lastInterval <= endedBefore.perSecond / PANIC_FACTOR &&
    rates.arrivalPerSecond !== undefined &&
    rates.arrivalPerSecond >= PANIC_FACTOR * lastInterval;
  const endedNow =
    previousRates?.arrivalPerSecond !== undefined &&
    lastInterval !== undefined &&
    rateState !== previousRates &&
    arrivalEnded(
      previousRates.arrivalPerSecond,
      lastInterval,
      rateState.lastIntervalSeconds ?? 0,
      previousRates.arrivalDispersion,
    );
  const endedRecord: ScalingHistory['arrivalEnded'] =
    endedStands && endedBefore !== undefined
      ? rateState === previousRates
        ? endedBefore
        : { at: endedBefore.at, perSecond: endedBefore.perSecond }
      : endedNow && previousRates?.arrivalPerSecond !== undefined
        ? { at: sample.at, perSecond: previousRates.arrivalPerSecond }
        : undefined;
  const ended = endedRecord !== undefined;
  const observedArrival =
    rates.arrivalPerSecond === undefined
      ? undefined
      : ended && lastInterval !== undefined
        ? lastInterval
        : objectiveMode && !moved
          ? rates.arrivalPerSecond
          : Math.max(rates.arrivalPerSecond, sustained ?? 0);
  // Predictive mode only ever adds replicas ahead of a rise it expects: a trusted forecast of a
  // told season (spec.predictive.seasonality) that expects more than arrives now is sized for,
  // unless the observation falls outside the band the forecaster has earned (a step or a spike it
  // could not know about: then react to what is). A forecast of a fall is never sized for (the
  // reactive policy and the scale-down window decide the way down), nor a trend-only one: sizing
  // for the trend 30 s ahead cost 2.6-4.5 % replica-seconds on step, spike, ramp and diurnal for no
  // p99 (loadtest/sim/README.md, "Predictive mode").
  const falling = forecast !== undefined && forecast.arrivalPerSecond < forecast.currentPerSecond;
  const forecastUnused =
    forecast === undefined
      ? ''
      : !forecast.usable
        ? forecast.why
        : falling
          ? `it expects a fall (${fmt(forecast.arrivalPerSecond)}/s in ${spec.predictive.horizonSeconds}s), and predictive mode never sizes below what the reactive policy needs`
          : spec.predictive.seasonalitySeconds === undefined
            ? 'trend only (no predictive.seasonality): reported, not sized for'
            : observedArrival === undefined
              ? 'no arrival rate measured yet'
              : Math.abs(observedArrival - forecast.arrivalPerSecond) >
                  spec.predictive.maxRelativeError * Math.max(observedArrival, forecast.arrivalPerSecond)
                ? `observed ${fmt(observedArrival)}/s is outside its ±${fmt(spec.predictive.maxRelativeError * 100)}% band around ${fmt(forecast.arrivalPerSecond)}/s`
                : '';
  const forecastUsed = forecast !== undefined && forecastUnused === '';
  let arrival = observedArrival;
  if (forecastUsed && forecast !== undefined && observedArrival !== undefined)
    arrival = Math.max(forecast.arrivalPerSecond, observedArrival);
  // A burst the last two cycles both saw one horizon from now: size for it before it arrives.
  const recurringUsed = recurring !== undefined && arrival !== undefined && recurring > arrival;
  if (recurringUsed && recurring !== undefined) arrival = recurring;
  // Start-up shortfall: while what arrives now exceeds what the ready replicas do, the queue keeps
  // growing until the pods asked for start consuming (about predictive.horizonSeconds). Size for
  // the queue there will be then, drained within PANIC_DRAIN_SECONDS (that backlog is already as
  // old as a start-up): on a 4x step this asks for the pods at the first reading instead of one
  // backlog-per-replica step at a time (measured: step p99 7.9 -> 4.6 s, make bench-scaling).
  // The extrapolation is from confirmed rates only (rates.ts confirmedArrivalPerSecond, or what
  // the last two intervals both showed): the smoothed rate takes in a single batch after a quiet
  // stretch, and sizing a start-up for it took 0 replicas to 9 for 100 messages (fuzzer world
  // 2429). The batch itself is still drained (the backlog and the smoothed rate see it).
  // What the replicas do: at the per-replica figure, or, while that is a low end only (learnt while
  // pods not counted ready may have consumed: rates.ts perReplicaLowEndOnly), at least what they
  // were seen completing (smoothed; for the pile-up also over the last interval that completed
  // anything). A low end alone took a shortfall the replicas did not have for a pile-up (the policy
  // fuzzer's world 1440: 4.0/s for 5/s handlers, 7.0/s "more than the 8 ready replicas do",
  // 18 → 19 where 18 was the bound).
  // Replicas that stalled (rates.ts stalledReplicas: the oldest message awaiting ack unacknowledged
  // far longer than the figure says it takes; a hung handler, a stopped process) carry nothing.
  // Sized with the figure learnt before, a stalled replica under a latency objective was "1 needed"
  // for any queue: the policy fuzzer's world 120070 kept 1 for 57 s while the backlog grew
  // 100 -> 2,300, and a message waited 82.5 s. When nothing completes at all and work waits at the
  // server, replicas are added beside the stalled ones for what the rest needs (`stallAdds`; the
  // start-up pile-up still counts the ready replicas' figure: counting the stalled ones out of it
  // asked a paused replica's 6.6/s for 4, where the policy fuzzer's bound is 3, world 60175
  // adverse). Otherwise a stall only keeps replicas: none is
  // taken away from beside it for what the figure says the ready ones do (a replica that holds the
  // oldest message while the others complete may be a slow one, and nothing waiting needs none
  // added). A slow handler is no stall: at the speed known for it, it would not have completed what
  // awaited ack.
  // Replicas that take nothing while failing (rates.ts takingNothing; 3d) are stalled the same way:
  // they carry none, and replicas are added beside them while work waits at the server.
  const hung = rateState.failingSince !== undefined ? takingNothing(rateState) : undefined;
  const stall =
    stalledReplicas(rateState) ??
    (hung !== undefined && hung.replicas > 0
      ? { replicas: hung.replicas, seconds: hung.seconds, held: ackPending, completedNone: true }
      : undefined);
  const stalled = stall?.replicas ?? 0;
  const stallAdds = stall?.completedNone === true && sizedPending > 0;
  // Messages awaiting ack beyond what the ready replicas can be handling wait in their clients'
  // buffers (2f): queued work, drained within drainWithinSeconds as what is pending is.
  const inHand = inHandAwaitingAck(
    spec,
    sample,
    rateState,
    previousRates?.last,
    ready,
    perReplica,
    stall !== undefined,
    history.samples,
  );
  const buffered = bufferedAwaitingAck(ackPending, inHand);
  // 1. What the handlers have in hand is not a backlog more replicas drain sooner: handlers that work
  // on many messages at once (2f: the user's spec.inFlightPerReplica, a handling time measured, or a
  // change of count that left the time held as it was) hold arrivals × handling time however many
  // replicas share them. The backlog term counts what waits at the server and what waits in the
  // clients' buffers beyond the hands. Counted, a push deliver group of 500 at once with 10 s
  // handlers (50/s a pod) at 300/s held ~3,000 in hand, and backlogPerReplica 100 kept 31 replicas
  // where 6 do it (the policy fuzzer's world 515518). Clients that hand their handler one message
  // at a time keep KEDA's count: their buffers are queued work, and one a replica in hand is noise.
  // Only once a per-replica figure is known, so the rate term sizes what arrives into those hands:
  // before it, the backlog term is all there is, and the user's inFlightPerReplica 100 took
  // async-nats messages() (one at a time) from 3 replicas to 1 at its first reading, 76 held, where
  // 2 do the 250/s that came later (the policy fuzzer's world 36010, its scale-up disabled: a
  // message waited 150 s).
  const inHandLeftOut =
    inHand !== undefined && inHand.many && perReplica !== undefined && perReplica > 0
      ? Math.min(ackPending, Math.floor(inHand.messages))
      : 0;
  const backlogTerm = withTolerance(sizedBacklog - inHandLeftOut, backlogPerReplica, current);
  const backlogReplicas = objectiveMode && !carriedFigure ? 0 : backlogTerm;
  const lowEndOnly = rateState.perReplicaLowEndOnly === true;
  const seenCompleting = lowEndOnly ? (rates.processingPerSecond ?? 0) : 0;
  const readyDo = Math.max(
    ready * (perReplica ?? 0),
    seenCompleting,
    lowEndOnly ? ready * (rateState.lastCompletedPerReplica ?? 0) : 0,
  );
  // While nothing waits at the server, the confirmed rate counts only beyond BATCH_NOISE_SIGMAS
  // standard deviations of its own noise (rates.ts confirmedArrivalNoise; `sustained` is judged
  // beyond its noise already): clumps of 10 at 22.6/s, smoothed over 10 s, vary by ±2.7/s, and each
  // lifted the confirmed rate 1-3/s above what 5 ready replicas of 5/s handlers do, 90 % busy with
  // every message in their client's buffers; that shortfall over a 60 s start-up, drained within
  // 10 s, asked for 9, 12 and 13 replicas and took them back within seconds (the policy fuzzer's
  // world 70190). Messages pending at the server are evidence of their own that the replicas fall
  // behind: nothing is taken off then (taking it off always cost the simulator's bursty trace
  // +3.5 % replica-seconds for the pods it then started late).
  const confirmedArrival = Math.max(
    (rateState.confirmedArrivalPerSecond ?? 0) -
      (pending === 0 ? BATCH_NOISE_SIGMAS * confirmedArrivalNoise(rateState) : 0),
    sustained ?? 0,
  );
  // Nor is there a shortfall while the ready replicas visibly keep up: nothing waits at the server
  // and they hold fewer messages than there are of them, so some are idle. Idle replicas complete
  // only what arrives, so with a low end the arrival rate's noise above their smoothed completions
  // read as replicas falling behind, and the pile-up of a 60 s start-up, drained within
  // PANIC_DRAIN_SECONDS at the low end, bought pods nobody needed (the policy fuzzer's world 30442:
  // 29.4/s for 5/s handlers, a 0.9/s low end, 0 pending and 11 awaiting ack on 30 replicas, 31 → 50
  // where 13 is the bound).
  // Not for a stream measured as sent in batches (BATCHED_DISPERSION), as for re-measuring below:
  // the replicas a low end buys are what absorbs its runs of batches (the fuzzer's world 1440 held
  // at 11 then took a run of batches to 19 where 17 is the bound). Unless every run of its backlog
  // beyond the handlers in the last BACKLOG_RUN_MEMORY_SECONDS drained within BATCH_DRAIN_SHARE of
  // drainWithinSeconds (rates.ts recentBacklogRunSeconds): the replicas there absorb its batches.
  // A cron-like producer (10x its mean for 2 s of every 20 s, quiet between) to nats.js fetch()
  // loops, read every second, drained each burst in 7-8 s; without this its idle replicas were
  // sized by the arrival rate's peak at a low end, 7 -> 13 (bursty-fetch-loops.test).
  // Or they hold more than one each but have kept pace for KEPT_PACE_SECONDS (rates.ts keptPace:
  // nothing pending at the server, what they hold level within its noise): handlers that work on
  // many messages at once hold rate × handling time, and with a low end their Poisson noise read
  // as a shortfall all the same (the policy fuzzer's world 4137: nats.js consume() with 10 at once,
  // 4.0/s for 5/s handlers, a 0.8/s low end, 0 pending and 12 awaiting ack on 5 replicas,
  // 5 -> 12 where 4 is the bound).
  const lowEndKeepsUp =
    lowEndOnly &&
    pending === 0 &&
    (backlog < ready * Math.max(1, rates.inFlightPerReplica ?? 1) ||
      keptPaceSeconds(rateState, sample.at) >= KEPT_PACE_SECONDS) &&
    ((rateState.arrivalDispersion ?? 1) < BATCHED_DISPERSION ||
      (recentBacklogRunSeconds(rateState, sample.at) ?? Infinity) <=
        BATCH_DRAIN_SHARE * spec.drainWithinSeconds);
  // So do replicas whose held messages were shown to be in their handlers' hands (rates.ts
  // handlersInHand: a change of their count left the time a message is held as it was) while
  // nothing waits at the server and all they hold is within what 2f counts in hand (none
  // buffered): their figure is what they did with time to spare, completions ÷ ready replicas (what
  // arrived, shared out), not what each can take at once, and is no more use for sizing than a low
  // end is. What they hold is their work in hand, however it jumps: a clump arriving is taken into
  // hands with room, and holding level is no test of that (a clump of 50 is a jump). Read as what
  // each can do, a 1.1/s figure for 5/s replicas (nats.go Consume() with 50 at once) took clumps of
  // 10 at 1.4/s from 2 replicas to 4 and 5 (the policy fuzzer's world 2781, bound 3), and a 10.8/s
  // one for 20/s replicas 41 to 47 (world 702099, bound 35), with nothing pending and what they held
  // within their hands. More than the hands hold is buffered (2f) and sized as before; so is
  // anything once work waits at the server. Not once the user said how many they work on at once
  // (2f counts that many in hand), nor with replicas stalled or failing, or the consumer paused.
  const inHandKeepsUp =
    !(spec.inFlightPerReplica !== undefined && spec.inFlightPerReplica > 0) &&
    validHandlersInHand(rateState.handlersInHand) !== undefined &&
    rateState.perReplicaFromHeld === true &&
    pending === 0 &&
    buffered === undefined &&
    stall === undefined &&
    rateState.failingSince === undefined &&
    sample.paused !== true &&
    heldAreNewest(sample);
  const keepingUp = lowEndKeepsUp || inHandKeepsUp;
  // A stream sent in clumps (BATCHED_DISPERSION) puts messages at the server with every clump, so
  // there those pending are no evidence that the replicas fall behind: while they are, the
  // confirmed rate counts above the mean rate of the last start-up (meanArrivalSince, at least
  // STARTUP_MEAN_MIN_SECONDS) only beyond BATCH_NOISE_SIGMAS of its noise, as it does while nothing
  // is pending. A 40.6/s stream in clumps of 50 read 54-56/s confirmed with 34-84 pending (57.7/s
  // arrived in the 10 s before), and that 14.3/s shortfall over an 82 s start-up, drained within
  // 10 s, took 13 (8 ready) to 28 where 22 is the bound (the policy fuzzer's world 2693 on ca21d41).
  // Not for a stream of independent messages: taken off there, the simulator's recorded trace lost
  // p99 (2.18 -> 2.64 s, 4 seeds), as taking it off while anything is pending had cost the bursty
  // trace before (above).
  // Whatever the figure, replicas that hold fewer messages than there are of them with nothing
  // pending at the server are idle at the reading: a rise they keep up with piles nothing up while
  // new pods start. A single interval's Poisson noise (`sustained` counts it at once, up to
  // CONFIRM_FACTOR times the interval before) was sized as a start-up's pile-up drained within
  // PANIC_DRAIN_SECONDS: 38/s in one 2 s reading of a 25.9/s stream, at a 16.6/s figure learnt on
  // handlers since 4x faster, "3.2/s more than the 2 ready replicas do", 2 -> 4 with 1 held and 0
  // pending, where 3 is the policy fuzzer's bound (world 700116). A rise that outruns them shows
  // as work waiting at the next reading (1 s later: the rate moved), and counts then. The rate
  // term still sizes for what arrives.
  const idleAtReading =
    pending === 0 &&
    backlog < ready * Math.max(1, rates.inFlightPerReplica ?? 1) &&
    (rateState.arrivalDispersion ?? 1) < BATCHED_DISPERSION;
  const seenArrival = observedArrival === undefined ? 0 : Math.min(observedArrival, confirmedArrival);
  const startupMean =
    pending > 0 && (rateState.arrivalDispersion ?? 1) >= BATCHED_DISPERSION
      ? meanArrivalSince(arrivalTrail, sample.at, Math.max(startupSeconds, STARTUP_MEAN_MIN_SECONDS))
      : undefined;
  const clumpNoiseOff =
    startupMean === undefined
      ? 0
      : Math.min(
          BATCH_NOISE_SIGMAS * confirmedArrivalNoise(rateState),
          Math.max(0, seenArrival - startupMean),
        );
  const shortfall =
    observedArrival !== undefined &&
    perReplica !== undefined &&
    perReplica > 0 &&
    !keepingUp &&
    !idleAtReading
      ? Math.max(0, seenArrival - clumpNoiseOff - readyDo)
      : 0;
  // Less than one message piling up is none (a confirmed rate decays towards zero, never to it).
  const pileUp = shortfall * startupSeconds;
  const startupBacklog = pileUp >= 1 ? pileUp : 0;
  // A figure that has been a low end only for LOW_END_REMEASURE_SECONDS is re-measured: replicas
  // sized by it with headroom each do less than it, are never busy with every replica ready, and
  // so nothing else would ever measure them (the policy fuzzer's world 1440: a 2.2-3.1/s figure for
  // 5/s handlers held 11-16 replicas where 7 carry the stream, for the whole 900 s stretch). The
  // HPA and Knative keep nothing they have not re-read within a window; this figure has only ever
  // been a bound. The rate term sizes at LOW_END_PROBE_FACTOR times it (see there); the start-up
  // pile-up and panic still count the figure itself.
  const lowEndStood =
    lowEndOnly && rateState.perReplicaLowEndSince !== undefined
      ? (sample.at - rateState.perReplicaLowEndSince) / 1000
      : 0;
  // Sized at the bound busy intervals showed (rates.ts perReplicaAtMost) when lower, and not once
  // that bound is within RATE_HEADROOM of the figure: the figure is then within the headroom of the
  // truth. Stopping at LOW_END_PROBE_FACTOR instead kept a bounded low end for good where replicas
  // were never busy again: predictive mode met the recurring trace's bursts with replicas started
  // ahead, and a figure of 18.7/s bounded by 24.8/s (23/s learnt in reactive mode) held 4 replicas
  // between bursts where 3 carry the stream (compare-predictive's recurring-stops, seed 7: +19.5 %
  // replica-seconds over reactive; now +1.7 %). Nor for a stream
  // measured as sent in batches (BATCHED_DISPERSION): RATE_HEADROOM does not cover its runs of
  // batches, and the replicas a low end buys are what absorbs them. Re-measured there, the policy
  // fuzzer's world 1440 (batches of 10 at 26.6/s, 5/s handlers, figure 2.5/s) came down from 11-16
  // replicas to 7-8, and each run of batches then overflowed them and the drain of the pile-up
  // asked for 20 (the fuzzer's bound is 17): that needs headroom sized for the batches first.
  const atMost = rateState.perReplicaAtMost;
  const remeasuring =
    lowEndStood >= LOW_END_REMEASURE_SECONDS &&
    perReplica !== undefined &&
    (rateState.arrivalDispersion ?? 1) < BATCHED_DISPERSION &&
    !(atMost !== undefined && atMost <= perReplica * RATE_HEADROOM);
  const sizingPerReplica =
    remeasuring && perReplica !== undefined
      ? Math.min(perReplica * LOW_END_PROBE_FACTOR, atMost ?? Infinity)
      : perReplica;
  const sizingText =
    remeasuring && sizingPerReplica !== undefined
      ? ` (a low end only, unconfirmed for ${fmt(lowEndStood)}s: sized at ${fmt(sizingPerReplica)}/s to re-measure it)`
      : '';
  const stallText =
    stall === undefined
      ? ''
      : stalledReplicas(rateState) === undefined && hung !== undefined
        ? `, besides the ${stall.replicas === 1 ? 'replica' : `${stall.replicas} replicas`} ready when nothing was acknowledged any more, which for ${fmt(hung.seconds)}s ${stall.replicas === 1 ? 'has' : 'have'} taken nothing with work waiting at the server: stalled, ${stall.replicas === 1 ? 'it carries' : 'they carry'} none`
        : `, besides the ${stall.replicas === 1 ? 'replica' : `${stall.replicas} replicas`} that ${stall.completedNone ? 'completed nothing' : 'held the oldest message awaiting ack, unacknowledged,'} for ${fmt(stall.seconds)}s (at ${fmt(perReplica ?? 0)}/s ${stall.replicas === 1 ? 'it' : 'they'} would have completed ${fmt((perReplica ?? 0) * stall.replicas * stall.seconds)}, with ${fmt(stall.held)} awaiting ack then): stalled, ${stall.replicas === 1 ? 'it carries' : 'they carry'} none${stallAdds ? '' : `, and ${sizedPending > 0 ? 'the others complete' : 'nothing waits at the server'}: none taken away from beside ${stall.replicas === 1 ? 'it' : 'them'}, none added`}`;
  /**
   * Replicas for `neededPerSecond` at `perReplicaPerSecond` each. With replicas stalled, beside them
   * (they carry none): added while stallAdds, otherwise kept (no more than the current count).
   */
  const sizedReplicas = (neededPerSecond: number, perReplicaPerSecond: number): number => {
    const sized = withTolerance(neededPerSecond, perReplicaPerSecond, current);
    if (stalled === 0) return sized;
    const beside =
      stalled + withTolerance(neededPerSecond, perReplicaPerSecond, Math.max(0, current - stalled));
    return Math.max(sized, stallAdds ? beside : Math.min(current, beside));
  };
  if (
    arrival !== undefined &&
    sizingPerReplica !== undefined &&
    perReplica !== undefined &&
    perReplica > 0 &&
    objective !== undefined
  ) {
    // The pile-up counts only with what it would take the queue past what the objective lets
    // stand (all of it when what is queued is past it already), added to what is queued: a long
    // objective absorbs a start-up's worth of queue instead of buying pods for it. Counting the
    // whole projected queue once it passed the allowance made the ask jump where it did (a second
    // more of objective took 17 replicas to 11) and bought, at each short burst's start, pods that
    // came when it was over (the bursty trace's cheap end: loadtest/sim/README.md). Counting what
    // is queued past the allowance twice (953596d) cost 5-14 % replica-seconds at objectives under
    // a second.
    const projectedQueue = backlog + startupBacklog;
    const neededPerSecond = objectiveCapacity({
      objectiveSeconds: objective,
      arrivalPerSecond: arrival,
      queue:
        sizedBacklog +
        Math.min(startupBacklog, Math.max(0, projectedQueue - allowedQueue(objective, arrival, streamHolds))),
      perReplicaPerSecond: sizingPerReplica,
      ...streamHoldsInput,
    });
    rateReplicas = sizedReplicas(neededPerSecond, sizingPerReplica);
    rateText = `${fmt(arrival)}/s arriving at ${fmt(perReplica)}/s per replica${sizingText}, a ${fmt(objective)}s latency objective with ${fmt(backlog)} queued${startupBacklog > 0 ? ` and ${fmt(startupBacklog)} more by the time new pods start` : ''} needs ${rateReplicas}${stallText}`;
  } else if (
    arrival !== undefined &&
    sizingPerReplica !== undefined &&
    perReplica !== undefined &&
    perReplica > 0
  ) {
    const drain = Math.max(1, spec.drainWithinSeconds);
    const unevenSpan = buffered?.unevenSpan;
    const bufferedMessages = unevenSpan === undefined ? (buffered?.messages ?? 0) : 0;
    // The buffered share is drained within drainWithinSeconds even beside a start-up pile-up: it is
    // standing prefetch in the ready replicas' clients, which no new pod can take from them (more
    // replicas only shorten the buffers by taking arrivals elsewhere), not the surge the pile-up's
    // fast drain sizes for.
    const neededPerSecond =
      arrival * RATE_HEADROOM +
      drainPerSecond(sizedPending, startupBacklog, drain) +
      bufferedMessages / drain;
    rateReplicas = sizedReplicas(neededPerSecond, sizingPerReplica);
    // Behind a moving ack floor (one replica's buffer older than the rest) the buffered messages
    // may all be that replica's: it drains them at its own pace less its share of what arrives,
    // whatever the others' spare capacity. Before, they were either drained at the replicas'
    // total spare capacity (a claim of 30 s for one push subscriber's 700 that took 105 s) or, once
    // the floor fell behind (HELD_SHARE_OF_UNACKED_SPAN), not counted at all: 5 replicas, the
    // subscriber's share 16 of 80/s for its 20/s, a message waited 3.8 s at 120 s.
    const uneven =
      buffered !== undefined && unevenSpan !== undefined
        ? unevenDrain(arrival, perReplica, buffered.messages, drain)
        : undefined;
    if (uneven !== undefined)
      rateReplicas = Math.max(rateReplicas, sizedReplicas(uneven.capacity, perReplica));
    const bufferedText =
      buffered === undefined
        ? ''
        : `the ${fmt(buffered.messages)} awaiting ack in the clients' buffers (${fmt(ackPending)} awaiting ack, beyond the ${fmt(buffered.inHand)} the ${ready} ready replicas can be handling: ${buffered.why})`;
    // What is drained within which time: the pending (and an even buffered share) within
    // drainWithinSeconds, an uneven one within the time unevenDrain says.
    const unevenText =
      uneven === undefined
        ? ''
        : `${bufferedText}, behind an ack floor ${fmt(unevenSpan ?? 0)} deliveries back that moves (one replica's buffer older than the rest, drained at its ${fmt(perReplica)}/s less its share of what arrives), within ${fmt(uneven.seconds)}s`;
    const queuedText =
      buffered === undefined || uneven !== undefined
        ? `${fmt(pending)} pending`
        : `${fmt(pending)} pending and ${bufferedText}`;
    const source = recurringUsed
      ? `${fmt(arrival)}/s expected in ${spec.predictive.horizonSeconds}s (seen there in each of the last two ${fmt(((seasonalityState?.periodBuckets ?? 0) * 10) / 60)}-minute cycles)`
      : forecastUsed && forecast !== undefined
        ? `${fmt(arrival)}/s expected (forecast ${fmt(forecast.arrivalPerSecond)}/s in ${spec.predictive.horizonSeconds}s, rising)`
        : `${fmt(arrival)}/s arriving`;
    rateText =
      (startupBacklog > 0
        ? `${source} at ${fmt(perReplica)}/s per replica${sizingText}, ${fmt(shortfall)}/s more than the ${ready} ready replicas do: draining the ${fmt(startupBacklog)} more by the time new pods start and ${sizedPending > startupBacklog ? `as many of the ${fmt(pending)} pending` : `the ${fmt(pending)} pending`} within ${Math.min(PANIC_DRAIN_SECONDS, Math.max(1, spec.drainWithinSeconds))}s${sizedPending > startupBacklog ? `, the rest within ${spec.drainWithinSeconds}s,` : ''}${buffered === undefined ? '' : uneven !== undefined ? ` and ${unevenText},` : ` and ${bufferedText} within ${spec.drainWithinSeconds}s,`} needs ${rateReplicas}`
        : `${source} at ${fmt(perReplica)}/s per replica${sizingText}, draining ${queuedText} within ${spec.drainWithinSeconds}s${uneven === undefined ? '' : ` and ${unevenText},`} needs ${rateReplicas}`) +
      handlersInHandClause(spec, rateState, ackPending, ready, buffered) +
      stallText;
  }

  // A low end only says what the replicas do at least: while they visibly keep up it shows no need
  // for more of them (the rate term at 0.9/s asked 43 for 31 idle replicas of 5/s handlers). A
  // rise that outruns them shows as work waiting at the next reading, and then counts. Not a burst
  // the last two cycles saw one horizon ahead: what it brings is not what the replicas keep up
  // with now, and a figure that stays a low end (a burst met by enough pods at once never keeps
  // every ready replica busy) held the pre-warm at the lull's count.
  if (rateReplicas !== undefined && keepingUp && !recurringUsed && rateReplicas > current) {
    rateText += `, but no more than ${current} while the ${ready} ready replicas keep up (nothing pending, ${fmt(backlog)} held) and ${fmt(perReplica ?? 0)}/s is ${lowEndKeepsUp ? 'a low end only' : "what they did with what they hold in their handlers' hands (HandlersConcurrent), not what each can do"}`;
    rateReplicas = current;
  }
  // Handlers shown to work on many at once that keep up (inHandKeepsUp): one replica fewer at a
  // time, each step judged as the policy's own (in-hand-step.ts), and back to the count a step left
  // when it overfilled their hands. Not under a latency objective (objective.ts counts what is held
  // as queued), nor for a burst the last cycles saw, nor with scale-down disabled.
  const { ask: inHandAsk, state: inHandStepState } = nextInHandStep({
    state: asInHandStepState(history.inHandStep),
    keepingUp:
      inHandKeepsUp &&
      objective === undefined &&
      !recurringUsed &&
      spec.scaleDown.selectPolicy !== 'Disabled',
    shown: validHandlersInHand(rateState.handlersInHand),
    readySince: rateState.last.readySince,
    current,
    ready,
    held: ackPending,
    beyondHands: buffered !== undefined,
    pending,
    arrivalPerSecond: arrival ?? 0,
    now,
  });
  const inHandShown = validHandlersInHand(rateState.handlersInHand);
  if (rateReplicas !== undefined && inHandAsk?.kind === 'down' && rateReplicas >= current && inHandShown) {
    rateText += `; one fewer, ${inHandAsk.replicas}: with ${inHandShown.from} ready replicas and with ${inHandShown.to} a message was held ${fmt(inHandShown.seconds)}s, so fewer take their share into their hands (HandlersConcurrent), and what ${inHandAsk.replicas} do is judged the same way`;
    rateReplicas = inHandAsk.replicas;
  }
  if (rateReplicas !== undefined && inHandAsk?.kind === 'back') {
    // Sized as the rate term is, at what each of the replicas the step left was shown to do with
    // all it held in hand (the step's arrivals shared out) where the figure is lower: the figure is
    // what they did with time to spare, and sized by it the step's overflow asked for 20 where 3
    // drain it (handlers of 20 at once, 10 s each, 4/s; handlers-in-hand.test).
    const shownEach = inHandAsk.step.arrivalPerSecond / inHandAsk.step.from;
    const drain = Math.max(1, spec.drainWithinSeconds);
    const back = Math.max(
      inHandAsk.replicas,
      sizedReplicas(
        (arrival ?? 0) * RATE_HEADROOM + pending / drain + (buffered?.messages ?? 0) / drain,
        Math.max(perReplica ?? 0, shownEach),
      ),
    );
    if (rateReplicas > back) {
      rateText += `, but no more than ${back}: ${inHandAsk.step.to} overfilled the handlers' hands (${fmt(ackPending)} held, beyond what they hold in hand) where ${inHandAsk.replicas} each did ${fmt(shownEach)}/s with all they held in hand (HandlersConcurrent)`;
      rateReplicas = back;
    }
  }
  // A stream sent in batches is sized for its bursts (burstSizing): between them the replicas
  // its last burst needs to drain within BATCH_DRAIN_SHARE of drainWithinSeconds (or the latency
  // objective) are kept, and during one no more are asked for than the current count, that
  // number, or what drains what is queued in what is left of that time. The rate term sizes a
  // burst by the arrival rate it lifted and the backlog it is, both at once, and the pods asked for
  // then start after it drained: a cron-like producer (10x its mean for 2 s of every 20 s) to
  // nats.go Fetch(10) loops of 5/s handlers went 15 -> 26-28 at every burst on 7b9a82c where 5
  // drain one in 14 s (the policy fuzzer's cron worlds; with the burst read as one interval alone,
  // rates.ts burstBound, still 9 -> 16). Not beside a stall: replicas that take nothing drain no
  // burst (adverse world 120070, a paused pod: held at 1 for 9 s where 2 were asked for).
  const burst =
    stall === undefined
      ? burstSizing(
          spec,
          rateState,
          sample.at,
          backlog,
          perReplica,
          objective,
          startupSeconds,
          (readiness?.startupSeconds ?? startupSeconds) + (rateState.lastIntervalSeconds ?? 0),
        )
      : undefined;
  // During a burst, no more than drain it in time; the panic too, which a burst sets off.
  const burstCap =
    burst?.lasting === undefined ? undefined : Math.max(current, burst.replicas, burst.drainNow ?? 0);
  const burstCapText = (cap: number): string =>
    burst?.lasting === undefined
      ? ''
      : `, but no more than ${cap} during a burst ${fmt(burst.lasting)}s old (the last drained ${fmt(burst.messages)} in ${fmt(burst.seconds)}s; ${burst.replicas} drain one within ${fmt(burst.targetSeconds)}s, ${fmt(burst.drainNow ?? 0)} the ${fmt(backlog)} queued in the ${fmt(burst.targetSeconds - burst.lasting)}s left)`;
  if (rateReplicas !== undefined && burst !== undefined) {
    // The replicas there are kept as they are, not raised, while they drain a burst as large within
    // drainWithinSeconds: raised by one in quiet as the mean decays (or the last burst was a
    // little larger) they only churn (nats.js fetch() loops, 17/s in 2 s of every 60 s: 12 -> 13
    // -> 12 -> 13 with nothing arriving).
    const kept = current >= burst.withinDrain ? Math.min(current, burst.replicas) : burst.replicas;
    if (burst.lasting === undefined && burst.keep && rateReplicas < kept) {
      rateText +=
        kept < burst.replicas
          ? `, but the ${kept} there kept for the next burst (the last drained ${fmt(burst.messages)} in ${fmt(burst.seconds)}s; ${burst.withinDrain} drain one within ${fmt(spec.drainWithinSeconds)}s, ${burst.replicas} within ${fmt(burst.targetSeconds)}s)`
          : `, but ${burst.replicas} kept for the next burst (the last drained ${fmt(burst.messages)} in ${fmt(burst.seconds)}s; ${burst.replicas} drain one within ${fmt(burst.targetSeconds)}s${burst.dueInSeconds === undefined ? '' : `; bursts ${fmt(burst.everySeconds ?? 0)}s apart, the next due ${burst.dueInSeconds >= 0 ? `in ${fmt(burst.dueInSeconds)}s` : `${fmt(-burst.dueInSeconds)}s ago`}`})`;
      rateReplicas = kept;
    } else if (burstCap !== undefined && rateReplicas > burstCap) {
      rateText += burstCapText(burstCap);
      rateReplicas = burstCap;
    }
  }
  const carriedCap = Math.max(current, backlogTerm);
  if (rateReplicas !== undefined && carriedFigure && rateReplicas > carriedCap) {
    rateText += `, but no more than ${carriedCap}: ${fmt(perReplica ?? 0)}/s per replica was carried over from status and adds no replicas until a busy interval measures the replicas`;
    rateReplicas = carriedCap;
  }

  // Panic: only on a fresh interval (not a repeated or reset reading) with capacity known, at the
  // rate the last two intervals both showed (one interval can be a single batch, see above).
  const panicRate = rateState !== previousRates ? sustained : undefined;
  let panicReplicas: number | undefined;
  let panicText = '';
  if (
    previousRates !== undefined &&
    rateState !== previousRates &&
    rateState.resetAt === undefined &&
    lastInterval !== undefined &&
    panicRate !== undefined &&
    panicRate > 0 &&
    perReplica !== undefined &&
    perReplica > 0 &&
    !carriedFigure
  ) {
    const capacity = Math.max(current * perReplica, seenCompleting);
    const grew = pending - Math.max(0, previousRates.last.pending) - (previousRates.last.upstreamLag ?? 0);
    if (
      panicRate >= PANIC_FACTOR * capacity &&
      grew >= PANIC_GROWTH_AGREEMENT * (panicRate - capacity) * intervalSeconds
    ) {
      const startup = startupSeconds;
      const shortfall = Math.max(0, panicRate - readyDo);
      const drain = Math.min(PANIC_DRAIN_SECONDS, Math.max(1, spec.drainWithinSeconds));
      const projectedQueue = pending + shortfall * startup;
      // With a latency objective the panic sizes for that objective too, by the rate term's rule:
      // the pile-up during the start-up counts only with what it would take the queue past what
      // the objective lets stand, so a long objective absorbs a short burst in its queue instead of
      // buying pods that start after the burst is over (measured on the bursty trace; see
      // loadtest/sim/README.md).
      const needed =
        objective !== undefined
          ? objectiveCapacity({
              objectiveSeconds: objective,
              arrivalPerSecond: panicRate,
              queue:
                pending +
                Math.min(
                  shortfall * startup,
                  Math.max(0, projectedQueue - allowedQueue(objective, panicRate, streamHolds)),
                ),
              perReplicaPerSecond: perReplica,
              ...streamHoldsInput,
            })
          : panicRate * RATE_HEADROOM + projectedQueue / drain;
      panicReplicas = Math.ceil(needed / perReplica);
      panicText = `panic: ${fmt(panicRate)}/s arrived in each of the last two intervals, at least ${PANIC_FACTOR}x what ${current} replicas do at ${fmt(perReplica)}/s; that rate plus draining within ${drain}s the ${fmt(pending)} pending and the ${fmt(shortfall)}/s shortfall piling up during a ${startup}s start-up needs ${panicReplicas}`;
    }
  }
  if (panicReplicas !== undefined && burstCap !== undefined && panicReplicas > burstCap) {
    panicText += burstCapText(burstCap);
    panicReplicas = burstCap;
  }
  const panic = panicReplicas !== undefined;
  // The panic is over before its window ends once what it was for is gone: the queue it sized for
  // is drained (within a second of the ready replicas' work, or within what the objective lets
  // stand) and the last interval brought no more than the ready replicas do. Holding on would keep
  // pods the rate no longer needs (between bursts: measured in loadtest/sim/README.md); the user's
  // scale-down window, which remembers the panic's recommendations, still brakes the way down.
  const panicOver =
    !panic &&
    history.panicUntil !== undefined &&
    perReplica !== undefined &&
    perReplica > 0 &&
    lastInterval !== undefined &&
    lastInterval <= ready * perReplica &&
    pending <=
      (objective !== undefined ? allowedQueue(objective, lastInterval, streamHolds) : 0) +
        ready * perReplica * ADAPTIVE_POLL_SECONDS;
  const panicUntil = panic ? now + PANIC_WINDOW_SECONDS * 1000 : panicOver ? undefined : history.panicUntil;
  const panicHold = panicUntil !== undefined && now < panicUntil;

  // Capacity not measured yet (a new EventConsumer next to a running Deployment, a KEDA migration,
  // a new leader or a restarted operator): the backlog term alone sizes replicas that keep up by
  // their small backlog and scales them down into an overload that only then shows what a replica
  // does (the simulator's step trace: 3 replicas doing 50/s went to 1 and queued 500). Until a
  // capacity is measured, no fewer replicas than shown to keep up: the arrival rate with
  // RATE_HEADROOM at what each replica was shown to do at least (rates.ts perReplicaAtLeast), and
  // every current one while nothing is shown yet. Only while ready replicas do complete work and
  // work arrives (each at least a message per start-up: sparse traffic is not sized for), and not
  // while handlers fail or the consumer is paused: replicas that complete nothing carry nothing,
  // and the backlog term sizes for what waits. What arrives is the arrival rate as the rate term
  // takes it, but no more than the busier of the last two intervals showed: after a one-off burst
  // the smoothed rate stays up for a minute while nothing arrives (scaling.int: 450 messages
  // drained at once held 5 replicas until the cooldown took them to zero). The scale-down window
  // bridges a quiet interval or two of a stream that goes on. Nor where no capacity is ever
  // learnt (ack_policy none; max_deliver 1 with drops not counted: unlearntCapacity), where the
  // floor would hold the replicas for good.
  const shownPerReplica = rateState.perReplicaAtLeast;
  const recentArrival =
    observedArrival === undefined || lastInterval === undefined
      ? undefined
      : Math.min(observedArrival, Math.max(lastInterval, previousIntervalRate ?? lastInterval));
  const unmeasured =
    !(perReplica !== undefined && perReplica > 0) &&
    current > 0 &&
    ready > 0 &&
    (rates.processingPerSecond ?? 0) * startupSeconds >= 1 &&
    recentArrival !== undefined &&
    recentArrival * startupSeconds >= 1 &&
    rateState.failingSince === undefined &&
    sample.paused !== true &&
    unlearntCapacity(sample) === '';
  // With a latency objective the floor is what the objective's own rule (objective.ts) asks at
  // the capacity shown: a queue the objective lets stand may grow while replicas are fewer, and the
  // replicas it makes busy are what measures their capacity. Headroom for a lower bound of the
  // capacity cost the cheap settings 2-4 % replica-seconds on the step and spike traces
  // (loadtest/sim/README.md).
  const shownNeeded =
    shownPerReplica === undefined || !(shownPerReplica > 0)
      ? undefined
      : objective !== undefined
        ? objectiveCapacity({
            objectiveSeconds: objective,
            arrivalPerSecond: recentArrival ?? 0,
            queue: sizedBacklog,
            perReplicaPerSecond: shownPerReplica,
            ...streamHoldsInput,
          })
        : (recentArrival ?? 0) * RATE_HEADROOM;
  const unmeasuredReplicas = !unmeasured
    ? 0
    : shownPerReplica !== undefined && shownPerReplica > 0 && shownNeeded !== undefined
      ? Math.min(current, Math.ceil(shownNeeded / shownPerReplica))
      : current;
  const unmeasuredText =
    shownPerReplica !== undefined && shownPerReplica > 0
      ? `no per-replica capacity measured yet: ${fmt(recentArrival ?? 0)}/s arriving${objective !== undefined ? ` with ${fmt(backlog)} queued and a ${fmt(objective)}s latency objective` : ''} at the ${fmt(shownPerReplica)}/s each replica was shown to do at least needs ${unmeasuredReplicas}`
      : `no per-replica capacity measured yet and none shown: keeping the ${current} replicas that carry ${fmt(recentArrival ?? 0)}/s`;

  // Messages removed before any replica took them (2c): a WorkQueue or Interest stream whose limits
  // remove (max_age, max_msgs…) while its consumer falls behind. Completions prove nothing there
  // (an expiry of a held message reads as an acknowledgement), and the backlog max_age keeps short
  // held 1-2 replicas where 60/s at 20/s each needs 3, while two thirds expired unworked. What
  // arrives is known, and what the replicas took while the limit removed their backlog is what
  // they can do (rates.ts perReplicaTakenWhileRemoving: messages expiring before delivery, or the
  // stream full of their backlog at a limit that discards old): sized at it, with RATE_HEADROOM,
  // while no per-replica capacity is measured, and kept at it once they keep up (the figure stays:
  // no flapping between removing and not). While messages still expire with the same replicas
  // ready for EXPIRY_GROW_SECONDS, one more is asked for (at least that: the figure can read high).
  const expiringSince = rateState.expiringSince;
  const takenPerReplica = takenWhileRemovingFigure(rateState);
  const expiredPerSecond = Math.max(0, rateState.expiredPerSecond ?? 0);
  const readyFor = (sample.at - rateState.last.readySince) / 1000;
  // On a stream with max_age, only once the replicas were shown to take more than one message per
  // max_age each (rates.ts takenFasterThanMaxAge), and not while handlers are read as slower than
  // it (3f): every replica takes the oldest waiting and each expires in its hands whatever the
  // handler, so what expires at the server cannot tell slow handlers from too few replicas, and
  // fetch loops with handlers slower than max_age climbed to maxReplicas on it (nats.py fetch(1),
  // 20 s handlers on max_age 2 s). Not while the stream stands at a max_msgs / max_bytes that
  // discards old, nor while the figure was last learnt there (rates.ts maxAgeExpiring): what goes
  // there is discarded at that limit.
  const maxAgeNow = maxAgeExpiring(sample, rateState);
  const takenHelps =
    maxAgeNow === undefined ||
    (rateState.takenFasterThanMaxAge === maxAgeNow &&
      validBeyondMaxAge(rateState.beyondMaxAge) === undefined);
  // A step up (more than the current count) only when the run with the replicas ready now shows
  // it too: a figure learnt before the handlers turned slow took nats.go Fetch(10) loops 3 -> 30.
  const takenRunNow = validTakenRun(rateState.takenRun);
  const takenStepHelps =
    maxAgeNow === undefined ||
    (takenHelps &&
      takenRunNow !== undefined &&
      takenRunNow.replicas === ready &&
      takenShowsFaster(takenRunNow, maxAgeNow));
  // (Stepping, at no less than that run took each: a figure learnt from handlers since fixed, a
  // rollout of 0.5 s handlers where 6 s ones took 0.2/s each, asked 52 for 10/s.)
  const takenNow =
    takenStepHelps && takenRunNow !== undefined && takenRunNow.seconds > 0 && takenPerReplica !== undefined
      ? Math.max(takenPerReplica, takenRunNow.deliveries / takenRunNow.replicas / takenRunNow.seconds)
      : takenPerReplica;
  const byTakenAsked =
    sample.limitRemovals !== undefined &&
    takenHelps &&
    perReplica === undefined &&
    observedArrival !== undefined &&
    takenNow !== undefined &&
    takenNow > 0
      ? withTolerance(observedArrival * RATE_HEADROOM, takenNow, current)
      : 0;
  const byTaken = takenStepHelps ? byTakenAsked : Math.min(byTakenAsked, current);
  const oneMore =
    sample.limitRemovals !== undefined &&
    takenStepHelps &&
    expiringSince !== undefined &&
    current > 0 &&
    ready >= current &&
    readyFor >= EXPIRY_GROW_SECONDS
      ? current + 1
      : 0;
  // Messages expiring in the replicas' hands (rates.ts behindInHand: a push consumer is sent all
  // that arrives, so nothing waits at the server): the `replicas` ready then each did less than
  // `below`, so one more than them is asked for at that arrival rate, followed by it, and kept
  // once nothing expires (nothing measures a capacity there). A push consumer on max_age 3 s, 60/s
  // for 19/s handlers, held the 2 replicas its backlog asked for while two thirds expired unworked.
  const behindInHand = validBehindInHand(rateState.behindInHand);
  // (Within TOLERANCE of the arrivals then, exactly one more: a ceil of (n + 1) x 1.0002 asked
  // for n + 2 in the drill.)
  const inHandRatio =
    behindInHand !== undefined && observedArrival !== undefined
      ? observedArrival / (behindInHand.below * behindInHand.replicas)
      : undefined;
  // (behindInHand's figures are validated > 0, so the ratio is > 0 exactly when arrivals are.)
  const byBehind =
    sample.limitRemovals !== undefined &&
    perReplica === undefined &&
    behindInHand !== undefined &&
    inHandRatio !== undefined &&
    inHandRatio > 0 &&
    Number.isFinite(inHandRatio)
      ? Math.abs(1 - inHandRatio) <= TOLERANCE
        ? behindInHand.replicas + 1
        : Math.ceil((behindInHand.replicas + 1) * inHandRatio)
      : 0;
  // Since shown to do at least atLeast each (rates.ts fasterInHand: the handlers were fixed), sized
  // at that instead when fewer (at least one).
  const atLeast = behindInHand?.atLeast;
  const byShown =
    byBehind > 0 && atLeast !== undefined
      ? Math.max(1, Math.ceil((RATE_HEADROOM * (observedArrival ?? 0)) / atLeast))
      : undefined;
  const byInHand = byShown !== undefined ? Math.min(byBehind, byShown) : byBehind;
  // Handlers slower than max_age (beyond-max-age.ts, rates.ts beyondMaxAge): after a step for
  // messages expiring in hand, nothing was acknowledged before it expired with the step's replicas
  // ready, a replica that started with nothing in hand among them. What expires in hand still asks
  // for one more than the ready ones while each holds more than its handlers work on, as before;
  // 3f holds the count there (HandlersSlowerThanMaxAge): more replicas would only hold more of
  // what expires (a push consumer at 10/s with 3.2 s handlers on max_age 3 s went 1 -> 30).
  const beyondMaxAge = validBeyondMaxAge(rateState.beyondMaxAge);
  const beyondAsks =
    beyondMaxAge !== undefined &&
    sample.limitRemovals !== undefined &&
    sample.pending <= 0 &&
    ready > 0 &&
    sample.ackPending > ready * (spec.inFlightPerReplica ?? 1)
      ? ready + 1
      : 0;
  const beyondText =
    beyondMaxAge !== undefined
      ? beyondMaxAgeText({
          maxAgeSeconds: beyondMaxAge.maxAgeSeconds,
          seconds: (sample.at - beyondMaxAge.since) / 1000,
          replicas: beyondMaxAge.replicas,
        })
      : undefined;
  // ... and, while messages still arrive, keeps the replicas it was found with (no fewer than the
  // count there is): the step that showed it is what says more cannot help, and nothing else keeps
  // it once the replicas' buffers hold so many expired messages that they stop asking and what
  // arrives waits and expires at the server (nats.js consume() holds 100, asks again at 75). Sized
  // by that backlog alone, the count went back down and up again by one every ~36 s (session 34),
  // and a restarted process, whose finding came from status without the step, went down too.
  const beyondKeeps =
    beyondMaxAge !== undefined &&
    sample.limitRemovals !== undefined &&
    ready > 0 &&
    (observedArrival ?? 0) > 0
      ? Math.min(beyondMaxAge.replicas, current)
      : 0;
  const expiryReplicas = Math.max(byTaken, oneMore, byInHand, beyondAsks, beyondKeeps);
  const takenText =
    takenNow !== undefined
      ? `at the ${fmt(takenNow)}/s each replica took while the stream's limit removed messages unworked, ${fmt(observedArrival ?? 0)}/s arriving needs ${byTaken}`
      : '';
  // What the counters cannot tell, said with each step: handlers that work on many at once near or
  // beyond max_age hold arrivals x max_age at any count, as one handler a replica behind a queue
  // does until enough keep up (10/s for 10 handlers of 4 s held 30 at 1-30 replicas; 64/s for one
  // 18/s handler 192 at 2 and at 3, where 4 are needed), so without spec.inFlightPerReplica each
  // replica counts as handling one and replicas are added while each holds more. And what a count
  // that is right does not undo at once: the replicas that fell behind keep what was pushed to
  // them, expired messages too, and what is sent to them behind it expires for minutes (~360 s in
  // the 64/s model).
  const inHandText =
    beyondText !== undefined && beyondAsks > 0 && beyondAsks >= byInHand
      ? `messages expired in the replicas' hands (held longer than max_age with nothing waiting at the server), ${fmt(sample.ackPending)} held by ${ready} ready: one more asked for, as when too few replicas take each in time, but ${beyondText}`
      : behindInHand !== undefined && byInHand > 0
        ? `messages expired in the replicas' hands (held longer than max_age with nothing waiting at the server) while ${behindInHand.replicas} ${behindInHand.replicas === 1 ? 'replica' : 'replicas'} each did less than ${fmt(behindInHand.below)}/s${byShown !== undefined && byShown < byBehind ? `, since shown to do at least ${fmt(atLeast ?? 0)}/s each (a message held shorter)` : ''}${spec.inFlightPerReplica === undefined ? ', each counted as handling one message at a time (spec.inFlightPerReplica unset): handlers that work on many at once near max_age look the same, and replicas are added until each holds one, so set spec.inFlightPerReplica if each handles more' : ''}: ${fmt(observedArrival ?? 0)}/s arriving needs ${byInHand}; the replicas that fell behind keep what was pushed to them before, expired messages too (their handlers work through it), so what is sent to them may still expire for minutes after the count is right`
        : '';
  const keepsText =
    beyondText !== undefined &&
    beyondKeeps > 0 &&
    beyondKeeps >= Math.max(byTaken, oneMore, byInHand, beyondAsks)
      ? `kept at ${beyondKeeps}: ${beyondText}`
      : '';
  // (The kept count is said where nothing in hand says it already.)
  const keptText = inHandText === '' ? keepsText : '';
  const expiryText =
    expiringSince !== undefined
      ? `${fmt(expiredPerSecond)}/s of ${fmt(observedArrival ?? 0)}/s arriving expired before any replica took them (removed by the stream's limits for ${fmt((sample.at - expiringSince) / 1000)}s)${takenText !== '' ? `; ${takenText}` : ''}${inHandText !== '' ? `; ${inHandText}` : ''}${oneMore >= Math.max(byTaken, byInHand) && oneMore > 0 ? `; one more while they still expire with ${ready} ready for ${fmt(readyFor)}s: ${oneMore}` : ''}${keptText !== '' ? `; ${keptText}` : ''}`
      : `no per-replica capacity is measured on this stream; ${[takenText, inHandText, keptText].filter((t) => t !== '').join('; ')}`;
  // Messages expiring in the replicas' hands while nothing queues behind their handlers: the
  // handling time itself nears max_age, which more replicas do not shorten (none are added for it).
  const nearMaxAge = rateState.handlingNearMaxAge;
  const nearMaxAgeText =
    nearMaxAge !== undefined
      ? `messages reach max_age in the replicas' hands while each holds no more than its handlers work on (${fmt(spec.inFlightPerReplica ?? 1)}${spec.inFlightPerReplica === undefined ? ', spec.inFlightPerReplica unset' : ''}): they are held ${fmt(nearMaxAge.seconds)}s on average against the stream's max_age of ${fmt(nearMaxAge.maxAgeSeconds)}s, so the handling time itself is near max_age and more replicas would not shorten it — raise the stream's max_age, shorten the handler (and ack_wait with it), or set spec.inFlightPerReplica if each replica handles more messages at once`
      : undefined;

  // A stream at its max_msgs / max_bytes limit with this consumer's backlog filling it (2e,
  // stream-full.ts): what arrives beyond the room the replicas free is refused (discard new: seen by
  // no counter, so the arrival rate read is their own drain rate) or dropped (discard old). While
  // the replicas complete work, no fewer than the current count (the arrivals read are a lower
  // bound, not the demand), and once the stream has stayed at its limit for
  // STREAM_FULL_CONFIRM_SECONDS with every replica asked for ready, STREAM_FULL_STEP_SHARE more.
  // Not while they complete nothing, fail every message, are paused or refuse the backlog: more of
  // them would free no room.
  const fullRun = streamFullRun(history.samples, sample);
  const fullSeconds = fullRun === undefined ? 0 : (sample.at - fullRun.since) / 1000;
  const fullBusy =
    fullRun !== undefined &&
    current > 0 &&
    (rates.processingPerSecond ?? 0) > 0 &&
    rateState.failingSince === undefined &&
    sample.paused !== true &&
    refusal === undefined;
  const fullSettled =
    fullRun === undefined ? 0 : (sample.at - Math.max(fullRun.since, rateState.last.readySince)) / 1000;
  // Grown only while the ready replicas complete what the figure says they can (a replica that
  // gets nothing frees no room: prefetching clients can hold all the stream has between two of them).
  // With no figure measured (a stream whose limits remove messages gives none: rates.ts
  // limitRemovalsPossible), while they complete work and acknowledge it (the ack floor moved since
  // the last reading: naks and redeliveries do not move it): at its limit the stream drops or refuses
  // what arrives, and holding the count loses that for good. consumer-configs.int's 'discard old,
  // max_msgs': with the arrivals read whole from the stream's last sequence (session 35), sizing by
  // them asked exactly the 5 replicas that do the 100/s offered, and the stream stayed full and
  // dropped what arrived for 45 readings, as nothing added one without a figure.
  const fullSaturated =
    perReplica !== undefined && perReplica > 0
      ? (rates.processingPerSecond ?? 0) >= STREAM_FULL_BUSY_SHARE * ready * perReplica
      : (rates.processingPerSecond ?? 0) > 0 &&
        previousSample !== undefined &&
        sample.ackFloorConsumerSeq > previousSample.ackFloorConsumerSeq &&
        // ... and, where the limit removes, once what they take there is measured (2c's figure,
        // from an interval with them settled): a step taken before it left no settled interval at
        // any count (1 -> 3 -> 5 -> 8 in 11 s steps), so nothing sized them once off the limit and
        // the backlog alone took them back to 2 (stream-full.test).
        (sample.limitRemovals === undefined || takenPerReplica !== undefined);
  const fullGrow =
    fullBusy && fullSaturated && ready >= current && fullSettled >= STREAM_FULL_CONFIRM_SECONDS;
  const fullReplicas = !fullBusy
    ? 0
    : fullGrow
      ? current + Math.max(1, Math.ceil(current * STREAM_FULL_STEP_SHARE))
      : current;
  const fullClause =
    fullRun === undefined
      ? ''
      : streamFullText(fullRun, fullRun.discard === 'new' ? 'refuses' : 'drops', fullSeconds);
  const fullText =
    fullRun === undefined
      ? ''
      : `${fullClause}; ${
          !fullBusy
            ? 'no replicas added for it while they complete nothing'
            : fullGrow
              ? `with the ${ready} ready replicas busy for ${fmt(fullSettled)}s at the limit, ${fullReplicas}`
              : !fullSaturated
                ? `no fewer than the ${current} replicas completing work, and none added while they complete ${fmt(rates.processingPerSecond ?? 0)}/s${perReplica !== undefined ? `, less than ${fmt(STREAM_FULL_BUSY_SHARE * 100)} % of what ${ready} do at ${fmt(perReplica)}/s each` : ' with no per-replica capacity measured'}`
                : `no fewer than the ${current} busy replicas${ready < current ? ` (${ready} ready)` : ` until it stays there ${STREAM_FULL_CONFIRM_SECONDS}s with them ready (${fmt(fullSettled)}s)`}`
        }`;

  const recommended = Math.max(
    backlogReplicas,
    rateReplicas ?? 0,
    panicReplicas ?? 0,
    unmeasuredReplicas,
    expiryReplicas,
    fullReplicas,
  );
  const drivenBy =
    fullReplicas > 0 &&
    fullReplicas >= recommended &&
    fullReplicas >
      Math.max(backlogReplicas, rateReplicas ?? 0, panicReplicas ?? 0, unmeasuredReplicas, expiryReplicas)
      ? fullText
      : panicReplicas !== undefined && panicReplicas >= recommended
        ? panicText
        : rateReplicas !== undefined &&
            rateReplicas >= Math.max(backlogReplicas, unmeasuredReplicas, expiryReplicas)
          ? rateText
          : expiryReplicas > 0 && expiryReplicas >= Math.max(backlogReplicas, unmeasuredReplicas)
            ? expiryText
            : unmeasuredReplicas > backlogReplicas
              ? unmeasuredText
              : `backlog at ${fmt(backlogPerReplica)} per replica needs ${backlogReplicas}${refusedPending > 0 ? ` (the ${fmt(refusedPending)} pending that the waiting pull requests refuse left out)` : ''}${perReplica === undefined ? unlearntCapacity(sample) : ''}${expiringSince !== undefined ? `; ${expiryText}` : ''}`;

  // What max_ack_pending lets work in parallel, when that is known (see the header, point 3), or
  // a smaller count tried for a while to learn it when the replicas cannot rise to (at-cap-probe.ts).
  const knownCap = maxAckPendingCap(spec, sample, rateState, current, now);
  const { probe: atCapProbe, state: atCapProbeState } = nextAtCapProbe({
    state:
      asAtCapProbeState(history.atCapProbe) ??
      (previousRates === undefined ? carriedAtCapProbe(input.carriedAtCap, sample, current, now) : undefined),
    rates: rateState,
    sample,
    current,
    ready,
    recommended,
    maxReplicas,
    downFloor:
      spec.scaleDown.selectPolicy === 'Disabled'
        ? undefined
        : scaleDownLimit(spec.scaleDown, history.scaleEvents, now, current),
    userCap: knownCap?.source === 'InFlightPerReplica',
    measuredCap: knownCap?.source === 'Measured' ? knownCap.replicas : undefined,
    climbCap:
      knownCap?.source === 'InFlightPerReplica'
        ? undefined
        : climbBinding(rateState, sample.maxAckPending, now)?.fewer.replicas,
    now,
  });
  const ackCap: MaxAckPendingCap | undefined =
    atCapProbe !== undefined && (knownCap === undefined || atCapProbe.to < knownCap.replicas)
      ? {
          replicas: atCapProbe.to,
          source: 'Probe',
          evidence: probeEvidence(atCapProbe, rateState, ready, now),
        }
      : knownCap;
  // Consumers that deliver to one replica only: a push consumer without deliver_group hands every
  // message to every subscriber, and a pinned_client priority group delivers to the pinned client
  // alone. Either way another replica adds no capacity: one replica.
  const oneReceiver: 'PushConsumer' | 'PinnedClient' | undefined =
    maxReplicas <= 1
      ? undefined
      : sample.pushWithoutGroup === true
        ? 'PushConsumer'
        : sample.pinnedClient === true
          ? 'PinnedClient'
          : undefined;
  // A consumer paused on the server delivers nothing to anyone until its pause_until (nats-server
  // server/consumer.go, loopAndGatherMsgs: "If the consumer is paused then stop sending"): its
  // backlog grows and more replicas would only idle, so none are added (3c).
  const paused = sample.paused === true;
  const upper = Math.min(
    maxReplicas,
    ackCap?.replicas ?? Infinity,
    oneReceiver !== undefined ? 1 : Infinity,
    paused ? current : Infinity,
    refusal !== undefined && refusal.state !== 'standing' ? current : Infinity,
  );
  // Handlers that fail every message (rates.ts failingSince): nothing acknowledged while messages
  // were redelivered, since this many seconds.
  const failingSeconds =
    rateState.failingSince !== undefined ? (sample.at - rateState.failingSince) / 1000 : undefined;
  // ... unless the replicas take nothing (rates.ts takingNothing: for STALL_MIN_SECONDS nothing was
  // delivered with work waiting and room under max_ack_pending): what expired was their own held
  // messages (a handler hung under nats.go Consume(), whose open pull takes them back), a stall, not
  // handlers failing what they are given. Replicas are added beside them as for a stall (2d), bounded:
  // at most the replicas ready when the spell began plus what the figure says carries the arrivals
  // (one with no figure), none for replicas that start later and take nothing too. A poison stream
  // keeps the hold: nak'ing handlers keep taking deliveries every interval.
  // At max_ack_pending, once the retries that made the spell stopped (rates.ts retriesStopped), one
  // is added beside them and no more: the server hands it what expires next, and it either completes
  // some (the spell ends, and the backlog sizes the count again) or fails them too (the hold stays).
  const hungCap =
    hung === undefined
      ? undefined
      : hung.retriesStopped
        ? hung.replicas + 1
        : Math.max(hung.replicas + 1, rateReplicas ?? 0);
  const hungBeside = hungCap === undefined || hung === undefined ? 0 : hungCap - hung.replicas;
  // The spare replica: after FAILING_SPARE_AFTER_SECONDS of the spell, one replica beside those ready when
  // it began, whatever the counters show (a replica hung for good and handlers that fail every
  // message read the same: redelivered, never completed), and no more in the spell.
  const failingFrom =
    rateState.failingSince === undefined ? undefined : Math.max(0, rateState.failingReplicas ?? ready);
  const spareCap =
    failingFrom !== undefined && (failingSeconds ?? 0) >= FAILING_SPARE_AFTER_SECONDS
      ? failingFrom + 1
      : undefined;
  const pauseText = `the consumer is paused on the server${sample.pauseRemainingSeconds !== undefined ? ` for another ${fmt(sample.pauseRemainingSeconds)}s` : ''}: nothing is delivered to any replica until it resumes, so more would only idle`;

  // Lower bound: minReplicas, except that 0 is only reachable after the cooldown and is left on
  // activation.
  const idleSeconds = (now - lastActiveAt) / 1000;
  let lower = minReplicas;
  let toZero = false;
  // selectPolicy Disabled forbids a direction entirely, the steps to and from zero included
  // (it is how a user pauses scale-in or scale-out only, like KEDA's paused-scale-in/-out).
  const upDisabled = spec.scaleUp.selectPolicy === 'Disabled';
  const downDisabled = spec.scaleDown.selectPolicy === 'Disabled';
  let zeroHeld: string | undefined;
  if (minReplicas === 0) {
    if (current === 0) lower = active && !upDisabled && !paused ? 1 : 0;
    else if (
      !downDisabled &&
      backlog === 0 &&
      deliveries === 0 &&
      idleSeconds >= spec.cooldownPeriodSeconds
    ) {
      const gap = longestResumedGapSeconds(history.samples, spec.predictive.horizonSeconds);
      // Idleness needs an interval: a first reading (a new leader's, after a restart) proves none.
      if (previousSample === undefined)
        zeroHeld = 'not going to zero before a second reading: one reading shows no idleness';
      else if (idleSeconds <= ZERO_GAP_FACTOR * gap)
        zeroHeld = `not going to zero: activity came back after a ${fmt(gap)}s pause among the recent readings, so ${fmt(idleSeconds)}s without any is no proof it stopped (zero after ${fmt(ZERO_GAP_FACTOR * gap)}s)`;
      else toZero = true;
      if (!toZero) lower = 1;
    } else lower = 1;
  }
  // What a mirror or sourced stream has still to copy is not known (5): this reading's backlog may
  // be short by any amount, so it lowers no replicas (a mirror not yet in contact read 0 pending
  // for a 20,000-message origin).
  const lagHold = lagUnknown !== undefined && current > 0 && lower < current;
  if (lagHold) {
    lower = Math.min(current, maxReplicas);
    toZero = false;
  }

  const seen = `Backlog ${fmt(backlog)} (${pendingText}, ${fmt(ackPending)} awaiting ack)`;
  let desired: number;
  let limitedBy: ScalingLimit | undefined;
  let reason: string;
  if (toZero) {
    desired = 0;
    reason = `Nothing pending, awaiting ack or delivered for ${fmt(idleSeconds)}s (cooldown ${spec.cooldownPeriodSeconds}s): scaling from ${current} to zero.`;
  } else if (current === 0 && lower === 0) {
    desired = 0;
    reason =
      active && upDisabled
        ? `${seen}; scaleUp.selectPolicy is Disabled: staying at zero.`
        : active && paused
          ? `${seen}; ${pauseText}: staying at zero.`
          : `${seen} is not above activationBacklog ${fmt(spec.activationBacklog)}: staying at zero.`;
  } else {
    const stabilized = stabilize(
      history.recommendations,
      now,
      current,
      recommended,
      spec.scaleUp,
      spec.scaleDown,
    );
    let stepped = stabilized;
    let held = false;
    let notReadyHold = false;
    let failingHold = false;
    let beyondHold = false;
    if (stabilized > current) {
      const stepLimit = scaleUpLimit(spec.scaleUp, history.scaleEvents, now, current);
      // A panic sizes from the arrival rate but stays within the scale-up step policies: they
      // are the user's limit on how fast the workload may grow (the CRD defaults them generously,
      // and the API server fills defaults in, so a user-set limit cannot be told from a default).
      stepped = Math.min(stabilized, stepLimit);
      // Replicas that do not become ready (3b): add none until they do (the reason users need to
      // see, even when a step policy would also have held this poll).
      if (readiness !== undefined && readiness.overdue > 0) {
        stepped = current;
        notReadyHold = true;
      } else if (hungCap !== undefined && hungCap > current) {
        // Replicas that take nothing while failing (3d): some added beside them, bounded.
        if (stepped > hungCap) {
          stepped = hungCap;
          failingHold = true;
        }
      } else if (spareCap !== undefined && spareCap > current) {
        // A spell as old as FAILING_SPARE_AFTER_SECONDS (3d): one replica beside them, a spare.
        if (stepped > spareCap) {
          stepped = spareCap;
          failingHold = true;
        }
      } else if (failingSeconds !== undefined) {
        // Handlers that fail every message (3d): the backlog is redeliveries, and more replicas
        // would fail the same messages faster.
        stepped = current;
        failingHold = true;
      } else if (beyondMaxAge !== undefined && ready > 0) {
        // Handlers slower than max_age (3f): every message expires in a handler whatever the
        // count, and more replicas would only hold more of them.
        stepped = current;
        beyondHold = true;
      }
    } else if (stabilized < current) {
      if (panicHold) {
        stepped = current;
        held = true;
      } else {
        stepped = Math.max(stabilized, scaleDownLimit(spec.scaleDown, history.scaleEvents, now, current));
      }
    }
    // The max_ack_pending cap says more replicas do not help, not that the user's scale-down rules
    // stop applying: replicas above it go down at the pace scaleDown allows, and not at all when
    // it is Disabled. maxReplicas stays a hard bound, as for the HPA.
    let cap = upper;
    if (upper < maxReplicas && upper < current) {
      const downFloor = downDisabled
        ? current
        : scaleDownLimit(spec.scaleDown, history.scaleEvents, now, current);
      cap = Math.min(maxReplicas, Math.max(upper, downFloor));
    }
    desired = Math.max(lower, Math.min(cap, stepped));
    if (desired !== stepped) {
      if (desired < stepped)
        limitedBy =
          cap < maxReplicas
            ? paused && cap === current
              ? 'ConsumerPaused'
              : (oneReceiver ??
                (refusal !== undefined && refusal.state !== 'standing' && cap === current
                  ? refusalLimit
                  : 'MaxAckPending'))
            : 'MaxReplicas';
      else limitedBy = lagHold && desired === lower ? 'UpstreamLagUnknown' : 'MinReplicas';
    } else if (held) limitedBy = 'Stabilization';
    else if (notReadyHold) limitedBy = 'ReplicasNotReady';
    else if (failingHold) limitedBy = 'HandlersFailing';
    else if (beyondHold) limitedBy = 'HandlersSlowerThanMaxAge';
    else if (stepped !== stabilized) limitedBy = 'StepPolicy';
    else if (stabilized !== recommended) limitedBy = 'Stabilization';
    // A refused backlog is left out of the recommendation itself (3e), so often no bound binds:
    // say why the pending messages bought no replicas all the same.
    if (
      (refusal?.state === 'refused' || (refusal?.state === 'standing' && refusedPending > 0)) &&
      current > 0 &&
      desired <= current &&
      (limitedBy === undefined ||
        limitedBy === 'Stabilization' ||
        limitedBy === 'StepPolicy' ||
        limitedBy === 'MinReplicas')
    )
      limitedBy = 'BacklogRefused';

    const action = desired === current ? `keeping ${desired}` : `scaling from ${current} to ${desired}`;
    const refusedSeconds =
      refusal?.state === 'refused' || refusal?.state === 'standing' ? (sample.at - refusal.since) / 1000 : 0;
    const limits: Record<ScalingLimit, string> = {
      MaxReplicas: `capped by maxReplicas ${maxReplicas}`,
      MinReplicas:
        current === 0 && minReplicas === 0
          ? `activating above activationBacklog ${fmt(spec.activationBacklog)}`
          : `held at minReplicas ${minReplicas === 0 ? 1 : minReplicas}`,
      MaxAckPending: `capped at ${upper} by max_ack_pending ${fmt(sample.maxAckPending)}: ${ackCap?.evidence ?? ''}`,
      PushConsumer: `capped at 1: a push consumer without deliver_group hands every message to every subscriber, so another replica would process each one again, not drain faster (set deliver_group, or use a pull consumer)`,
      PinnedClient: `capped at 1: the consumer's priority_policy is pinned_client, so the server delivers to the pinned client only and another replica's pull requests wait as a standby, not drain faster (use priority_policy overflow or prioritized, or none, to share the backlog among replicas)`,
      ConsumerPaused: `held at ${current}: ${pauseText}`,
      HandlersFailing:
        hung !== undefined && hungCap !== undefined && hung.retriesStopped
          ? `no more than ${hungCap}: nothing was acknowledged for ${fmt(failingSeconds ?? 0)}s, and for the last ${fmt(rateState.failingShownAt === undefined ? hung.seconds : (sample.at - rateState.failingShownAt) / 1000)}s nothing was redelivered or delivered at max_ack_pending ${fmt(sample.maxAckPending)} with ${fmt(Math.max(0, sample.pending))} waiting at the server — handlers that fail every message keep it coming back (at once on a nak, at each ack_wait or backoff step), so the ${hung.replicas === 1 ? 'replica' : `${hung.replicas} replicas`} ready when it began ${hung.replicas === 1 ? 'holds' : 'hold'} its messages without failing or completing any (a paused or hung process, or a push subscriber working through stale copies of what expired), and one is added beside ${hung.replicas === 1 ? 'it' : 'them'} for what expires next: it completes some (then the backlog sizes the count again) or fails them too (then this holds)`
          : hung !== undefined && hungCap !== undefined
            ? `no more than ${hungCap}: nothing was acknowledged for ${fmt(failingSeconds ?? 0)}s, and for ${fmt(hung.seconds)}s nothing was delivered with ${fmt(Math.max(0, sample.pending))} waiting at the server and room under max_ack_pending — the ${hung.replicas === 1 ? 'replica' : `${hung.replicas} replicas`} ready when it began ${hung.replicas === 1 ? 'takes' : 'take'} nothing (a handler hung on what it holds; what expired was redelivered to its own open pull), so ${hungBeside === 1 ? 'one is' : `${hungBeside} are`} added beside ${hung.replicas === 1 ? 'it' : 'them'}${hungBeside > 1 ? ` (what ${fmt(perReplica ?? 0)}/s per replica says the others need)` : ''}, and none for replicas that start later and take nothing too`
            : spareCap !== undefined
              ? `no more than ${spareCap}: nothing was acknowledged for ${fmt(failingSeconds ?? 0)}s while ${fmt(rates.redeliveryPerSecond ?? 0)}/s were redelivered — handlers that fail every message look like this, and so does a replica hung for good on what it holds (a deadlock, a call without a timeout, a stuck await), whose messages the server hands back to it at each ack_wait; after ${fmt(FAILING_SPARE_AFTER_SECONDS)}s of it ${current < spareCap ? `one replica is added beside ${failingFrom === 1 ? 'it' : `the ${fmt(failingFrom ?? 0)} ready when it began`} as a spare replica: if it completes messages the spell ends and the backlog sizes the count again, if it fails them too the count holds at ${spareCap}` : `one replica beside the ${failingFrom === 1 ? 'one' : fmt(failingFrom ?? 0)} ready when it began is allowed as a spare replica, and with ${fmt(current)} running still nothing completes`}: no more in this spell (fix the handlers; max_deliver with a dead-letter subject stops the retries)`
              : `no replicas added: nothing was acknowledged for ${fmt(failingSeconds ?? 0)}s while ${fmt(rates.redeliveryPerSecond ?? 0)}/s were redelivered — the backlog is redeliveries of messages the handlers fail (nak or ack_wait running out), and more replicas would fail them faster (fix the handlers; max_deliver with a dead-letter subject stops the retries); if this lasts ${fmt(FAILING_SPARE_AFTER_SECONDS)}s, one replica is added beside ${failingFrom === 1 ? 'it' : 'them'} as a spare replica, since a replica hung for good on what it holds looks the same`,
      HandlersSlowerThanMaxAge: `no replicas added: ${beyondText ?? ''}`,
      StepPolicy: `step policy allows ${desired} now`,
      ReplicasNotReady: `no replicas added while ${readiness?.overdue ?? 0} of ${current} have not been ready for the readiness deadline (${fmt(readiness?.deadlineSeconds ?? 0)}s)`,
      UpstreamLagUnknown: `not lowered from ${current} while the backlog is not known: ${lagUnknown ?? ''}`,
      BacklogRefused:
        refusal?.state === 'standing'
          ? `no replicas added for ${fmt(refusedPending)} of the ${fmt(Math.max(0, sample.pending))} pending: for ${fmt(refusedSeconds)}s pull requests (${fmt(sample.waiting)} now) have waited at the server at every reading with at least that many pending and room under max_ack_pending, while messages were delivered in between, so the clients' own pull requests hold that backlog back and take messages only as it reaches their threshold, and more replicas pulling the same way would be held back too. ${REFUSAL_CAUSES}; it is counted again once a reading shows no request waiting with it`
          : `no replicas added for the ${fmt(refusedPending)} pending: for ${fmt(refusedSeconds)}s ${fmt(sample.waiting)} pull requests have waited at the server with room under max_ack_pending and nothing was delivered, so the clients' own pull requests refuse this backlog, and more replicas pulling the same way would be refused too. ${REFUSAL_CAUSES}; it is counted again once deliveries resume`,
      BacklogUnconfirmed: `no replicas added until a reading shows deliveries: ${fmt(sample.waiting)} pull requests wait at the server with ${fmt(Math.max(0, sample.pending))} pending and room under max_ack_pending, and ${refusal?.state === 'unconfirmed' && !refusal.firstReading ? 'nothing was delivered since the previous reading' : 'this is the first reading'}. A server that delivers to them clears that within milliseconds, and clients that refuse the backlog look like this (${REFUSAL_CAUSES_SHORT}). Reading again in ${ADAPTIVE_POLL_SECONDS}s`,
      Stabilization: held
        ? `the panic window holds ${current} until ${fmt(((panicUntil ?? now) - now) / 1000)}s from now`
        : `the ${stabilized > recommended ? 'scale-down' : 'scale-up'} stabilization window holds ${stabilized}`,
    };
    const limitText =
      zeroHeld !== undefined && desired === 1
        ? ` (${zeroHeld})`
        : limitedBy === undefined
          ? ''
          : ` (${limits[limitedBy]})`;
    const forecastText =
      forecast !== undefined && !forecastUsed ? `; forecast not used: ${forecastUnused}` : '';
    const fullNote = fullRun !== undefined && drivenBy !== fullText ? `; ${fullText}` : '';
    // A pull consumer whose max_waiting is below the replicas running or asked for: each client keeps
    // a pull request waiting, and those beyond max_waiting are answered 409 "Exceeded MaxWaiting"
    // and get messages only between their retries (consumer-configs.int, max_waiting 1: 8 replicas
    // of 20/s delivered ~68/s of 100/s while the policy asked for 18). Said, not sized for: how much
    // such a replica adds is not measured.
    const waitingLimit = sample.maxWaiting;
    const waitingNote =
      waitingLimit !== undefined && Math.max(current, recommended) > waitingLimit
        ? `; the consumer's max_waiting ${fmt(waitingLimit)} lets ${waitingLimit === 1 ? 'one pull request' : `${fmt(waitingLimit)} pull requests`} wait at the server: replicas beyond ${fmt(waitingLimit)} are answered 409 "Exceeded MaxWaiting" and get messages only between their retries, so each adds less than a replica's capacity (raise the consumer's max_waiting to at least maxReplicas, ${maxReplicas})`
        : '';
    // A scale-down while 2f counts messages in the clients' buffers: the replicas taken away may hold
    // some. Said, not sized for (which pods go is the workload controller's choice, and whether a
    // client hands back what it holds on SIGTERM is the workload's): a push subscriber's or a
    // prefetching client's buffer that is not drained (nak'd or finished) on exit waits for the
    // consumer's ack_wait (30 s by default) before any replica gets it.
    // Only ready replicas taken away can hold any: a ReplicaSet scaled down deletes pods not ready
    // first (the policy fuzzer's world 2995 took 3 of 8 starting pods away, 10 -> 7 with 2 ready).
    const readyGone = Math.min(current, ready) - desired;
    const strandNote =
      readyGone > 0 && desired > 0 && buffered !== undefined
        ? `; ${fmt(buffered.messages)} of the ${fmt(ackPending)} awaiting ack wait in the clients' buffers${buffered.unevenSpan !== undefined ? ', most of them perhaps in one replica' : ''}: what the ${readyGone === 1 ? 'ready replica' : `${readyGone} ready replicas`} taken away ${readyGone === 1 ? 'holds' : 'hold'} goes to the others at once only if ${readyGone === 1 ? 'it hands' : 'they hand'} it back on SIGTERM (drain: finish or nak what was received), otherwise after the consumer's ack_wait`
        : '';
    const nearMaxAgeNote = nearMaxAgeText !== undefined ? `; ${nearMaxAgeText}` : '';
    reason = `${seen}; ${drivenBy}${fullNote}: ${action}${limitText}${forecastText}${waitingNote}${strandNote}${nearMaxAgeNote}.`;
  }

  // History: bounded by the windows and periods that read it.
  const scaleEventHorizon =
    Math.max(
      0,
      ...spec.scaleUp.policies.map((p) => p.periodSeconds),
      ...spec.scaleDown.policies.map((p) => p.periodSeconds),
    ) * 1000;
  const recommendationHorizon =
    Math.max(spec.scaleUp.stabilizationWindowSeconds, spec.scaleDown.stabilizationWindowSeconds) * 1000;
  const recommendations = history.recommendations.filter((r) => r.at > now - recommendationHorizon);
  recommendations.push({ at: now, replicas: recommended });
  if (recommendations.length > MAX_RECOMMENDATIONS)
    recommendations.splice(0, recommendations.length - MAX_RECOMMENDATIONS);
  const scaleEvents = history.scaleEvents.filter((e) => e.at > now - scaleEventHorizon);
  if (desired !== current) scaleEvents.push({ at: now, from: current, to: desired });
  if (scaleEvents.length > MAX_SCALE_EVENTS) scaleEvents.splice(0, scaleEvents.length - MAX_SCALE_EVENTS);
  const samples = [...history.samples, sample].slice(-MAX_SAMPLES);

  const nextHistory: ScalingHistory = {
    recommendations,
    scaleEvents,
    samples,
    lastActiveAt,
    rates: rateState,
  };
  if (panicUntil !== undefined && now < panicUntil) nextHistory.panicUntil = panicUntil;
  if (endedRecord !== undefined) nextHistory.arrivalEnded = endedRecord;
  if (forecastState !== undefined) nextHistory.forecast = forecastState;
  if (seasonalityState !== undefined) nextHistory.seasonality = seasonalityState;
  if (readinessState !== undefined) nextHistory.readiness = readinessState;
  if (Object.keys(atCapProbeState).length > 0) nextHistory.atCapProbe = atCapProbeState;
  if (Object.keys(inHandStepState).length > 0) nextHistory.inHandStep = inHandStepState;
  const trailSince = sample.at - Math.max(startupSeconds, STARTUP_MEAN_MIN_SECONDS) * 1000;
  const keptTrail = arrivalTrail.filter((i) => i.at > trailSince).slice(-MAX_ARRIVAL_INTERVALS);
  if (keptTrail.length > 0) nextHistory.arrivals = keptTrail;

  // Adaptive poll: read again soon while anything moves, back off while nothing does.
  const previousPending =
    previousRates === undefined
      ? undefined
      : previousRates.last.pending + (previousRates.last.upstreamLag ?? 0);
  const queueMoved =
    previousPending !== undefined &&
    Math.abs(pending - Math.max(0, previousPending)) > 3 * Math.sqrt(Math.max(1, previousPending));
  // With an objective, a queue above what it allows is movement too (it is being drained).
  const overObjective =
    objective !== undefined &&
    backlog >
      allowedQueue(objective, rates.arrivalPerSecond ?? 0, streamHolds) +
        ready * (rates.inFlightPerReplica ?? 1);
  // A reading too soon after the last measured one (rates.ts, MIN_INTERVAL_SECONDS) measured
  // nothing: the time since that one stands in for the interval, so the next reading comes soon
  // enough to measure it instead of waiting out a backed-off poll.
  const sinceMeasured = previousRates === undefined ? 0 : (sample.at - previousRates.last.at) / 1000;
  // Messages flow: a reading ARRIVING_POLL_SECONDS long is expected to hold one. Before any rate is
  // measured, read again as soon to measure one (a first reading measures nothing).
  const arriving =
    rateState.arrivalPerSecond === undefined || rateState.arrivalPerSecond * ARRIVING_POLL_SECONDS >= 1;
  // Near capacity (objective.ts NEAR_CAPACITY_SHARE): what arrives is within that share of what
  // the ready replicas were shown to do, either way, so a rise piles up at once: read within a
  // second. Each condition is there because a world of the policy fuzzer went past its bound
  // without it, through readings at 1 s that a 2 s poll did not take:
  // - a one-second reading can tell a rise from its noise: a doubling beyond RATE_NOISE_SIGMAS of
  //   the count's noise (λ > σ² × the dispersion, in messages a second: a stream sent in clumps is
  //   that much noisier). At 4/s to 5 replicas of 5/s handlers (a 0.8/s low end, so "near") world
  //   4137 went to 6 where its bound is 4 (kept-pace.test);
  // - either way: a low end learnt at a lower rate says nothing about how near they run. 41
  //   replicas shown to do 0.6/s each while 67/s arrived with nothing pending (the cron-like world,
  //   nats.js fetch() loops at 22/s, t = 22 s) went on to 16-18 where its bound is 15-17
  //   (decide.fuzz, 'a cron-like producer');
  // - every replica asked for is ready: a low end learnt while pods start (20 of 38 ready, 6.5/s
  //   each, 124/s arriving) is about to be outgrown; world 290127 asked for 2 replicas where 1
  //   carries its 49.6/s (low-end-remeasure.test).
  const shownEach = perReplica ?? rateState.perReplicaAtLeast;
  const arrivalNow = rates.arrivalPerSecond ?? 0;
  const nearCapacity =
    shownEach !== undefined &&
    shownEach > 0 &&
    ready > 0 &&
    ready === current &&
    arrivalNow * ADAPTIVE_POLL_SECONDS >=
      RATE_NOISE_SIGMAS * RATE_NOISE_SIGMAS * Math.max(1, rateState.arrivalDispersion ?? 1) &&
    arrivalNow >= NEAR_CAPACITY_SHARE * ready * shownEach &&
    arrivalNow * NEAR_CAPACITY_SHARE <= ready * shownEach;
  const adaptivePoll = nextPollSeconds({
    ...(sinceMeasured > 0 ? { lastIntervalSeconds: sinceMeasured } : {}),
    nearCapacity,
    moving:
      moved ||
      queueMoved ||
      overObjective ||
      desired !== current ||
      panicHold ||
      refusal?.state === 'unconfirmed',
    arriving,
    maxSeconds: MAX_POLL_SECONDS,
  });
  // A pause due to end sooner than that: read again just after it does.
  const nextPoll =
    paused && sample.pauseRemainingSeconds !== undefined
      ? Math.min(adaptivePoll, Math.max(ADAPTIVE_POLL_SECONDS, sample.pauseRemainingSeconds))
      : adaptivePoll;

  // Messages the stream's own limit removed before this consumer delivered them (removed-unworked.ts),
  // held a while after the last interval that removed any: told whatever the replicas.
  const removedUnworked = validRemovedUnworked(rateState.removedUnworked, sample.at);
  const decision: ScalingDecision = {
    desiredReplicas: desired,
    ...(fullRun !== undefined
      ? {
          streamFull: {
            limit: fullRun.limit,
            discard: fullRun.discard,
            since: fullRun.since,
            message: fullText,
          },
        }
      : {}),
    ...(beyondMaxAge !== undefined && beyondText !== undefined
      ? {
          handlersSlowerThanMaxAge: {
            ...beyondMaxAge,
            message: beyondText,
            // (Taken back from an earlier process's status: it started there, and was told there.)
            started:
              validBeyondMaxAge(previousRates?.beyondMaxAge) === undefined &&
              !(previousRates === undefined && input.carriedHandlersSlowerThanMaxAge !== undefined),
          },
        }
      : {}),
    ...(nearMaxAge !== undefined && nearMaxAgeText !== undefined
      ? {
          handlingNearMaxAge: {
            ...nearMaxAge,
            message: nearMaxAgeText,
            started: previousRates?.handlingNearMaxAge === undefined,
          },
        }
      : {}),
    ...(removedUnworked !== undefined
      ? {
          removedUnworked: {
            limit: removedUnworked.limit,
            removed: removedUnworked.lastAt === sample.at ? removedUnworked.removed : 0,
            total: removedUnworked.total,
            message: removedUnworkedMessage(removedUnworked, sample.limitRemovals?.limits, sample.at),
            started:
              validRemovedUnworked(previousRates?.removedUnworked, previousRates?.last.at ?? 0) === undefined,
          },
        }
      : {}),
    nextPollSeconds: nextPoll,
    recommendedReplicas: recommended,
    active,
    activity,
    reason,
    rates,
    history: nextHistory,
  };
  if (limitedBy !== undefined) decision.limitedBy = limitedBy;
  // Reported when it can hold replicas back (below maxReplicas).
  if (ackCap !== undefined && ackCap.replicas < maxReplicas) decision.maxAckPendingCap = ackCap;
  if (panic) decision.panic = true;
  if (readiness !== undefined) decision.readiness = readiness;
  if (forecast !== undefined) {
    decision.forecast = {
      arrivalPerSecond: forecast.arrivalPerSecond,
      relativeError: forecast.relativeError,
      used: forecastUsed,
    };
  }
  return decision;
}
