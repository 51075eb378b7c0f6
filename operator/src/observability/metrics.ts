// Every Prometheus metric the operator exports, in one registry. Names start with `jetscale_` and
// are listed in operator/README.md, which the Grafana dashboards are built from; per-EventConsumer
// series carry the labels namespace and name and are deleted when the EventConsumer goes away.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const EC_LABELS = ['namespace', 'name'] as const;
/** Per consumer of an EventConsumer: at most 8 (spec.consumers' maxItems), so cardinality stays bounded. */
const CONSUMER_LABELS = ['namespace', 'name', 'consumer'] as const;

/** One consumer's numbers at a poll (consumer = its name in spec.consumers, or spec.nats' consumer). */
export interface ConsumerReadingMetrics {
  consumer: string;
  readable: boolean;
  /** Replicas this consumer alone asks for. */
  desired: number;
  /** pending + awaiting ack, when read. */
  backlog?: number;
}

export class OperatorMetrics {
  readonly registry = new Registry();

  readonly backlogMessages = new Gauge({
    name: 'jetscale_backlog_messages',
    help: "Backlog of the JetStream consumer at the last poll, as status.consumers[].backlog.total says it (pending + a mirror's or sourced stream's upstream lag + awaiting ack); with several consumers, the sum over those read.",
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly pendingMessages = new Gauge({
    name: 'jetscale_backlog_pending_messages',
    help: 'num_pending: messages not yet delivered to the consumer.',
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly upstreamLagMessages = new Gauge({
    name: 'jetscale_backlog_upstream_lag_messages',
    help: "A mirror's or sourced stream's lag: the origin's messages not copied yet, which the consumer's replicas will have (counted in jetscale_backlog_messages). No series while no consumer's lag is known.",
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly ackPendingMessages = new Gauge({
    name: 'jetscale_backlog_ack_pending_messages',
    help: 'num_ack_pending: messages delivered and not yet acknowledged.',
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly redeliveredMessages = new Gauge({
    name: 'jetscale_backlog_redelivered_messages',
    help: 'num_redelivered: messages currently delivered more than once.',
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly arrivalRate = new Gauge({
    name: 'jetscale_arrival_rate_messages_per_second',
    help: 'Measured arrival rate on the consumer.',
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly processingRate = new Gauge({
    name: 'jetscale_processing_rate_messages_per_second',
    help: 'Measured rate at which the consumer acknowledges messages.',
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly redeliveryRate = new Gauge({
    name: 'jetscale_redelivery_rate_messages_per_second',
    help: 'Measured redelivery rate on the consumer: messages delivered again (ack_wait expired, nak), neither arrivals nor completions; a lower bound with a filter subject.',
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly desiredReplicas = new Gauge({
    name: 'jetscale_desired_replicas',
    help: 'Replicas the operator wants for the scale target.',
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly backlogPerReplicaTarget = new Gauge({
    name: 'jetscale_backlog_per_replica_target',
    help: 'spec.backlogPerReplica: the backlog one replica should hold (what dashboards compare backlog per replica with).',
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly currentReplicas = new Gauge({
    name: 'jetscale_current_replicas',
    help: 'Replicas the scale target reported at the last poll.',
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly consumerBacklog = new Gauge({
    name: 'jetscale_jetstream_consumer_backlog_messages',
    help: "Backlog of one of the EventConsumer's consumers at its last successful read (pending + upstream lag + awaiting ack, as status says it).",
    labelNames: CONSUMER_LABELS,
    registers: [this.registry],
  });
  readonly consumerDesiredReplicas = new Gauge({
    name: 'jetscale_jetstream_consumer_desired_replicas',
    help: 'Replicas one consumer alone asks for; jetscale_desired_replicas is the largest.',
    labelNames: CONSUMER_LABELS,
    registers: [this.registry],
  });
  readonly consumerReadable = new Gauge({
    name: 'jetscale_jetstream_consumer_readable',
    help: "1 when the consumer's backlog was read at the last poll, 0 when it could not be.",
    labelNames: CONSUMER_LABELS,
    registers: [this.registry],
  });
  readonly readyReplicas = new Gauge({
    name: 'jetscale_ready_replicas',
    help: 'status.readyReplicas of the scale target at the last poll (Deployments and StatefulSets; no series for kinds whose /scale does not say).',
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly replicasNotReady = new Gauge({
    name: 'jetscale_replicas_not_ready',
    help: 'Replicas asked for that have not been ready for spec.behavior.readinessDeadline; while above 0 no replicas are added.',
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly fallbackActive = new Gauge({
    name: 'jetscale_fallback_active',
    help: '1 while the EventConsumer holds its fallback replicas because the backlog cannot be read.',
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  readonly scaleEvents = new Counter({
    name: 'jetscale_scale_events_total',
    help: 'Changes the operator made to scale targets, by direction (up, down).',
    labelNames: [...EC_LABELS, 'direction'],
    registers: [this.registry],
  });
  readonly statusWrites = new Counter({
    name: 'jetscale_status_writes_total',
    help: 'EventConsumer status writes (PATCH on the status subresource), by lane: state (what users act on changed: written at once) or readings (only numbers changed: under the readings budget).',
    labelNames: ['lane'],
    registers: [this.registry],
  });
  readonly statusWritesWaiting = new Gauge({
    name: 'jetscale_status_writes_waiting',
    help: 'EventConsumer statuses built but not yet written, by lane (state, readings). A readings lane that stays long means the readings budget (JETSCALE_STATUS_READINGS_PER_SECOND) is spread over many EventConsumers; a state lane that stays above zero means the API server is slow.',
    labelNames: ['lane'],
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'jetscale_reconcile_duration_seconds',
    help: 'Time one reconcile of one EventConsumer took, by result (success, error).',
    labelNames: ['result'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly pollDelay = new Histogram({
    name: 'jetscale_poll_delay_seconds',
    help: 'How late a poll started compared with its schedule (last poll + pollInterval), by whether the EventConsumer\'s previous poll read its backlog (backlog="read") or not ("unread": its NATS failed): one dead NATS must not delay the others.',
    labelNames: ['backlog'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'jetscale_errors_total',
    help: 'Errors met while reconciling, by reason (the condition reason users see).',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  /**
   * Per-EventConsumer errors and conditions. Bounded: reasons come from a fixed set (the condition
   * reasons in operator/README.md), and each EventConsumer has at most one condition series per
   * condition type (6): a status or reason change replaces the series instead of adding one.
   */
  readonly eventConsumerErrors = new Counter({
    name: 'jetscale_eventconsumer_errors_total',
    help: 'Errors met while reconciling one EventConsumer, by reason (the condition reason users see).',
    labelNames: [...EC_LABELS, 'reason'],
    registers: [this.registry],
  });
  readonly eventConsumerCondition = new Gauge({
    name: 'jetscale_eventconsumer_condition',
    help: 'Always 1: one series per EventConsumer and condition type, labelled with the status (True, False, Unknown) and reason it has now.',
    labelNames: [...EC_LABELS, 'condition', 'status', 'reason'],
    registers: [this.registry],
  });
  readonly natsRequestDuration = new Histogram({
    name: 'jetscale_nats_request_duration_seconds',
    help: 'Latency of JetStream consumer-info requests, by result (ok or the error kind).',
    labelNames: ['result'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly natsReadingStamps = new Counter({
    name: 'jetscale_nats_reading_stamps_total',
    help: "Consumer readings by whether they carry the server's time (stamp=server), or why not: absent (nats-server < 2.10), invalid, skewed (the server's clock over 60 s from the operator's), unidentified (which server's clock is not known). Without it, rates are timed by the operator's clock.",
    labelNames: ['stamp'],
    registers: [this.registry],
  });
  readonly kubeRequestDuration = new Histogram({
    name: 'jetscale_kube_request_duration_seconds',
    help: 'Latency of Kubernetes API requests made by the operator, by verb and HTTP status.',
    labelNames: ['verb', 'code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly natsConnections = new Gauge({
    name: 'jetscale_nats_connections',
    help: 'Open NATS connections (one per distinct servers + credentials).',
    registers: [this.registry],
  });
  readonly natsConnectionsDown = new Gauge({
    name: 'jetscale_nats_connections_down',
    help: 'NATS connections known to be down: reads on them fail at once while a background check waits for the server.',
    registers: [this.registry],
  });
  readonly natsFastFailures = new Counter({
    name: 'jetscale_nats_fast_failures_total',
    help: "Backlog reads answered at once without asking NATS, by why (down: the connection is known down; busy: too many requests already waiting on it, or on NATS across the operator; repeated: the EventConsumer's last read timed out and the operator's slow reads are all taken, so that failure is answered again).",
    labelNames: ['why'],
    registers: [this.registry],
  });
  readonly natsConnectionEvents = new Counter({
    name: 'jetscale_nats_connection_events_total',
    help: 'NATS connection status changes (disconnect, reconnect, error, ...; misbehaved: a server dropped for breaking the protocol or a limit).',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'jetscale_leader',
    help: '1 while this process holds the leader Lease (or runs without leader election).',
    registers: [this.registry],
  });
  readonly installationRegistered = new Gauge({
    name: 'jetscale_installation_registered',
    help: "1 while this installation's entry on the EventConsumer CRD is renewed (it reconciles only then); 0 when it cannot register (the log says why: RBAC, a missing CRD).",
    registers: [this.registry],
  });
  readonly installationYieldedTo = new Gauge({
    name: 'jetscale_installation_yielded_to',
    help: 'Other jetscale installations, installed first, that watch namespaces this one watches too: 1 per such installation (its Lease), whose shared namespaces this one leaves alone.',
    labelNames: ['installation'],
    registers: [this.registry],
  });
  readonly fencedWrites = new Counter({
    name: 'jetscale_fenced_writes_total',
    help: 'Writes to the Kubernetes API (/scale, status, Events) checked against the leader Lease just before sending, by verb and outcome (sent; refused: not sent; late: sent more than the grace margin after the check, its connection closed at once).',
    labelNames: ['verb', 'outcome'],
    registers: [this.registry],
  });
  /**
   * Late writes of this installation's previous leader term (kube/takeover-fence.ts, the reconciler's
   * noticeOutsideChange): a write whose sender was frozen between its fence check and its send, seen
   * by this term and set from the backlog again. Each is a pause long enough to outlive a Lease: a
   * steady rate means a process that keeps freezing (CPU throttling, swapping, a debugger).
   */
  readonly previousTermWrites = new Counter({
    name: 'jetscale_previous_term_writes_total',
    help: "Replicas set by a late write of this installation's previous leader term (jetscale's field manager, not this term's write: its sender froze between its Lease check and its send) that this term saw and set from the backlog again, by EventConsumer.",
    labelNames: EC_LABELS,
    registers: [this.registry],
  });
  /** The opt-in takeover fence (kube/takeover-fence.ts), per takeover this process made. */
  readonly takeoverFenceTargets = new Counter({
    name: 'jetscale_takeover_fence_targets_total',
    help: "Scale targets a new leader annotated before taking the Lease over (JETSCALE_FENCE_TARGETS), by outcome (fenced; missing: not found; failed: refused or in error, logged; unfinished: not answered within the fence's time limit, one lease duration). A target not fenced keeps only the write deadline's protection.",
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly takeoverFenceSeconds = new Histogram({
    name: 'jetscale_takeover_fence_duration_seconds',
    help: 'How long the takeover fence took before this process took the Lease over: what it added to the failover.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60],
    registers: [this.registry],
  });
  readonly eventConsumers = new Gauge({
    name: 'jetscale_event_consumers',
    help: 'EventConsumers in the informer cache.',
    registers: [this.registry],
  });
  readonly workQueueDepth = new Gauge({
    name: 'jetscale_work_queue_depth',
    help: 'Keys ready to be reconciled and not yet taken by a worker.',
    registers: [this.registry],
  });
  readonly informerRestarts = new Counter({
    name: 'jetscale_informer_restarts_total',
    help: 'Informer restarts by the supervisor, by resource and cause (error, stale, relist, missed: a write answer showed a spec change the watch had not brought).',
    labelNames: ['resource', 'cause'],
    registers: [this.registry],
  });

  /** Per EventConsumer (namespace/name): the error reasons counted, and each condition's series. */
  private readonly errorReasons = new Map<string, Set<string>>();
  private readonly conditionSeries = new Map<string, Map<string, { status: string; reason: string }>>();
  /** Per EventConsumer: the consumer label values it exports. */
  private readonly consumerNames = new Map<string, Set<string>>();

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** An error met while reconciling one EventConsumer: counted overall and for that EventConsumer. */
  countError(namespace: string, name: string, reason: string): void {
    this.errors.inc({ reason });
    this.eventConsumerErrors.inc({ namespace, name, reason });
    const key = `${namespace}/${name}`;
    const reasons = this.errorReasons.get(key) ?? new Set<string>();
    reasons.add(reason);
    this.errorReasons.set(key, reasons);
  }

  /** The EventConsumer's conditions as last computed: one series per type, old ones replaced. */
  setConditions(
    namespace: string,
    name: string,
    conditions: ReadonlyArray<{ type: string; status: string; reason: string }>,
  ): void {
    const key = `${namespace}/${name}`;
    const series = this.conditionSeries.get(key) ?? new Map<string, { status: string; reason: string }>();
    for (const c of conditions) {
      const previous = series.get(c.type);
      if (previous?.status === c.status && previous.reason === c.reason) continue;
      if (previous) this.eventConsumerCondition.remove({ namespace, name, condition: c.type, ...previous });
      this.eventConsumerCondition.set(
        { namespace, name, condition: c.type, status: c.status, reason: c.reason },
        1,
      );
      series.set(c.type, { status: c.status, reason: c.reason });
    }
    this.conditionSeries.set(key, series);
  }

  /** The per-consumer series of one EventConsumer after a poll; series of consumers no longer listed are dropped. */
  setConsumers(namespace: string, name: string, readings: ConsumerReadingMetrics[]): void {
    const key = `${namespace}/${name}`;
    const now = new Set(readings.map((r) => r.consumer));
    for (const old of this.consumerNames.get(key) ?? [])
      if (!now.has(old)) this.removeConsumer({ namespace, name, consumer: old });
    for (const r of readings) {
      const labels = { namespace, name, consumer: r.consumer };
      this.consumerReadable.set(labels, r.readable ? 1 : 0);
      this.consumerDesiredReplicas.set(labels, r.desired);
      if (r.backlog !== undefined) this.consumerBacklog.set(labels, r.backlog);
    }
    this.consumerNames.set(key, now);
  }

  private removeConsumer(labels: { namespace: string; name: string; consumer: string }): void {
    for (const gauge of [this.consumerBacklog, this.consumerDesiredReplicas, this.consumerReadable])
      gauge.remove(labels);
  }

  /** Totals of jetscale_fenced_writes_total by outcome. */
  async fencedWriteCounts(): Promise<{ writesSent: number; writesRefused: number; writesLate: number }> {
    const { values } = await this.fencedWrites.get();
    const sum = (outcome: string): number =>
      values.filter((v) => v.labels.outcome === outcome).reduce((n, v) => n + v.value, 0);
    return { writesSent: sum('sent'), writesRefused: sum('refused'), writesLate: sum('late') };
  }

  /** Every series labelled with one EventConsumer's namespace and name. */
  private perEventConsumer(): Array<Gauge<'namespace' | 'name'>> {
    return [
      this.backlogMessages,
      this.pendingMessages,
      this.upstreamLagMessages,
      this.ackPendingMessages,
      this.redeliveredMessages,
      this.arrivalRate,
      this.processingRate,
      this.redeliveryRate,
      this.desiredReplicas,
      this.backlogPerReplicaTarget,
      this.currentReplicas,
      this.readyReplicas,
      this.replicasNotReady,
      this.fallbackActive,
    ];
  }

  /** Drops every series of one EventConsumer (it was deleted or is no longer ours). */
  forget(namespace: string, name: string): void {
    const labels = { namespace, name };
    for (const gauge of this.perEventConsumer()) gauge.remove(labels);
    for (const direction of ['up', 'down']) this.scaleEvents.remove({ ...labels, direction });
    this.previousTermWrites.remove(labels);
    const key = `${namespace}/${name}`;
    for (const reason of this.errorReasons.get(key) ?? [])
      this.eventConsumerErrors.remove({ ...labels, reason });
    this.errorReasons.delete(key);
    for (const [condition, c] of this.conditionSeries.get(key) ?? [])
      this.eventConsumerCondition.remove({ ...labels, condition, ...c });
    this.conditionSeries.delete(key);
    for (const consumer of this.consumerNames.get(key) ?? []) this.removeConsumer({ ...labels, consumer });
    this.consumerNames.delete(key);
  }

  /**
   * Makes the takeover fence's series exist at 0 (with JETSCALE_FENCE_TARGETS), so that the first
   * takeover's counts show in `increase()` and alerts instead of being the series' first sample.
   */
  initTakeoverFence(): void {
    for (const outcome of ['fenced', 'missing', 'failed', 'unfinished'])
      this.takeoverFenceTargets.inc({ outcome }, 0);
  }

  /** One takeover fence's outcome (run-operator.ts beforeTakeOver). */
  recordTakeoverFence(outcome: {
    fenced: number;
    missing: number;
    failed: number;
    unfinished: number;
    durationMs: number;
  }): void {
    for (const key of ['fenced', 'missing', 'failed', 'unfinished'] as const)
      this.takeoverFenceTargets.inc({ outcome: key }, outcome[key]);
    this.takeoverFenceSeconds.observe(outcome.durationMs / 1000);
  }

  /**
   * Drops every per-EventConsumer series: a replica that stopped leading must not go on exporting
   * its last readings, or `sum by (namespace, name)` counts an EventConsumer twice after a failover.
   */
  forgetAllEventConsumers(): void {
    for (const gauge of this.perEventConsumer()) gauge.reset();
    this.scaleEvents.reset();
    this.previousTermWrites.reset();
    this.eventConsumerErrors.reset();
    this.eventConsumerCondition.reset();
    this.errorReasons.clear();
    this.conditionSeries.clear();
    for (const gauge of [this.consumerBacklog, this.consumerDesiredReplicas, this.consumerReadable])
      gauge.reset();
    this.consumerNames.clear();
  }
}
