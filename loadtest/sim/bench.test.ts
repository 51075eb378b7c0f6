import { parseWorkload } from './bench.js';
import { defaultWorkload } from './simulator.js';

describe('bench realism flags', () => {
  it('leaves the default pods alone without flags', () => {
    expect(parseWorkload(undefined, undefined)).toEqual(defaultWorkload);
  });

  it('reads --consumes-before-ready seconds and --warmup SECONDS@SHARE', () => {
    const w = parseWorkload('5', '20@0.5');
    expect(w.consumesBeforeReadySeconds).toBe(5);
    expect(w.warmup).toEqual({ seconds: 20, speedShare: 0.5 });
    expect(w.serviceRatePerReplica).toBe(defaultWorkload.serviceRatePerReplica);
  });

  it('rejects values it cannot use, saying what to pass', () => {
    expect(() => parseWorkload('-1', undefined)).toThrow(/--consumes-before-ready must be seconds from 0/);
    expect(() => parseWorkload('30', undefined)).toThrow(/the shortest start-up \(10\)/);
    expect(() => parseWorkload(undefined, '20')).toThrow(/--warmup must be SECONDS@SHARE/);
    expect(() => parseWorkload(undefined, '20@0')).toThrow(/SHARE in \(0, 1\]/);
    expect(() => parseWorkload(undefined, '20@1.5')).toThrow(/e\.g\. 20@0\.5, got '20@1\.5'/);
  });
});
