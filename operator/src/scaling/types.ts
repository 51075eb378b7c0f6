// The contract between jetscale's pure scaling core and everything around it (the controller,
// the simulator, the benchmark). Nothing here does I/O or reads a clock: time arrives as `now`
// (milliseconds on a clock that only runs forward: the operator passes its monotonic clock, the
// simulator its virtual one, never a wall clock that can step) and all state the policy needs
// between ticks travels in `ScalingHistory`.
import type { ReadinessReport } from './readiness.js';
import type { RemovingLimitName } from './removed-unworked.js';

/** One HPA-style step policy: at most `value` pods (or percent of current) per `periodSeconds`. */
export interface StepPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface ScalingRules {
  /** Recommendations inside this window are considered (max for scale-down, min for scale-up). */
  stabilizationWindowSeconds: number;
  policies: StepPolicy[];
  /** Max: the policy allowing the largest change wins; Min: the smallest; Disabled: never. */
  selectPolicy: 'Max' | 'Min' | 'Disabled';
}

export interface PredictiveSpec {
  enabled: boolean;
  /**
   * How far ahead to forecast: about the time a new replica needs to start consuming. Also used,
   * with prediction on or off, by the panic rule as the start-up during which a backlog piles up.
   */
  horizonSeconds: number;
  /**
   * Length of a season (e.g. 86400 for daily traffic) for the seasonal forecast; omitted = a trend-only
   * forecast, reported but not sized for (recurring bursts are still found in the history).
   */
  seasonalitySeconds?: number;
  /** Relative forecast error above which the forecast is ignored (0..1). */
  maxRelativeError: number;
}

/** The scaling part of an EventConsumer spec, normalized (defaults applied, durations in seconds). */
export interface ScalingSpec {
  minReplicas: number;
  maxReplicas: number;
  /**
   * Messages (pending + awaiting ack) one replica should hold: KEDA's lagThreshold. What handlers
   * that work on many at once have in hand is not counted (decide.ts 1, 2f).
   */
  backlogPerReplica: number;
  /** Leave zero replicas only when the backlog is strictly above this. */
  activationBacklog: number;
  /** Once rates are known: size so that the current backlog drains within this many seconds. */
  drainWithinSeconds: number;
  /**
   * The wait (arrival → ack, p99) the user wants, in seconds. When set, once rates are known the
   * policy sizes for it (objective.ts) instead of drainWithinSeconds and backlogPerReplica.
   */
  latencyObjectiveSeconds?: number;
  scaleUp: ScalingRules;
  scaleDown: ScalingRules;
  /** Seconds with nothing pending, awaiting ack or delivered between readings before the last step to zero. */
  cooldownPeriodSeconds: number;
  predictive: PredictiveSpec;
  /**
   * Messages one replica must hold to be fully busy (its handler concurrency). When set, replicas
   * are capped at ceil(max_ack_pending / this). When omitted, nothing is assumed: what a replica
   * holds awaiting ack is mostly its client's prefetch (nats.go buffers 500, nats.js 100), not
   * concurrency, so the cap applies only once measured — more replicas did not raise the
   * processing rate while max_ack_pending was full (see rates.ts). When set, also what a replica
   * has in hand: held beyond it is buffered (decide.ts 2f), and shows the replicas busy
   * (rates.ts busyOnPrefetch).
   */
  inFlightPerReplica?: number;
  /**
   * Seconds a replica asked for may go without being ready before it counts as not becoming ready
   * (readiness.ts): the policy then adds no replicas until it is. Default 180.
   */
  readinessDeadlineSeconds?: number;
}

/** When a server took a reading, by its clock (BacklogSample.serverTime). */
export interface ServerTime {
  /** CONSUMER.INFO's `ts`: the server's wall clock when it gathered the info, in ms since the epoch. */
  at: number;
  /**
   * Which clock `at` is on: one server process (its server id, new at every start), or one consumer
   * leader's term (the leader's name and since when it leads). Two readings naming the same clock
   * were stamped by the same running server.
   */
  clock: string;
}

