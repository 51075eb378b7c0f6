// The consumer's Prometheus metrics (names are a contract: workloads/README.md, the Grafana
// dashboards and the load harness read them). One registry per process, passed in, not global.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { FoldedHistogram } from '../shared/folded-histogram.js';
import { STEPS, type Step } from './event-store.js';

export interface ConsumerMetrics {
  registry: Registry;
  processed: Counter;
  duplicates: Counter;
  redeliveries: Counter;
  deadLettered: Counter<'reason'>;
  naks: Counter<'reason'>;
  appendConflicts: Counter;
  projectionsRebuilt: Counter;
  projectionsPending: Gauge;
  /** Makes `projectionsPending` read `count()` at every scrape. */
  countPendingWith(count: () => number): void;
  writersRecovered: Counter;
  stepSeconds: Counter<'step'>;
  steps: Counter<'step'>;
  /**
   * Counts one run of a step of the full path (`stepSeconds`, `steps`): added up in arrays indexed by
   * step and handed to the two counters when they are read (a scrape), not two labelled increments
   * (nor Map lookups) per step.
   */
  recordStep(step: Step, ms: number): void;
  inFlight: Gauge;
  /** Seconds the longest-running handler has run (0 with none running), read at every scrape. */
  oldestHandler: Gauge;
  /** Makes `oldestHandler` read `seconds()` at every scrape. */
  timeOldestHandlerWith(seconds: () => number): void;
  /** Per-event histograms: observations fold into plain numbers (folded-histogram.ts). */
  handlerDuration: FoldedHistogram<'outcome'>;
  endToEndLatency: FoldedHistogram;
  statusEvents: Counter<'type'>;
  natsConnected: Gauge;
  draining: Gauge;
}

export function createConsumerMetrics(withDefaults = true): ConsumerMetrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const p = 'jetscale_consumer_';
  let pendingCount = () => 0;
  let oldestHandlerSeconds = () => 0;
  const stepIndex = Object.fromEntries(STEPS.map((step, i) => [step, i])) as Record<Step, number>;
  // Since the last read of each counter: time and runs for step_seconds_total, runs for steps_total.
  const stepMs = new Float64Array(STEPS.length);
  const stepMsRuns = new Float64Array(STEPS.length);
  const stepRuns = new Float64Array(STEPS.length);
  return {
    registry,
    processed: new Counter({
      name: `${p}events_processed_total`,
      help: 'Events applied (appended to the event log)',
      registers,
    }),
    duplicates: new Counter({
      name: `${p}duplicates_suppressed_total`,
      help: 'Deliveries of already-applied events, acked without applying',
      registers,
    }),
    redeliveries: new Counter({
      name: `${p}redeliveries_total`,
      help: 'Messages received with a delivery count above 1',
      registers,
    }),
    deadLettered: new Counter({
      name: `${p}dead_lettered_total`,
      help: 'Events copied to the DLQ stream and terminated',
      labelNames: ['reason'],
      registers,
    }),
    naks: new Counter({
      name: `${p}naks_total`,
      help: 'Messages negatively acknowledged for a later retry',
      labelNames: ['reason'],
      registers,
    }),
    appendConflicts: new Counter({
      name: `${p}append_conflicts_total`,
      help: 'Event-log appends retried after an optimistic-concurrency conflict',
      registers,
    }),
    projectionsRebuilt: new Counter({
      name: `${p}projections_rebuilt_total`,
      help: 'Stored projections that could not be read and were rebuilt from the event log',
      registers,
    }),
    projectionsPending: new Gauge({
      name: `${p}projections_pending`,
      help: 'Aggregates whose projection is ahead of the stored one (written at the next flush)',
      registers,
      collect() {
        this.set(pendingCount());
      },
    }),
    countPendingWith: (count) => {
      pendingCount = count;
    },
    writersRecovered: new Counter({
      name: `${p}writers_recovered_total`,
      help: 'Marks of stopped writers whose log range this process brought into the projections',
      registers,
    }),
    stepSeconds: new Counter({
      name: `${p}step_seconds_total`,
      help: 'Time spent in each step of the full path (NATS round trips and the work), summed over events',
      labelNames: ['step'],
      registers,
      collect() {
        STEPS.forEach((step, i) => {
          if (stepMsRuns[i] === 0) return;
          this.inc({ step }, (stepMs[i] ?? 0) / 1000);
          stepMs[i] = 0;
          stepMsRuns[i] = 0;
        });
      },
    }),
    steps: new Counter({
      name: `${p}steps_total`,
      help: 'Times each step of the full path ran',
      labelNames: ['step'],
      registers,
      collect() {
        STEPS.forEach((step, i) => {
          if (stepRuns[i] === 0) return;
          this.inc({ step }, stepRuns[i]);
          stepRuns[i] = 0;
        });
      },
    }),
    recordStep: (step, ms) => {
      const i = stepIndex[step];
      stepMs[i] = (stepMs[i] ?? 0) + ms;
      stepMsRuns[i] = (stepMsRuns[i] ?? 0) + 1;
      stepRuns[i] = (stepRuns[i] ?? 0) + 1;
    },
    inFlight: new Gauge({
      name: `${p}in_flight`,
      help: 'Messages held by this process (buffered or being processed)',
      registers,
    }),
    oldestHandler: new Gauge({
      name: `${p}oldest_handler_seconds`,
      help: 'How long the longest-running handler has run (0 with none running); STUCK_AFTER_MS fails /healthz past it',
      registers,
      collect() {
        this.set(oldestHandlerSeconds());
      },
    }),
    timeOldestHandlerWith: (seconds) => {
      oldestHandlerSeconds = seconds;
    },
    handlerDuration: new FoldedHistogram({
      name: `${p}handler_duration_seconds`,
      help: 'Time from taking a message to settling it (ack, nak or term)',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    endToEndLatency: new FoldedHistogram({
      name: `${p}end_to_end_latency_seconds`,
      help: 'Event timestamp to applied',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    statusEvents: new Counter({
      name: `${p}status_events_total`,
      help: 'consume() status notifications by type',
      labelNames: ['type'],
      registers,
    }),
    natsConnected: new Gauge({ name: `${p}nats_connected`, help: '1 while connected to NATS', registers }),
    draining: new Gauge({ name: `${p}draining`, help: '1 after SIGTERM, while draining', registers }),
  };
}
