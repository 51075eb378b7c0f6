// One backlog, said once: the jetscale_backlog_messages gauge, each consumer's
// jetscale_jetstream_consumer_backlog_messages and status.consumers[].backlog.total are the same
// figure, the one the policy sizes for — a mirror's or sourced stream's lag (the origin's messages
// not copied yet) included. Before, status counted the lag (48739d2) and both gauges did not, so a
// dashboard showed 0 for a mirror 20,000 behind while status said 20,000.
import type { EventConsumerSpec } from '../api/v1alpha1/event-consumer.js';
import { OperatorMetrics } from '../observability/metrics.js';
import { decide as policyDecide, emptyHistory } from '../scaling/index.js';
import { withScalingDefaults } from '../scaling/defaults.js';
import type { BacklogSample } from '../scaling/types.js';
import { sample } from '../scaling/test/fixtures.js';
import type { ConsumersVerdict, Verdict } from './decide.js';
import { arrivalsFromOf, MAX_ARRIVALS_FROM, recordPollMetrics, statusAfterPoll } from './report.js';

const SCALE = { specReplicas: 2, statusReplicas: 2, readyReplicas: 2, resourceVersion: '1' };

function verdictFor(reading: BacklogSample): Verdict {
  const decision = policyDecide({
    spec: withScalingDefaults({ maxReplicas: 50, backlogPerReplica: 100 }),
    sample: reading,
    currentReplicas: 2,
    readyReplicas: 2,
    history: emptyHistory(),
    now: reading.at,
  });
  return {
    current: 2,
    desired: decision.desiredReplicas,
    why: decision.reason,
    memory: {} as Verdict['memory'],
    read: { sample: reading, decision },
    conditions: [],
    events: [],
  };
}

function allOf(consumers: Array<{ name: string; reading: BacklogSample }>): ConsumersVerdict {
  const verdicts = consumers.map(({ name, reading }) => ({
    consumer: { name, stream: 'ORDERS', consumer: name },
    verdict: verdictFor(reading),
  }));
  return {
    current: 2,
    desired: Math.max(...verdicts.map((v) => v.verdict.desired)),
    why: '',
    conditions: [],
    events: [],
    consumers: verdicts,
    memories: {},
    fallbackActive: false,
    failures: 0,
  } as unknown as ConsumersVerdict;
}

async function gauge(
  metrics: OperatorMetrics,
  name: string,
): Promise<Array<{ labels: object; value: number }>> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) return [];
  return (await metric.get()).values.map((v) => ({ labels: v.labels, value: v.value }));
}

describe('jetscale_backlog_messages and status say the same backlog', () => {
  const labels = { namespace: 'shop', name: 'orders' };
  const spec = { backlogPerReplica: 100 } as EventConsumerSpec;

  it("counts a mirror's lag, as status and the policy do, and reports the lag on its own", async () => {
    const mirror = sample({
      pending: 300,
      ackPending: 40,
      upstream: { lag: 20_000, from: 'mirror of ORDERS_EU' },
    });
    const plain = sample({ pending: 5, ackPending: 7 });
    const verdict = allOf([
      { name: 'mirrored', reading: mirror },
      { name: 'plain', reading: plain },
    ]);
    const metrics = new OperatorMetrics();
    recordPollMetrics(metrics, labels, spec, SCALE as never, verdict);
    const status = statusAfterPoll({}, 1, SCALE as never, verdict, { wall: 0 }, undefined);

    const totals = (status.consumers ?? []).map((c) => c.backlog?.total);
    expect(totals).toEqual([20_340, 12]);
    expect(await gauge(metrics, 'jetscale_backlog_messages')).toEqual([{ labels, value: 20_352 }]);
    expect(await gauge(metrics, 'jetscale_jetstream_consumer_backlog_messages')).toEqual([
      { labels: { ...labels, consumer: 'mirrored' }, value: 20_340 },
      { labels: { ...labels, consumer: 'plain' }, value: 12 },
    ]);
    // The parts add up to the whole: num_pending, the lag and num_ack_pending.
    expect(await gauge(metrics, 'jetscale_backlog_pending_messages')).toEqual([{ labels, value: 305 }]);
    expect(await gauge(metrics, 'jetscale_backlog_upstream_lag_messages')).toEqual([
      { labels, value: 20_000 },
    ]);
    expect(await gauge(metrics, 'jetscale_backlog_ack_pending_messages')).toEqual([{ labels, value: 47 }]);
    // The policy saw that backlog too.
    expect(verdict.consumers[0]?.verdict.why).toContain('Backlog 20,340');
  });

  it('has no lag series for an EventConsumer none of whose streams has a known lag', async () => {
    const metrics = new OperatorMetrics();
    const unknown = sample({ pending: 3, upstream: { unknown: 'no contact with the origin yet' } });
    recordPollMetrics(metrics, labels, spec, SCALE as never, allOf([{ name: 'm', reading: unknown }]));
    expect(await gauge(metrics, 'jetscale_backlog_messages')).toEqual([{ labels, value: 3 }]);
    expect(await gauge(metrics, 'jetscale_backlog_upstream_lag_messages')).toEqual([]);
    // A series set by an earlier poll goes once no lag is known.
    const known = sample({ pending: 3, upstream: { lag: 9, from: 'mirror of X' } });
    recordPollMetrics(metrics, labels, spec, SCALE as never, allOf([{ name: 'm', reading: known }]));
    expect(await gauge(metrics, 'jetscale_backlog_upstream_lag_messages')).toEqual([{ labels, value: 9 }]);
    recordPollMetrics(metrics, labels, spec, SCALE as never, allOf([{ name: 'm', reading: unknown }]));
    expect(await gauge(metrics, 'jetscale_backlog_upstream_lag_messages')).toEqual([]);
    metrics.forget(labels.namespace, labels.name);
    expect(await gauge(metrics, 'jetscale_backlog_messages')).toEqual([]);
  });
});

describe("status says where a filtered consumer's arrivals are read from (rates.arrivalsFrom)", () => {
  it("the stream's count on the filter, or the consumer's counters and why", () => {
    const verdict = allOf([
      { name: 'counted', reading: sample({ filtered: true, filterStored: { count: 120 } }) },
      {
        name: 'wildcard',
        reading: sample({
          filtered: true,
          filterStored: { unknown: 'filter subject "orders.*" has a wildcard' },
        }),
      },
      { name: 'unfiltered', reading: sample({ filtered: false }) },
    ]);
    const status = statusAfterPoll({}, 1, SCALE as never, verdict, { wall: 0 }, undefined);
    expect((status.consumers ?? []).map((c) => c.rates?.arrivalsFrom)).toEqual([
      "the stream's count on the filter subjects",
      'the consumer\'s counters, where a retry hiding behind the other subjects\' messages reads as an arrival: filter subject "orders.*" has a wildcard',
      undefined,
    ]);
    // One consumer: status.rates is its own.
    const single = allOf([
      { name: 'counted', reading: sample({ filtered: true, filterStored: { count: 1 } }) },
    ]);
    const one = statusAfterPoll({}, 1, SCALE as never, single, { wall: 0 }, undefined);
    expect(one.rates?.arrivalsFrom).toBe("the stream's count on the filter subjects");
  });

  it('caps what a server answered at the CRD maxLength', () => {
    const long = sample({ filtered: true, filterStored: { unknown: 'x'.repeat(5000) } });
    expect(arrivalsFromOf(long)?.length).toBeLessThanOrEqual(MAX_ARRIVALS_FROM);
  });
});
