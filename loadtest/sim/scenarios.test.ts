import { defaultScaleDown, defaultScaleUp } from '../../operator/src/scaling/defaults.js';
import { kedaHpaDefaults } from './keda-hpa.js';
import { kedaConfig } from './scenarios.js';

describe('scenarios', () => {
  it("gives keda-tuned its own behavior, which does not move with jetscale's defaults", () => {
    // A careful KEDA user's HPA behavior: jetscale's scale-up, and a 30 s scale-down window (not
    // jetscale's 15 s default: at the HPA's 15 s sync that window holds about one earlier
    // recommendation, and the HPA flaps; see loadtest/sim/README.md "The scale-down window").
    const behavior = kedaConfig('keda-tuned', 10, 1).behavior;
    expect(behavior?.scaleUp).toEqual(defaultScaleUp);
    expect(behavior?.scaleDown).toEqual({
      stabilizationWindowSeconds: 30,
      policies: [
        { type: 'Percent', value: 50, periodSeconds: 15 },
        { type: 'Pods', value: 1, periodSeconds: 15 },
      ],
      selectPolicy: 'Max',
    });
    expect(behavior?.scaleDown.stabilizationWindowSeconds).not.toBe(
      defaultScaleDown.stabilizationWindowSeconds,
    );
    expect(kedaConfig('keda', 10, 1).behavior).toBeUndefined();
  });

  it("draws the HPA's sync phase over its whole period for every seed, not from the seed's index", () => {
    // The recurring burst (every 1800 s from 900 s) and the step (600 s) start on a multiple of the
    // 15 s sync period, so the phase is how long after each of them the HPA first looks. Taken as
    // seed % 15 it was 1–5 s on seeds 1–5: KEDA saw every burst of a 5-seed run within 5 s.
    const period = kedaHpaDefaults.hpaSyncPeriodSeconds;
    const phases = (from: number, to: number): number[] =>
      Array.from({ length: to - from + 1 }, (_, i) => kedaConfig('keda-tuned', 5, from + i).hpaPhaseSeconds);
    for (const phase of phases(1, 300)) {
      expect(phase).toBeGreaterThanOrEqual(0);
      expect(phase).toBeLessThan(period);
    }
    // Any few seeds spread over the period: the first five reach past its first third.
    expect(Math.max(...phases(1, 5))).toBeGreaterThan(period / 3);
    // Over many seeds each third of the period gets about a third of them.
    const all = phases(1, 300);
    for (let third = 0; third < 3; third++) {
      const share = all.filter((p) => Math.floor((3 * p) / period) === third).length / all.length;
      expect(share).toBeGreaterThan(0.25);
      expect(share).toBeLessThan(0.42);
    }
    // The same seed gives the same phase (the bench is deterministic per seed), for every KEDA family.
    expect(kedaConfig('keda', 100, 7).hpaPhaseSeconds).toBe(kedaConfig('keda-tuned', 5, 7).hpaPhaseSeconds);
  });
});
