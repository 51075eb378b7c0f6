// The judge: turns a run's timeline, fault markers, driver totals and audit into verdicts — time
// from spike to scale-up, time to drain, peak backlog, replica-seconds, operator failover time,
// request failures / latency / drops against the profile's budgets, and the audit (lost 0 and
// applied twice 0, always). Pure: no I/O, so every rule is table-testable.
import type { Budgets, LoadProfile } from '../profiles/profiles.js';
import type { DriverTotals } from '../local/load-driver.js';
import type { AuditOutcome, FaultMarker, TimelineSample, Verdict } from './types.js';

export interface JudgeInput {
  profile: LoadProfile;
  budgets: Budgets;
  timeline: readonly TimelineSample[];
  faults: readonly FaultMarker[];
  driver: DriverTotals;
  audit: AuditOutcome;
  /** The backlog at or under which the consumers count as caught up. */
  drainedBacklog: number;
}

/** Seconds from the start of the peak until the Deployment was first asked for more replicas. */
export function scaleUpSeconds(timeline: readonly TimelineSample[], peakFrom: number): number | null {
  const before = timeline.filter((s) => s.t <= peakFrom && s.specReplicas !== null);
  const baseline =
    before.at(-1)?.specReplicas ?? timeline.find((s) => s.specReplicas !== null)?.specReplicas ?? null;
  if (baseline === null) return null;
  const first = timeline.find((s) => s.t > peakFrom && s.specReplicas !== null && s.specReplicas > baseline);
  return first ? round1(first.t - peakFrom) : null;
}

/** Seconds from the end of the peak until the backlog was back at or under `drainedBacklog`. */
export function drainSeconds(
  timeline: readonly TimelineSample[],
  peakTo: number,
  drainedBacklog: number,
): number | null {
  const first = timeline.find((s) => s.t >= peakTo && s.backlog !== null && s.backlog <= drainedBacklog);
  return first ? round1(first.t - peakTo) : null;
}

/** Seconds from the (first) highest backlog to the first sample at or under `drainedBacklog`. */
export function recoverySeconds(timeline: readonly TimelineSample[], drainedBacklog: number): number | null {
  let peakIndex = -1;
  timeline.forEach((s, i) => {
    const best = peakIndex >= 0 ? (timeline[peakIndex]?.backlog ?? -1) : -1;
    if (s.backlog !== null && s.backlog > best) peakIndex = i;
  });
  const peak = timeline[peakIndex];
  if (!peak) return null;
  const drained = timeline.slice(peakIndex).find((s) => s.backlog !== null && s.backlog <= drainedBacklog);
  return drained ? round1(drained.t - peak.t) : null;
}

export function peakBacklog(timeline: readonly TimelineSample[]): number | null {
  const values = timeline.flatMap((s) => (s.backlog === null ? [] : [s.backlog]));
  return values.length > 0 ? Math.max(...values) : null;
}

