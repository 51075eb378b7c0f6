import { profiles } from '../profiles/profiles.js';
import type { DriverTotals } from '../local/load-driver.js';
import { renderHtml, svgChart, niceCeiling } from './report.js';
import type { AuditOutcome, RunResult, TimelineSample } from './types.js';
import {
  drainSeconds,
  judge,
  peakBacklog,
  recoverySeconds,
  replicaSeconds,
  scaleUpSeconds,
} from './verdicts.js';

const sample = (
  t: number,
  specReplicas: number | null,
  backlog: number | null,
  extra: Partial<TimelineSample> = {},
): TimelineSample => ({
  t,
  plannedRate: 20,
  achievedRate: 20,
  failedRate: 0,
  droppedRate: 0,
  backlog,
  pending: backlog,
  ackPending: 0,
  processedRate: 20,
  desiredReplicas: specReplicas,
  specReplicas,
  currentReplicas: specReplicas,
  readyReplicas: specReplicas,
  runningConsumers: specReplicas,
  e2eLatencyP95Ms: 100,
  leader: 'jetscale-operator-0',
  ...extra,
});

const driver: DriverTotals = {
  planned: 1000,
  started: 1000,
  succeeded: 995,
  failed: 5,
  dropped: 0,
  achievedRate: 20,
  failedRatio: 0.005,
  droppedRatio: 0,
  p50LatencyMs: 10,
  p95LatencyMs: 40,
  p99LatencyMs: 90,
  maxLatencyMs: 300,
  maxSchedulerLagMs: 3,
  elapsedSeconds: 50,
  failureReasons: { 'HTTP 503': 5 },
};
const cleanAudit: AuditOutcome = {
  ran: true,
  lost: 0,
  appliedTwice: 0,
  pending: 0,
  stuck: 0,
  counts: { accepted: 995, applied: 995 },
};

// Spike at 30 s; the Deployment is asked for 3 replicas at 34 s; the peak ends at 95 s; drained at 120 s.
const timeline: TimelineSample[] = [
  sample(0, 1, 0),
  sample(30, 1, 5),
  sample(32, 1, 400),
  sample(34, 3, 900),
  sample(60, 6, 1500),
  sample(95, 6, 800),
  sample(110, 6, 100),
  sample(120, 4, 10),
  sample(130, 2, 0),
];

