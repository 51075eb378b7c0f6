// One replica fewer at a time for handlers shown to work on many messages at once: the only reading
// that shows how many each can take.
//
// Replicas whose held messages were shown in their handlers' hands (in-hand.ts: a change of the
// ready count left the time a message is held as it was) and that keep up (decide.ts
// inHandKeepsUp) complete what arrives, shared out. Their per-replica figure, completions ÷ ready,
// is what they did with time to spare and never passes it while the count stays: nats.go
// Consume() with 50 at once, 10 s handlers (5/s a replica), 4/s arriving, was held at 5 replicas
// ("4/s at 1/s per replica needs 5") where 1 does it, for good (handlers-in-hand.test). No counter
// tells how many more a replica's hands hold (held ÷ completions is the time held whether the
// hands or a buffer hold them), so the count is taken down one replica at a time, and each step is
// judged as the policy's own steps are (in-hand.ts): the same time held at the smaller count lets
// the next one go; a time held that grew as a queue's clears the mark and ends the steps.
//
// A step that overfills the hands shows at once as held beyond what they hold (decide.ts 2f:
// completions × the time held, and its noise), before any judgement: the count goes back to the
// one the step left (the rate term sized by the figure, what they did, asked for 20 where 2 did it:
// handlers of 20 at once, 10 s each, 4/s), and what each replica held at the step is remembered as
// too many (`full`) for HANDS_FULL_MEMORY_SECONDS: no later step takes each replica to within
// HELD_TIME_SAME_FACTOR of it. Whatever else asks for more (work waiting at the server, an arrival
// rate that rose beyond SAME_RATE_SHARE of the step's) is sized as before.

import { HELD_TIME_SAME_FACTOR, SAME_RATE_SHARE } from './in-hand.js';
import type { HandlersInHand } from './in-hand.js';

/** How long a step's failure (held beyond the hands at the smaller count) is remembered. */
export const HANDS_FULL_MEMORY_SECONDS = 1800;
/** A step is watched for overfilled hands this long after the smaller count was asked for. */
export const STEP_WATCH_SECONDS = 120;

/** A step down asked for: from `from` replicas to `to`, when, with what held and arriving then. */
export interface InHandStepDown {
  from: number;
  to: number;
  at: number;
  held: number;
  arrivalPerSecond: number;
  /** The smaller count overfilled the hands: the count goes back to `from`. */
  failed?: true;
}

/** What the policy keeps between readings (ScalingHistory.inHandStep). */
export interface InHandStepState {
  step?: InHandStepDown;
  /** Held a replica that overfilled the hands at a step, and when. */
  full?: { heldPerReplica: number; at: number };
}

const finite = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);
const whole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;

/** The stored state, or undefined when it is not one this module wrote (older or foreign history). */
export function asInHandStepState(value: unknown): InHandStepState | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { step, full } = value as Record<string, unknown>;
  const state: InHandStepState = {};
  if (typeof step === 'object' && step !== null) {
    const s = step as Record<string, unknown>;
    if (
      whole(s.from) &&
      whole(s.to) &&
      s.to < s.from &&
      finite(s.at) &&
      finite(s.held) &&
      s.held >= 0 &&
      finite(s.arrivalPerSecond) &&
      s.arrivalPerSecond >= 0
    )
      state.step = {
        from: s.from,
        to: s.to,
        at: s.at,
        held: s.held,
        arrivalPerSecond: s.arrivalPerSecond,
        ...(s.failed === true ? { failed: true as const } : {}),
      };
  }
  if (typeof full === 'object' && full !== null) {
    const f = full as Record<string, unknown>;
    if (finite(f.heldPerReplica) && f.heldPerReplica > 0 && finite(f.at))
      state.full = { heldPerReplica: f.heldPerReplica, at: f.at };
  }
  return state;
}

export interface InHandStepInput {
  state: InHandStepState | undefined;
  /**
   * The replicas keep up with what they hold in hand (decide.ts inHandKeepsUp), no latency
   * objective and no recurring burst sizes them, and the user's rules let the count down.
   */
  keepingUp: boolean;
  /** The mark (RateState.handlersInHand), if shown. */
  shown: HandlersInHand | undefined;
  /** Since when (ms) the ready count has been what it is (rates.ts last.readySince). */
  readySince: number;
  current: number;
  ready: number;
  /** Messages awaiting ack. */
  held: number;
  /** 2f counts messages beyond what the hands hold (decide.ts bufferedAwaitingAck). */
  beyondHands: boolean;
  pending: number;
  arrivalPerSecond: number;
  now: number;
}

/** What this reading asks: one fewer (`down`), back to the count a failed step left (`back`), or nothing. */
export type InHandStepAsk =
  { kind: 'down'; replicas: number } | { kind: 'back'; replicas: number; step: InHandStepDown };

/** The step for this reading, if any, and the state to keep (see the header). Pure. */
export function nextInHandStep(input: InHandStepInput): { ask?: InHandStepAsk; state: InHandStepState } {
  const { state, now } = input;
  const next: InHandStepState = {};
  if (state?.full !== undefined && now - state.full.at <= HANDS_FULL_MEMORY_SECONDS * 1000)
    next.full = state.full;
  const step = state?.step;
  if (step !== undefined && now - step.at <= STEP_WATCH_SECONDS * 1000) {
    // Overfilled: held beyond the hands at the smaller count, settled there, at the step's load.
    const sameLoad =
      input.pending === 0 && input.arrivalPerSecond <= step.arrivalPerSecond * (1 + SAME_RATE_SHARE);
    const overfilled = input.beyondHands && input.ready <= step.to && input.current <= step.to;
    if (step.failed === true || overfilled) {
      if (step.failed !== true)
        next.full = {
          heldPerReplica: Math.min(next.full?.heldPerReplica ?? Infinity, step.held / step.to),
          at: now,
        };
      const failed: InHandStepDown = { ...step, failed: true };
      next.step = failed;
      // Sized back from the count the step left (decide.ts) while the load is the step's and the
      // hands still hold more than they can (or the pods asked back are not ready yet).
      if (sameLoad && (input.beyondHands || input.ready < step.from))
        return { ask: { kind: 'back', replicas: step.from, step: failed }, state: next };
      return { state: next };
    }
    next.step = step;
  }
  const { shown, ready, current, held } = input;
  if (!input.keepingUp || shown === undefined || current !== ready || ready <= 1) return { state: next };
  // The last change of the count, to this one, was judged since it became ready; or it could not be
  // (the stretch before it was at another load: a scale-up for a rise) and neither the count nor a
  // step has moved for STEP_WATCH_SECONDS: the step down is then the change that gets judged.
  const judged = shown.to === ready && shown.at >= input.readySince;
  const unjudgedStood =
    next.step === undefined && !input.beyondHands && now - input.readySince >= STEP_WATCH_SECONDS * 1000;
  if (!judged && !unjudgedStood) return { state: next };
  // A step asked at this count and not taken yet (the user's scale-down rules hold the count) is
  // asked again, as it was.
  if (next.step !== undefined && next.step.from === ready)
    return { ask: { kind: 'down', replicas: next.step.to }, state: next };
  const to = ready - 1;
  if (next.full !== undefined && (held / to) * HELD_TIME_SAME_FACTOR >= next.full.heldPerReplica)
    return { state: next };
  next.step = { from: ready, to, at: now, held, arrivalPerSecond: input.arrivalPerSecond };
  return { ask: { kind: 'down', replicas: to }, state: next };
}
