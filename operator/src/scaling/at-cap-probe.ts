// Bringing back a max_ack_pending cap when the replica count cannot rise to re-measure it.
//
// rates.ts learns that the limit binds from two replica counts at a full max_ack_pending with work
// waiting: more replicas that did not process more (maxAckPendingBinding). The policy reaches a
// second count on its own while it scales up, but not once it is held at maxReplicas: then the
// only record is the one there, and a record at fewer replicas that was dropped as taken with other
// handlers (atCapContradicts) or forgotten (SATURATION_MEMORY_SECONDS) never comes back. The policy
// fuzzer's worlds 951042 and 952023 (handlers that work on 200 or 400 messages at once against
// max_ack_pending 100 and 20: one replica has every slot in hand) ran 5 replicas (maxReplicas)
// where 1 does as much once their handlers slowed 4-10x: +71 % and +59 % replica-seconds against
// the code before atCapContradicts, whose cap was right by luck (it compared records of the old
// and the new handlers).
//
// So a smaller count is tried, when there is a cap to find: one is measured now (between two
// higher counts: it may bind lower still, as in 952023, capped at 3 by 3 against 4 where 1 does as
// much), records at a full max_ack_pending were dropped as contradicted (the handlers changed)
// since the last probe, a measured cap applied within SATURATION_MEMORY_SECONDS and has lapsed
// (its records aged out), or a climb read a pair that would bind (rates.ts climbBinding: the fewer
// count read before the more, which caps nothing, as handlers that slowed in between read the
// same): then the climb's fewer count is tried again, as far as the scale-down rules allow, whatever
// records lie below it (all read before the count in place). With none of these, nothing is tried: where no cap was ever seen, clients that fill max_ack_pending with their
// prefetch (jnats consume() and NATS.Net ConsumeAsync() against 20 slots) have handlers that are
// the bottleneck, and a smaller count would only do less. A probe starts while the replicas are
// held where they are (maxReplicas, or a cap measured between two higher counts) with more asked
// for, max_ack_pending has been full with work waiting for SATURATION_MIN_SECONDS at this count and
// no smaller count has a record: the cap is set at half the replicas (as far as the scale-down step
// policies allow in one step; never with scaleDown Disabled). Where they allow a step smaller than
// SATURATION_MIN_STEP (a pod at a time), the cap is set at half all the same, and the rules take the
// replicas there at their own pace (probeStage): before, no probe could start, and cron world 36021
// (20 slots that bind at 1 replica, maxReplicas 20, a pod per 5 s) ran 20 to the end. The smaller
// count's record then says whether the limit binds (maxAckPendingBinding caps there, as measured),
// or the probe ends and the count goes back: at once when a reading at the smaller count shows room
// under max_ack_pending while work waits (its clients do not ask for every slot, so the slots were
// not what held the replicas back), at the first reading whose record at the smaller count (or at
// a count on the way down that the rules hold long enough to read) falls short of binding even at
// the far end of its noise (it is taken as soon as the ack floor has passed all that was delivered
// at the fall: rates.ts), or PROBE_MAX_SECONDS after the ready count last fell toward it, not
// counting while the rules allow no step. A probe that ends with the cap
// measured at its count cost nothing (the replicas it took away did no more than those left), and
// the next may start at once. Otherwise probes start at least PROBE_GAP_SECONDS apart: where the limit does not bind after all, one costs half the replicas'
// work for the seconds it lasts and the pods' start-up after it — 40 s at 5 of 10 nats.js consume()
// replicas before the early end, 14-30 s with it (at-cap-probe.test).

import {
  SATURATION_GAIN_SHARE,
  SATURATION_MEMORY_SECONDS,
  SATURATION_MIN_SECONDS,
  SATURATION_MIN_STEP,
  atMaxAckPending,
  countedRateBounds,
} from './rates.js';
import type { RateState } from './rates.js';
import type { BacklogSample } from './types.js';

/**
 * Probes start at least this many seconds apart. Bounds what they cost where the limit does not
 * bind while handlers keep changing 3x: half the replicas for PROBE_MAX_SECONDS of each 300 s.
 */
export const PROBE_GAP_SECONDS = 300;
/**
 * A probe ends this many seconds after the ready count last fell toward its count (or after it
 * began): the replicas taken away leave the ready count, those left settle (rates.ts leaving,
 * LOWER_BOUND_SETTLE_SECONDS 30 s) and are recorded for SATURATION_MIN_SECONDS, a few polls late at
 * most. Seconds in which the scale-down rules allow no step on the way down do not count.
 */
export const PROBE_MAX_SECONDS = 90;

/** A probe under way: the cap set at `to` replicas from `from`, since when, at which limit. */
export interface AtCapProbe {
  from: number;
  to: number;
  since: number;
  maxAckPending: number;
}

/** What the policy keeps between readings (ScalingHistory.atCapProbe). */
export interface AtCapProbeState {
  /** When the last probe started (ms, the clock of `now`). */
  startedAt?: number;
  /** The probe under way, if any. */
  active?: AtCapProbe;
  /** The last reading at which a measured cap applied (ms), and at which limit. */
  capped?: { at: number; maxAckPending: number };
}

