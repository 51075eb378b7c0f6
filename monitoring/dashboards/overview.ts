// The jetscale overview dashboard (uid jetscale-overview), built with Grafana's foundation SDK.
// `make dashboards` writes it to charts/jetscale/dashboards/jetscale.json; the chart ships that
// file as a ConfigMap for the kube-prometheus-stack Grafana sidecar. Every panel's query is
// answered by the demo's Prometheus after a run (monitoring/panel-proof.ts).
import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  AnnotationQueryBuilder,
  DashboardBuilder,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  VariableSort,
  type Dashboard,
  type GridPos,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

const datasource = { type: 'prometheus', uid: '${datasource}' };
/** Label filters every per-EventConsumer series gets; workload series are filtered by namespace. */
const ec = 'namespace=~"$namespace", name=~"$name"';
const ns = 'namespace=~"$namespace"';

interface Query {
  expr: string;
  legend: string;
  /** Stat panels show the value at the end of the range. */
  instant?: boolean;
}

function targets(queries: Query[]): DataqueryBuilder[] {
  return queries.map((q, i) => {
    const b = new DataqueryBuilder()
      .datasource(datasource)
      .refId(String.fromCharCode(65 + i))
      .expr(q.expr)
      .legendFormat(q.legend);
    return q.instant ? b.instant() : b;
  });
}

interface Graph {
  title: string;
  description?: string;
  unit: string;
  at: GridPos;
  queries: Query[];
  /** refIds drawn dashed (targets, thresholds). */
  dashed?: string[];
}

/** Panel ids in the order panels are built (Grafana keys links and state by them). */
let nextId = 1;

function graph(g: Graph): timeseries.PanelBuilder {
  let p = new timeseries.PanelBuilder()
    .id(nextId++)
    .title(g.title)
    .description(g.description ?? '')
    .datasource(datasource)
    .gridPos(g.at)
    .unit(g.unit)
    .drawStyle(common.GraphDrawStyle.Line)
    .lineWidth(1)
    .fillOpacity(10)
    .showPoints(common.VisibilityMode.Never)
    .legend(
      new common.VizLegendOptionsBuilder()
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom)
        .showLegend(true),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.None),
    );
  for (const t of targets(g.queries)) p = p.withTarget(t);
  for (const refId of g.dashed ?? [])
    p = p.overrideByQuery(refId, [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }]);
  return p;
}

function statPanel(g: Omit<Graph, 'dashed'>): stat.PanelBuilder {
  let p = new stat.PanelBuilder()
    .id(nextId++)
    .title(g.title)
    .description(g.description ?? '')
    .datasource(datasource)
    .gridPos(g.at)
    .unit(g.unit)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).fields('').values(false))
    .textMode(common.BigValueTextMode.ValueAndName)
    .colorMode(common.BigValueColorMode.Value)
    .graphMode(common.BigValueGraphMode.None);
  for (const t of targets(g.queries.map((q) => ({ ...q, instant: true })))) p = p.withTarget(t);
  return p;
}

const at = (x: number, y: number, w: number, h: number): GridPos => ({ x, y, w, h });

function row(title: string, y: number): RowBuilder {
  return new RowBuilder(title).id(nextId++).gridPos(at(0, y, 24, 1));
}

function queryVariable(name: string, label: string, query: string): QueryVariableBuilder {
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(datasource)
    .query({ query, refId: name })
    .definition(query)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .includeAll(true)
    .multi(true)
    .sort(VariableSort.AlphabeticalAsc);
}

function scaleAnnotation(direction: 'up' | 'down', color: string): AnnotationQueryBuilder {
  return new AnnotationQueryBuilder()
    .name(`Scale ${direction}`)
    .datasource(datasource)
    .enable(true)
    .iconColor(color)
    .expr(
      `sum by (namespace, name) (increase(jetscale_scale_events_total{${ec}, direction="${direction}"}[1m])) > 0`,
    )
    .step('15s')
    .titleFormat(`scale ${direction} {{namespace}}/{{name}}`)
    .textFormat(`jetscale scaled {{name}} ${direction}`)
    .tagKeys('namespace,name')
    .useValueForTime(false);
}

const backlog = `sum by (namespace, name) (jetscale_backlog_messages{${ec}})`;
/**
 * 1 while the EventConsumer's condition has this status, else 0 (not "no data": the series of
 * the other status stands in for it), grouped by `by`.
 */
