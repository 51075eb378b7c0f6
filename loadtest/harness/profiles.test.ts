// The shared profiles (loadtest/profiles) are data both k6 and the harness replay; these tests keep
// them coherent. (They live here because loadtest/profiles is also type-checked for k6, without jest.)
import { loadEvent } from '../profiles/events.js';
import {
  plannedRequests,
  profileDurationSeconds,
  profileNames,
  profiles,
  rateAt,
  scaleProfile,
} from '../profiles/profiles.js';

describe('load profiles', () => {
  it.each(profileNames)('%s: peak, faults and budgets fall inside the load', (name) => {
    const profile = profiles[name];
    const duration = profileDurationSeconds(profile);
    expect(profile.name).toBe(name);
    if (profile.peak) {
      expect(profile.peak.fromSeconds).toBeLessThan(profile.peak.toSeconds);
      expect(profile.peak.toSeconds).toBeLessThanOrEqual(duration);
    }
    for (const fault of profile.faults) expect(fault.atSeconds).toBeLessThan(duration);
    expect(profile.budgets.maxFailedRatio).toBeGreaterThanOrEqual(0);
    expect(profile.maxInFlight).toBeGreaterThan(0);
  });

  it('spikes to about 10x the base rate for about a minute', () => {
    const spike = profiles.spike;
    expect(rateAt(spike, 10)).toBe(spike.startRate);
    expect(rateAt(spike, 60) / rateAt(spike, 10)).toBeCloseTo(10);
    const atPeak = Array.from({ length: 200 }, (_, s) => rateAt(spike, s)).filter(
      (r) => r >= 9 * spike.startRate,
    ).length;
    expect(atPeak).toBeGreaterThanOrEqual(55);
    expect(atPeak).toBeLessThanOrEqual(75);
  });

  it('has the demo spike (make demo) delete a consumer pod with its grace period, kill a consumer container and kill the operator leader, all during the peak', () => {
    const spike = profiles.spike;
    expect(spike.faults.map((f) => f.kind)).toEqual([
      'delete-consumer-pods',
      'kill-consumer-pods',
      'kill-operator-leader',
    ]);
    for (const fault of spike.faults) {
      expect(fault.atSeconds).toBeGreaterThan(spike.peak?.fromSeconds ?? Infinity);
      expect(fault.atSeconds).toBeLessThan(spike.peak?.toSeconds ?? 0);
    }
    // A leader kill is judged: without a budget the failover verdict could not fail.
    expect(spike.budgets.failoverWithinSeconds).toBeGreaterThan(0);
  });

  it('keeps the CI spike short, with a forced consumer kill and a leader kill during the peak', () => {
    const ci = profiles['spike-ci'];
    expect(profileDurationSeconds(ci)).toBeLessThanOrEqual(150);
    const kinds = ci.faults.map((f) => f.kind);
    expect(kinds).toEqual(['kill-consumer-pods', 'kill-operator-leader']);
    for (const fault of ci.faults) {
      expect(fault.atSeconds).toBeGreaterThan(ci.peak?.fromSeconds ?? Infinity);
      expect(fault.atSeconds).toBeLessThan(ci.peak?.toSeconds ?? 0);
    }
  });

  it('interpolates rates linearly and integrates them into planned requests', () => {
    const ramp = { ...profiles.ramp, startRate: 0, stages: [{ durationSeconds: 10, targetRate: 20 }] };
    expect(rateAt(ramp, 5)).toBe(10);
    expect(rateAt(ramp, 11)).toBe(0);
    expect(plannedRequests(ramp)).toBe(100);
    const doubled = scaleProfile(ramp, 2);
    expect(plannedRequests(doubled)).toBe(200);
    expect(() => scaleProfile(ramp, 0)).toThrow(/positive/);
  });

  it('gives every event a run-unique id and a bounded aggregate key the gateway accepts', () => {
    const a = loadEvent('spike-x', 1, new Date(0));
    const b = loadEvent('spike-x', 1025, new Date(0));
    expect(a.id).not.toBe(b.id);
    expect(a.aggregateId).toBe(b.aggregateId);
    expect(a.id).toMatch(/^[A-Za-z0-9_.:-]{1,128}$/);
    expect(a.type).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(a.aggregateId).toMatch(/^[A-Za-z0-9_-]{1,128}$/);
    expect(a.timestamp).toBe('1970-01-01T00:00:00.000Z');
  });
});
