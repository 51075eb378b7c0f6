// Held messages growing because handlers take work into their hands, told from a queue growing
// behind busy handlers, while the same replicas hold more and more with nothing waiting at the
// server (rates.ts: a held-alone interval that fell behind).
//
// Handlers that work on many messages at once start with empty hands: until they hold what
// arrives times the handling time (λ × W, Little's law), what they hold grows at about what
// arrives, so the backlog looks as if the replicas fall behind, and completions ÷ ready replicas
// in those seconds reads far below what each can do (nats.py push ×500 at 30/s: 8/s a replica
// after 4 s for handlers of 50/s; the policy fuzzer's world 515518: 10.8/s for 50/s pods).
// What tells the two apart is how the completions follow what is held. In hand, every message
// held is worked on, so the completions rise with it (held ÷ the mean time a message is held,
// which stays). Behind a buffer, the handlers complete at their pace whatever waits: held grows,
// the completions stay, and the mean time held grows with what is held. So over a run of such
// intervals at one ready count (HeldRisingRun) the time-weighted held and the completions are
// summed, and each interval's completions are compared with the two predictions: the run's pace
// (a queue's) and what it held times the run's mean time held so far (work in hand). Nearer the
// second, the interval shows what the replicas did at least, not what they can do (fillingHands):
// rates.ts then reads it as it reads held messages while the replicas keep up. The first
// interval of a run has nothing to compare with and shows nothing either way.

/** A run of held-alone intervals that fell behind, at one ready count (RateState.heldRisingRun). */
export interface HeldRisingRun {
  replicas: number;
  /** Seconds of intervals summed. */
  seconds: number;
  /** Messages held times seconds. */
  heldMessageSeconds: number;
  completed: number;
}

/** One interval, as fillingHands reads it. */
export interface RisingInterval {
  /** A held-alone interval that fell behind (rates.ts), its completions known and comparable. */
  rising: boolean;
  readyReplicas: number;
  seconds: number;
  heldFrom: number;
  heldTo: number;
  completed: number;
}

const finitePositive = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;
const finiteNonNegative = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;

/** A HeldRisingRun read back from state, or undefined when it is not one. */
export function validHeldRisingRun(v: unknown): HeldRisingRun | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  return Number.isInteger(o.replicas) &&
    finitePositive(o.replicas) &&
    finitePositive(o.seconds) &&
    finiteNonNegative(o.heldMessageSeconds) &&
    finiteNonNegative(o.completed)
    ? {
        replicas: o.replicas,
        seconds: o.seconds,
        heldMessageSeconds: o.heldMessageSeconds,
        completed: o.completed,
      }
    : undefined;
}

/**
 * Whether a rising interval's completions followed what the replicas held (`filling`: handlers
 * taking work into their hands) rather than the run's pace (a queue), and the run after it. Not
 * rising: no run, and nothing shown. Pure.
 */
export function fillingHands(
  previous: unknown,
  interval: RisingInterval,
): { run?: HeldRisingRun; filling: boolean } {
  const { seconds, completed, readyReplicas } = interval;
  if (
    !interval.rising ||
    !finitePositive(seconds) ||
    !finiteNonNegative(completed) ||
    !finiteNonNegative(interval.heldFrom) ||
    !finiteNonNegative(interval.heldTo) ||
    !Number.isInteger(readyReplicas) ||
    !(readyReplicas > 0)
  )
    return { filling: false };
  const heldMessageSeconds = ((interval.heldFrom + interval.heldTo) / 2) * seconds;
  const before = validHeldRisingRun(previous);
  const run = before !== undefined && before.replicas === readyReplicas ? before : undefined;
  const next: HeldRisingRun = {
    replicas: readyReplicas,
    seconds: (run?.seconds ?? 0) + seconds,
    heldMessageSeconds: (run?.heldMessageSeconds ?? 0) + heldMessageSeconds,
    completed: (run?.completed ?? 0) + completed,
  };
  // The first interval of a run, or a run that has completed nothing yet: nothing to compare.
  if (run === undefined || !(run.completed > 0) || !(run.heldMessageSeconds > 0))
    return { run: next, filling: true };
  const atPace = (run.completed / run.seconds) * seconds;
  const inHand = heldMessageSeconds / (run.heldMessageSeconds / run.completed);
  return { run: next, filling: Math.abs(completed - inHand) < Math.abs(completed - atPace) };
}
