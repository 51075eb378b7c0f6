// Arrival-rate traces for the scaling simulator: the shapes of load that autoscalers get wrong
// (a step, a short 10x spike, a ramp, a daily cycle, on/off bursts) and a recorded timeline loaded
// from JSON. A trace is a deterministic function of time; the simulator adds Poisson noise.

import { readFileSync } from 'node:fs';
import { Prng } from './prng.js';

export interface Trace {
  name: string;
  description: string;
  durationSeconds: number;
  /** Mean arrival rate (messages/s) at `tSeconds` from the start. */
  rateAt(tSeconds: number): number;
  /** Season length of the traffic, when it has one (for predictive scaling's seasonality). */
  seasonalitySeconds?: number;
  /**
   * From when a pattern is learnable from what was seen (a recurrence needs two occurrences): the
   * bench also reports p99 over the messages arriving after it.
   */
  warmupSeconds?: number;
}

export function stepTrace(
  opts: { base?: number; stepTo?: number; atSeconds?: number; durationSeconds?: number } = {},
): Trace {
  const base = opts.base ?? 50;
  const stepTo = opts.stepTo ?? 200;
  const at = opts.atSeconds ?? 600;
  return {
    name: 'step',
    description: `${base}/s, then ${stepTo}/s from t=${at}s`,
    durationSeconds: opts.durationSeconds ?? 2400,
    rateAt: (t) => (t < at ? base : stepTo),
  };
}

export function spikeTrace(
  opts: {
    base?: number;
    factor?: number;
    atSeconds?: number;
    spikeSeconds?: number;
    durationSeconds?: number;
  } = {},
): Trace {
  const base = opts.base ?? 100;
  const factor = opts.factor ?? 10;
  const at = opts.atSeconds ?? 600;
  const length = opts.spikeSeconds ?? 60;
  return {
    name: 'spike',
    description: `${base}/s with a ${factor}x spike for ${length}s at t=${at}s`,
    durationSeconds: opts.durationSeconds ?? 1800,
    rateAt: (t) => (t >= at && t < at + length ? base * factor : base),
  };
}

export function rampTrace(
  opts: { from?: number; to?: number; rampSeconds?: number; holdSeconds?: number } = {},
): Trace {
  const from = opts.from ?? 20;
  const to = opts.to ?? 600;
  const ramp = opts.rampSeconds ?? 1800;
  const hold = opts.holdSeconds ?? 600;
  return {
    name: 'ramp',
    description: `${from}/s rising linearly to ${to}/s over ${ramp}s, held ${hold}s, falling over ${ramp / 2}s`,
    durationSeconds: 300 + ramp + hold + ramp / 2,
    rateAt: (t) => {
      if (t < 300) return from;
      const u = t - 300;
      if (u < ramp) return from + ((to - from) * u) / ramp;
      if (u < ramp + hold) return to;
      return Math.max(from, to - ((to - from) * (u - ramp - hold)) / (ramp / 2));
    },
  };
}

/** A daily cycle compressed to `periodSeconds` (default 2 h) so three "days" simulate in 6 h. */
export function diurnalTrace(
  opts: { mean?: number; amplitude?: number; periodSeconds?: number; periods?: number } = {},
): Trace {
  const mean = opts.mean ?? 200;
  const amplitude = opts.amplitude ?? 170;
  const period = opts.periodSeconds ?? 7200;
  const periods = opts.periods ?? 3;
  return {
    name: 'diurnal',
    description: `sine ${mean - amplitude}..${mean + amplitude}/s with a ${period / 3600}h period, ${periods} periods`,
    durationSeconds: period * periods,
    seasonalitySeconds: period,
    // Starts at the trough, like traffic after midnight.
    rateAt: (t) => mean - amplitude * Math.cos((2 * Math.PI * t) / period),
  };
}

/**
 * A batch job or a cron-driven producer: a steady base with a `factor`× burst of `burstSeconds`
 * every `everySeconds` (default 10× for 60 s every 30 min, for 4 h). The period is deliberately not
 * given to the policies (no `seasonalitySeconds`): a forecaster has to find it in what it observed.
 * For predictive mode's safety: `stopAtSeconds` ends the bursts there (the job is switched off),
 * `driftSeconds` makes each gap that much longer than the one before (a period that drifts).
 */