/** One reading of a JetStream consumer, as the backlog source returns it. */
export interface BacklogSample {
  /** When the reading was taken, in ms on the same clock as `now`. */
  at: number;
  /**
   * How long the reading took, request to reply, in ms (absent: negligible). The server's snapshot
   * is somewhere in it: a reply held up by a leader election, or a process that stalled with the
   * reply waiting, leaves its time that uncertain, and rates.ts takes no interval shorter than a few
   * times it (ROUND_TRIP_SHARE) unless the server's clock times it (serverTime).
   */
  roundTripMs?: number;
  /**
   * When the server took the reading, by its own clock, and which clock that is (absent: not known
   * — nats-server < 2.10 sends no `ts`, or it was unusable: jetstream-backlog-source.ts
   * serverTimeOf). rates.ts times the interval between two readings by it when both name the same
   * clock, so a reply held up in the operator (a stalled event loop) or on the way no longer makes
   * the interval uncertain.
   */
  serverTime?: ServerTime;
  /** num_pending: matching messages not yet delivered. */
  pending: number;
  /** num_ack_pending: delivered, not yet acknowledged (includes those awaiting redelivery). */
  ackPending: number;
  /** num_redelivered: messages currently delivered more than once. */
  redelivered: number;
  /** num_waiting: parked pull requests (idle consumers). */
  waiting: number;
  /** delivered.consumer_seq: deliveries so far, redeliveries included (monotonic while the consumer lives). */
  deliveredConsumerSeq: number;
  /** delivered.stream_seq: stream sequence of the last message delivered (moves on new deliveries). */
  deliveredStreamSeq: number;
  /** ack_floor.consumer_seq. */
  ackFloorConsumerSeq: number;
  /** ack_floor.stream_seq: every message of the stream at or below it was acknowledged (absent: not read). */
  ackFloorStreamSeq?: number;
  /**
   * The stream can remove messages a consumer holds awaiting ack (a limits stream with max_age, or
   * max_msgs / max_bytes discarding old): each leaves num_ack_pending as if acknowledged.
   */
  removesHeld?: boolean;
  /** The stream's first sequence, read just after the consumer info, when removesHeld (absent: unknown). */
  streamFirstSeq?: number;
  /**
   * The stream can remove messages from inside it while a consumer holds them (max_msgs_per_subject,
   * a rollup, a message delete, a purge by subject): each leaves num_ack_pending as if acknowledged,
   * and the first sequence need not move. Then removesHeld is set too (purges move the front).
   * 'limits' when the stream's limits do it as messages arrive (max_msgs_per_subject, rollups, TTLs),
   * 'requests' when only a user's request does (a delete, a purge).
   */
  removesInside?: 'limits' | 'requests';
  /**
   * Only a user's request (a message delete, a purge) removes messages from this stream: no limit
   * does (no max_age, no max_msgs / max_bytes discarding old, no per-subject limit, rollups or per-message TTLs; the
   * default config). Such a removal of held messages is a one-off, not work done: the interval it
   * falls in counts toward no processing rate (rates.ts).
   */
  removedOnlyOnRequest?: true;
  /**
   * A WorkQueue or Interest stream whose limits can remove messages too (max_age, max_msgs /
   * max_bytes discarding old, max_msgs_per_subject, per-message TTLs): an acknowledgement removes a
   * message there as well, so the stream's counters cannot tell the two apart, and a held message
   * that expires leaves num_ack_pending as if acknowledged. The limits, and the stream's state read
   * just after the consumer info (absent: not known). rates.ts takes no capacity from an interval in
   * which the limits could have removed any message (limitRemovalsPossible).
   */
  limitRemovals?: { limits: RemovingLimits; state?: LimitedStreamState };
  /**
   * A consumer on a mirror or a sourced stream: messages of the origin stream(s) not yet copied into
   * this stream (STREAM.INFO mirror.lag, sources[].lag), which the consumer's num_pending does not
   * count yet — `lag` and where from — or why that is not known (no contact with the origin yet, lost
   * contact, an error, or a filtered consumer that may or may not match them). Absent on a stream
   * with neither (or when the stream's info cannot be read). decide.ts counts a known lag into the
   * backlog and lowers no replicas while it is not known.
   */
  upstream?: UpstreamLag;
  /**
   * The stream's max_msgs / max_bytes limits, its discard policy, and what it holds, read just after
   * the consumer info (absent: the stream has neither limit, or its info is not read). A stream at
   * such a limit refuses what arrives (discard new) or drops its oldest (discard old): decide.ts 2e
   * (stream-full.ts).
   */
  streamLimit?: StreamLimit;
  /**
   * A filtered consumer's stream: the messages it holds on the consumer's filter subjects (STREAM.INFO
   * subjects_filter, summed over literal filters), read just after the consumer info, on a stream
   * whose limits remove nothing — its growth is what arrived for the filter (rates.ts) — or why that
   * is not read (a wildcard filter, a stream that removes messages, a failed read). Absent for a
   * consumer of every subject, or when the stream's info cannot be read.
   */
  filterStored?: { count: number } | { unknown: string };
  /** The stream's state counters, read just after the consumer info, when removesInside (absent: unknown). */
  stream?: { firstSeq: number; lastSeq: number; messages: number; numDeleted: number };
  /**
   * The consumer's ack_policy is none: the server counts a message done when it delivers it, so
   * num_ack_pending stays 0 and a delivery into a client's buffer reads as a completion. No
   * per-replica capacity is learnt from such a consumer (rates.ts); replicas follow the backlog.
   */
  ackNone?: boolean;
  /**
   * With max_deliver 1: the messages the server has dropped at max_deliver, counted from its
   * MAX_DELIVERIES advisories within an epoch of the connection (backlog/drop-advisories.ts), or
   * why that is not known. Absent otherwise.
   */
  deliveryDrops?: { count: number; epoch: number } | { unknown: string };
  /** The consumer's max_deliver, when it has one (absent: unlimited). */
  maxDeliver?: number;
  /** The consumer's max_ack_pending (-1 = unlimited). */
  maxAckPending: number;
  /**
   * A pull consumer's max_waiting, when known: at most this many pull requests wait at the server,
   * and each further one is answered 409 "Exceeded MaxWaiting" (a client keeps one waiting per
   * replica: nats.js consume(), nats.go Consume()), so replicas beyond it get messages only between
   * their retries.
   */
  maxWaiting?: number;
  /**
   * When the consumer was created (CONSUMER.INFO `created`), when known. A durable deleted and
   * recreated under the same name restarts its counters; its sequence does not always go
   * backwards by the next reading (the new one may already have delivered more than the old one),
   * but its creation time changes.
   */
  consumerCreated?: string;
  /**
   * The consumer's filter subjects (config.filter_subject and filter_subjects, sorted, joined by a
   * space; '' for none), when known. nats-server 2.10+ edits a durable's filter in place: its
   * sequence and creation time stay, and num_pending jumps to the messages past its position that
   * the new filter matches (or drops to those the narrower one does).
   */
  consumerFilter?: string;
  /**
   * A push consumer (config.deliver_subject) without config.deliver_group: every subscriber of its
   * deliver subject receives every message (nats.go lets only one bind), so a second replica
   * processes each message again instead of draining faster. decide caps replicas at 1.
   */
  pushWithoutGroup?: boolean;
  /**
   * A push consumer (config.deliver_subject set, with or without a deliver group): the server sends
   * its subscribers what max_ack_pending allows, whether or not they are busy, so one replica's
   * client can hold far more than the others (decide.ts 2f). A pull client holds only what it asked
   * for.
   */
  push?: true;
  /**
   * A pull consumer whose priority groups pin one client (nats-server 2.11+, priority_policy
   * pinned_client): only the pinned client receives messages, every other replica's pull requests
   * wait until the pin is dropped, so another replica is a standby, not capacity. decide caps
   * replicas at 1.
   */
  pinnedClient?: boolean;
  /**
   * The consumer is paused on the server (nats-server 2.11+: `paused` in CONSUMER.INFO, while its
   * config's pause_until is ahead): nothing is delivered to anyone, so no replica can drain the
   * backlog. decide adds no replicas; rates.ts takes no capacity from an interval that touches it.
   */
  paused?: boolean;
  /** Seconds until a paused consumer resumes by itself (pause_remaining), when the server says. */
  pauseRemainingSeconds?: number;
  /**
   * The consumer has a filter subject (filter_subject or filter_subjects): delivered.stream_seq
   * then also moves over other subjects' messages, and redeliveries can hide behind them.
   */
  filtered?: boolean;
}

