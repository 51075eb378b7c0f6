// The invariants the policy fuzzer (decide.fuzz.test.ts) judges each world's run by: outcomes a
// user would call scaling wrongly, whatever the configuration. Pure; see the test for the list.

import {
  BATCH_DRAIN_SHARE,
  BURST_QUIET_STARTUPS,
  LOW_END_PROBE_FACTOR,
  MAX_POLL_SECONDS,
  RATE_HEADROOM,
} from '../decide.js';
import type { Run, Step } from './fuzz-world.js';

/** A steady stretch counts as settled for its last SETTLED_SECONDS once it has lasted this long. */
export const STEADY_MIN_SECONDS = 600;
export const SETTLED_SECONDS = 120;
/**
 * A low-end figure below this share of what the handlers do is not kept through a steady stretch
 * (sizing by it costs twice the replicas). Not more: a client's own round trips (a Fetch loop) make
 * a replica do less than its handler, so the handler is no exact yardstick, and re-measuring stops
 * once busy intervals bound the figure within decide.ts LOW_END_PROBE_FACTOR.
 */
export const LOW_END_SETTLED_SHARE = 0.5;

const backlogOf = (s: Step): number => s.sample.pending + s.sample.ackPending;

export function where(run: Run, s: Step): string {
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
    for (const [k, v] of Object.entries(d.rates)) {
      // The marks among the numbers: present only as true, and only with the figure they mark (a
      // held low end is a low end).
      if (k === 'perReplicaLowEndOnly') {
        if (v !== true || d.rates.perReplicaPerSecond === undefined) bad(`rates.${k} = ${v}`);
      } else if (k === 'perReplicaLowEndHeld') {
        if (v !== true || d.rates.perReplicaLowEndOnly !== true) bad(`rates.${k} = ${v}`);
      } else if (k === 'handlersInHand') {
        const h = d.rates.handlersInHand;
        const ok = (n: number | undefined): boolean => typeof n === 'number' && Number.isFinite(n) && n > 0;
        if (!(ok(h?.seconds) && ok(h?.perReplica) && ok(h?.from) && ok(h?.to) && h?.from !== h?.to))
          bad(`rates.${k} = ${JSON.stringify(v)}`);
      } else if (k === 'handlersFailing') {
        const f = d.rates.handlersFailing;
        if (!(f !== undefined && f.seconds >= 0 && Number.isSafeInteger(f.replicas) && f.replicas >= 0))
          bad(`rates.${k} = ${JSON.stringify(v)}`);
      } else if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0))
        bad(`rates.${k} = ${v}`);
    }

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

/** Seconds over which the world's recent arrival rate is taken (the estimator's time constant). */
export const RECENT_SECONDS = 10;

/**
 * Messages per second that really arrive from step `s` until RECENT_SECONDS after a pod asked for
 * then is ready (the world's start-up and a poll later): a burst the stream's timing announced
 * (decide.ts burstSizing keeps replicas for it from a start-up and a poll before it is due)
 * justifies a scale-up made for it then, as what arrived justifies one made after. Within the
 * step's own segment only (0 when that span reaches past it): a stream's next stretch is a change
 * no timing of the last one announced, and its handlers may be another yardstick.
 */
export function comingArrivalRate(run: Run, s: Step): number {
  const until = s.t + run.world.startupSeconds + run.world.pollSeconds + RECENT_SECONDS;
  let later: Step | undefined;
  for (const r of run.steps) {
    if (r.t <= s.t) continue;
    if (r.truth.segment !== s.truth.segment) return 0;
    if (r.t >= until) {
      later = r;
      break;
    }
  }
  if (later === undefined) return 0;
  return (later.truth.arrived - s.truth.arrived) / (later.t - s.t);
}

/** Messages per second that really arrived in the RECENT_SECONDS (or more) before step `s`. */
export function recentArrivalRate(run: Run, s: Step): number {
  let earlier: Step | undefined;
  for (const r of run.steps) {
    if (r.t > s.t - RECENT_SECONDS) break;
    earlier = r;
  }
  if (earlier === undefined) return 0;
  return (s.truth.arrived - earlier.truth.arrived) / (s.t - earlier.t);
}