const finite = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);
const whole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** The stored state, or undefined when it is not one this module wrote (older or foreign history). */
export function asAtCapProbeState(value: unknown): AtCapProbeState | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { startedAt, active, capped } = value as Record<string, unknown>;
  const state: AtCapProbeState = {};
  if (finite(startedAt)) state.startedAt = startedAt;
  if (typeof active === 'object' && active !== null) {
    const a = active as Record<string, unknown>;
    if (
      whole(a.from) &&
      whole(a.to) &&
      a.to >= 1 &&
      a.to < a.from &&
      finite(a.since) &&
      finite(a.maxAckPending)
    )
      state.active = { from: a.from, to: a.to, since: a.since, maxAckPending: a.maxAckPending };
  }
  if (typeof capped === 'object' && capped !== null) {
    const c = capped as Record<string, unknown>;
    if (finite(c.at) && finite(c.maxAckPending)) state.capped = { at: c.at, maxAckPending: c.maxAckPending };
  }
  return state;
}

export interface AtCapProbeInput {
  state: AtCapProbeState | undefined;
  rates: RateState;
  sample: Pick<BacklogSample, 'at' | 'pending' | 'ackPending' | 'maxAckPending'>;
  current: number;
  ready: number;
  recommended: number;
  maxReplicas: number;
  /** The fewest replicas the scale-down rules allow now (undefined: scale-down disabled). */
  downFloor: number | undefined;
  /** The user's spec.inFlightPerReplica sets the cap: nothing to measure. */
  userCap: boolean;
  /** The cap measured so far (maxAckPendingBinding's fewer count), if any: a probe tries below it too. */
  measuredCap: number | undefined;
  /**
   * The fewer count of a pair that would bind but was read in a climb (rates.ts climbBinding: fewer
   * first, more after), if any: a probe reads it again.
   */
  climbCap?: number | undefined;
  now: number;
}

/** The probe for this reading, if one is under way or starts now, and the state to keep. */
export function nextAtCapProbe(input: AtCapProbeInput): { probe?: AtCapProbe; state: AtCapProbeState } {
  const { state, sample, now } = input;
  const next: AtCapProbeState = {};
  if (state?.startedAt !== undefined) next.startedAt = state.startedAt;
  if (input.measuredCap !== undefined) next.capped = { at: now, maxAckPending: sample.maxAckPending };
  else if (state?.capped !== undefined) next.capped = state.capped;
  if (state?.active !== undefined && probeGoesOn(state.active, input)) {
    next.active = state.active;
    return { probe: state.active, state: next };
  }
  // A probe that ended measuring the cap at its count cost nothing (the replicas it took away did
  // no more than those left): the next may start at once, to read a count a climb named lower still.
  if (
    state?.active !== undefined &&
    input.measuredCap !== undefined &&
    input.measuredCap <= state.active.to &&
    sample.maxAckPending === state.active.maxAckPending
  )
    delete next.startedAt;
  if (!probeDue(next, input)) return { state: next };
  const to = probeCount(input);
  if (to === undefined) return { state: next };
  const probe: AtCapProbe = { from: input.current, to, since: now, maxAckPending: sample.maxAckPending };
  return { probe, state: { ...next, startedAt: now, active: probe } };
}

/**
 * Whether there is a cap to find (see the header), PROBE_GAP_SECONDS after the last probe: one
 * measured now (it may bind lower still), records dropped as contradicted since that probe started,
 * or a measured cap at this limit that applied within SATURATION_MEMORY_SECONDS and applies no more.
 */
function probeDue(state: AtCapProbeState, input: AtCapProbeInput): boolean {
  const { rates, sample, measuredCap, now } = input;
  const { startedAt, capped } = state;
  if (startedAt !== undefined && now - startedAt < PROBE_GAP_SECONDS * 1000) return false;
  const recent = (at: number): boolean => now - at <= SATURATION_MEMORY_SECONDS * 1000;
  const contradictedAt = rates.atCap?.contradictedAt;
  const changed =
    contradictedAt !== undefined &&
    recent(contradictedAt) &&
    (startedAt === undefined || contradictedAt > startedAt);
  const lapsed =
    measuredCap === undefined &&
    capped !== undefined &&
    capped.maxAckPending === sample.maxAckPending &&
    recent(capped.at);
  return measuredCap !== undefined || changed || lapsed || input.climbCap !== undefined;
}