/** A stream's max_msgs / max_bytes limits and its state at a reading (BacklogSample.streamLimit). */
export interface StreamLimit {
  /** config.discard: what the stream does at its limit (refuse the new message, or drop its oldest). */
  discard: 'new' | 'old';
  maxMsgs?: number;
  maxBytes?: number;
  /** state.messages at the reading (absent: the state was not read). */
  messages?: number;
  /** state.bytes at the reading (absent: the state was not read). */
  bytes?: number;
}

/** The limits of a WorkQueue or Interest stream that remove messages besides acknowledgements. */
export interface RemovingLimits {
  maxAgeSeconds?: number;
  /** max_msgs with discard old. */
  maxMsgs?: number;
  /** max_bytes with discard old. */
  maxBytes?: number;
  maxMsgsPerSubject?: number;
  /** allow_msg_ttl: each message may carry its own TTL, which no stream state bounds. */
  msgTtl?: true;
}

/** The state of such a stream at a reading (STREAM.INFO state, and `ts` less first_ts: its oldest message's age). */
export interface LimitedStreamState {
  messages: number;
  bytes: number;
  lastSeq: number;
  /** Seconds the oldest message had been in the stream, on the server's clock (0: empty). */
  oldestAgeSeconds: number;
  /**
   * state.first_seq, where an acknowledgement by this consumer removes the message (a WorkQueue
   * stream, or an Interest stream with no other consumer); absent otherwise or not read. Limits
   * remove from the front, an acknowledgement anywhere: sequences between first_seq and last_seq
   * no longer stored (last_seq − first_seq + 1 − messages, the server's num_deleted) are messages
   * acknowledged before they expired (beyond-max-age.ts).
   */
  firstSeq?: number;
}

