// A seeded fuzzer of the scaling policy: random users' specs, clients, traffic and clusters
// (test/fuzz-world.ts), judged by what must hold whatever the configuration — the outcomes a user
// would call scaling wrongly, not the policy's own formulas:
// - bounds: within [minReplicas, maxReplicas], never more replicas than max_ack_pending slots, a
//   disabled direction never taken, a finite next poll, no NaN/undefined in what users read;
// - zero: only after a cooldown in which every reading showed nothing pending, awaiting ack or
//   delivered; and zero is left as soon as the backlog passes activationBacklog;
// - steady traffic, once settled (the last 120 s of a stretch of at least 600 s at one rate): no
//   scale-up beyond what the arrival rate and the backlog need (1.5× the rate-sized count + 2),
//   and no standing shortfall — fewer ready replicas than the rate needs while work waits and
//   nothing the user set (maxReplicas, max_ack_pending, a disabled direction, replicas that do not
//   become ready) explains keeping them.
// `make test` runs FUZZ_WORLDS worlds (default 30) from seed FUZZ_SEED (default 1); `make
// fuzz-policy` runs 500 from a fresh seed. A failure names its world's seed, and
// `FUZZ_SEED=<seed> FUZZ_WORLDS=1 make fuzz-policy` reruns exactly that world.

import { MAX_POLL_SECONDS, RATE_HEADROOM } from './decide.js';
import { randomWorld, runWorld } from './test/fuzz-world.js';
import type { Run, Step } from './test/fuzz-world.js';

const SEEDS = Number(process.env.FUZZ_WORLDS ?? 30);
const FIRST_SEED = Number(process.env.FUZZ_SEED ?? 1);
/** A steady stretch counts as settled for its last SETTLED_SECONDS once it has lasted this long. */
const STEADY_MIN_SECONDS = 600;
const SETTLED_SECONDS = 120;

const backlogOf = (s: Step): number => s.sample.pending + s.sample.ackPending;

function where(run: Run, s: Step): string {
  const w = run.world;
  return `seed ${w.seed} t=${s.t.toFixed(2)}s (${w.client.name}, poll ${w.pollSeconds}s, max_ack_pending ${w.maxAckPending}, startup ${w.startupSeconds}s, segment ${s.truth.segment}: ${s.truth.rate.toFixed(1)}/s at ${s.truth.handlerPerSecond}/s per handler) replicas ${s.currentReplicas} ready ${s.readyReplicas} → ${s.decision.desiredReplicas}: ${s.decision.reason}`;
}

/** Invariants of every single decision. */
export function stepViolations(run: Run): string[] {
  const { spec, maxAckPending } = run.world;
  const out: string[] = [];
  const steps = run.steps;
  steps.forEach((s, i) => {
    const d = s.decision;
    const desired = d.desiredReplicas;
    const bad = (what: string): void => {
      out.push(`${what} — ${where(run, s)}`);
    };
    if (!Number.isInteger(desired) || desired < 0 || desired > spec.maxReplicas)
      bad(`desired ${desired} outside [0, maxReplicas ${spec.maxReplicas}]`);
    if (spec.minReplicas > 0 && desired < spec.minReplicas)
      bad(`desired ${desired} below minReplicas ${spec.minReplicas}`);
    if (maxAckPending > 0 && desired > Math.max(maxAckPending, spec.minReplicas, s.currentReplicas))
      bad(`desired ${desired} above max_ack_pending ${maxAckPending} slots`);
    if (spec.scaleUp.selectPolicy === 'Disabled' && desired > Math.max(s.currentReplicas, spec.minReplicas))
      bad(`scaled up with scaleUp.selectPolicy Disabled`);
    if (
      spec.scaleDown.selectPolicy === 'Disabled' &&
      desired < Math.min(s.currentReplicas, spec.maxReplicas, maxAckPending > 0 ? maxAckPending : Infinity)
    )
      bad(`scaled down with scaleDown.selectPolicy Disabled`);
    if (!(d.nextPollSeconds > 0 && d.nextPollSeconds <= MAX_POLL_SECONDS))
      bad(`nextPollSeconds ${d.nextPollSeconds}`);
    const text = `${d.reason} ${d.activity.message}`;
    if (/NaN|undefined|Infinity|null/.test(text)) bad(`unreadable text: ${text}`);
    for (const [k, v] of Object.entries(d.rates))
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) bad(`rates.${k} = ${v}`);

    // Zero only after a cooldown of readings with nothing pending, awaiting ack or delivered.
    if (desired === 0 && s.currentReplicas > 0) {
      const from = s.t - spec.cooldownPeriodSeconds;
      if (spec.minReplicas > 0) bad('scaled to zero with minReplicas > 0');
      for (let j = i; j >= 0; j--) {
        const r = steps[j];
        const before = steps[j - 1];
        // Activity seen at a reading at or before the cooldown's start is a full cooldown ago.
        if (r === undefined || r.t <= from) break;
        if (backlogOf(r) > 0) {
          bad(
            `scaled to zero although the reading at t=${r.t.toFixed(2)}s, within the cooldown, had backlog ${backlogOf(r)}`,
          );
          break;
        }
        if (before !== undefined && before.sample.deliveredConsumerSeq !== r.sample.deliveredConsumerSeq) {
          bad(
            `scaled to zero although messages were delivered between t=${before.t.toFixed(2)}s and t=${r.t.toFixed(2)}s, within the cooldown`,
          );
          break;
        }
      }
    }
    // Zero is left at once when the backlog passes activationBacklog.
    if (
      s.currentReplicas === 0 &&
      backlogOf(s) > spec.activationBacklog &&
      spec.scaleUp.selectPolicy !== 'Disabled' &&
      desired === 0
    )
      bad(`stayed at zero with backlog ${backlogOf(s)} above activationBacklog ${spec.activationBacklog}`);
  });
  return out;
}

