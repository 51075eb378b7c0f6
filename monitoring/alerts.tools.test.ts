// The shipped alert rules under Prometheus' own tools: `promtool check rules` accepts the file and
// `promtool test rules` feeds each case's series through the rules and compares the alerts that
// fire (labels and annotations) with what the case expects.
import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, toolPath } from '../hack/stack/tools.js';
import { alertCases, promtoolTestFile, type AlertCase } from './alert-cases.js';
import { alertNames } from './alerts.js';
import { testScratchDir } from '../test/scratch.js';

jest.setTimeout(60_000);

const rulesFile = path.join(repoRoot, 'charts', 'jetscale', 'alerts', 'jetscale-rules.yaml');

async function promtool(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const r = await promisify(execFile)(toolPath('promtool'), args, { cwd: repoRoot });
    return { code: 0, output: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

function testFile(cases: AlertCase[]): string {
  const file = path.join(testScratchDir('jetscale-alerts-'), 'alerts.test.yaml');
  writeFileSync(file, promtoolTestFile(rulesFile, cases));
  return file;
}

describe('alert rules (charts/jetscale/alerts/jetscale-rules.yaml)', () => {
  it('pass promtool check rules', async () => {
    const r = await promtool(['check', 'rules', rulesFile]);
    expect(r).toEqual({
      code: 0,
      output: expect.stringContaining(`SUCCESS: ${alertNames.length} rules found`),
    });
  });

  it('fire, stay silent and resolve as each case expects (promtool test rules)', async () => {
    const r = await promtool(['test', 'rules', testFile(alertCases)]);
    expect({ code: r.code, output: r.code === 0 ? 'SUCCESS' : r.output }).toEqual({
      code: 0,
      output: 'SUCCESS',
    });
  });

  it('cover every alert with a case that fires and one that stays silent', () => {
    for (const name of alertNames) {
      const checks = alertCases.flatMap((c) => c.expect.filter((e) => e.alert === name));
      expect({ name, fires: checks.some((e) => e.firing.length > 0) }).toEqual({ name, fires: true });
      expect({ name, silent: checks.some((e) => e.firing.length === 0) }).toEqual({ name, silent: true });
    }
  });

  it('catch an alert that does not fire when a case says it should (the check can fail)', async () => {
    const wrong: AlertCase = {
      name: 'a draining backlog expected to alert',
      series: {
        'jetscale_backlog_messages{namespace="shop", name="orders"}': '5000-100x30',
        'jetscale_arrival_rate_messages_per_second{namespace="shop", name="orders"}': '20x30',
        'jetscale_processing_rate_messages_per_second{namespace="shop", name="orders"}': '50x30',
      },
      expect: [
        { at: '20m', alert: 'JetscaleBacklogGrowing', firing: [{ namespace: 'shop', name: 'orders' }] },
      ],
    };
    const r = await promtool(['test', 'rules', testFile([wrong])]);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('JetscaleBacklogGrowing');
  });
});
