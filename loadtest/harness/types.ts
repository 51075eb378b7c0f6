// The data a harness run produces — timeline samples, fault markers, verdicts and the result
// document — shared by the sampler, the fault injector, the judge, the report and the tests.
import type { Budgets, FaultKind, LoadProfile } from '../profiles/profiles.js';
import type { DriverTotals } from '../local/load-driver.js';

/** One sample of the system, taken about once a second. Null = could not be read at that moment. */
export interface TimelineSample {
  /** Seconds since the load started. */
  t: number;
  plannedRate: number;
  /** Requests the gateway accepted during the last second. */
  achievedRate: number;
  failedRate: number;
  droppedRate: number;
  /** num_pending + num_ack_pending of the durable consumer, read from JetStream directly. */
  backlog: number | null;
  pending: number | null;
  ackPending: number | null;
  /** Events appended to the event log per second (what the consumers really applied). */
  processedRate: number | null;
  /** The EventConsumer's status.desiredReplicas (what jetscale decided). */
  desiredReplicas: number | null;
  /** The Deployment's spec.replicas (what jetscale asked the Deployment for). */
  specReplicas: number | null;
  /** The Deployment's status.replicas and readyReplicas. */
  currentReplicas: number | null;
  readyReplicas: number | null;
  /** Consumer processes alive on this machine (local target only). */
  runningConsumers: number | null;
  /** p95 end-to-end latency (event timestamp → applied) over the last sample interval, ms. */
  e2eLatencyP95Ms: number | null;
  /** holderIdentity of the operator's leader Lease. */
  leader: string | null;
}

export interface FaultMarker {
  /** Seconds since the load started. */
  t: number;
  kind: FaultKind;
  detail: string;
  /** False when the injection itself failed (the run is then judged without it). */
  injected: boolean;
  /** For kill-operator-leader: seconds until another replica held the lease (null = never). */
  failoverSeconds?: number | null;
}

/** A pass/fail judgement, or a plain measurement when `budget` is undefined. */
export interface Verdict {
  name: string;
  value: number | null;
  unit: string;
  /** Human form of the bound, e.g. "≤ 30 s"; undefined for measurements. */
  budget?: string;
  pass: boolean;
  detail: string;
}

export interface AuditOutcome {
  ran: boolean;
  lost: number;
  appliedTwice: number;
  /** Accepted events neither applied nor dead-lettered when the audit gave up waiting. */
  pending: number;
  /** Of those, the ones the audit calls stuck (all of them once it waited; see runAudit). */
  stuck: number;
  /** Other counts the audit reports (accepted, applied, dead-lettered …). */
  counts: Record<string, number>;
  error?: string;
}

export interface RunResult {
  scenario: string;
  testId: string;
  target: string;
  startedAt: string;
  finishedAt: string;
  profile: LoadProfile;
  budgets: Budgets;
  /** Settings that shape the numbers (consumer work per event, lease timings, …). */
  settings: Record<string, string | number>;
  timeline: TimelineSample[];
  faults: FaultMarker[];
  driver: DriverTotals;
  audit: AuditOutcome;
  verdicts: Verdict[];
  passed: boolean;
  /** The run as the stack's Prometheus saw it (when the stack runs one). */
  prometheus?: PrometheusSection;
}

/** Every dashboard panel evaluated against Prometheus after a run (loadtest/harness/prometheus-check.ts). */
export interface PrometheusSection {
  url: string;
  /** Unix seconds. */
  range: { start: number; end: number; stepSeconds: number };
  panels: Array<{
    panel: string;
    answered: boolean;
    /** False when every query reads series from exporters the local stack does not run (k6's remote write). */
    localSources: boolean;
    queries: Array<{
      refId: string;
      legend: string;
      promql: string;
      series: number;
      samples: number;
      max: number | null;
      externalSource?: string;
      error?: string;
      /** An instant (stat panel) query empty at the run's end, answered over the run instead. */
      emptyAtEnd?: boolean;
    }>;
  }>;
  /** Key figures from Prometheus against the harness' own measurements. */
  agreement: Array<{
    name: string;
    harness: number | null;
    prometheus: number | null;
    tolerance: string;
    pass: boolean;
    /** Why it passed or failed: the bracket, Prometheus' coverage, a peak that fell in a gap. */
    detail?: string;
    harnessWholeRun?: number | null;
    coverage?: number;
  }>;
  /** Alerts that fired for the run's namespace: [from, to] seconds since the load started. */
  alerts: Array<{ alert: string; firing: Array<[number, number]>; firingAtEnd: boolean }>;
  /** For each NATS outage of the run: which alerts fired during it and whether they resolved by the end. */
  natsOutages: Array<{ t: number; seconds: number; alertsFiring: string[]; resolvedAfter: boolean }>;
  cost: {
    scrapeIntervalSeconds: number;
    targetsAtEnd: number;
    meanLastScrapeMs: number | null;
    headSeries: number | null;
    samplesPerSecond: number | null;
    ruleEvaluationMsPerRound: number | null;
    cpuSecondsPerSecond: number | null;
    residentMemoryMiB: number | null;
    /** Every panel query evaluated over the run once (what opening the dashboard on the run costs). */
    panelQueries?: number;
    panelProofSeconds?: number;
  };
  /** Key series on the timeline's axis (one value per timeline sample). */
  charts: {
    times: number[];
    backlog: Array<number | null>;
    desired: Array<number | null>;
    current: Array<number | null>;
    arrival: Array<number | null>;
    applied: Array<number | null>;
  };
}
