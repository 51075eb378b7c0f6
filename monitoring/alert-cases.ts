// Series in, alerts out: the cases `promtool test rules` runs against the shipped rules file
// (charts/jetscale/alerts/jetscale-rules.yaml, production timings; one sample a minute). Each
// alert has a case that fires and one that must stay silent. promtool compares annotations too,
// so the expected ones are the rule's templates with the alert's labels filled in.
import { alertRules, type AlertName } from './alerts.js';

export interface AlertCase {
  name: string;
  /** promtool input series: `metric{labels}` → expanding notation, e.g. `100+100x30`. */
  series: Record<string, string>;
  expect: Array<{
    at: string;
    alert: AlertName;
    /** Labels of each firing alert besides alertname and severity; [] = none may fire. */
    firing: Array<Record<string, string>>;
  }>;
}

const ec = 'namespace="shop", name="orders"';
const op = (pod: string): string => `namespace="jetscale-system", pod="${pod}"`;
const orders = { namespace: 'shop', name: 'orders' };

export const alertCases: AlertCase[] = [
  {
    name: 'backlog grows while arrivals outpace processing',
    series: {
      [`jetscale_backlog_messages{${ec}}`]: '100+100x30',
      [`jetscale_arrival_rate_messages_per_second{${ec}}`]: '50x30',
      [`jetscale_processing_rate_messages_per_second{${ec}}`]: '20x30',
    },
    expect: [
      { at: '5m', alert: 'JetscaleBacklogGrowing', firing: [] },
      { at: '20m', alert: 'JetscaleBacklogGrowing', firing: [orders] },
    ],
  },
  {
    name: 'a large backlog that drains does not alert',
    series: {
      [`jetscale_backlog_messages{${ec}}`]: '5000-100x30',
      [`jetscale_arrival_rate_messages_per_second{${ec}}`]: '20x30',
      [`jetscale_processing_rate_messages_per_second{${ec}}`]: '50x30',
    },
    expect: [{ at: '20m', alert: 'JetscaleBacklogGrowing', firing: [] }],
  },
  {
    name: 'held at maxReplicas while the backlog grows',
    series: {
      [`jetscale_backlog_messages{${ec}}`]: '100+100x30',
      [`jetscale_eventconsumer_condition{${ec}, condition="ScalingLimited", status="True", reason="MaxReplicas"}`]:
        '1x30',
    },
    expect: [
      { at: '5m', alert: 'JetscaleScalingLimited', firing: [] },
      { at: '20m', alert: 'JetscaleScalingLimited', firing: [{ ...orders, reason: 'MaxReplicas' }] },
    ],
  },
  {
    name: 'a step policy limit is part of normal scaling, not an alert',
    series: {
      [`jetscale_backlog_messages{${ec}}`]: '100+100x30',
      [`jetscale_eventconsumer_condition{${ec}, condition="ScalingLimited", status="True", reason="StepPolicy"}`]:
        '1x30',
    },
    expect: [{ at: '20m', alert: 'JetscaleScalingLimited', firing: [] }],
  },
  {
    name: 'not Ready for longer than five minutes',
    series: {
      [`jetscale_eventconsumer_condition{${ec}, condition="Ready", status="False", reason="NatsUnreachable"}`]:
        '1x10',
      [`jetscale_eventconsumer_condition{namespace="shop", name="billing", condition="Ready", status="True", reason="Scaling"}`]:
        '1x10',
    },
    expect: [
      { at: '3m', alert: 'JetscaleEventConsumerNotReady', firing: [] },
      {
        at: '6m',
        alert: 'JetscaleEventConsumerNotReady',
        firing: [{ ...orders, reason: 'NatsUnreachable' }],
      },
    ],
  },
  {
    name: 'a stream refusing messages for more than five minutes',
    series: {
      [`jetscale_eventconsumer_condition{${ec}, condition="StreamFull", status="True", reason="StreamRefusingMessages"}`]:
        '1x10',
    },
    expect: [
      { at: '3m', alert: 'JetscaleStreamFull', firing: [] },
      { at: '7m', alert: 'JetscaleStreamFull', firing: [{ ...orders, reason: 'StreamRefusingMessages' }] },
    ],
  },
  {
    name: 'a stream below its limits is no alert',
    series: {
      [`jetscale_eventconsumer_condition{${ec}, condition="StreamFull", status="False", reason="BelowStreamLimits"}`]:
        '1x20',
    },
    expect: [{ at: '15m', alert: 'JetscaleStreamFull', firing: [] }],
  },
  {
    name: 'fallback held for two minutes',
    series: { [`jetscale_fallback_active{${ec}}`]: '0 0 1x10' },
    expect: [
      { at: '3m', alert: 'JetscaleFallbackActive', firing: [] },
      { at: '5m', alert: 'JetscaleFallbackActive', firing: [orders] },
    ],
  },
  {
    name: 'errors keep coming for five minutes, then stop',
    series: {
      [`jetscale_eventconsumer_errors_total{${ec}, reason="SecretNotFound"}`]: '0+1x20 20x20',
    },
    expect: [
      { at: '3m', alert: 'JetscaleReconcileErrors', firing: [] },
      { at: '10m', alert: 'JetscaleReconcileErrors', firing: [{ ...orders, reason: 'SecretNotFound' }] },
      { at: '35m', alert: 'JetscaleReconcileErrors', firing: [] },
    ],
  },
  {
    name: 'a GitOps tool keeps re-applying replicas: its own alert, not a reconcile error',
    series: {
      // One outside change every 3 minutes for half an hour, then none.
      [`jetscale_eventconsumer_errors_total{${ec}, reason="ReplicasChangedOutside"}`]:
        '0 0 1 1 1 2 2 2 3 3 3 4 4 4 5 5 5 6 6 6 7 7 7 8 8 8 9 9 9 10 10x30',
    },
    expect: [
      { at: '5m', alert: 'JetscaleReplicasChangedOutside', firing: [] },
      { at: '20m', alert: 'JetscaleReplicasChangedOutside', firing: [orders] },
      { at: '20m', alert: 'JetscaleReconcileErrors', firing: [] },
      { at: '55m', alert: 'JetscaleReplicasChangedOutside', firing: [] },
    ],
  },
  {
    name: 'no replica holds the Lease',
    series: {
      [`jetscale_leader{${op('jetscale-0')}}`]: '0x10',
      [`jetscale_leader{${op('jetscale-1')}}`]: '0x10',
    },
    expect: [
      { at: '1m', alert: 'JetscaleNoLeader', firing: [] },
      { at: '5m', alert: 'JetscaleNoLeader', firing: [{}] },
    ],
  },
  {
    name: 'one leader is healthy; no operator at all alerts too',
    series: {
      [`jetscale_leader{${op('jetscale-0')}}`]: '1x10',
      [`jetscale_leader{${op('jetscale-1')}}`]: '0x10',
    },
    expect: [
      { at: '5m', alert: 'JetscaleNoLeader', firing: [] },
      { at: '5m', alert: 'JetscaleSeveralLeaders', firing: [] },
      // jetscale_leader ends with the series at 10m; after the staleness period absent() holds.
      { at: '19m', alert: 'JetscaleNoLeader', firing: [{}] },
    ],
  },
  {
    name: 'two installations, each with its own leader',
    series: {
      [`jetscale_leader{${op('jetscale-0')}}`]: '1x10',
      [`jetscale_leader{namespace="other-release", pod="jetscale-0"}`]: '1x10',
    },
    expect: [{ at: '5m', alert: 'JetscaleSeveralLeaders', firing: [] }],
  },
  {
    name: 'a paused ex-leader whose writes the fence refused; sent writes do not alert',
    series: {
      [`jetscale_fenced_writes_total{${op('jetscale-0')}, verb="PATCH", outcome="sent"}`]: '0+5x30',
      [`jetscale_fenced_writes_total{${op('jetscale-1')}, verb="PATCH", outcome="refused"}`]: '0x10 1 2 2x18',
    },
    expect: [
      { at: '5m', alert: 'JetscaleWritesFenced', firing: [] },
      {
        at: '12m',
        alert: 'JetscaleWritesFenced',
        firing: [{ namespace: 'jetscale-system', pod: 'jetscale-1' }],
      },
      // The window has moved past the refusals.
      { at: '29m', alert: 'JetscaleWritesFenced', firing: [] },
    ],
  },
  {
    name: "a paused ex-leader's late write landed once and was undone",
    series: { [`jetscale_previous_term_writes_total{${ec}}`]: '0x10 1x40' },
    expect: [
      { at: '5m', alert: 'JetscalePreviousTermWriteLanded', firing: [] },
      { at: '12m', alert: 'JetscalePreviousTermWriteLanded', firing: [orders] },
      // One late write is one alert for the window, not a standing one.
      { at: '30m', alert: 'JetscalePreviousTermWriteLanded', firing: [] },
    ],
  },
  {
    name: 'a takeover fenced every target but one, which was refused; a clean takeover later does not fire',
    series: {
      [`jetscale_takeover_fence_targets_total{${op('jetscale-1')}, outcome="fenced"}`]: '0x10 40x20 80x10',
      [`jetscale_takeover_fence_targets_total{${op('jetscale-1')}, outcome="failed"}`]: '0x10 1x30',
      [`jetscale_takeover_fence_targets_total{${op('jetscale-1')}, outcome="unfinished"}`]: '0x40',
    },
    expect: [
      { at: '5m', alert: 'JetscaleTakeoverFenceIncomplete', firing: [] },
      {
        at: '12m',
        alert: 'JetscaleTakeoverFenceIncomplete',
        firing: [{ namespace: 'jetscale-system', pod: 'jetscale-1' }],
      },
      // The second takeover (at 30m) fenced everything.
      { at: '34m', alert: 'JetscaleTakeoverFenceIncomplete', firing: [] },
    ],
  },
  {
    name: 'the leader cannot register its installation; a standby is 0 too and does not count',
    series: {
      [`jetscale_leader{${op('jetscale-0')}}`]: '1x10',
      [`jetscale_installation_registered{${op('jetscale-0')}}`]: '1 1 0x8',
      [`jetscale_leader{${op('jetscale-1')}}`]: '0x10',
      [`jetscale_installation_registered{${op('jetscale-1')}}`]: '0x10',
    },
    expect: [
      { at: '2m', alert: 'JetscaleInstallationNotRegistered', firing: [] },
      {
        at: '6m',
        alert: 'JetscaleInstallationNotRegistered',
        firing: [{ namespace: 'jetscale-system', pod: 'jetscale-0' }],
      },
    ],
  },
  {
    name: 'another installation was installed first',
    series: {
      [`jetscale_installation_yielded_to{${op('jetscale-0')}, installation="team-a/jetscale-leader"}`]:
        '1x20',
    },
    expect: [
      { at: '5m', alert: 'JetscaleOtherInstallation', firing: [] },
      {
        at: '15m',
        alert: 'JetscaleOtherInstallation',
        firing: [{ namespace: 'jetscale-system', installation: 'team-a/jetscale-leader' }],
      },
    ],
  },
  {
    name: 'two replicas say they lead',
    series: {
      [`jetscale_leader{${op('jetscale-0')}}`]: '1x10',
      [`jetscale_leader{${op('jetscale-1')}}`]: '0 1x9',
    },
    expect: [
      { at: '1m', alert: 'JetscaleSeveralLeaders', firing: [] },
      { at: '5m', alert: 'JetscaleSeveralLeaders', firing: [{ namespace: 'jetscale-system' }] },
    ],
  },
];

/** `{{ $labels.x }}` filled in, the only templating the rules use. */
function render(template: string, labels: Record<string, string>): string {
  return template.replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, (_m, key: string) => labels[key] ?? '');
}

/** A promtool test file (JSON is YAML) for the rules file at rulesPath. */
export function promtoolTestFile(rulesPath: string, cases: AlertCase[] = alertCases): string {
  const rules = new Map(alertRules('production').groups.flatMap((g) => g.rules.map((r) => [r.alert, r])));
  return JSON.stringify(
    {
      rule_files: [rulesPath],
      evaluation_interval: '1m',
      tests: cases.map((c) => ({
        name: c.name,
        interval: '1m',
        input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
        alert_rule_test: c.expect.map((e) => {
          const rule = rules.get(e.alert);
          if (rule === undefined) throw new Error(`no alert ${e.alert} in monitoring/alerts.ts`);
          return {
            eval_time: e.at,
            alertname: e.alert,
            exp_alerts: e.firing.map((labels) => ({
              exp_labels: { ...labels, severity: rule.labels.severity },
              exp_annotations: {
                summary: render(rule.annotations.summary, labels),
                description: render(rule.annotations.description, labels),
              },
            })),
          };
        }),
      })),
    },
    null,
    2,
  );
}