/** The smaller count a probe starting at this reading takes the replicas to, or undefined: none starts. */
function probeCount(input: AtCapProbeInput): number | undefined {
  const { rates, sample, current, ready, recommended, maxReplicas, downFloor, userCap, measuredCap } = input;
  const limit = sample.maxAckPending;
  if (userCap || !(limit > 0) || downFloor === undefined) return undefined;
  // Held where it is (maxReplicas, or a cap measured between two higher counts) with more asked for.
  const held = current >= Math.min(maxReplicas, measuredCap ?? Infinity);
  if (current < 2 || ready !== current || !held || recommended <= current) return undefined;
  const atCap = rates.atCap;
  if (atCap === undefined || atCap.maxAckPending !== limit) return undefined;
  const evidence = atCap.throughput.filter(
    (e) => e.seconds >= SATURATION_MIN_SECONDS && sample.at - e.at <= SATURATION_MEMORY_SECONDS * 1000,
  );
  // Full with work waiting over the interval this reading ended, long enough at this count.
  const here = evidence.find((e) => e.replicas === current && e.at === sample.at);
  if (here === undefined) return undefined;
  // A climb's pair names the count to read again (rates.ts climbBinding): the records below the
  // count in place were all read before it, so none says what fewer do with these handlers.
  if (input.climbCap !== undefined && input.climbCap * SATURATION_MIN_STEP <= current) {
    const to = probeStage(input.climbCap, current, downFloor);
    if (to !== undefined) return to;
  }
  // A record at a count a step below already says what fewer do (they did less, or the cap
  // measured would be there): nothing to probe.
  if (evidence.some((e) => e.replicas * SATURATION_MIN_STEP <= current)) return undefined;
  const target = Math.max(1, Math.floor(current / 2));
  return target * SATURATION_MIN_STEP <= current ? probeStage(target, current, downFloor) : undefined;
}

/**
 * The count a probe toward `target` tries from `current`, or undefined (none now): as far as the
 * scale-down rules allow in one go (`downFloor`) when that is a step a pair can show the limit
 * binding on (SATURATION_MIN_STEP). Where they allow a step but a smaller one (a pod at a time),
 * half the replicas at most all the same, which the rules then reach at their own pace: a probe
 * that ends with the cap measured there lets the next go on toward the target at once
 * (nextAtCapProbe), so the descent is confirmed a halving at a time, each fewer count read after
 * the more one above it. Halving, not the smallest step: at 2/s, 10 s of readings count 20
 * messages, too few to tell 10 replicas from 12 (5 % of gain). Where they allow no step yet, none
 * starts: the next reading may allow a larger one.
 */
function probeStage(target: number, current: number, downFloor: number): number | undefined {
  const inOneGo = Math.max(1, target, downFloor);
  if (inOneGo * SATURATION_MIN_STEP <= current) return inOneGo;
  return downFloor < current ? Math.max(1, target, Math.floor(current / 2)) : undefined;
}

/**
 * When a probe's PROBE_MAX_SECONDS count from: the last fall of the ready count (toward its count),
 * or its start.
 */
export function probeClockStart(probe: AtCapProbe, rates: RateState, ready: number): number {
  const fellAt =
    rates.last.readyFrom !== undefined && rates.last.readyFrom > ready ? rates.last.readySince : probe.since;
  return Math.max(probe.since, fellAt);
}

/** Whether a probe under way goes on at this reading. */
function probeGoesOn(probe: AtCapProbe, input: AtCapProbeInput): boolean {
  const { rates, sample, ready, current, downFloor, userCap, now } = input;
  if (userCap || sample.maxAckPending !== probe.maxAckPending) return false;
  // Slower scale-down rules reach its count a pod at a time (probeStage): while they allow no step
  // yet, it waits on them.
  const awaitsRules = ready > probe.to && downFloor !== undefined && downFloor >= current;
  if (!awaitsRules && now - probeClockStart(probe, rates, ready) > PROBE_MAX_SECONDS * 1000) return false;
  // Nothing waits: no replicas are held back, whatever binds.
  if (!(sample.pending > 0)) return false;
  // At the smaller count with room under the limit while work waits: its clients do not ask for
  // every slot, so the slots did not hold the replicas back.
  if (ready <= probe.to && !atMaxAckPending(sample.ackPending, sample.maxAckPending)) return false;
  // Measured: maxAckPendingBinding now says whether the limit binds.
  // The smaller count as read since the probe began (on the way down, the count in place): its
  // latest visit, when it has a record from before (a climb's count read again).
  const count = Math.max(ready, probe.to);
  const found = rates.atCap?.throughput.find((e) => e.replicas === count && e.at > probe.since);
  const record =
    found?.visit !== undefined && found.visit.since >= probe.since ? { ...found, ...found.visit } : found;
  if (record === undefined) return true;
  if (count === probe.to && record.seconds >= SATURATION_MIN_SECONDS) return false;
  // Fallen behind already: even at the far end of its noise, the smaller count processes less than
  // what binding at it needs (maxAckPendingBinding: the larger count gained a SATURATION_GAIN_SHARE
  // of the proportional gain on it). Each second more at it is lost work.
  const from = rates.atCap?.throughput.find((e) => e.replicas === probe.from);
  if (from === undefined || count >= probe.from) return true;
  const gain = 1 + (SATURATION_GAIN_SHARE * (probe.from - count)) / count;
  return countedRateBounds(record).high * gain >= countedRateBounds(from).low;
}
