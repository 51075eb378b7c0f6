// What the e2e drill's tests check of a run, shared by the drill with pods as local processes
// (e2e.int.test.ts) and on real pods (e2e.realnode.test.ts). Test support: not built into dist/.
import { expect } from '@jest/globals';
import type { RunOutcome } from '../run-scenario.js';

/** The run's verdict whose name starts with `name`; throws naming the result file when there is none. */
export function verdictOf(
  outcome: RunOutcome | undefined,
  name: string,
): { value: number | null; pass: boolean } {
  const found = outcome?.result.verdicts.find((v) => v.name.startsWith(name));
  if (!found) throw new Error(`no verdict "${name}" in ${outcome?.resultPath ?? 'the run'}`);
  return found;
}

/** Every dashboard panel with local sources was answered by Prometheus, and its peaks agree with the harness. */
export function expectDashboardProof(outcome: RunOutcome | undefined): void {
  const section = outcome?.result.prometheus;
  expect(section).toBeDefined();
  const local = section?.panels.filter((p) => p.localSources) ?? [];
  expect(local.length).toBeGreaterThanOrEqual(19);
  expect(local.filter((p) => !p.answered).map((p) => p.panel)).toEqual([]);
  for (const figure of ['max desired replicas', 'max ready replicas', 'peak backlog']) {
    const a = section?.agreement.find((x) => x.name === figure);
    expect({ figure, pass: a?.pass, detail: a?.detail }).toEqual({ figure, pass: true, detail: a?.detail });
  }
  expect(verdictOf(outcome, 'dashboard panels answered by Prometheus').pass).toBe(true);
}
