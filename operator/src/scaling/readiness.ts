// Replicas that do not become ready: an image that cannot be pulled, a container OOM-killed into a
// crash loop, a pod stuck Pending or Terminating. The backlog keeps growing while they fail, and a
// policy that only reads the backlog would answer with more replicas of the same broken pod (up to
// maxReplicas). This module says how many replicas are overdue, from the target's spec.replicas and
// status.readyReplicas alone, so the policy can stop adding replicas and the operator can say why.
//
// A replica is overdue when, for the whole of the readiness deadline, it was asked for and not
// ready: over the last `deadlineSeconds`, the fewest replicas asked for minus the most that were
// ready. One rule covers both cases a user meets:
// - a new replica that never becomes ready is overdue a deadline after it was asked for (a ramp
//   that keeps adding replicas is not: each new replica gets its own deadline, because the fewest
//   asked during the window is what was asked a deadline ago);
// - a replica that was ready and stopped (killed, crashing) is overdue a deadline after it stopped,
//   so a container restart that is ready again within the deadline never counts.
// - during a rolling update the workload's own strategy keeps replicas unavailable on purpose (a
//   Deployment's maxUnavailable, a StatefulSet's one pod at a time). A slow rollout of healthy pods
//   keeps ready below asked for far longer than the deadline (each new pod ready within it, the next
//   old one leaving at once), and read as overdue it stopped every scale-up until the rollout ended.
//   So while the rollout makes progress — an old replica went within the last deadline, with asked
//   not falling — up to that many not ready are the rollout's. A rollout whose new pods never become
//   ready makes no progress after its first step, so the allowance lapses a deadline later: it must,
//   since a scale-up shares the new replicas between the old and the new ReplicaSet in proportion,
//   which keeps the shortfall at exactly maxUnavailable however far the replicas go. A StatefulSet's
//   ordered start (OrderedReady: pod n+1 created once pod n is ready) is read the same way: the pods
//   not created yet and the one starting are allowed while pods keep becoming ready.
// Until the readings cover a whole deadline (a new or restarted operator) nothing is overdue: the
// policy never holds back on a guess. What an earlier process found is no guess: its status says
// how many were overdue when (carriedReadiness), and a new process takes that back at its first
// reading, so it adds no more of the same pods before its own readings cover a deadline. It also measures how long replicas take from asked for to
// ready (START_UP_SAMPLES): the start-up the policy sizes a pile-up for when longer than
// predictive.horizonSeconds. Pure: no clock, no I/O; state travels in ScalingHistory.

/** Default spec.behavior.readinessDeadline: longer than a slow image pull, shorter than a crash loop's 5 min back-off. */
export const DEFAULT_READINESS_DEADLINE_SECONDS = 180;
/**
 * Start-ups remembered: the start-up reported is the longest of the last this many. A replica's
 * start-up runs from the reading at which it was asked for (spec.replicas rose) to the one at which
 * the ready count took it in, first asked first ready; replicas taken back before they were ready go
 * newest first (the ReplicaSet controller deletes pods that are not ready first), and a replica that
 * was ready, dropped out and came back (a restart) is no start-up.
 */
export const START_UP_SAMPLES = 5;
/** Replicas asked for and not ready yet whose ask time is kept (more are counted from the newest). */
const MAX_STARTING = 256;

/** Most readings kept (only changes are stored: a 1 s poll with readiness changing every poll and a 1 h deadline would need 3,600). */
export const MAX_READINESS_READINGS = 512;

/** One change of what was asked for (spec.replicas) or what was ready (status.readyReplicas). */
export interface ReadinessReading {
  at: number;
  asked: number;
  ready: number;
  /** Replicas a rollout in progress kept unavailable by design at this reading (absent: none). */
  allowed?: number;
}