export function recurringBurstTrace(
  opts: {
    base?: number;
    factor?: number;
    burstSeconds?: number;
    everySeconds?: number;
    firstAtSeconds?: number;
    durationSeconds?: number;
    stopAtSeconds?: number;
    driftSeconds?: number;
  } = {},
): Trace {
  const base = opts.base ?? 50;
  const factor = opts.factor ?? 10;
  const length = opts.burstSeconds ?? 60;
  const every = opts.everySeconds ?? 1800;
  const first = opts.firstAtSeconds ?? 900;
  const duration = opts.durationSeconds ?? 4 * 3600;
  const stopAt = opts.stopAtSeconds ?? Infinity;
  const drift = opts.driftSeconds ?? 0;
  const starts: number[] = [];
  for (let at = first, gap = every; at < Math.min(duration, stopAt); at += gap, gap += drift) starts.push(at);
  const changed = [
    ...(opts.stopAtSeconds !== undefined ? [`stopping at t=${opts.stopAtSeconds}s`] : []),
    ...(drift !== 0 ? [`each gap ${drift}s longer than the one before`] : []),
  ];
  return {
    name: 'recurring',
    description: `${base}/s with a ${factor}x burst for ${length}s every ${every / 60} min (first at t=${first}s)${changed.length > 0 ? `, ${changed.join(', ')}` : ''}`,
    durationSeconds: duration,
    // Two bursts seen, the third is the first a forecaster can expect.
    warmupSeconds: first + 2 * every - length,
    rateAt: (t) => (starts.some((start) => t >= start && t < start + length) ? base * factor : base),
  };
}

/** On/off bursts with exponentially distributed on and off durations (a Poisson on/off process). */
export function burstyTrace(
  opts: {
    seed?: number;
    onRate?: number;
    offRate?: number;
    meanOnSeconds?: number;
    meanOffSeconds?: number;
    durationSeconds?: number;
  } = {},
): Trace {
  const onRate = opts.onRate ?? 400;
  const offRate = opts.offRate ?? 10;
  const meanOn = opts.meanOnSeconds ?? 45;
  const meanOff = opts.meanOffSeconds ?? 150;
  const duration = opts.durationSeconds ?? 3600;
  const prng = new Prng(opts.seed ?? 7);
  // Precomputed switch times keep rateAt a pure function of t.
  const switches: number[] = [];
  let t = prng.exponential(meanOff);
  let on = false;
  while (t < duration) {
    switches.push(t);
    on = !on;
    t += prng.exponential(on ? meanOn : meanOff);
  }
  return {
    name: 'bursty',
    description: `on/off bursts: ${onRate}/s for ~${meanOn}s, ${offRate}/s for ~${meanOff}s (exponential)`,
    durationSeconds: duration,
    rateAt: (time) => {
      let lo = 0;
      let hi = switches.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((switches[mid] ?? Infinity) <= time) lo = mid + 1;
        else hi = mid;
      }
      return lo % 2 === 1 ? onRate : offRate;
    },
  };
}

export interface RecordedPoint {
  t: number;
  ratePerSecond: number;
}

/** Parses a recorded timeline: `[{t, ratePerSecond}, ...]` or `{description?, points: [...]}`. */
export function recordedTraceFrom(json: unknown, name = 'recorded'): Trace {
  const raw: unknown =
    typeof json === 'object' && json !== null && !Array.isArray(json) && 'points' in json
      ? (json as { points: unknown }).points
      : json;
  if (!Array.isArray(raw) || raw.length < 2) {
    throw new Error(
      'recorded trace must be an array of at least two {t, ratePerSecond} points (or {points: [...]})',
    );
  }
  const points: RecordedPoint[] = raw.map((p: unknown, i) => {
    const t: unknown = typeof p === 'object' && p !== null ? (p as { t?: unknown }).t : undefined;
    const r: unknown =
      typeof p === 'object' && p !== null ? (p as { ratePerSecond?: unknown }).ratePerSecond : undefined;
    if (typeof t !== 'number' || typeof r !== 'number' || !Number.isFinite(t) || !(r >= 0)) {
      throw new Error(`recorded trace point ${i} must be {t: seconds, ratePerSecond: number ≥ 0}`);
    }
    return { t, ratePerSecond: r };
  });
  points.sort((a, b) => a.t - b.t);
  const first = points[0];
  const last = points[points.length - 1];
  if (first === undefined || last === undefined) throw new Error('recorded trace is empty');
  const description =
    typeof json === 'object' && json !== null && 'description' in json && typeof json.description === 'string'
      ? json.description
      : `${points.length} recorded points`;
  return {
    name,
    description,
    durationSeconds: last.t - first.t,
    // Linear interpolation between recorded points, time measured from the first point.
    rateAt: (time) => {
      const t = first.t + time;
      let lo = 0;
      let hi = points.length - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if ((points[mid]?.t ?? Infinity) <= t) lo = mid;
        else hi = mid;
      }
      const a = points[lo] ?? first;
      const b = points[hi] ?? last;
      if (t <= a.t || b.t === a.t) return a.ratePerSecond;
      if (t >= b.t) return b.ratePerSecond;
      return a.ratePerSecond + ((b.ratePerSecond - a.ratePerSecond) * (t - a.t)) / (b.t - a.t);
    },
  };
}

