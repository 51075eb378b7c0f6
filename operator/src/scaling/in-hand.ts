// Held messages in the handlers' hands, told from a queue by what a scale-up did to them.
//
// The counters never tell what the replicas hold in hand from what waits in their clients'
// buffers while the same replicas keep up: by Little's law the mean time a message is held
// (held ÷ completions) is the handling time in both, so 2f (decide.ts) counts what is held beyond
// one message a replica as buffered and drains it within drainWithinSeconds. Handlers that work on
// many messages at once (nats.go Consume() with a goroutine a message, nats.js consume() with
// handlers not awaited one by one, a push subscriber with 500 in flight) then ask for replicas that
// change nothing: the policy fuzzer's worlds 2781 (nats.go Consume() ×50: 2 -> 6 for 1.4/s),
// 702099 (NATS.Net ×40: 50 where 19 do) and 515518 (nats.py push ×500: 50 where 6 do).
//
// Only the response to a change of the replica count tells them apart. Behind buffers, a replica
// added takes its share of what arrives, the others' buffers drain, and the mean time a message is
// held falls (a replica taken away: it rises). In hand, the total held stays at rate × handling
// time: per replica it moves, the mean time held does not, nor do the completions (they are what
// arrives). So over each stretch of settled intervals at one ready count with nothing pending at
// the server (HeldStretch) the time-weighted held, the arrivals and the completions are summed.
// Once a stretch is STRETCH_MIN_SECONDS and STRETCH_HOLDINGS mean times held long, it is compared
// (once) with the last such stretch at another count, within STRETCH_MAX_AGE_SECONDS: the same
// arrivals and completions (within SAME_RATE_SHARE or SAME_RATE_NOISE_SIGMAS of their counts'
// noise), what is held level in each (LEVEL_NOISE_SIGMAS: neither falling behind nor draining a
// queue), more than one message held a replica at the smaller count (what 2f counts buffered),
// and the mean time held the same within HELD_TIME_SAME_FACTOR either way: the held messages are
// in hand (RateState.handlersInHand, with that time held). A mean time held that moved as a
// queue's does clears it; anything else leaves it as it was. One change of count that changed
// nothing is the evidence, and the policy's own moves supply it: 2f's scale-up for what is held,
// or the rate term's scale-down. Once shown, decide.ts (2f) counts the completions times that time
// held as in hand, whatever the count, while nothing waits at the server: a handling time that grew shows as held beyond it, which 2f
// drains again, and the next change of count measures it again.

/** A stretch of intervals with the same ready replicas, nothing pending at the server, and what they held. */
export interface HeldStretch {
  replicas: number;
  /** Epoch ms of the stretch's first reading, and of its last. */
  since: number;
  until: number;
  /** Seconds of intervals summed. */
  seconds: number;
  /** Messages held times seconds (the time-weighted mean held is this ÷ seconds). */
  heldMessageSeconds: number;
  /** Messages held at its first reading and at its last. */
  heldFirst: number;
  heldLast: number;
  arrived: number;
  completed: number;
  /** Already compared with the stretch before it (one judgement a stretch). */
  judged?: true;
}

/**
 * Held messages shown to be in the handlers' hands (RateState.handlersInHand): when the ready
 * replicas went from `from` to `to`, the mean time a message was held (`seconds`, Little's law) did
 * not change and neither did the completions. `perReplica`: the messages each replica held at the
 * smaller count (about what the handlers work on at once at that load: what
 * spec.inFlightPerReplica would say).
 */
export interface HandlersInHand {
  seconds: number;
  perReplica: number;
  from: number;
  to: number;
  /** Epoch ms of the judgement. */
  at: number;
}

/**
 * A stretch is compared with the one before it once each is at least this long and
 * STRETCH_HOLDINGS times the mean time held (what was in hand at its start then cycled through).
 */
export const STRETCH_MIN_SECONDS = 15;
export const STRETCH_HOLDINGS = 1.5;
/** The stretch before is compared only within this long of its end. */
export const STRETCH_MAX_AGE_SECONDS = 600;
/** Two rates agree within this share of the larger (either way) ... */
export const SAME_RATE_SHARE = 0.25;
/** ... or within this many standard deviations of their counts' noise. */
export const SAME_RATE_NOISE_SIGMAS = 3;
/** A stretch is level when what it held at its end is within this many standard deviations of its start. */
export const LEVEL_NOISE_SIGMAS = 2;
/**
 * The mean time held "did not change" within this factor either way. More replicas and a mean time
 * held shorter by more (or fewer and longer): a queue, which clears the mark.
 */
export const HELD_TIME_SAME_FACTOR = 1.25;
/**
 * decide.ts (2f) counts in hand, once shown, the completions times the time held, and this many
 * standard deviations of a count of messages held (a Poisson count's, times the arrivals'
 * dispersion) above it: a reading catches a clump of arrivals in hand.
 */
