// jetscale's Prometheus alerts, written once: `make dashboards` renders them into the plain rules
// file charts/jetscale/alerts/jetscale-rules.yaml, which the chart's PrometheusRule ships as is
// (prometheusRule.enabled) and `promtool test rules` (monitoring/alerts.test.yaml) proves series
// in, alerts out. The local stack's Prometheus loads the same rules with their time windows
// compressed (`timing: 'demo'`), so the failover drill can see them fire and resolve within a
// run of a few minutes; the expressions are otherwise identical.

/** How long an alert's rate windows look back and how long its condition must hold. */
export interface AlertTiming {
  /** The range of rate/increase/deriv windows, e.g. 5m. */
  window: string;
  /** How long the expression must hold before the alert fires (`for`). */
  for: string;
}

export type AlertName =
  | 'JetscaleBacklogGrowing'
  | 'JetscaleScalingLimited'
  | 'JetscaleEventConsumerNotReady'
  | 'JetscaleStreamFull'
  | 'JetscaleFallbackActive'
  | 'JetscaleReconcileErrors'
  | 'JetscaleReplicasChangedOutside'
  | 'JetscaleNoLeader'
  | 'JetscaleSeveralLeaders'
  | 'JetscaleWritesFenced'
  | 'JetscalePreviousTermWriteLanded'
  | 'JetscaleTakeoverFenceIncomplete'
  | 'JetscaleInstallationNotRegistered'
  | 'JetscaleOtherInstallation';

interface AlertDefinition {
  name: AlertName;
  severity: 'warning' | 'critical';
  /** The expression, given the window. */
  expr: (window: string) => string;
  timing: { production: AlertTiming; demo: AlertTiming };
  summary: string;
  description: string;
}

const byEventConsumer = 'max by (namespace, name)';
const backlogGrowing = (w: string): string =>
  `${byEventConsumer} (deriv(jetscale_backlog_messages[${w}])) > 0`;