/** ∫ replicas dt over the timeline (step function): what the run cost in consumer time. */
export function replicaSeconds(timeline: readonly TimelineSample[]): number {
  let total = 0;
  for (let i = 1; i < timeline.length; i++) {
    const prev = timeline[i - 1];
    const cur = timeline[i];
    if (!prev || !cur) continue;
    total += (prev.currentReplicas ?? prev.specReplicas ?? 0) * (cur.t - prev.t);
  }
  return Math.round(total);
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function bound(
  name: string,
  value: number | null,
  max: number | undefined,
  unit: string,
  detail: string,
): Verdict {
  if (max === undefined) return { name, value, unit, pass: true, detail };
  return { name, value, unit, budget: `≤ ${max} ${unit}`, pass: value !== null && value <= max, detail };
}

export function judge(input: JudgeInput): Verdict[] {
  const { profile, budgets, timeline, faults, driver, audit } = input;
  const verdicts: Verdict[] = [];
  if (profile.peak) {
    const up = scaleUpSeconds(timeline, profile.peak.fromSeconds);
    verdicts.push(
      bound(
        'time from spike to scale-up',
        up,
        budgets.scaleUpWithinSeconds,
        's',
        up === null
          ? 'the consumer Deployment was never asked for more replicas after the spike began'
          : `spike at ${profile.peak.fromSeconds} s`,
      ),
    );
    // What the pods made of it: the first sample with more ready replicas than at the spike.
    const spikeAt = profile.peak.fromSeconds;
    const readyBefore = timeline.filter((s) => s.t <= spikeAt).at(-1)?.readyReplicas ?? null;
    const readyUp = timeline.find(
      (s) => s.t > spikeAt && readyBefore !== null && (s.readyReplicas ?? 0) > readyBefore,
    );
    verdicts.push({
      name: 'time from spike to more ready replicas',
      value: readyUp ? round1(readyUp.t - spikeAt) : null,
      unit: 's',
      pass: true,
      detail: 'Deployment status.readyReplicas (the control plane and the pods, after jetscale asked)',
    });
    const drain = drainSeconds(timeline, profile.peak.toSeconds, input.drainedBacklog);
    verdicts.push(
      bound(
        'time to drain after the peak',
        drain,
        budgets.drainWithinSeconds,
        's',
        drain === null
          ? `the backlog never came back to ≤ ${input.drainedBacklog} after the peak ended at ${profile.peak.toSeconds} s`
          : `peak ended at ${profile.peak.toSeconds} s; drained = backlog ≤ ${input.drainedBacklog}`,
      ),
    );
  }
  const peak = peakBacklog(timeline);
  verdicts.push({
    name: 'peak backlog',
    value: peak,
    unit: 'messages',
    pass: true,
    detail: 'num_pending + num_ack_pending, sampled every second',
  });
  const recovery = recoverySeconds(timeline, input.drainedBacklog);
  verdicts.push({
    name: 'from peak backlog to drained',
    value: recovery,
    unit: 's',
    pass: true,
    detail: recovery === null ? 'the backlog never came back down' : `backlog ≤ ${input.drainedBacklog}`,
  });
  verdicts.push({
    name: 'replica-seconds',
    value: replicaSeconds(timeline),
    unit: 'replica·s',
    pass: true,
    detail: 'consumer replicas integrated over the run (cost)',
  });
  for (const fault of faults.filter((f) => f.kind === 'kill-operator-leader')) {
    const seconds = fault.failoverSeconds ?? null;
    verdicts.push(
      bound(
        `operator failover (leader killed at ${fault.t.toFixed(0)} s)`,
        fault.injected ? seconds : null,
        budgets.failoverWithinSeconds,
        's',
        !fault.injected
          ? `the fault could not be injected: ${fault.detail}`
          : seconds === null
            ? 'no other replica took the lease'
            : fault.detail,
      ),
    );
  }
  verdicts.push(
    bound(
      'failed requests',
      round4(driver.failedRatio * 100),
      round4(budgets.maxFailedRatio * 100),
      '%',
      `${driver.failed} of ${driver.started} started requests${
        Object.keys(driver.failureReasons).length
          ? `: ${Object.entries(driver.failureReasons)
              .map(([k, v]) => `${k} ×${v}`)
              .join(', ')}`
          : ''
      }`,
    ),
  );
  verdicts.push(
    bound(
      'p95 request latency',
      round1(driver.p95LatencyMs),
      budgets.p95LatencyMs,
      'ms',
      // The budget is the verdict; the baseline says how much of a miss this host explains.
      `p50 ${round1(driver.p50LatencyMs)} ms, p99 ${round1(driver.p99LatencyMs)} ms` +
        (driver.beforePeakP95LatencyMs === undefined
          ? ''
          : `; this host now: before the spike p95 ${round1(driver.beforePeakP95LatencyMs)} ms, load driver stalled up to ${round1(driver.maxSchedulerLagMs)} ms`),
    ),
  );
  verdicts.push(
    bound(
      'dropped arrivals',
      round4(driver.droppedRatio * 100),
      round4(budgets.maxDroppedRatio * 100),
      '%',
      `${driver.dropped} of ${driver.planned} planned arrivals found ${profile.maxInFlight} requests in flight`,
    ),
  );
  const auditDetail = audit.ran
    ? Object.entries(audit.counts)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')
    : `audit did not run: ${audit.error ?? 'unknown error'}`;
  verdicts.push({
    name: 'audit: events lost',
    value: audit.ran ? audit.lost : null,
    unit: 'events',
    budget: '= 0',
    pass: audit.ran && audit.lost === 0,
    detail: auditDetail,
  });
  verdicts.push({
    name: 'audit: events applied twice',
    value: audit.ran ? audit.appliedTwice : null,
    unit: 'events',
    budget: '= 0',
    pass: audit.ran && audit.appliedTwice === 0,
    detail: auditDetail,
  });
  verdicts.push({
    name: 'audit: events never processed',
    value: audit.ran ? audit.pending : null,
    unit: 'events',
    budget: '= 0',
    pass: audit.ran && audit.pending === 0 && audit.stuck === 0,
    detail: `accepted events neither applied nor dead-lettered when the run ended${
      audit.ran && audit.stuck > 0 ? ` (${audit.stuck} stuck: still pending after the audit's wait)` : ''
    }`,
  });
  // Every 202 from the gateway promises the event is stored; the events stream must hold them all.
  const stored = audit.counts.accepted;
  if (audit.ran && stored !== undefined) {
    const missing = Math.max(0, driver.succeeded - stored);
    verdicts.push({
      name: 'accepted (202) but not stored',
      value: missing,
      unit: 'events',
      budget: '= 0',
      pass: missing === 0,
      detail: `${driver.succeeded} requests got 202; the events stream holds ${stored} distinct ids`,
    });
  }
  return verdicts;
}

function round4(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