/** Messages a mirror or sourced stream has not copied yet from its origin(s), or why not known (BacklogSample.upstream). */
export type UpstreamLag = { lag: number; from: string } | { unknown: string };

/** What the policy remembers between ticks. Start from `emptyHistory()`; store what `decide` returns. */
export interface ScalingHistory {
  /** Recent unclamped recommendations, for the stabilization windows. */
  recommendations: Array<{ at: number; replicas: number }>;
  /** Applied scale changes, for the step policies' periods. */
  scaleEvents: Array<{ at: number; from: number; to: number }>;
  /** Recent backlog samples, for rate estimation and forecasting (bounded). */
  samples: BacklogSample[];
  /** Last time anything was pending or awaiting ack, or a message was delivered since the reading before. */
  lastActiveAt?: number;
  /** Until when (ms, the clock of `now`) a panic holds the replica count: no scale-down before then. */
  panicUntil?: number;
  /**
   * An arrival seen to have ended (decide.ts arrivalEnded): when, and the smoothed rate it ended
   * from. It stands while each interval since brings no more than 1 / PANIC_FACTOR of that rate.
   */
  arrivalEnded?: { at: number; perSecond: number };
  /** Rate estimation state (owned by rates.ts; opaque to callers). */
  rates?: unknown;
  /** Forecasting state (owned by the forecaster; opaque to callers). */
  forecast?: unknown;
  /** Recurring-load state (owned by seasonality.ts; opaque to callers). */
  seasonality?: unknown;
  /** Asked-for and ready replicas over the readiness deadline (owned by readiness.ts; opaque to callers). */
  readiness?: unknown;
  /** A smaller replica count tried at a full max_ack_pending (owned by at-cap-probe.ts; opaque to callers). */
  atCapProbe?: unknown;
  /** One replica fewer at a time for handlers shown to work on many at once (owned by in-hand-step.ts; opaque to callers). */
  inHandStep?: unknown;
  /**
   * The arrival rate of each recent interval (owned by decide.ts: the mean rate of the last start-up;
   * opaque to callers).
   */
  arrivals?: unknown;
}