/** Invariants of a settled steady stretch: sized for the rate, neither far above nor short. */
export function steadyViolations(run: Run): string[] {
  const { world } = run;
  const { spec } = world;
  const out: string[] = [];
  world.segments.forEach((seg, index) => {
    if (seg.seconds < STEADY_MIN_SECONDS) return;
    const start = (run.segmentStarts[index] ?? 0) + seg.seconds - SETTLED_SECONDS;
    const end = start + SETTLED_SECONDS;
    const window = run.steps.filter((s) => s.t >= start && s.t < end);
    if (window.length === 0) return;
    const needed = seg.rate / seg.handlerPerSecond;
    // No scale-up past what the rate needs with headroom to spare, or what the backlog floor asks.
    if (spec.latencyObjectiveSeconds === undefined && !spec.predictive.enabled) {
      for (const s of window) {
        const d = s.decision;
        if (!s.applied || d.desiredReplicas <= s.currentReplicas) continue;
        const bound = Math.max(
          spec.minReplicas,
          Math.ceil(needed * RATE_HEADROOM * 1.5) + 2,
          Math.ceil(backlogOf(s) / spec.backlogPerReplica),
        );
        if (d.desiredReplicas > bound)
          out.push(
            `steady ${seg.rate.toFixed(1)}/s needs ${needed.toFixed(2)} replicas, yet scaled up to ${d.desiredReplicas} (bound ${bound}) — ${where(run, s)}`,
          );
      }
    }
    // No standing shortfall: at the end of the window the ready replicas keep up, or something the
    // user set explains why not.
    const last = window.at(-1);
    const first = window[0];
    if (last === undefined || first === undefined) return;
    const limit = last.decision.limitedBy;
    const explained =
      limit === 'MaxReplicas' ||
      limit === 'MaxAckPending' ||
      limit === 'ReplicasNotReady' ||
      spec.scaleUp.selectPolicy === 'Disabled' ||
      (last.currentReplicas === 0 && backlogOf(last) <= spec.activationBacklog) ||
      spec.inFlightPerReplica !== undefined ||
      (world.maxAckPending > 0 && world.maxAckPending < 4 * (Math.ceil(needed) + 1)) ||
      Math.ceil(needed * 1.1) >= spec.maxReplicas;
    const short = last.readyReplicas * seg.handlerPerSecond < 0.95 * seg.rate;
    const growing = last.sample.pending > first.sample.pending;
    if (short && growing && !explained && last.decision.desiredReplicas <= last.currentReplicas)
      out.push(
        `steady ${seg.rate.toFixed(1)}/s needs ${needed.toFixed(2)} replicas; ${last.readyReplicas} ready and pending grew ${first.sample.pending} → ${last.sample.pending} over the last ${SETTLED_SECONDS}s, yet not scaling up — ${where(run, last)}`,
      );
  });
  return out;
}

describe(`decide under random users, clients and traffic (seeds ${FIRST_SEED}…${FIRST_SEED + SEEDS - 1})`, () => {
  it(
    'never scales wrongly: bounds, zero, and steady traffic sized for its rate',
    () => {
      const violations: string[] = [];
      let polls = 0;
      for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
        const run = runWorld(randomWorld(seed));
        polls += run.steps.length;
        violations.push(...stepViolations(run), ...steadyViolations(run));
      }
      if (violations.length > 0)
        throw new Error(
          `${violations.length} violations in ${SEEDS} worlds (${polls} polls); first ones:\n${violations.slice(0, 12).join('\n\n')}`,
        );
      expect(polls).toBeGreaterThan(SEEDS * 100);
    },
    60_000 + SEEDS * 5_000,
  );
});
