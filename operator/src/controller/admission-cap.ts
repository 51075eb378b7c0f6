// What a careful autoscaler does when the API server stores a scale write changed (a mutating
// admission webhook or policy caps /scale, or raises it to a floor): it learns the limit for this
// target instead of asking again at every poll. Asking for 5 and getting 2 at every poll is a write,
// a Warning Event and an admission call per poll for nothing; the limit is someone else's rule and
// stays until they change it. So, past one adjusted write, an ask beyond the stored count on the
// same side is held — not sent — until the hold ends: after ADMISSION_RETRY_FIRST_MS (at least one
// poll interval), then twice as long each time the answer is the same, up to
// ADMISSION_RETRY_MAX_MS (so a rule lifted is noticed within minutes), or at once when what the
// limit was learnt under changes: the EventConsumer's spec (a new generation: the user lowered
// maxReplicas, say) or the target (another object or uid), or the count it runs (someone else
// scaled it). Asks on the other side of the stored count (scaling down under a cap) are never held.
// Pure: the reconciler keeps the memory and does the writing.

/** The first hold after an adjusted write; doubles while the answer stays the same. */
export const ADMISSION_RETRY_FIRST_MS = 10_000;
/** The longest hold: a limit lifted is found within this. */
export const ADMISSION_RETRY_MAX_MS = 300_000;

/** The last adjusted write to a target, and how long its limit is trusted. */
export interface AdmissionLimit {
  /** The target (targetKey) and its uid when the write was answered. */
  refKey: string;
  uid: string | undefined;
  /** The EventConsumer's generation the write was decided under. */
  generation: number | undefined;
  asked: number;
  stored: number;
  /** When it was asked (monotonic ms), and how long from then an ask beyond `stored` is held. */
  at: number;
  holdMs: number;
}

/** Where an ask stands against a learnt limit. */
export interface AskContext {
  refKey: string;
  uid: string | undefined;
  generation: number | undefined;
  /** The target's spec.replicas as read now. */
  current: number;
  /** What the verdict asks for. */
  to: number;
  now: number;
}

/** Whether `limit` applies to this ask at all (same target, spec and count, the same side). */
function applies(limit: AdmissionLimit, ask: AskContext): boolean {
  if (limit.refKey !== ask.refKey || limit.uid !== ask.uid || limit.generation !== ask.generation)
    return false;
  if (ask.current !== limit.stored) return false;
  return limit.asked > limit.stored ? ask.to > limit.stored : ask.to < limit.stored;
}

/** The ms left of the hold on this ask; undefined when it is to be sent. */
export function heldFor(limit: AdmissionLimit | undefined, ask: AskContext): number | undefined {
  if (limit === undefined || !applies(limit, ask)) return undefined;
  const left = limit.at + limit.holdMs - ask.now;
  return left > 0 ? left : undefined;
}

/**
 * The memory after a write was answered with `stored` (undefined: the answer did not say, taken as
 * stored as asked). Stored as asked clears it; stored changed starts a hold, twice the previous one
 * when the same limit was found again on the same side.
 */
export function afterWrite(
  previous: AdmissionLimit | undefined,
  ask: AskContext,
  stored: number | undefined,
  pollIntervalMs: number,
): AdmissionLimit | undefined {
  if (stored === undefined || stored === ask.to) return undefined;
  const first = Math.max(ADMISSION_RETRY_FIRST_MS, pollIntervalMs);
  const again =
    previous !== undefined &&
    previous.refKey === ask.refKey &&
    previous.uid === ask.uid &&
    previous.generation === ask.generation &&
    previous.stored === stored &&
    previous.asked > previous.stored === ask.to > stored;
  return {
    refKey: ask.refKey,
    uid: ask.uid,
    generation: ask.generation,
    asked: ask.to,
    stored,
    at: ask.now,
    holdMs: again ? Math.min(ADMISSION_RETRY_MAX_MS, Math.max(first, previous.holdMs * 2)) : first,
  };
}

/** What to change so that jetscale stops asking: the bound on the side the limit is on. */
export function limitAdvice(asked: number, stored: number): string {
  return stored < asked
    ? `set spec.maxReplicas to ${stored} (and spec.minReplicas no higher), or change that rule`
    : `set spec.minReplicas to ${stored} (and spec.maxReplicas no lower), or change that rule`;
}
