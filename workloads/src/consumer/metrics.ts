// The consumer's Prometheus metrics (names are a contract: workloads/README.md, the Grafana
// dashboards and the load harness read them). One registry per process, passed in, not global.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
   * Counts one run of a step of the full path (`stepSeconds`, `steps`): added up in plain numbers and
   * handed to the two counters when they are read (a scrape), not two labelled increments per step.
   */
  recordStep(step: string, ms: number): void;
  inFlight: Gauge;
  handlerDuration: Histogram<'outcome'>;
  endToEndLatency: Histogram;
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
  const stepMs = new Map<string, number>();
  const stepRuns = new Map<string, number>();
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
        for (const [step, ms] of stepMs) this.inc({ step }, ms / 1000);
        stepMs.clear();
      },
    }),
    steps: new Counter({
      name: `${p}steps_total`,
      help: 'Times each step of the full path ran',
      labelNames: ['step'],
      registers,
      collect() {
        for (const [step, n] of stepRuns) this.inc({ step }, n);
        stepRuns.clear();
      },
    }),
    recordStep: (step, ms) => {
      stepMs.set(step, (stepMs.get(step) ?? 0) + ms);
      stepRuns.set(step, (stepRuns.get(step) ?? 0) + 1);
    },
    inFlight: new Gauge({
      name: `${p}in_flight`,
      help: 'Messages held by this process (buffered or being processed)',
      registers,
    }),
    handlerDuration: new Histogram({
      name: `${p}handler_duration_seconds`,
      help: 'Time from taking a message to settling it (ack, nak or term)',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    endToEndLatency: new Histogram({
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
