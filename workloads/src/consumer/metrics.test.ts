import { createConsumerMetrics } from './metrics.js';

describe('consumer metrics: the full path steps', () => {
  const byStep = async (counter: ReturnType<typeof createConsumerMetrics>['steps']) =>
    Object.fromEntries((await counter.get()).values.map((v) => [String(v.labels.step), v.value]));

  it('counts each recorded step once in steps_total and its time in step_seconds_total, at every read', async () => {
    const m = createConsumerMetrics(false);
    m.recordStep('append', 2);
    m.recordStep('append', 3);
    m.recordStep('work', 0.5);
    expect(await byStep(m.steps)).toEqual({ append: 2, work: 1 });
    const seconds = await byStep(m.stepSeconds);
    expect(seconds['append']).toBeCloseTo(0.005, 9);
    expect(seconds['work']).toBeCloseTo(0.0005, 9);
    // A second read adds only what was recorded since the first.
    expect(await byStep(m.steps)).toEqual({ append: 2, work: 1 });
    m.recordStep('append', 1);
    expect(await byStep(m.steps)).toEqual({ append: 3, work: 1 });
    expect(await m.registry.metrics()).toContain('jetscale_consumer_steps_total{step="append"} 3');
  });
});