/**
 * How long the message completed last by step `i` waited: the time since the arrivals reached the
 * completions (FIFO). At poll resolution: up to one poll interval longer than the truth.
 */
export function fifoWaitSeconds(run: Run, i: number): number {
  const s = run.steps[i];
  if (s === undefined) return 0;
  let lo = 0;
  let hi = i;
  // The last step whose arrivals had not passed what step i completed.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if ((run.steps[mid]?.truth.arrived ?? Infinity) <= s.truth.completed) lo = mid;
    else hi = mid - 1;
  }
  return s.t - (run.steps[lo]?.t ?? 0);
}

/** Objectives at least this long are held to it in settled stretches (shorter ones: below poll resolution). */
export const WAIT_CHECKED_OBJECTIVE_SECONDS = 30;

/**
 * How soon after a pod pauses (World adversity.pause) the policy must ask for a replica beside it for
 * the wait that follows to be the world's: a pause shows only once the paused pod's client takes
 * nothing more (nats.go Consume() keeps its pull of 500 open, taking its own expired messages back)
 * and the stall then stands STALL_MIN_SECONDS (rates.ts).
 */
export const PAUSE_ASK_SECONDS = 20;

/**
 * Whether a message that completed at `s` after waiting `wait` s waited for a pod that paused and
 * the replica asked for beside it to start: it waited during the pause, completed no later than
 * that replica could have started and worked the queue down to the objective, the policy asked for
 * more replicas than were there within PAUSE_ASK_SECONDS of it, and a start-up (up to 1.5 ×
 * startupSeconds) plus that is longer than the objective. No policy holds an objective shorter
 * than a pod's start-up when the one pod working stops (adverse world 120070: 30 s objective,
 * 30-90 s start-ups, nats.go Consume(): the paused pod's pull takes what arrives until its 500 are
 * delivered). A policy that asks late (before fcc84e1: 57 s) is still held to it.
 */
export function waitedForPausedPod(run: Run, s: Step, wait: number, objective: number): boolean {
  const pause = run.world.adversity?.pause;
  if (pause === undefined) return false;
  const startup = 1.5 * run.world.startupSeconds;
  if (startup + PAUSE_ASK_SECONDS <= objective) return false;
  // The wait overlapped the pause, and the message completed before the replica asked for could
  // have started and worked the queue down to the objective.
  if (pause.at > s.t || s.t - wait > pause.at + pause.seconds) return false;
  if (s.t > pause.at + PAUSE_ASK_SECONDS + startup + objective) return false;
  return run.steps.some(
    (r) =>
      r.t >= pause.at &&
      r.t <= pause.at + PAUSE_ASK_SECONDS &&
      r.applied &&
      r.decision.desiredReplicas > r.currentReplicas,
  );
}

/**
 * A settled stretch's standing wait in the clients' buffers (steadyViolations) is a violation past
 * this many drainWithinSeconds plus BUFFER_WAIT_HANDLINGS times a message's own handling time and a
 * poll: generous, as a fetch loop's batch and the buffers of replicas added take their time.
 */
export const BUFFER_WAIT_DRAINS = 2;
export const BUFFER_WAIT_HANDLINGS = 4;

/** Whether the world's paused pod (Adversity.pause) stood still at any time between `from` and `to`. */
function pausedNear(world: Run['world'], from: number, to: number): boolean {
  const pause = world.adversity?.pause;
  return pause !== undefined && pause.at < to && pause.at + pause.seconds > from;
}