const definitions: AlertDefinition[] = [
  {
    name: 'JetscaleBacklogGrowing',
    severity: 'warning',
    expr: (w) =>
      `(${backlogGrowing(w)}) and (${byEventConsumer} (jetscale_arrival_rate_messages_per_second) > ${byEventConsumer} (jetscale_processing_rate_messages_per_second))`,
    timing: { production: { window: '5m', for: '10m' }, demo: { window: '20s', for: '10s' } },
    summary: 'Backlog of {{ $labels.namespace }}/{{ $labels.name }} grows faster than it drains',
    description:
      'Messages arrive faster than the consumers acknowledge them and the backlog keeps growing. Check `kubectl get ec {{ $labels.name }} -n {{ $labels.namespace }}`: ScalingLimited says whether maxReplicas or max_ack_pending holds replicas back; otherwise the consumers are slower than backlogPerReplica assumes.',
  },
  {
    name: 'JetscaleScalingLimited',
    severity: 'warning',
    expr: (w) =>
      `(max by (namespace, name, reason) (jetscale_eventconsumer_condition{condition="ScalingLimited", status="True", reason=~"MaxReplicas|MaxAckPending"}) == 1) and on (namespace, name) (${backlogGrowing(w)})`,
    timing: { production: { window: '5m', for: '10m' }, demo: { window: '20s', for: '10s' } },
    summary:
      '{{ $labels.namespace }}/{{ $labels.name }} is held back by {{ $labels.reason }} while its backlog grows',
    description:
      "The operator wants more replicas than {{ $labels.reason }} allows and the backlog is growing. Raise spec.maxReplicas (MaxReplicas) or the consumer's max_ack_pending / spec.inFlightPerReplica (MaxAckPending).",
  },
  {
    name: 'JetscaleEventConsumerNotReady',
    severity: 'warning',
    expr: () =>
      `max by (namespace, name, reason) (jetscale_eventconsumer_condition{condition="Ready", status="False"}) == 1`,
    timing: { production: { window: '5m', for: '5m' }, demo: { window: '20s', for: '0s' } },
    summary: 'EventConsumer {{ $labels.namespace }}/{{ $labels.name }} is not Ready ({{ $labels.reason }})',
    description:
      "The operator cannot scale this EventConsumer: `kubectl describe ec {{ $labels.name }} -n {{ $labels.namespace }}` shows the Ready condition's message, which says what to fix.",
  },
  {
    // The stream refuses (discard new) or drops (discard old) messages at its max_msgs / max_bytes
    // while this consumer is behind: publishers see errors, or messages are lost unconsumed.
    name: 'JetscaleStreamFull',
    severity: 'warning',
    expr: () =>
      `max by (namespace, name, reason) (jetscale_eventconsumer_condition{condition="StreamFull", status="True"}) == 1`,
    timing: { production: { window: '5m', for: '5m' }, demo: { window: '20s', for: '10s' } },
    summary:
      'The stream of {{ $labels.namespace }}/{{ $labels.name }} is at its limit with the consumer behind ({{ $labels.reason }})',
    description:
      "The stream is at its max_msgs or max_bytes with this consumer's backlog filling it: with discard new it refuses what it has no room for (publishers get errors), with discard old it drops its oldest messages unconsumed. The operator adds replicas while they are busy; the StreamFull condition's message (`kubectl describe ec {{ $labels.name }} -n {{ $labels.namespace }}`) says what it sees. Raise the stream's limit or spec.maxReplicas.",
  },
  {
    name: 'JetscaleFallbackActive',
    severity: 'warning',
    expr: () => `${byEventConsumer} (jetscale_fallback_active) == 1`,
    timing: { production: { window: '5m', for: '2m' }, demo: { window: '20s', for: '0s' } },
    summary: '{{ $labels.namespace }}/{{ $labels.name }} holds its fallback replicas',
    description:
      'The backlog could not be read for fallback.failureThreshold polls in a row, over at least 20 s and (failureThreshold − 1) poll intervals, so the scale target is held at fallback.replicas instead of following the backlog. The MetricsAvailable condition says why the reads fail.',
  },
  {
    name: 'JetscaleReconcileErrors',
    severity: 'warning',
    expr: (w) =>
      `sum by (namespace, name, reason) (increase(jetscale_eventconsumer_errors_total{reason!="ReplicasChangedOutside"}[${w}])) > 0`,
    timing: { production: { window: '5m', for: '5m' }, demo: { window: '20s', for: '0s' } },
    summary: 'Reconciling {{ $labels.namespace }}/{{ $labels.name }} keeps failing ({{ $labels.reason }})',
    description:
      'Every {{ $labels.reason }} error is also a Warning Event on the EventConsumer: `kubectl get events -n {{ $labels.namespace }} --field-selector involvedObject.name={{ $labels.name }}`.',
  },
  {
    // Not a failure of jetscale's: someone else keeps writing the target's replicas (a GitOps tool
    // re-applying a manifest with spec.replicas, a script running kubectl scale), and jetscale sets
    // them back, until one field manager has changed them 3 times in 30 min: then it leaves them to
    // that manager (controller/tug-of-war.ts; Ready=False TargetConflict, which
    // JetscaleEventConsumerNotReady tells). Each change is counted once.
    name: 'JetscaleReplicasChangedOutside',
    severity: 'warning',
    expr: (w) =>
      `sum by (namespace, name) (increase(jetscale_eventconsumer_errors_total{reason="ReplicasChangedOutside"}[${w}])) > 0`,
    timing: { production: { window: '15m', for: '10m' }, demo: { window: '20s', for: '0s' } },
    summary: 'Something else keeps setting the replicas {{ $labels.namespace }}/{{ $labels.name }} scales',
    description:
      'jetscale sets them back at its next poll, so the workload flaps between the two, until one field manager has changed them 3 times within 30 min: then jetscale leaves the replicas to it (Ready=False, reason TargetConflict, naming it: JetscaleEventConsumerNotReady) and takes them back once it has left them alone for 30 min. The ReplicasChangedOutside Event names the field manager that wrote them (`kubectl get events -n {{ $labels.namespace }} --field-selector involvedObject.name={{ $labels.name }}`): leave spec.replicas out of the manifest a GitOps tool applies, or pause the EventConsumer (spec.paused) before scaling by hand.',
  },
  {
    name: 'JetscaleNoLeader',
    severity: 'critical',
    expr: () => `sum(jetscale_leader) < 1 or absent(jetscale_leader)`,
    timing: { production: { window: '5m', for: '2m' }, demo: { window: '20s', for: '15s' } },
    summary: 'No jetscale operator replica holds the leader Lease',
    description:
      'Nothing scales while no replica leads. Check the operator pods (`kubectl get pods -l app.kubernetes.io/name=jetscale`) and their logs for Lease errors.',
  },
  {
    name: 'JetscaleSeveralLeaders',
    severity: 'critical',
    // Per namespace: two installations (two releases, each with its own Lease) lead one each.
    expr: () => `sum by (namespace) (jetscale_leader) > 1`,
    timing: { production: { window: '5m', for: '1m' }, demo: { window: '20s', for: '10s' } },
    summary: 'More than one jetscale operator replica in {{ $labels.namespace }} says it leads',
    description:
      'Two leaders can write conflicting replica counts. Check that every replica reaches the API server and that their clocks agree; the Lease (kubectl get lease -n <operator namespace>) names the holder.',
  },
  {
    name: 'JetscaleWritesFenced',
    severity: 'warning',
    // The fence held (nothing reached the API server), but a replica acted as leader without the
    // Lease: it was paused, cut off or late long enough for a standby to take over.
    expr: (w) =>
      `sum by (namespace, pod) (increase(jetscale_fenced_writes_total{outcome="refused"}[${w}])) > 0`,
    timing: { production: { window: '15m', for: '0s' }, demo: { window: '20s', for: '0s' } },
    summary:
      'jetscale replica {{ $labels.namespace }}/{{ $labels.pod }} tried to write without holding the leader Lease',
    description:
      'The fence refused those writes (/scale, status, Events) before they reached the API server, so no replica count was written twice. The replica had lost its Lease while it worked: a paused process or node, a network cut to the API server, or a clock far off. Check its node, its log ("leader election: stopped leading" and its reason) and the Lease (kubectl get lease -n {{ $labels.namespace }}).',
  },
  {
    name: 'JetscalePreviousTermWriteLanded',
    severity: 'warning',
    // The fence's one gap (operator/README.md, "Fencing"): a write sent in time by a leader that then
    // froze before it left reaches the API server after a standby took over. The new leader undid it
    // at its next poll; the pause is what to look into.
    expr: (w) => `sum by (namespace, name) (increase(jetscale_previous_term_writes_total[${w}])) > 0`,
    timing: { production: { window: '15m', for: '0s' }, demo: { window: '20s', for: '0s' } },
    summary:
      'A late /scale write of a previous jetscale leader reached the scale target of EventConsumer {{ $labels.namespace }}/{{ $labels.name }}',
    description:
      'A jetscale replica froze between its leader Lease check and its /scale write for longer than its Lease (CPU throttling, swapping, a node pause, a debugger), and its write landed after a standby had taken over. The new leader set the replicas from the backlog again at its next poll, so the wrong count stood for about one poll. Look at the operator pods\' CPU limits and nodes, and the leader\'s log line "late write of the previous leader term". leaderElection.fenceTargets (needs patch on the targets) makes such writes fail with 409 instead.',
  },
  {
    name: 'JetscaleTakeoverFenceIncomplete',
    severity: 'warning',
    // The opt-in takeover fence (leaderElection.fenceTargets) left targets unfenced at a takeover:
    // refused (RBAC), in error, or not answered within its time limit (one lease duration).
    expr: (w) =>
      `sum by (namespace, pod) (increase(jetscale_takeover_fence_targets_total{outcome=~"failed|unfinished"}[${w}])) > 0`,
    timing: { production: { window: '15m', for: '0s' }, demo: { window: '20s', for: '0s' } },
    summary:
      'jetscale replica {{ $labels.namespace }}/{{ $labels.pod }} took the leader Lease over without fencing every scale target',
    description:
      'Before taking the Lease over, a new leader annotates every scale target so that a late write of its predecessor fails with 409 (leaderElection.fenceTargets). Some were refused or not answered within one lease duration, and the takeover went on without them: a late write to those targets is undone at the next poll instead. Its log says which ("could not fence a scale target", "the fence ran out of time"): most often patch on those kinds is not granted (rbac.scaleTargets), or the API server or a webhook on the targets answered slowly.',
  },
  {
    name: 'JetscaleInstallationNotRegistered',
    severity: 'critical',
    // Only the leader registers; a standby's gauge is 0 by design.
    expr: () =>
      `max by (namespace, pod) (jetscale_installation_registered == 0 and on (namespace, pod) jetscale_leader == 1)`,
    timing: { production: { window: '5m', for: '2m' }, demo: { window: '20s', for: '15s' } },
    summary: 'The jetscale leader {{ $labels.namespace }}/{{ $labels.pod }} cannot register its installation',
    description:
      'It reconciles no EventConsumer while it cannot register on the eventconsumers.jetscale.io CRD (it cannot prove another installation does not). Its log says why ("cannot register this installation"): most often RBAC, get and patch on that CRD by name (manifests/rbac/cluster_role.yaml; the chart renders it).',
  },
  {
    name: 'JetscaleOtherInstallation',
    severity: 'warning',
    expr: () => `max by (namespace, installation) (jetscale_installation_yielded_to) > 0`,
    timing: { production: { window: '5m', for: '10m' }, demo: { window: '20s', for: '0s' } },
    summary: 'Two jetscale installations watch the same namespaces',
    description:
      'The installation in {{ $labels.namespace }} leaves the namespaces it shares with {{ $labels.installation }} (installed first) alone; its log names them, and each EventConsumer there has an OtherInstallation Event. Uninstall one, or give them disjoint watchNamespaces.',
  },
];

export interface RuleFile {
  groups: Array<{
    name: string;
    rules: Array<{
      alert: AlertName;
      expr: string;
      for: string;
      labels: { severity: string };
      annotations: { summary: string; description: string };
    }>;
  }>;
}

/** The rules file, with production timings (what the chart ships) or the demo's compressed ones. */
export function alertRules(timing: 'production' | 'demo' = 'production'): RuleFile {
  return {
    groups: [
      {
        name: 'jetscale',
        rules: definitions.map((d) => ({
          alert: d.name,
          expr: d.expr(d.timing[timing].window),
          for: d.timing[timing].for,
          labels: { severity: d.severity },
          annotations: { summary: d.summary, description: d.description },
        })),
      },
    ],
  };
}

export const alertNames: AlertName[] = definitions.map((d) => d.name);