export interface ReadinessState {
  /** Readings where asked or ready changed, oldest first: the one in effect a deadline ago, then every change since. */
  readings: ReadinessReading[];
  /** Overdue replicas at the last reading. */
  overdue: number;
  /** When each replica asked for and not ready yet was asked for (ms), oldest first. */
  starting?: number[];
  /** The last START_UP_SAMPLES start-ups (seconds), oldest first. */
  startups?: number[];
  /** A rollout in progress at the last reading: its old replicas, asked, and its last progress (ms). */
  rollout?: { remaining: number; asked: number; progressAt?: number };
}

export interface ReadinessReport {
  /** The target's spec.replicas now. */
  asked: number;
  /** status.readyReplicas now. */
  ready: number;
  /** Replicas asked for and not ready for the whole deadline. */
  overdue: number;
  /** Replicas not ready yet but still within the deadline. */
  starting: number;
  deadlineSeconds: number;
  /** Overdue at the previous reading: lets the caller tell the start and the end of a shortfall apart. */
  wasOverdue: boolean;
  /** The longest of the last START_UP_SAMPLES measured start-ups (seconds); undefined before the first. */
  startupSeconds?: number;
  /** One sentence a user can read (condition message, Event). */
  message: string;
}

export function asReadinessState(value: unknown): ReadinessState | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const readings = (value as { readings?: unknown }).readings;
  if (!Array.isArray(readings)) return undefined;
  const valid = readings.filter(
    (r): r is ReadinessReading =>
      typeof r === 'object' &&
      r !== null &&
      Number.isFinite((r as ReadinessReading).at) &&
      Number.isFinite((r as ReadinessReading).asked) &&
      Number.isFinite((r as ReadinessReading).ready) &&
      ((r as ReadinessReading).allowed === undefined || Number.isFinite((r as ReadinessReading).allowed)),
  );
  const overdue = (value as { overdue?: unknown }).overdue;
  const state: ReadinessState = {
    readings: valid,
    overdue: typeof overdue === 'number' && Number.isFinite(overdue) ? overdue : 0,
  };
  const finite = (list: unknown): number[] | undefined =>
    Array.isArray(list)
      ? list.filter((n): n is number => typeof n === 'number' && Number.isFinite(n))
      : undefined;
  const starting = finite((value as { starting?: unknown }).starting);
  const startups = finite((value as { startups?: unknown }).startups);
  if (starting !== undefined) state.starting = starting;
  if (startups !== undefined) state.startups = startups;
  const rollout = (value as { rollout?: unknown }).rollout;
  if (typeof rollout === 'object' && rollout !== null) {
    const { remaining, asked, progressAt } = rollout as Record<string, unknown>;
    if (
      typeof remaining === 'number' &&
      Number.isFinite(remaining) &&
      typeof asked === 'number' &&
      Number.isFinite(asked)
    ) {
      state.rollout = { remaining, asked };
      if (typeof progressAt === 'number' && Number.isFinite(progressAt))
        state.rollout.progressAt = progressAt;
    }
  }
  return state;
}

/**
 * The readiness record an earlier process's finding stands for (status consumers[].replicasOverdue,
 * read at `carried.at`, policy time): over the deadline up to then, no fewer than `asked` were asked
 * for and no more than `asked` − `overdue` were ready. That is one reading a deadline before it
 * (overdueOf takes the reading in effect at the window's start), so the replicas stay overdue while
 * this process reads no more ready than that, and the record ends as it would have: once more are
 * ready, or once this process's own readings cover a deadline. What happened between `carried.at`
 * and this process's first reading is not known (a pod ready and gone again in between counts as
 * never ready); a finding older than a deadline is not taken: its window is over. Undefined without
 * a finding, or one that is not a reading (the caller validated it; an earlier-than-now time and
 * whole counts are checked again here, as the policy is called by others too).
 */