describe('verdict rules', () => {
  it('measures scale-up from the start of the spike to the first larger replica request', () => {
    expect(scaleUpSeconds(timeline, 30)).toBe(4);
    expect(
      scaleUpSeconds(
        timeline.map((s) => ({ ...s, specReplicas: 1 })),
        30,
      ),
    ).toBeNull();
  });
  it('measures drain from the end of the peak to the first backlog at or under the threshold', () => {
    expect(drainSeconds(timeline, 95, 20)).toBe(25);
    expect(drainSeconds(timeline, 95, 0)).toBe(35);
    expect(drainSeconds(timeline.slice(0, 6), 95, 20)).toBeNull();
  });
  it('takes the peak backlog and integrates replica-seconds as a step function', () => {
    expect(peakBacklog(timeline)).toBe(1500);
    expect(recoverySeconds(timeline, 20)).toBe(60);
    expect(replicaSeconds([sample(0, 1, 0), sample(10, 3, 0), sample(20, 3, 0)])).toBe(40);
  });
  it('passes a clean run and fails on any lost or twice-applied event', () => {
    const input = {
      profile: profiles.spike,
      budgets: profiles.spike.budgets,
      timeline,
      faults: [],
      driver,
      audit: cleanAudit,
      drainedBacklog: 20,
    };
    const verdicts = judge(input);
    expect(verdicts.filter((v) => !v.pass)).toEqual([]);
    const lost = judge({ ...input, audit: { ...cleanAudit, lost: 1 } });
    expect(lost.find((v) => v.name === 'audit: events lost')?.pass).toBe(false);
    const twice = judge({ ...input, audit: { ...cleanAudit, appliedTwice: 2 } });
    expect(twice.find((v) => v.name === 'audit: events applied twice')?.pass).toBe(false);
    const notRun = judge({ ...input, audit: { ...cleanAudit, ran: false, error: 'NATS down' } });
    expect(notRun.find((v) => v.name === 'audit: events lost')?.pass).toBe(false);
    // Accepted events never applied nor dead-lettered (issue 17: the audit used to say ok).
    const stuck = judge({ ...input, audit: { ...cleanAudit, pending: 260, stuck: 260 } });
    const neverProcessed = stuck.find((v) => v.name === 'audit: events never processed');
    expect(neverProcessed?.pass).toBe(false);
    expect(neverProcessed?.detail).toContain('260 stuck');
  });
  it("shows this host's baseline beside the latency budget: the p95 before the peak and the driver's stall", () => {
    const input = {
      profile: profiles.spike,
      budgets: profiles.spike.budgets,
      timeline,
      faults: [],
      audit: cleanAudit,
      drainedBacklog: 20,
    };
    const latency = (d: DriverTotals) =>
      judge({ ...input, driver: d }).find((v) => v.name === 'p95 request latency');
    const slow = latency({
      ...driver,
      p95LatencyMs: 594,
      beforePeakP95LatencyMs: 210,
      maxSchedulerLagMs: 480,
    });
    // The budget stays the verdict: a loaded host does not excuse a slow gateway.
    expect(slow?.pass).toBe(false);
    expect(slow?.detail).toContain('before the spike p95 210 ms');
    expect(slow?.detail).toContain('load driver stalled up to 480 ms');
    expect(latency(driver)?.detail).not.toContain('before the spike');
  });
  it('fails a slow scale-up, a failed failover and accepted events missing from the stream', () => {
    const slow = timeline.map((s) =>
      s.t === 34 ? { ...s, specReplicas: 1 } : s.t === 60 ? { ...s, t: 70 } : s,
    );
    const input = {
      profile: profiles.spike,
      budgets: { ...profiles.spike.budgets, failoverWithinSeconds: 20 },
      timeline: slow,
      faults: [
        {
          t: 50,
          kind: 'kill-operator-leader' as const,
          detail: 'killed',
          injected: true,
          failoverSeconds: null,
        },
      ],
      driver,
      audit: { ...cleanAudit, counts: { accepted: 990 } },
      drainedBacklog: 20,
    };
    const failed = judge(input)
      .filter((v) => !v.pass)
      .map((v) => v.name);
    expect(failed).toEqual([
      'time from spike to scale-up',
      'operator failover (leader killed at 50 s)',
      'accepted (202) but not stored',
    ]);
  });
});

describe('report', () => {
  it('rounds axis maxima up to nice numbers', () => {
    expect(niceCeiling(0)).toBe(1);
    expect(niceCeiling(7)).toBe(10);
    expect(niceCeiling(180)).toBe(200);
    expect(niceCeiling(1200)).toBe(2000);
  });
  it('draws series as polylines and marks faults, with no external resources', () => {
    const svg = svgChart({
      title: 't',
      times: [0, 1, 2],
      series: [{ name: 'backlog', color: '#000', axis: 'left', values: [0, null, 5] }],
      leftLabel: 'x',
      faults: [{ t: 1, kind: 'restart-nats', detail: 'd', injected: true }],
    });
    expect(svg.match(/<polyline/g)).toHaveLength(2); // the null splits the line
    expect(svg).toContain('restart-nats');
    const result: RunResult = {
      scenario: 'spike',
      testId: 'x<y',
      target: 'local',
      startedAt: 'a',
      finishedAt: 'b',
      profile: profiles.spike,
      budgets: profiles.spike.budgets,
      settings: { k: 1 },
      timeline,
      faults: [],
      driver,
      audit: cleanAudit,
      verdicts: judge({
        profile: profiles.spike,
        budgets: profiles.spike.budgets,
        timeline,
        faults: [],
        driver,
        audit: cleanAudit,
        drainedBacklog: 20,
      }),
      passed: true,
    };
    const html = renderHtml(result);
    expect(html).toContain('x&lt;y');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(html.match(/<svg/g)).toHaveLength(4);
  });
});