export interface Rates {
  /** Messages arriving per second (EWMA), undefined until two samples exist. */
  arrivalPerSecond?: number;
  /** Messages completed per second across all replicas. */
  processingPerSecond?: number;
  /**
   * Messages delivered again per second (ack_wait expired, nak'd), as the counters prove them: at
   * least this many with a filter subject (rates.ts). Neither arrivals nor completions.
   */
  redeliveryPerSecond?: number;
  /** Estimated capacity of one replica (measured while replicas were busy). */
  perReplicaPerSecond?: number;
  /**
   * perReplicaPerSecond is a low end only, not a measurement: learnt while more replicas were asked
   * for than counted ready, and not yet confirmed by a busy interval with every replica ready
   * (rates.ts RateState.perReplicaLowEndOnly). Absent when measured.
   */
  perReplicaLowEndOnly?: boolean;
  /**
   * That low end was read from messages the replicas held alone while some were warming up
   * (rates.ts RateState.perReplicaLowEndHeld). Absent otherwise.
   */
  perReplicaLowEndHeld?: boolean;
  /**
   * What the replicas hold was shown to be in their handlers' hands (rates.ts
   * RateState.handlersInHand, in-hand.ts): with `from` ready replicas and with `to`, a message was
   * held `seconds` and as many were completed; `perReplica` each at the smaller count. Absent otherwise.
   */
  handlersInHand?: { seconds: number; perReplica: number; from: number; to: number };
  /**
   * Handlers that fail every message (rates.ts RateState.failingSince): nothing acknowledged while
   * messages were redelivered, for `seconds` up to this reading, and `replicas` were ready when it
   * began (decide.ts allows one beside them as a spare replica after FAILING_SPARE_AFTER_SECONDS). Carried
   * over a restart through status. Absent otherwise.
   */
  handlersFailing?: { seconds: number; replicas: number };
  /**
   * Messages one ready replica held awaiting ack while work was waiting (measured): its client's
   * prefetch plus what its handlers work on. Reported, never used as concurrency.
   */
  inFlightPerReplica?: number;
}

/**
 * Why max_ack_pending caps the replicas: no more replicas than slots (Slots), the user's
 * inFlightPerReplica, it was measured to bind, or a smaller count is tried for a while to measure
 * that (Probe: at-cap-probe.ts).
 */
export interface MaxAckPendingCap {
  replicas: number;
  source: 'Slots' | 'InFlightPerReplica' | 'Measured' | 'Probe';
  /** One clause a user can read: the evidence for the cap. */
  evidence: string;
}

export type ActivityReason = 'BacklogAboveActivation' | 'AwaitingAck' | 'MessagesDelivered' | 'NoBacklog';

export type ScalingLimit =
  | 'MaxReplicas'
  | 'MinReplicas'
  | 'MaxAckPending'
  | 'PushConsumer'
  | 'PinnedClient'
  | 'ConsumerPaused'
  | 'HandlersFailing'
  | 'HandlersSlowerThanMaxAge'
  | 'StepPolicy'
  | 'Stabilization'
  | 'ReplicasNotReady'
  | 'UpstreamLagUnknown'
  | 'BacklogRefused'
  | 'BacklogUnconfirmed';