/**
 * A stream sent by a timer (Segment 'cron') is sized, by design and as the operator README says
 * (decide.ts burstSizing), for replicas that drain one period's arrivals within BATCH_DRAIN_SHARE
 * of drainWithinSeconds beside each other: with bursts every 30 s and a 30 s objective that is
 * twice what the mean rate needs (outside fuzz world 362021: 35-36 held for 2,706 every 30 s at
 * 5/s, where the mean needs 18). Past that with the same headroom as the rate's (× RATE_HEADROOM,
 * + 2) is scaling wrongly; 0 for other shapes. Only where burstSizing keeps those replicas through
 * the quiet spell: bursts whose quiet spell (the period less the burst and BATCH_DRAIN_SHARE of
 * drainWithinSeconds to drain it) is under BURST_QUIET_STARTUPS start-ups (the world's, or
 * predictive.horizonSeconds when longer). Bursts further apart are met from a start-up before they
 * are due, and a scale-up in their quiet is judged by what arrives (comingArrivalRate): a rise there
 * for a burst not yet due is scaling wrongly (fuzz-invariants.test).
 */
export function cronBurstReplicas(seg: Run['world']['segments'][number], world: Run['world']): number {
  if (seg.shape !== 'cron' || seg.cron === undefined || !(seg.handlerPerSecond > 0)) return 0;
  const drainWithinSeconds = world.spec.drainWithinSeconds;
  const quiet = seg.cron.periodSeconds - seg.cron.burstSeconds - BATCH_DRAIN_SHARE * drainWithinSeconds;
  const startup = Math.max(world.startupSeconds, world.spec.predictive.horizonSeconds);
  if (quiet >= BURST_QUIET_STARTUPS * startup) return 0;
  const burst = seg.rate * seg.cron.periodSeconds;
  return (
    Math.ceil((burst / (BATCH_DRAIN_SHARE * drainWithinSeconds) / seg.handlerPerSecond) * RATE_HEADROOM) + 2
  );
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
    // Poisoned messages (fuzz-world.ts Adversity.poison) in circulation before the window take
    // handler time for good: each is handled, fails and comes back after its retry delay, so it keeps
    // 1 / (1 + handler × retry) of a replica busy (a whole one with a nak's retry at once). Replicas
    // sized for the arrivals alone would leave the arrivals waiting behind them (world 134 adverse:
    // 50 of them, retried every 5 s by 1.25/s handlers, keep 6.9 replicas busy beside 0.2/s).
    const poison = world.adversity?.poison;
    const poisoned = poison !== undefined && poison.at < start;
    const poisonReplicas = poisoned ? poison.count / (1 + seg.handlerPerSecond * poison.retrySeconds) : 0;
    const needed = seg.rate / seg.handlerPerSecond + poisonReplicas;
    // No scale-up past what the rate needs with headroom to spare, or what the backlog floor asks.
    // The rate is the stretch's mean or, when higher, what really arrived in the RECENT_SECONDS
    // before the poll: a policy cannot know the long-run mean of a clumped stream, but sizing for
    // more than arrived over that long is reacting to a single reading. Or what arrives until a pod
    // asked for then would have been ready for RECENT_SECONDS (comingArrivalRate): replicas started
    // a start-up before a burst that then comes are what meets it in time, not scaling wrongly.
    // Where max_ack_pending has fewer slots than the clients would take, a replica really does
    // less than its handler could (it waits for slots), so the handler's rate is no yardstick.
    const slotsBind =
      world.maxAckPending > 0 && world.maxAckPending < world.client.prefetch * (Math.ceil(needed * 2) + 2);
    if (spec.latencyObjectiveSeconds === undefined && !spec.predictive.enabled && !slotsBind) {
      for (const s of window) {
        const d = s.decision;
        if (!s.applied || d.desiredReplicas <= s.currentReplicas) continue;
        const recent = recentArrivalRate(run, s);
        const coming = comingArrivalRate(run, s);
        const bound = Math.max(
          spec.minReplicas,
          Math.ceil(
            (Math.max(seg.rate, recent, coming) / seg.handlerPerSecond + poisonReplicas) *
              RATE_HEADROOM *
              1.5,
          ) + 2,
          Math.ceil(backlogOf(s) / spec.backlogPerReplica),
          cronBurstReplicas(seg, world),
        );
        if (d.desiredReplicas > bound)
          out.push(
            `steady ${seg.rate.toFixed(1)}/s (${recent.toFixed(1)}/s in the last ${RECENT_SECONDS}s, ${coming.toFixed(1)}/s until ${RECENT_SECONDS}s after a start-up) needs ${needed.toFixed(2)} replicas, yet scaled up to ${d.desiredReplicas} (bound ${bound}) — ${where(run, s)}`,
          );
      }
    }
    // No standing shortfall: at the end of the window the ready replicas keep up, or something the
    // user set explains why not.
    const last = window.at(-1);
    const first = window[0];
    if (last === undefined || first === undefined) return;
    const limit = last.decision.limitedBy;
    // The user's scale-up step policy is such a limit too: world 999 (Pods 1 per 60 s) was asking
    // for more at every poll and got one pod a minute, as its user wrote. So is a scale-up
    // stabilization window holding the count (the lowest recommendation within it, as the HPA
    // does): world 13752 (60 s, batches of 50 at 32/s) recommended 5 in a 14 s lull between
    // batches and the window held 6 for a minute after, as its user asked.
    const userLimit =
      limit === 'MaxReplicas' ||
      limit === 'MaxAckPending' ||
      limit === 'ReplicasNotReady' ||
      limit === 'StepPolicy' ||
      (limit === 'Stabilization' &&
        spec.scaleUp.stabilizationWindowSeconds > 0 &&
        last.decision.recommendedReplicas > last.decision.desiredReplicas) ||
      spec.scaleUp.selectPolicy === 'Disabled' ||
      (last.currentReplicas === 0 && backlogOf(last) <= spec.activationBacklog) ||
      spec.inFlightPerReplica !== undefined ||
      (world.maxAckPending > 0 && world.maxAckPending < 4 * (Math.ceil(needed) + 1)) ||
      Math.ceil(needed * 1.1) >= spec.maxReplicas;
    // A latency objective lets a queue stand (half the objective's worth of arrivals, objective.ts)
    // and grow towards that while what waits has waited less than the objective: fewer replicas
    // than the rate needs, by design. Whether the objective then holds is checked below.
    const objective = spec.latencyObjectiveSeconds;
    const lastIndex = run.steps.indexOf(last);
    const explained = userLimit || (objective !== undefined && fifoWaitSeconds(run, lastIndex) <= objective);
    // Replicas asked for and still starting are the world's delay, not the policy's.
    const short =
      last.readyReplicas * seg.handlerPerSecond < 0.95 * seg.rate &&
      last.currentReplicas * seg.handlerPerSecond < 0.95 * seg.rate;
    const growing = last.sample.pending > first.sample.pending;
    if (short && growing && !explained && last.decision.desiredReplicas <= last.currentReplicas)
      out.push(
        `steady ${seg.rate.toFixed(1)}/s needs ${needed.toFixed(2)} replicas; ${last.readyReplicas} ready and pending grew ${first.sample.pending} → ${last.sample.pending} over the last ${SETTLED_SECONDS}s, yet not scaling up — ${where(run, last)}`,
      );
    // The objective holds once settled: what completes has waited no longer than it (up to the
    // poll resolution), unless something the user set explains why not. maxReplicas capping any
    // decision of the window explains it too: the policy asked for more than the user allows (world
    // 60198: 440,000 queued by two segments far above 2 replicas' capacity drain at 360/s through
    // the next, each poll "needs 7: keeping 2 (capped by maxReplicas 2)"). So does maxReplicas
    // capping a decision while the message waited: the queue ahead of it was built then, and the
    // limit keeps explaining that wait once the policy no longer asks for more than it allows (world
    // 5086: 1,200/s for 300 s at 20 replicas, the cap, queued 320,000; the next stretch at 6.5/s
    // drained them at the cap until the policy asked for exactly 20, and a message completed at
    // t = 1,080 s had waited 798 s, since the capped stretch). Messages that arrived after the last
    // capped decision are still held to the objective.
    // So does the consumer's max_ack_pending capping a decision at it while the message waited (the
    // policy asked for more replicas than can each have one in hand): the user's consumer lets no
    // more work at once, as maxReplicas lets no more run. A cap the policy measured below it
    // (fewer replicas did as much) is the policy's own and explains nothing. Adverse world 352011
    // (nats.py push, max_ack_pending 20, handlers slowed to 0.5/s at 30 s, 59.3/s arriving until
    // 150 s): 20 slots complete at most 10/s, 5,400 or more were queued by 150 s whatever the
    // policy did; a message completed at 930 s had waited 786 s (the longest wait with no measured
    // max_ack_pending cap at all: 739 s).
    const slotsCapped = (r: Step): boolean =>
      r.decision.limitedBy === 'MaxAckPending' &&
      world.maxAckPending > 0 &&
      r.decision.desiredReplicas >= world.maxAckPending;
    const cappedInWindow = window.some((s) => s.decision.limitedBy === 'MaxReplicas' || slotsCapped(s));
    const cappedWhileWaiting = (s: Step, wait: number): boolean =>
      run.steps.some(
        (r) => r.t >= s.t - wait && r.t <= s.t && (r.decision.limitedBy === 'MaxReplicas' || slotsCapped(r)),
      );
    if (
      objective !== undefined &&
      objective >= WAIT_CHECKED_OBJECTIVE_SECONDS &&
      !userLimit &&
      !cappedInWindow
    ) {
      for (const s of window) {
        const wait = fifoWaitSeconds(run, run.steps.indexOf(s));
        // A message that arrived while the target was at zero waits for a pod to start, and the
        // user who lets it go to zero (minReplicas 0, its cooldown) accepts that: where a start-up
        // (up to 1.5 × startupSeconds here) and the poll that sees the message take longer than the
        // objective, no policy that goes to zero holds it (world 40348: batches of 10 every ~33 s,
        // cooldown 0, 15–45 s start-ups, a 30 s objective: 40.9 s).
        const coldStart =
          1.5 * world.startupSeconds + world.pollSeconds > objective &&
          run.steps.some((r) => r.t >= s.t - wait && r.t <= s.t && r.currentReplicas === 0);
        if (
          wait > objective + world.pollSeconds &&
          !coldStart &&
          !cappedWhileWaiting(s, wait) &&
          !waitedForPausedPod(run, s, wait, objective)
        ) {
          out.push(
            `steady ${seg.rate.toFixed(1)}/s with a ${objective}s latency objective: a message completed at t=${s.t.toFixed(2)}s had waited ${wait.toFixed(1)}s — ${where(run, s)}`,
          );
          break;
        }
      }
    }
    // No standing wait in the clients' buffers: nothing waits at the server, yet every message
    // completed in the settled window waited longer than BUFFER_WAIT_DRAINS drainWithinSeconds
    // plus BUFFER_WAIT_HANDLINGS times a message's own handling (concurrency ÷ the pod's rate:
    // handlers that work on many at once hold each that long in hand), while fewer replicas run
    // than the rate and draining what is held beyond their handlers within drainWithinSeconds need
    // and the policy does not ask for more. Messages in hand are not counted: a concurrent client's
    // held messages are no queue. World 291460 adverse (nats.js fetch() loop, 0.6/s, handlers
    // 0.125/s): a 0.65/s figure stood for 750 s on held-only intervals while 2f sized the 71-80
    // held as drained within 30 s by 5-7 replicas; messages waited 120-230 s (main 80b776c).
    if (
      objective === undefined &&
      !userLimit &&
      !poisoned &&
      !pausedNear(world, start - SETTLED_SECONDS, end)
    ) {
      const inHand = world.client.concurrency;
      const waitLimit =
        BUFFER_WAIT_DRAINS * spec.drainWithinSeconds +
        (BUFFER_WAIT_HANDLINGS * inHand) / seg.handlerPerSecond +
        world.pollSeconds;
      const buffered = last.sample.ackPending - last.readyReplicas * inHand;
      const drainNeeds = needed + buffered / (seg.handlerPerSecond * spec.drainWithinSeconds);
      const heldOnly = window.every(
        (s) =>
          s.sample.pending <= s.readyReplicas &&
          (world.maxAckPending <= 0 || s.sample.ackPending < world.maxAckPending),
      );
      const waited = window.every((s) => fifoWaitSeconds(run, run.steps.indexOf(s)) > waitLimit);
      if (
        heldOnly &&
        waited &&
        buffered > 0 &&
        last.currentReplicas < drainNeeds &&
        last.decision.desiredReplicas <= last.currentReplicas
      )
        out.push(
          `steady ${seg.rate.toFixed(1)}/s: every message completed in the last ${SETTLED_SECONDS}s waited over ${waitLimit.toFixed(0)}s (${fifoWaitSeconds(run, lastIndex).toFixed(0)}s at the end) with nothing pending and ${buffered} held beyond the handlers, yet ${last.currentReplicas} replicas where the rate and draining them within ${spec.drainWithinSeconds}s need ${drainNeeds.toFixed(1)} — ${where(run, last)}`,
        );
    }
    // No low end kept through a steady stretch of independent messages: a per-replica figure that
    // is a low end only (learnt while pods not counted ready may have consumed) and well below what
    // the handlers do is re-measured (decide.ts LOW_END_REMEASURE_SECONDS), not kept for good,
    // sizing twice the replicas needed or more (worlds 70 and 134: 32.7/s for 200/s handlers held 14
    // replicas where 4 do, 24.2/s for 50/s held 9 where 7 do). Streams sent in batches are not re-measured yet (world
    // 1440 keeps 2.2-3.1/s for 5/s handlers: see decide.ts). Where max_ack_pending binds a replica
    // really does less than its handler, and a user who disabled scale-down keeps what is there.
    // Nor while the user's scale-down rules hold more replicas than the policy asks for: a low end
    // is re-measured by sizing below it, and replicas held above that stay idle, so nothing measures
    // them until the user's window and step policy let the count down. World 70180 (178.7/s, 50/s
    // handlers, a 17/s figure) asked for 8-9 from t = 341 s on, and its user's 300 s window, then 3
    // pods a minute, took 41 replicas to 15 by the end of the stretch; world 50279 (backlogPerReplica
    // 1, 2.8/s at 5/s handlers) asked for 1 and the window held 2.
    // Nor while the user's maxReplicas holds fewer replicas than the backlog asks for: a re-measure
    // sizes below the figure, and with the count held at maxReplicas by the backlog term each replica
    // does arrivals ÷ maxReplicas, which proves nothing more (worlds 3006 and 900039: clients with
    // 400 handlers at once, their in-hand messages over backlogPerReplica asking 14-94 and capped at
    // 10 and 3; the replica counts were the same, poll for poll, on main 6099f6b, which called the same
    // figure measured — that they are counted as a queue is an open over-scaling of its own).
    const figure = last.decision.rates.perReplicaPerSecond;
    // Only where the re-measure itself fits under maxReplicas: a figure that asks for more than
    // maxReplicas even at LOW_END_PROBE_FACTOR times itself is what holds the count there.
    const heldByMaxReplicas =
      limit === 'MaxReplicas' &&
      figure !== undefined &&
      last.decision.desiredReplicas === spec.maxReplicas &&
      last.decision.recommendedReplicas > spec.maxReplicas &&
      Math.ceil((seg.rate * RATE_HEADROOM) / (LOW_END_PROBE_FACTOR * figure)) <= spec.maxReplicas;
    // Nor while the user's backlogPerReplica alone asks for the replicas there are and the figure
    // asks no more: the count is the backlog term's, each replica does arrivals ÷ that count, and
    // the re-measure's sizing below the figure changes nothing (world 606016: async-nats
    // messages() ×300, 282.8/s at 200/s a pod, 407-424 in hand over backlogPerReplica 100, "backlog
    // at 100 per replica needs 5", where the 67-89/s figure asked 4).
    const backlogAsks = Math.ceil(
      (Math.max(0, last.sample.pending) + Math.max(0, last.sample.ackPending)) / spec.backlogPerReplica,
    );
    const heldByBacklogTerm =
      figure !== undefined &&
      figure > 0 &&
      backlogAsks >= last.decision.desiredReplicas &&
      Math.ceil((seg.rate * RATE_HEADROOM) / figure) <= last.decision.desiredReplicas;
    const heldByScaleDownRules =
      ((limit === 'Stabilization' || limit === 'StepPolicy') &&
        last.decision.desiredReplicas > last.decision.recommendedReplicas) ||
      heldByMaxReplicas ||
      heldByBacklogTerm;
    if (
      seg.shape === 'poisson' &&
      !slotsBind &&
      // Replicas that spend handler time on poisoned messages complete less than their handler does.
      !poisoned &&
      spec.scaleDown.selectPolicy !== 'Disabled' &&
      !heldByScaleDownRules &&
      last.decision.rates.perReplicaLowEndOnly === true &&
      figure !== undefined &&
      figure < LOW_END_SETTLED_SHARE * seg.handlerPerSecond &&
      // ... and it costs replicas: sized by it the stream needs more than minReplicas.
      Math.ceil((seg.rate * RATE_HEADROOM) / figure) > Math.max(1, spec.minReplicas)
    )
      out.push(
        `steady ${seg.rate.toFixed(1)}/s: the per-replica figure ${figure.toFixed(2)}/s for ${seg.handlerPerSecond}/s handlers is still a low end only after ${seg.seconds}s — ${where(run, last)}`,
      );
  });
  return out;
}