export function carriedReadiness(
  carried: { at: number; asked: number; overdue: number } | undefined,
  now: number,
  deadlineSeconds: number,
): ReadinessState | undefined {
  if (carried === undefined) return undefined;
  const deadlineMs = (deadlineSeconds > 0 ? deadlineSeconds : DEFAULT_READINESS_DEADLINE_SECONDS) * 1000;
  const { at, asked, overdue } = carried;
  if (!Number.isFinite(at) || at > now || now - at > deadlineMs) return undefined;
  if (whole(overdue) !== overdue || whole(asked) !== asked || overdue < 1 || overdue > asked)
    return undefined;
  return { readings: [{ at: at - deadlineMs, asked, ready: asked - overdue }], overdue };
}

/**
 * Follows replicas from asked for to ready (see START_UP_SAMPLES): the ask times of those still
 * starting and the start-ups measured, after a reading where asked went from `before.asked` to
 * `asked` and ready from `before.ready` to `ready`.
 */
function followStartups(
  previous: ReadinessState | undefined,
  before: ReadinessReading | undefined,
  now: number,
  asked: number,
  ready: number,
): { starting: number[]; startups: number[] } {
  const starting = [...(previous?.starting ?? [])];
  const startups = [...(previous?.startups ?? [])];
  if (before !== undefined && asked > before.asked) {
    for (let i = before.asked; i < asked; i++) starting.push(now);
  }
  // Replicas taken back before they were ready: the newest go first.
  const notReady = Math.max(0, asked - ready);
  if (before !== undefined && asked < before.asked)
    starting.splice(Math.max(0, starting.length - (before.asked - asked)));
  // Those that became ready: the oldest asked for first. Only as many as the ready count took in
  // beyond what is still missing, so a restart (ready fell, came back) takes none.
  while (starting.length > notReady) {
    const at = starting.shift();
    if (at !== undefined && before !== undefined && ready > before.ready) startups.push((now - at) / 1000);
  }
  if (starting.length > MAX_STARTING) starting.splice(0, starting.length - MAX_STARTING);
  return { starting, startups: startups.slice(-START_UP_SAMPLES) };
}