/** A recorded timeline as stored in loadtest/sim/traces/*.json. */
export interface Recording {
  description: string;
  points: RecordedPoint[];
}

/**
 * A recording from a harness run's result.json (`make demo`, `make e2e`: loadtest/harness): the
 * requests the gateway accepted each second (`timeline[].achievedRate`: what entered the stream,
 * so what the consumer had to process), over the load (t ≤ the profile's length), × `scale`. The
 * faults of the run are in it as they happened (a stopped gateway accepts nothing). Throws with
 * what is wrong when the file is not a harness result.
 */
export function recordingFromHarnessResult(json: unknown, scale = 1): Recording {
  if (!(scale > 0) || !Number.isFinite(scale))
    throw new Error(`scale must be a positive number, got ${scale}`);
  const result = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : undefined;
  const timeline = result?.['timeline'];
  if (!Array.isArray(timeline) || timeline.length < 2) {
    throw new Error('not a harness result: expected result.json with a timeline of at least two samples');
  }
  const profile = result?.['profile'] as { stages?: Array<{ durationSeconds?: unknown }> } | undefined;
  const loadSeconds = Array.isArray(profile?.stages)
    ? profile.stages.reduce(
        (sum, s) => sum + (typeof s.durationSeconds === 'number' ? s.durationSeconds : 0),
        0,
      )
    : Infinity;
  const points: RecordedPoint[] = [];
  timeline.forEach((sample: unknown, i) => {
    const t: unknown =
      typeof sample === 'object' && sample !== null ? (sample as { t?: unknown }).t : undefined;
    const rate: unknown =
      typeof sample === 'object' && sample !== null
        ? (sample as { achievedRate?: unknown }).achievedRate
        : undefined;
    if (typeof t !== 'number' || !Number.isFinite(t) || typeof rate !== 'number' || !(rate >= 0)) {
      throw new Error(`timeline sample ${i} must have t (seconds) and achievedRate (requests/s ≥ 0)`);
    }
    if (t <= loadSeconds) points.push({ t, ratePerSecond: Math.round(rate * scale * 100) / 100 });
  });
  if (points.length < 2) throw new Error('the harness result has fewer than two samples within its load');
  const scenario = typeof result?.['scenario'] === 'string' ? result['scenario'] : 'unknown scenario';
  const testId = typeof result?.['testId'] === 'string' ? result['testId'] : 'unknown run';
  const faults = Array.isArray(result?.['faults'])
    ? (result['faults'] as Array<{ t?: unknown; kind?: unknown }>)
        .filter((f) => typeof f.t === 'number' && typeof f.kind === 'string')
        .map((f) => `${String(f.kind)} at ${Math.round(f.t as number)} s`)
    : [];
  return {
    description: `captured by the harness from a real run (${scenario}, ${testId}): requests accepted per second${scale === 1 ? '' : ` × ${scale}`}${faults.length > 0 ? `; faults: ${faults.join(', ')}` : ''}`,
    points,
  };
}

export function loadRecordedTrace(path: string, name = 'recorded'): Trace {
  return recordedTraceFrom(JSON.parse(readFileSync(path, 'utf8')) as unknown, name);
}