/** Beyond what the process that kept running asked for, a restarted one may ask this share more (and one replica). */
export const RESTART_EXCESS_SHARE = 0.25;

/**
 * A restart while the pods of a scale-up still start (World.restartWhileStarting), from a status
 * that carried a per-replica figure, judged against the same world run without the restart
 * (`kept`): over the start-up after it (1.5 × startupSeconds, the slowest pod's, and a poll's
 * 30 s), the most the new process asked for is no more than the most the process that kept running
 * asked for, plus RESTART_EXCESS_SHARE and one. The two runs part at the restart (other counts,
 * other pods), so the bound is loose; a new process that took the pods still starting for replicas
 * that consume and do little asked for maxReplicas where the old one held (world 36029: 50 where it
 * asked for 20). Without a figure carried the new process knows what a new installation would, and
 * is not judged (its first figure is a low end while pods start, rates.ts).
 */
export function restartWhileStartingViolations(restarted: Run, kept: Run): string[] {
  const { world } = restarted;
  if (world.restartWhileStarting !== true || restarted.restartStatus === undefined) return [];
  if (restarted.restartStatus.consumers?.[0]?.rates?.perReplicaPerSecond === undefined) return [];
  const at = restarted.steps.find((s) => s.t === restarted.restartedAt);
  if (at === undefined) return [];
  const until = at.t + 1.5 * world.startupSeconds + 30;
  const most = (run: Run): Step | undefined =>
    run.steps
      .filter((s) => s.t >= at.t && s.t < until)
      .reduce<Step | undefined>(
        (m, s) => (m === undefined || s.decision.desiredReplicas > m.decision.desiredReplicas ? s : m),
        undefined,
      );
  const mostRestarted = most(restarted);
  const mostKept = most(kept)?.decision.desiredReplicas ?? 0;
  if (mostRestarted === undefined) return [];
  const bound = Math.ceil(mostKept * (1 + RESTART_EXCESS_SHARE)) + 1;
  return mostRestarted.decision.desiredReplicas > bound
    ? [
        `restarted at t=${at.t.toFixed(2)}s with ${at.currentReplicas - at.readyReplicas} of ${at.currentReplicas} replicas starting, it asked for ${mostRestarted.decision.desiredReplicas} where the process that kept running asked for at most ${mostKept} (bound ${bound}) — ${where(restarted, mostRestarted)}`,
      ]
    : [];
}