export interface ScalingDecision {
  desiredReplicas: number;
  /**
   * The stream is at its max_msgs / max_bytes limit with this consumer's backlog filling it
   * (stream-full.ts): it refuses (discard new) or drops (discard old) what arrives beyond the room
   * the replicas free. `message` says so and what to change (the StreamFull condition).
   */
  streamFull?: { limit: 'max_msgs' | 'max_bytes'; discard: 'new' | 'old'; since: number; message: string };
  /**
   * Messages expire in the replicas' hands on a stream with max_age while each replica holds no
   * more than its handlers work on at once (spec.inFlightPerReplica, 1 unless set): the handling
   * time itself (`seconds`: held ÷ arrivals) nears max_age (`maxAgeSeconds`), which more replicas
   * do not shorten, so none are added for it. `message` says what to change (a Warning event,
   * when `started`: the reading before did not show it).
   */
  handlingNearMaxAge?: { seconds: number; maxAgeSeconds: number; message: string; started: boolean };
  /**
   * Messages the stream's own limit (`limit`: max_age, max_msgs / max_bytes with discard old,
   * per-message TTL) removed before this consumer delivered them (removed-unworked.ts): `removed`
   * in the interval that ended at this reading (0 while held: none then), `total` over the spell.
   * Held REMOVED_UNWORKED_HOLD_SECONDS after the last interval that removed any. `message` says
   * which limit and what to change (the MessagesRemovedUnworked condition; a Warning event when
   * `started`: the reading before did not show it).
   */
  removedUnworked?: {
    limit: RemovingLimitName;
    removed: number;
    total: number;
    message: string;
    started: boolean;
  };
  /**
   * Handlers slower than the stream's max_age (beyond-max-age.ts): since `since` (ms), with
   * `replicas` ready including one added for messages expiring in their hands, every message
   * expired before it was acknowledged (the stream shows no gap). More replicas cannot help, so
   * none are added while it lasts (limitedBy HandlersSlowerThanMaxAge when something asked for
   * more). `message` says what to change (a Warning event, when `started`: the reading before did
   * not show it).
   */
  handlersSlowerThanMaxAge?: {
    since: number;
    replicas: number;
    maxAgeSeconds: number;
    message: string;
    started: boolean;
  };
  /**
   * When to read the consumer again (seconds): short while the backlog or the arrival rate is
   * moving, longer when idle. The controller polls at min(this, spec.pollInterval).
   */
  nextPollSeconds: number;
  /** Replicas the raw signal asked for before stabilization, policies and bounds. */
  recommendedReplicas: number;
  /**
   * True when the backlog is above activationBacklog, messages await ack, or (with replicas
   * running) messages were delivered since the previous reading: traffic flowing at backlog 0.
   */
  active: boolean;
  /** Why `active` is what it is: a CamelCase reason and a clause a user can read (the Active condition). */
  activity: { reason: ActivityReason; message: string };
  /** Why desiredReplicas differs from recommendedReplicas, if it does. */
  limitedBy?: ScalingLimit;
  /** Set when max_ack_pending is known to bind (limitedBy is MaxAckPending when it held replicas back). */
  maxAckPendingCap?: MaxAckPendingCap;
  /**
   * True when arrivals outran the current replicas by PANIC_FACTOR at this reading: sized at once
   * for the arrival rate and the backlog that piles up while new pods start (see decide.ts).
   */
  panic?: boolean;
  /** One sentence a user can read in an Event: what was seen and what was decided. */
  reason: string;
  rates: Rates;
  forecast?: { arrivalPerSecond: number; relativeError: number; used: boolean };
  /**
   * Replicas ready, starting and overdue (asked for and not ready for the readiness deadline), when
   * the target reports readiness (input.readyReplicas). While any are overdue no replicas are added.
   */
  readiness?: ReadinessReport;
  history: ScalingHistory;
}

