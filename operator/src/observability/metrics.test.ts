import { OperatorMetrics } from './metrics.js';

async function series(m: OperatorMetrics, name: string): Promise<string[]> {
  const text = await m.registry.metrics();
  return text.split('\n').filter((l) => l.startsWith(`${name}{`));
}

describe('per-EventConsumer conditions and errors', () => {
  it('keeps one condition series per EventConsumer and type, replacing it when status or reason change', async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.setConditions('ns', 'a', [
      { type: 'Ready', status: 'True', reason: 'Scaling' },
      { type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinLimits' },
    ]);
    m.setConditions('ns', 'a', [
      { type: 'Ready', status: 'False', reason: 'NatsUnreachable' },
      { type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinLimits' },
    ]);
    m.setConditions('ns', 'b', [{ type: 'Ready', status: 'True', reason: 'Scaling' }]);
    expect((await series(m, 'jetscale_eventconsumer_condition')).sort()).toEqual([
      'jetscale_eventconsumer_condition{namespace="ns",name="a",condition="Ready",status="False",reason="NatsUnreachable"} 1',
      'jetscale_eventconsumer_condition{namespace="ns",name="a",condition="ScalingLimited",status="False",reason="DesiredWithinLimits"} 1',
      'jetscale_eventconsumer_condition{namespace="ns",name="b",condition="Ready",status="True",reason="Scaling"} 1',
    ]);
  });

  it('counts errors per EventConsumer and overall, and forgets only that EventConsumer', async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.countError('ns', 'a', 'NatsUnreachable');
    m.countError('ns', 'a', 'NatsUnreachable');
    m.countError('ns', 'a', 'SecretNotFound');
    m.countError('ns', 'b', 'NatsUnreachable');
    m.setConditions('ns', 'a', [{ type: 'Ready', status: 'False', reason: 'NatsUnreachable' }]);
    expect(await series(m, 'jetscale_errors_total')).toEqual(
      expect.arrayContaining(['jetscale_errors_total{reason="NatsUnreachable"} 3']),
    );
    m.forget('ns', 'a');
    expect(await series(m, 'jetscale_eventconsumer_errors_total')).toEqual([
      'jetscale_eventconsumer_errors_total{namespace="ns",name="b",reason="NatsUnreachable"} 1',
    ]);
    expect(await series(m, 'jetscale_eventconsumer_condition')).toEqual([]);
  });

  it("counts a previous leader term's late writes per EventConsumer, and forgets them with it or on losing the lead", async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.previousTermWrites.inc({ namespace: 'ns', name: 'a' });
    m.previousTermWrites.inc({ namespace: 'ns', name: 'b' });
    m.forget('ns', 'a');
    expect(await series(m, 'jetscale_previous_term_writes_total')).toEqual([
      'jetscale_previous_term_writes_total{namespace="ns",name="b"} 1',
    ]);
    m.forgetAllEventConsumers();
    expect(await series(m, 'jetscale_previous_term_writes_total')).toEqual([]);
  });
});

describe('per-consumer series', () => {
  it('exports each consumer’s backlog, need and readability, and drops a consumer no longer listed', async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    m.setConsumers('ns', 'a', [
      { consumer: 'orders', readable: true, desired: 3, backlog: 300 },
      { consumer: 'refunds', readable: false, desired: 5 },
    ]);
    expect(await series(m, 'jetscale_jetstream_consumer_readable')).toEqual([
      'jetscale_jetstream_consumer_readable{namespace="ns",name="a",consumer="orders"} 1',
      'jetscale_jetstream_consumer_readable{namespace="ns",name="a",consumer="refunds"} 0',
    ]);
    expect(await series(m, 'jetscale_jetstream_consumer_backlog_messages')).toEqual([
      'jetscale_jetstream_consumer_backlog_messages{namespace="ns",name="a",consumer="orders"} 300',
    ]);
    m.setConsumers('ns', 'a', [{ consumer: 'orders', readable: true, desired: 2, backlog: 200 }]);
    expect(await series(m, 'jetscale_jetstream_consumer_desired_replicas')).toEqual([
      'jetscale_jetstream_consumer_desired_replicas{namespace="ns",name="a",consumer="orders"} 2',
    ]);
    m.forget('ns', 'a');
    expect(await series(m, 'jetscale_jetstream_consumer_readable')).toEqual([]);
    expect(await series(m, 'jetscale_jetstream_consumer_backlog_messages')).toEqual([]);
  });
});

describe('the takeover fence', () => {
  it('exports each outcome from 0 once enabled, adds each takeover to it, and keeps it when the lead is lost', async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    expect(await series(m, 'jetscale_takeover_fence_targets_total')).toEqual([]);
    m.initTakeoverFence();
    expect(await series(m, 'jetscale_takeover_fence_targets_total')).toEqual([
      'jetscale_takeover_fence_targets_total{outcome="fenced"} 0',
      'jetscale_takeover_fence_targets_total{outcome="missing"} 0',
      'jetscale_takeover_fence_targets_total{outcome="failed"} 0',
      'jetscale_takeover_fence_targets_total{outcome="unfinished"} 0',
    ]);
    m.recordTakeoverFence({ fenced: 5, missing: 1, failed: 0, unfinished: 2, durationMs: 1500 });
    m.recordTakeoverFence({ fenced: 3, missing: 0, failed: 1, unfinished: 0, durationMs: 200 });
    m.forgetAllEventConsumers(); // not per EventConsumer: a takeover's history stays with the process
    expect(await series(m, 'jetscale_takeover_fence_targets_total')).toEqual([
      'jetscale_takeover_fence_targets_total{outcome="fenced"} 8',
      'jetscale_takeover_fence_targets_total{outcome="missing"} 1',
      'jetscale_takeover_fence_targets_total{outcome="failed"} 1',
      'jetscale_takeover_fence_targets_total{outcome="unfinished"} 2',
    ]);
    expect(await series(m, 'jetscale_takeover_fence_duration_seconds_count')).toEqual([]);
    const text = await m.registry.metrics();
    expect(text).toContain('jetscale_takeover_fence_duration_seconds_count 2');
    expect(text).toContain('jetscale_takeover_fence_duration_seconds_sum 1.7');
  });
});
