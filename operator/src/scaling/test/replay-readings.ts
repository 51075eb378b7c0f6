// Replays a run of readings dumped from a policy-fuzz world (test/world-*.json: the spec, the history
// before the first reading, and each reading with what was decided then) through decide(), each
// reading with the history the one before returned: a world's failure as a unit test, without the
// world's model.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decide } from '../decide.js';
import type { RateState } from '../rates.js';
import type { BacklogSample, ScalingDecision, ScalingHistory, ScalingSpec } from '../types.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface Readings {
  spec: ScalingSpec;
  history: ScalingHistory;
  readings: {
    t: number;
    sample: BacklogSample;
    currentReplicas: number;
    readyReplicas?: number;
    decided: number;
  }[];
}

/**
 * Feeds decide() the dumped readings in `file` (under this folder), in order; with `rates`, the
 * history before the first reading carries those rates instead of the dumped ones (the same
 * readings read with another figure or bound).
 */
export function replayReadings(
  file: string,
  rates?: RateState,
): { decisions: ScalingDecision[]; data: Readings } {
  const data = JSON.parse(readFileSync(path.join(here, file), 'utf8')) as Readings;
  let history: ScalingHistory = rates === undefined ? data.history : { ...data.history, rates };
  const decisions = data.readings.map((r) => {
    const d = decide({
      spec: data.spec,
      sample: r.sample,
      currentReplicas: r.currentReplicas,
      ...(r.readyReplicas !== undefined ? { readyReplicas: r.readyReplicas } : {}),
      history,
      now: r.sample.at,
    });
    history = d.history;
    return d;
  });
  return { decisions, data };
}