export interface ScalingInput {
  spec: ScalingSpec;
  sample: BacklogSample;
  /** The scale target's spec.replicas (what was last asked for). */
  currentReplicas: number;
  /**
   * Replicas ready to consume (Deployment status.readyReplicas). Optional; defaults to
   * currentReplicas. Used so pods still starting do not dilute the per-replica capacity estimate.
   */
  readyReplicas?: number;
  /**
   * A rolling update of the target in progress: the replicas it keeps unavailable by design (its
   * maxUnavailable) and the replicas of the old template still there. While old replicas keep
   * being replaced, that many not ready are the rollout's, not overdue (readiness.ts). Optional.
   */
  rollout?: { unavailable: number; remaining: number };
  history: ScalingHistory;
  now: number;
  /**
   * The per-replica capacity an earlier process measured and wrote in status (validated by the
   * caller: same stream and consumer, recent, within bounds). Used only while the history has no
   * rates yet (rates.ts RateOptions.carriedPerReplicaPerSecond). Optional.
   */
  carriedPerReplicaPerSecond?: number;
  /** The carried capacity is a low end only (status rates.perReplicaLowEndOnly). Optional. */
  carriedPerReplicaLowEndOnly?: boolean;
  /** ... read from held messages alone (status rates.perReplicaLowEndHeld). Optional. */
  carriedPerReplicaLowEndHeld?: boolean;
  /**
   * Held messages an earlier process showed in the handlers' hands (status rates.handlersInHand,
   * validated by the caller), used as the carried figure is. Optional.
   */
  carriedHandlersInHand?: { seconds: number; perReplica: number; from: number; to: number };
  /**
   * A failing spell an earlier process was in (status rates.handlersFailing, validated by the
   * caller): since when (ms, the clock of `now`) and the replicas ready when it began. Used only
   * while the history has no rates yet (rates.ts RateOptions.carriedHandlersFailing). Optional.
   */
  carriedHandlersFailing?: { since: number; replicas: number };
  /**
   * Replicas an earlier process found overdue (status consumers[].replicasOverdue, validated by the
   * caller): when (ms, the clock of `now`), and how many were asked for and overdue then. Used only
   * while the history has no readiness readings yet (readiness.ts carriedReadiness). Optional.
   */
  carriedReplicasOverdue?: { at: number; asked: number; overdue: number };
  /**
   * What an earlier process learnt of max_ack_pending (status consumers[].maxAckPendingCap,
   * validated by the caller; times in ms on the clock of `now`): the two replica counts that showed
   * the limit binds (taken only when maxAckPendingBinding finds it in them, at the limit this
   * reading shows), when its last at-cap probe started, and the probe under way (at-cap-probe.ts).
   * Used only while the history has no rates yet. A carried cap holds the replicas from rising
   * above it, never takes them below the current count, until this process's own readings at the
   * limit replace its records. Optional.
   */
  carriedAtCap?: CarriedAtCap;
  /**
   * Handlers an earlier process read as slower than the stream's max_age (status
   * consumers[].rates.handlersSlowerThanMaxAge, validated by the caller): since when (ms, the clock
   * of `now`), the replicas ready then, the max_age it was found on. Used only while the history has
   * no rates yet, and only when the first reading shows it still holds (rates.ts
   * RateOptions.carriedBeyondMaxAge), so a restart adds no trial replica again. Optional.
   */
  carriedHandlersSlowerThanMaxAge?: { since: number; replicas: number; maxAgeSeconds: number };
}

/** See ScalingInput.carriedAtCap. */
export interface CarriedAtCap {
  maxAckPending: number;
  /** The records at a full max_ack_pending: fewer and more replicas, what each processed, over how long, when. */
  records?: Array<{ replicas: number; perSecond: number; seconds: number; at: number }>;
  /** When the last at-cap probe started. */
  probeStartedAt?: number;
  /** The at-cap probe under way: from and to which count, since when. */
  probe?: { from: number; to: number; since: number };
}