export const IN_HAND_NOISE_SIGMAS = 3;

/**
 * What the replicas hold in their handlers' hands once that was shown (`shown`): the completions
 * times the time a message is held (Little's law), whatever the replica count, and
 * IN_HAND_NOISE_SIGMAS standard deviations of a count of messages held above it (a Poisson
 * count's, times the arrivals' dispersion). 0 without a mark or completions. One reckoning for
 * every reader: decide.ts 2f (what is held beyond it is buffered) and rates.ts's backlog runs
 * (what stands beyond it is a backlog).
 */
export function shownInHandMessages(
  shown: HandlersInHand | undefined,
  completingPerSecond: number | undefined,
  dispersion: number | undefined,
): number {
  if (shown === undefined || completingPerSecond === undefined) return 0;
  if (!Number.isFinite(completingPerSecond) || !(completingPerSecond > 0)) return 0;
  const held = completingPerSecond * shown.seconds;
  const d = dispersion !== undefined && Number.isFinite(dispersion) ? Math.max(1, dispersion) : 1;
  return held + IN_HAND_NOISE_SIGMAS * Math.sqrt(d * held);
}

/** One interval, as the in-hand evidence reads it. */
export interface InHandInterval {
  fromAt: number;
  toAt: number;
  heldFrom: number;
  heldTo: number;
  arrived: number;
  completed: number;
  /** Ready replicas at the interval's start and end. */
  readyFrom: number;
  readyTo: number;
  /** The arrivals' dispersion (RateState.arrivalDispersion: variance ÷ mean of a count, at least 1). */
  dispersion: number;
  /**
   * Evidence at all: nothing pending at the server at either end, completions known to be
   * completions (no redelivery, gap, pause, failing handlers), what is held the newest deliveries,
   * max_ack_pending not full, a new ready count settled, and the user did not say how many the
   * handlers work on at once.
   */
  eligible: boolean;
}

export interface InHandState {
  /** The stretch at the current ready count. */
  stretch?: HeldStretch;
  /** The last stretch long enough to compare, at another count. */
  before?: HeldStretch;
  shown?: HandlersInHand;
}

const finitePositive = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;
const finiteNonNegative = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;

/** A HandlersInHand read back from state or status, or undefined when it is not one. */
export function validHandlersInHand(v: unknown): HandlersInHand | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (
    !finitePositive(o.seconds) ||
    !finitePositive(o.perReplica) ||
    !Number.isInteger(o.from) ||
    !Number.isInteger(o.to) ||
    !finitePositive(o.from) ||
    !finitePositive(o.to) ||
    !finiteNonNegative(o.at) ||
    o.to === o.from
  )
    return undefined;
  return { seconds: o.seconds, perReplica: o.perReplica, from: o.from, to: o.to, at: o.at };
}

function validStretch(v: unknown): HeldStretch | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  return finitePositive(o.replicas) &&
    finiteNonNegative(o.since) &&
    finiteNonNegative(o.until) &&
    finiteNonNegative(o.seconds) &&
    finiteNonNegative(o.heldMessageSeconds) &&
    finiteNonNegative(o.heldFirst) &&
    finiteNonNegative(o.heldLast) &&
    finiteNonNegative(o.arrived) &&
    finiteNonNegative(o.completed)
    ? (o as unknown as HeldStretch)
    : undefined;
}

/** The mean time a message of the stretch was held (Little's law), or undefined without completions. */
function meanHeldSeconds(s: HeldStretch): number | undefined {
  return s.completed > 0 && s.seconds > 0 ? s.heldMessageSeconds / s.completed : undefined;
}

/** Long enough to compare: STRETCH_MIN_SECONDS and STRETCH_HOLDINGS mean times held. */
function longEnough(s: HeldStretch, heldSeconds: number): boolean {
  return s.seconds >= Math.max(STRETCH_MIN_SECONDS, STRETCH_HOLDINGS * heldSeconds);
}

/**
 * What two stretches at different ready counts show (see the header): the mark when the mean time
 * held and the completions stayed, none (undefined) when the time held moved as a queue's does,
 * and `before` unchanged when they show neither (another load, another pace).
 */