const conditionFlag = (condition: string, status: string, by: string): string =>
  `max by (${by}) (jetscale_eventconsumer_condition{${ec}, condition="${condition}", status="${status}"}) or max by (${by}) (0 * jetscale_eventconsumer_condition{${ec}, condition="${condition}"})`;
const rate = (series: string, filter: string, by = ''): string =>
  `sum${by ? ` by (${by}) ` : ''}(rate(${series}{${filter}}[$__rate_interval]))`;
const quantile = (q: string, series: string, filter: string, by = 'le'): string =>
  `histogram_quantile(${q}, sum by (${by}) (rate(${series}${filter ? `{${filter}}` : ''}[$__rate_interval])))`;

export function overviewDashboard(): Dashboard {
  nextId = 1;
  return (
    new DashboardBuilder('jetscale')
      .uid('jetscale-overview')
      .description(
        'jetscale: JetStream backlog, scaling decisions, workloads, operator health and k6 load tests.',
      )
      .tags(['jetscale', 'nats', 'autoscaling'])
      .timezone('browser')
      .editable()
      .tooltip(1)
      .refresh('10s')
      .time({ from: 'now-30m', to: 'now' })
      .withVariable(new DatasourceVariableBuilder('datasource').label('Prometheus').type('prometheus'))
      .withVariable(
        queryVariable('namespace', 'Namespace', 'label_values(jetscale_backlog_messages, namespace)'),
      )
      .withVariable(
        queryVariable(
          'name',
          'EventConsumer',
          'label_values(jetscale_backlog_messages{namespace=~"$namespace"}, name)',
        ),
      )
      .withVariable(
        queryVariable('testid', 'k6 test id', 'label_values(k6_vus, testid)')
          .allValue('.*')
          .sort(VariableSort.AlphabeticalDesc),
      )
      .annotation(scaleAnnotation('up', 'green'))
      .annotation(scaleAnnotation('down', 'orange'))

      // --- Scaling ---------------------------------------------------------------------------
      .withRow(row('Scaling: $namespace/$name', 0))
      .withPanel(
        graph({
          title: 'Backlog vs per-replica target',
          description:
            "Backlog (num_pending + a mirror's or sourced stream's upstream lag + num_ack_pending) the operator read at its last poll, as status.consumers[].backlog.total says it. The policy sizes desired replicas so that backlog per desired replica stays at or below spec.backlogPerReplica (unless clamped by maxReplicas or a step policy); backlog per current replica above that target means the workload is behind. The dashed line is spec.backlogPerReplica (jetscale_backlog_per_replica_target).",
          unit: 'short',
          at: at(0, 1, 12, 8),
          queries: [
            { expr: backlog, legend: 'backlog {{namespace}}/{{name}}' },
            {
              expr: `${backlog} / clamp_min(sum by (namespace, name) (jetscale_current_replicas{${ec}}), 1)`,
              legend: 'per current replica {{name}}',
            },
            {
              expr: `${backlog} / clamp_min(sum by (namespace, name) (jetscale_desired_replicas{${ec}}), 1)`,
              legend: 'per desired replica {{name}}',
            },
            {
              expr: `max by (namespace, name) (jetscale_backlog_per_replica_target{${ec}})`,
              legend: 'target per replica {{name}}',
            },
          ],
          dashed: ['D'],
        }),
      )
      .withPanel(
        graph({
          title: 'Replicas: desired / current / ready',
          description:
            'What jetscale asked for (desired: the largest of what each JetStream consumer alone needs, shown per consumer with spec.consumers), what the scale target reported (current: status.replicas) and how many of those are ready (status.readyReplicas of a Deployment or StatefulSet), all read by the operator at its poll — no kube-state-metrics needed. Ready below current means pods are starting or failing their readiness probe. The annotations mark each scale change.',
          unit: 'short',
          at: at(12, 1, 12, 8),
          queries: [
            { expr: `sum by (name) (jetscale_desired_replicas{${ec}})`, legend: 'desired {{name}}' },
            { expr: `sum by (name) (jetscale_current_replicas{${ec}})`, legend: 'current {{name}}' },
            {
              expr: `max by (name, consumer) (jetscale_jetstream_consumer_desired_replicas{${ec}})`,
              legend: 'needed by {{consumer}} ({{name}})',
            },
            { expr: `sum by (name) (jetscale_ready_replicas{${ec}})`, legend: 'ready {{name}}' },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'Backlog breakdown',
          description:
            "num_pending (not yet delivered), a mirror's or sourced stream's upstream lag (the origin's messages not copied yet: no series on other streams), num_ack_pending (delivered, not acknowledged) and num_redelivered from the consumer leader (summed over an EventConsumer's consumers), and each consumer's own backlog (pending + upstream lag + awaiting ack).",
          unit: 'short',
          at: at(0, 9, 12, 8),
          queries: [
            { expr: `sum by (name) (jetscale_backlog_pending_messages{${ec}})`, legend: 'pending {{name}}' },
            {
              expr: `sum by (name) (jetscale_backlog_upstream_lag_messages{${ec}})`,
              legend: 'not yet copied {{name}}',
            },
            {
              expr: `sum by (name) (jetscale_backlog_ack_pending_messages{${ec}})`,
              legend: 'ack pending {{name}}',
            },
            {
              expr: `sum by (name) (jetscale_backlog_redelivered_messages{${ec}})`,
              legend: 'redelivered {{name}}',
            },
            {
              expr: `sum by (name, consumer) (jetscale_jetstream_consumer_backlog_messages{${ec}})`,
              legend: 'backlog of {{consumer}} ({{name}})',
            },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'Arrival vs processing rate',
          description:
            'Rates the operator measured from consumer info (arrivals, acknowledgements, redeliveries), and the same flows as counted by the workloads.',
          unit: 'reqps',
          at: at(12, 9, 12, 8),
          queries: [
            {
              expr: `sum by (name) (jetscale_arrival_rate_messages_per_second{${ec}})`,
              legend: 'arrival {{name}} (operator)',
            },
            {
              expr: `sum by (name) (jetscale_processing_rate_messages_per_second{${ec}})`,
              legend: 'processing {{name}} (operator)',
            },
            {
              expr: `sum by (name) (jetscale_redelivery_rate_messages_per_second{${ec}})`,
              legend: 'redelivered {{name}} (operator)',
            },
            { expr: rate('jetscale_consumer_events_processed_total', ns), legend: 'applied by consumers' },
            {
              expr: rate('jetscale_gateway_events_total', `${ns}, result="accepted"`),
              legend: 'accepted by gateways',
            },
          ],
        }),
      )
      .withPanel(
        statPanel({
          title: 'Scaling state',
          description:
            'fallback 1 = holding fallback replicas because the backlog cannot be read; paused 1 = spec.paused; limited = what holds desired replicas back (ScalingLimited reason); scale changes in the selected time range.',
          unit: 'short',
          at: at(0, 17, 12, 5),
          queries: [
            { expr: `sum by (name) (jetscale_fallback_active{${ec}})`, legend: 'fallback {{name}}' },
            { expr: conditionFlag('Paused', 'True', 'name'), legend: 'paused {{name}}' },
            {
              expr: conditionFlag('ScalingLimited', 'True', 'name, reason'),
              legend: 'limited: {{reason}} {{name}}',
            },
            {
              expr: `sum by (name, direction) (increase(jetscale_scale_events_total{${ec}}[$__range]))`,
              legend: 'scale {{direction}} {{name}}',
            },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'Errors and readiness by EventConsumer',
          description:
            'Reconcile errors per EventConsumer by reason (the condition reason users see); 1 while its Ready condition is False; 1 per consumer whose backlog could not be read at the last poll; replicas asked for and not ready within spec.behavior.readinessDeadline (no replicas are added while above 0).',
          unit: 'short',
          at: at(12, 17, 12, 5),
          queries: [
            {
              // The zero line keeps the panel drawn while nothing fails.
              expr: `${rate('jetscale_eventconsumer_errors_total', ec, 'namespace, name, reason')} or sum by (namespace, name) (0 * jetscale_desired_replicas{${ec}})`,
              legend: 'errors/s {{name}} {{reason}}',
            },
            {
              expr: conditionFlag('Ready', 'False', 'namespace, name, reason'),
              legend: 'not ready {{name}} {{reason}}',
            },
            {
              // One line per consumer whose backlog could not be read at the last poll.
              expr: `max by (namespace, name, consumer) (jetscale_jetstream_consumer_readable{${ec}} == 0)`,
              legend: 'unreadable {{name}} {{consumer}}',
            },
            {
              expr: `max by (namespace, name) (jetscale_replicas_not_ready{${ec}} > 0)`,
              legend: 'replicas not ready past the deadline {{name}}',
            },
          ],
        }),
      )

      // --- Processing ------------------------------------------------------------------------
      .withRow(row('Processing', 22))
      .withPanel(
        graph({
          title: 'End-to-end latency (event timestamp → applied)',
          description:
            'How long events wait from their timestamp at the gateway until a consumer applied them: what the backlog costs the user.',
          unit: 's',
          at: at(0, 23, 12, 8),
          queries: ['0.50', '0.95', '0.99'].map((q) => ({
            expr: quantile(q, 'jetscale_consumer_end_to_end_latency_seconds_bucket', ns),
            legend: `p${Number(q) * 100}`,
          })),
        }),
      )
      .withPanel(
        graph({
          title: 'Handler duration by outcome (p95)',
          unit: 's',
          at: at(12, 23, 12, 8),
          queries: [
            {
              expr: quantile('0.95', 'jetscale_consumer_handler_duration_seconds_bucket', ns, 'le, outcome'),
              legend: '{{outcome}}',
            },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'Redeliveries and dead letters',
          unit: 'reqps',
          at: at(0, 31, 12, 8),
          queries: [
            { expr: rate('jetscale_consumer_redeliveries_total', ns), legend: 'redeliveries/s' },
            {
              expr: rate('jetscale_consumer_dead_lettered_total', ns, 'reason'),
              legend: 'dead-lettered/s {{reason}}',
            },
            { expr: rate('jetscale_consumer_naks_total', ns, 'reason'), legend: 'naks/s {{reason}}' },
            {
              expr: rate('jetscale_consumer_duplicates_suppressed_total', ns),
              legend: 'duplicates suppressed/s',
            },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'Consumer pods: in flight, draining, NATS, longest handler',
          description:
            "Messages each pod holds, pods draining after SIGTERM, pods cut off from NATS, and how long each pod's longest-running handler has run, in seconds: one that only climbs is a hung handler (the sample consumer's /healthz fails past STUCK_AFTER_MS, so its liveness probe restarts the pod).",
          unit: 'short',
          at: at(12, 31, 12, 8),
          queries: [
            { expr: `sum by (pod) (jetscale_consumer_in_flight{${ns}})`, legend: 'in flight {{pod}}' },
            {
              expr: `max by (pod) (jetscale_consumer_oldest_handler_seconds{${ns}})`,
              legend: 'longest handler s {{pod}}',
            },
            { expr: `sum(jetscale_consumer_draining{${ns}})`, legend: 'draining pods' },
            {
              expr: `count(jetscale_consumer_nats_connected{${ns}} == 0) or vector(0)`,
              legend: 'pods disconnected from NATS',
            },
          ],
        }),
      )

      .withPanel(
        graph({
          title: 'Consumer: time per event by step',
          description:
            'Mean time of each step of the full path (the processed-id check, the event-log append with its expected-last-subject-sequence guard, the projection write, the ack: NATS round trips and the work), per run of the step, over all consumer pods.',
          unit: 's',
          at: at(0, 39, 12, 8),
          queries: [
            {
              expr: `sum by (step) (rate(jetscale_consumer_step_seconds_total{${ns}}[$__rate_interval])) / sum by (step) (rate(jetscale_consumer_steps_total{${ns}}[$__rate_interval]))`,
              legend: '{{step}}',
            },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'Consumer: event log and projections',
          description:
            'Appends retried after an optimistic-concurrency conflict (two writers on one aggregate: expected during a rebalance, a steady rate is not); projections rebuilt from the log because the stored one could not be read; stopped writers whose log range was brought into the projections; aggregates whose projection waits for the next flush; consume() status notifications by type.',
          unit: 'short',
          at: at(12, 39, 12, 8),
          queries: [
            { expr: rate('jetscale_consumer_append_conflicts_total', ns), legend: 'append conflicts/s' },
            {
              expr: rate('jetscale_consumer_projections_rebuilt_total', ns),
              legend: 'projections rebuilt/s',
            },
            { expr: rate('jetscale_consumer_writers_recovered_total', ns), legend: 'writers recovered/s' },
            { expr: `sum(jetscale_consumer_projections_pending{${ns}})`, legend: 'projections pending' },
            {
              expr: rate('jetscale_consumer_status_events_total', ns, 'type'),
              legend: 'consume() status/s: {{type}}',
            },
          ],
        }),
      )

      // --- Gateway ---------------------------------------------------------------------------
      .withRow(row('Gateway', 47))
      .withPanel(
        graph({
          title: 'Requests by status code',
          unit: 'reqps',
          at: at(0, 48, 12, 8),
          queries: [{ expr: rate('jetscale_gateway_http_requests_total', ns, 'code'), legend: '{{code}}' }],
        }),
      )
      .withPanel(
        graph({
          title: 'Errors and rejections',
          unit: 'short',
          at: at(12, 48, 12, 8),
          queries: [
            {
              // `or` a zero built from the same counter: 0 while requests flow without a 5xx.
              expr: `(${rate('jetscale_gateway_http_requests_total', `${ns}, code=~"5.."`)} or sum(0 * rate(jetscale_gateway_http_requests_total{${ns}}[$__rate_interval]))) / clamp_min(${rate('jetscale_gateway_http_requests_total', ns)}, 1e-9)`,
              legend: '5xx ratio',
            },
            {
              expr: rate('jetscale_gateway_rejections_total', ns, 'reason'),
              legend: 'rejected/s {{reason}}',
            },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'Request and publish latency (p99)',
          unit: 's',
          at: at(0, 56, 12, 8),
          queries: [
            {
              expr: quantile(
                '0.99',
                'jetscale_gateway_http_request_duration_seconds_bucket',
                ns,
                'le, route',
              ),
              legend: 'request {{route}}',
            },
            {
              expr: quantile('0.99', 'jetscale_gateway_publish_duration_seconds_bucket', ns),
              legend: 'JetStream publish → ack',
            },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'Publishes in flight / NATS connection',
          unit: 'short',
          at: at(12, 56, 12, 8),
          queries: [
            { expr: `sum(jetscale_gateway_publishes_in_flight{${ns}})`, legend: 'publishes in flight' },
            { expr: `min(jetscale_gateway_nats_connected{${ns}})`, legend: 'all gateways connected (1)' },
          ],
        }),
      )

      // --- Operator --------------------------------------------------------------------------
      .withRow(row('Operator', 64))
      .withPanel(
        statPanel({
          title: 'Leader',
          description:
            '1 on the replica that holds the leader Lease. Fenced writes refused: writes a replica tried after losing the Lease (a paused or cut-off ex-leader) that the fence stopped before they reached the API server, in the selected range. Late writes undone: /scale writes of a previous leader term that got through (sent in time, frozen before they left) and that the leader set back, in the selected range. Targets left unfenced at takeover: with leaderElection.fenceTargets, scale targets a new leader could not annotate (refused, or not answered within one lease duration) before taking the Lease over, in the selected range, and the mean time a takeover fence took (what it added to the failover).',
          unit: 'short',
          at: at(0, 65, 8, 6),
          queries: [
            { expr: 'max by (pod) (jetscale_leader)', legend: '{{pod}}' },
            {
              expr: 'sum by (pod) (increase(jetscale_fenced_writes_total{outcome="refused"}[$__range])) or sum by (pod) (0 * jetscale_leader)',
              legend: 'fenced writes refused {{pod}}',
            },
            {
              expr: 'sum by (pod) (increase(jetscale_previous_term_writes_total[$__range])) or sum by (pod) (0 * jetscale_leader)',
              legend: 'late writes undone {{pod}}',
            },
            {
              expr: 'sum by (pod) (increase(jetscale_takeover_fence_targets_total{outcome=~"failed|unfinished"}[$__range])) or sum by (pod) (0 * jetscale_leader)',
              legend: 'targets left unfenced at takeover {{pod}}',
            },
            {
              expr: 'max by (pod) (increase(jetscale_takeover_fence_duration_seconds_sum[$__range]) / increase(jetscale_takeover_fence_duration_seconds_count[$__range]) > 0) or sum by (pod) (0 * jetscale_leader)',
              legend: 'takeover fence, mean s {{pod}}',
            },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'Reconcile latency (p99) by result',
          unit: 's',
          at: at(8, 65, 8, 6),
          queries: [
            {
              expr: quantile('0.99', 'jetscale_reconcile_duration_seconds_bucket', '', 'le, result'),
              legend: '{{result}}',
            },
            {
              expr: quantile('0.99', 'jetscale_nats_request_duration_seconds_bucket', ''),
              legend: 'consumer info request',
            },
            { expr: quantile('0.99', 'jetscale_poll_delay_seconds_bucket', ''), legend: 'poll delay' },
            {
              expr: quantile('0.99', 'jetscale_kube_request_duration_seconds_bucket', '', 'le, verb'),
              legend: 'Kubernetes API {{verb}}',
            },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'Reconcile errors by reason, status writes by lane',
          unit: 'reqps',
          at: at(16, 65, 8, 6),
          queries: [
            { expr: 'sum by (reason) (rate(jetscale_errors_total[$__rate_interval]))', legend: '{{reason}}' },
            {
              // 0 while reconciles succeed (not "no data", which would also mean "not scraped").
              expr: 'sum(rate(jetscale_reconcile_duration_seconds_count{result="error"}[$__rate_interval])) or sum(0 * rate(jetscale_reconcile_duration_seconds_count[$__rate_interval]))',
              legend: 'failed reconciles/s',
            },
            {
              expr: 'sum by (lane) (rate(jetscale_status_writes_total[$__rate_interval]))',
              legend: 'status writes/s: {{lane}}',
            },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'Work queue, EventConsumers, statuses waiting, NATS connections',
          unit: 'short',
          at: at(0, 71, 12, 6),
          queries: [
            {
              expr: 'max(jetscale_work_queue_depth * on (pod) group_left jetscale_leader)',
              legend: 'queue depth (leader)',
            },
            { expr: 'max(jetscale_event_consumers)', legend: 'EventConsumers' },
            {
              // A readings lane that stays long is the budget spread thin; a state lane above 0, a slow API server.
              expr: 'sum by (lane) (jetscale_status_writes_waiting * on (pod) group_left jetscale_leader)',
              legend: 'statuses waiting: {{lane}} (leader)',
            },
            {
              expr: 'sum(jetscale_nats_connections * on (pod) group_left jetscale_leader)',
              legend: 'NATS connections (leader)',
            },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'Informer restarts, NATS connection events and reads',
          description:
            'Informer restarts by resource and cause; NATS connection status changes; reads answered at once without asking NATS, by why (down, busy, repeated); connections known down (leader); readings not timed by the server clock, by why (absent, invalid, skewed, unidentified).',
          unit: 'short',
          at: at(12, 71, 12, 6),
          queries: [
            {
              expr: 'sum by (resource, cause) (increase(jetscale_informer_restarts_total[$__rate_interval]))',
              legend: 'informer {{resource}} {{cause}}',
            },
            {
              expr: 'sum by (type) (increase(jetscale_nats_connection_events_total[$__rate_interval]))',
              legend: 'nats {{type}}',
            },
            {
              expr: 'sum by (why) (increase(jetscale_nats_fast_failures_total[$__rate_interval]))',
              legend: 'reads failed at once: {{why}}',
            },
            {
              expr: 'sum(jetscale_nats_connections_down * on (pod) group_left jetscale_leader)',
              legend: 'NATS connections down (leader)',
            },
            {
              expr: 'sum by (stamp) (increase(jetscale_nats_reading_stamps_total{stamp!="server"}[$__rate_interval]))',
              legend: 'readings without server time: {{stamp}}',
            },
          ],
        }),
      )

      // --- k6 --------------------------------------------------------------------------------
      .withRow(row('Load test (k6 remote write)', 77))
      .withPanel(
        graph({
          title: 'k6 request rate and failures',
          unit: 'reqps',
          at: at(0, 78, 8, 8),
          queries: [
            {
              expr: 'sum(rate(k6_http_reqs_total{testid=~"$testid"}[$__rate_interval]))',
              legend: 'requests/s',
            },
            {
              expr: 'sum(rate(k6_dropped_iterations_total{testid=~"$testid"}[$__rate_interval]))',
              legend: 'dropped iterations/s',
            },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'k6 failed request ratio',
          unit: 'percentunit',
          at: at(8, 78, 8, 8),
          queries: [
            { expr: 'avg(k6_http_req_failed_rate{testid=~"$testid"})', legend: 'http_req_failed' },
            { expr: 'avg(k6_checks_rate{testid=~"$testid"})', legend: 'checks passed' },
          ],
        }),
      )
      .withPanel(
        graph({
          title: 'k6 latency p99 and VUs',
          description:
            "k6 writes trend stats as separate series (K6_PROMETHEUS_RW_TREND_STATS; `make loadtest` sets p(95),p(99),min,max, k6's default is p(99) only); http_req_duration in seconds.",
          unit: 's',
          at: at(16, 78, 8, 8),
          queries: [
            { expr: 'max(k6_http_req_duration_p95{testid=~"$testid"})', legend: 'http_req_duration p95' },
            { expr: 'max(k6_http_req_duration_p99{testid=~"$testid"})', legend: 'http_req_duration p99' },
            { expr: 'sum(k6_vus{testid=~"$testid"})', legend: 'VUs' },
          ],
        }),
      )
      .build()
  );
}