function whole(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/** Replicas asked for and not ready throughout [now − deadline, now], given the readings in that window. */
function overdueOf(readings: readonly ReadinessReading[], now: number, deadlineMs: number): number {
  const windowStart = now - deadlineMs;
  // The reading in effect at the window's start; without one the window is not covered yet.
  let startIndex = -1;
  for (let i = readings.length - 1; i >= 0; i--) {
    const r = readings[i];
    if (r !== undefined && r.at <= windowStart) {
      startIndex = i;
      break;
    }
  }
  if (startIndex < 0) return 0;
  let fewestAsked = Infinity;
  let mostReady = 0;
  for (const r of readings.slice(startIndex)) {
    fewestAsked = Math.min(fewestAsked, r.asked);
    // What a rollout keeps unavailable on purpose counts as ready (never beyond what was asked).
    mostReady = Math.max(mostReady, Math.max(r.ready, Math.min(r.asked, r.ready + (r.allowed ?? 0))));
  }
  return Number.isFinite(fewestAsked) ? Math.max(0, fewestAsked - mostReady) : 0;
}

/**
 * Adds this reading (spec.replicas `asked`, status.readyReplicas `ready`) and reports how many
 * replicas are overdue. `previous` is what the last call returned (undefined at first).
 */
export function observeReadiness(
  previous: ReadinessState | undefined,
  reading: {
    now: number;
    asked: number;
    ready: number;
    deadlineSeconds: number;
    /** A rolling update in progress: what it keeps unavailable by design, and its old replicas left. */
    rollout?: { unavailable: number; remaining: number };
  },
): { state: ReadinessState; report: ReadinessReport } {
  const { now } = reading;
  const asked = whole(reading.asked);
  const ready = whole(reading.ready);
  const deadlineSeconds =
    reading.deadlineSeconds > 0 ? reading.deadlineSeconds : DEFAULT_READINESS_DEADLINE_SECONDS;
  const deadlineMs = deadlineSeconds * 1000;
  const rollout = followRollout(previous?.rollout, reading.rollout, now, asked);
  const allowed =
    reading.rollout !== undefined &&
    rollout?.progressAt !== undefined &&
    now - rollout.progressAt <= deadlineMs
      ? whole(reading.rollout.unavailable)
      : 0;
  // A reading from the past (a clock that stepped back) restarts the record rather than bending it.
  const kept = (previous?.readings ?? []).filter((r) => r.at <= now);
  const wasOverdue = kept.length > 0 && (previous?.overdue ?? 0) > 0;
  const last = kept.at(-1);
  const current: ReadinessReading =
    allowed > 0 ? { at: now, asked, ready, allowed } : { at: now, asked, ready };
  const readings =
    last && last.asked === asked && last.ready === ready && (last.allowed ?? 0) === allowed
      ? kept
      : [...kept, current];
  // Keep the reading in effect at the window's start and everything after it.
  const windowStart = now - deadlineMs;
  let firstKept = 0;
  for (let i = readings.length - 1; i >= 0; i--) {
    const r = readings[i];
    if (r !== undefined && r.at <= windowStart) {
      firstKept = i;
      break;
    }
  }
  let trimmed = readings.slice(firstKept);
  if (trimmed.length > MAX_READINESS_READINGS) trimmed = trimmed.slice(-MAX_READINESS_READINGS);
  const overdue = Math.min(asked, overdueOf(trimmed, now, deadlineMs));
  const followed = followStartups(previous, last, now, asked, ready);
  const startupSeconds = followed.startups.length > 0 ? Math.max(...followed.startups) : undefined;
  const starting = Math.max(0, asked - ready - overdue);
  const deadlineText = `the readiness deadline (${fmtSeconds(deadlineSeconds)})`;
  const message =
    overdue > 0
      ? `${overdue} of ${asked} replicas asked for have not been ready for ${deadlineText}` +
        `${starting > 0 ? ` and ${starting} more are starting` : ''}; ${ready} ready. ` +
        'No replicas are added while they are missing: more of the same pods would not become ready either. ' +
        'Look at the pods (kubectl describe pods, kubectl get events): an image that cannot be pulled, a crash loop, an OOM kill, a pod that cannot be scheduled'
      : starting > 0
        ? `${ready} of ${asked} replicas ready, ${starting} starting (within ${deadlineText}` +
          `${allowed > 0 ? `, or kept unavailable by a rollout in progress: up to ${allowed}` : ''})`
        : `${ready} of ${asked} replicas ready`;
  const report: ReadinessReport = { asked, ready, overdue, starting, deadlineSeconds, wasOverdue, message };
  if (startupSeconds !== undefined) report.startupSeconds = startupSeconds;
  const state: ReadinessState = {
    readings: trimmed,
    overdue,
    starting: followed.starting,
    startups: followed.startups,
  };
  if (rollout !== undefined) state.rollout = rollout;
  return { state, report };
}

/**
 * A rollout's progress: what it still has to do fell (an old replica went, or in an ordered start a
 * pod became ready) at a reading where asked did not fall (a scale-down takes old replicas too, and
 * is no progress). A rollout first seen in progress has made none yet that this process saw.
 */
function followRollout(
  previous: ReadinessState['rollout'],
  rollout: { unavailable: number; remaining: number } | undefined,
  now: number,
  asked: number,
): ReadinessState['rollout'] {
  if (rollout === undefined) return undefined;
  const remaining = whole(rollout.remaining);
  const next: NonNullable<ReadinessState['rollout']> = { remaining, asked };
  const progressed = previous !== undefined && remaining < previous.remaining && asked >= previous.asked;
  const progressAt = progressed ? now : previous?.progressAt;
  if (progressAt !== undefined && progressAt <= now) next.progressAt = progressAt;
  return next;
}

function fmtSeconds(seconds: number): string {
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60}m`;
  return `${Math.round(seconds * 10) / 10}s`;
}