function judge(
  before: HeldStretch,
  after: HeldStretch,
  dispersion: number,
  shownBefore: HandlersInHand | undefined,
): HandlersInHand | undefined {
  const wBefore = meanHeldSeconds(before);
  const wAfter = meanHeldSeconds(after);
  if (wBefore === undefined || wAfter === undefined) return shownBefore;
  const d = Math.max(1, Number.isFinite(dispersion) ? dispersion : 1);
  const rate = (s: HeldStretch, count: number): number => count / s.seconds;
  // Rates that agree within SAME_RATE_SHARE of the larger, or within SAME_RATE_NOISE_SIGMAS of the
  // noise of the counts they come from (Poisson counts, times the arrivals' dispersion): 30
  // arrivals in 22 s after 2.05/s over 24 s is the same 1.4/s stream.
  const same = (a: number, b: number): boolean => {
    const noise = Math.sqrt(d * (a / after.seconds + b / before.seconds));
    return Math.abs(a - b) <= Math.max(SAME_RATE_SHARE * Math.max(a, b), SAME_RATE_NOISE_SIGMAS * noise);
  };
  if (!same(rate(after, after.arrived), rate(before, before.arrived))) return shownBefore;
  // Each stretch in a steady state: what was held at its end within the noise of what moved
  // (LEVEL_NOISE_SIGMAS) of what was held at its start. Replicas falling behind (held growing) or
  // draining a queue (held falling) hold no steady count, whatever the mean time held reads.
  const level = (s: HeldStretch): boolean =>
    Math.abs(s.heldLast - s.heldFirst) <=
    Math.max(1, LEVEL_NOISE_SIGMAS * Math.sqrt(d * (s.arrived + s.completed)));
  if (!level(before) || !level(after)) return shownBefore;
  const more = after.replicas > before.replicas;
  const fewer = more ? before : after;
  const queued = more ? wAfter * HELD_TIME_SAME_FACTOR < wBefore : wAfter > wBefore * HELD_TIME_SAME_FACTOR;
  if (queued) return undefined;
  const sameTime = wAfter * HELD_TIME_SAME_FACTOR >= wBefore && wAfter <= wBefore * HELD_TIME_SAME_FACTOR;
  const heldEach = fewer.heldMessageSeconds / fewer.seconds / fewer.replicas;
  // More than one a replica at the smaller count: what 2f counts as buffered.
  if (!sameTime || !(heldEach > 1) || !same(rate(after, after.completed), rate(before, before.completed)))
    return shownBefore;
  return {
    seconds: Math.min(wAfter, wBefore),
    perReplica: Math.ceil(heldEach),
    from: before.replicas,
    to: after.replicas,
    at: after.until,
  };
}

/** The in-hand evidence after one interval: the stretches and the mark (see the header). Pure. */
export function nextInHand(state: InHandState, interval: InHandInterval): InHandState {
  let stretch = validStretch(state.stretch);
  let before = validStretch(state.before);
  let shown = validHandlersInHand(state.shown);
  const result = (): InHandState => ({
    ...(stretch !== undefined ? { stretch } : {}),
    ...(before !== undefined ? { before } : {}),
    ...(shown !== undefined ? { shown } : {}),
  });
  const close = (): void => {
    // A stretch long enough to compare becomes the one before; a shorter one leaves it.
    if (stretch !== undefined) {
      const w = meanHeldSeconds(stretch);
      if (w !== undefined && longEnough(stretch, w)) before = { ...stretch };
    }
    stretch = undefined;
  };
  if (before !== undefined && (interval.toAt - before.until) / 1000 > STRETCH_MAX_AGE_SECONDS)
    before = undefined;
  if (interval.readyTo !== interval.readyFrom) {
    close();
    return result();
  }
  const seconds = (interval.toAt - interval.fromAt) / 1000;
  if (!interval.eligible || !(seconds > 0) || interval.readyTo <= 0) {
    close();
    return result();
  }
  const base: HeldStretch =
    stretch !== undefined && stretch.replicas === interval.readyTo
      ? stretch
      : {
          replicas: interval.readyTo,
          since: interval.fromAt,
          until: interval.fromAt,
          seconds: 0,
          heldMessageSeconds: 0,
          heldFirst: interval.heldFrom,
          heldLast: interval.heldFrom,
          arrived: 0,
          completed: 0,
        };
  stretch = {
    ...base,
    until: interval.toAt,
    seconds: base.seconds + seconds,
    heldMessageSeconds: base.heldMessageSeconds + ((interval.heldFrom + interval.heldTo) / 2) * seconds,
    heldLast: interval.heldTo,
    arrived: base.arrived + Math.max(0, interval.arrived),
    completed: base.completed + Math.max(0, interval.completed),
  };
  const w = meanHeldSeconds(stretch);
  const wBefore = before === undefined ? undefined : meanHeldSeconds(before);
  if (
    stretch.judged !== true &&
    before !== undefined &&
    before.replicas !== stretch.replicas &&
    w !== undefined &&
    wBefore !== undefined &&
    longEnough(stretch, Math.max(w, wBefore))
  ) {
    shown = judge(before, stretch, interval.dispersion, shown);
    stretch = { ...stretch, judged: true };
  }
  return result();
}
