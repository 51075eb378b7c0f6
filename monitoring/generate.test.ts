import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../hack/stack/tools.js';
import { alertNames, alertRules } from './alerts.js';
import { generatedFiles, staleFiles } from './generate.js';
import { testScratchDir } from '../test/scratch.js';

describe('generated monitoring files', () => {
  it('are committed exactly as monitoring/*.ts generates them (run `make dashboards` after editing)', () => {
    expect(staleFiles(repoRoot)).toEqual([]);
  });

  it('notice a hand edit of any of them', () => {
    const root = testScratchDir('jetscale-generated-');
    const files = generatedFiles();
    for (const [file, content] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      writeFileSync(path.join(root, file), content);
    }
    expect(staleFiles(root)).toEqual([]);
    for (const [file, content] of Object.entries(files)) {
      writeFileSync(path.join(root, file), content.replace('jetscale', 'jetscaIe'));
      expect(staleFiles(root)).toEqual([file]);
      writeFileSync(path.join(root, file), content);
    }
  });
});

describe('alert rules', () => {
  it('have the same expressions in production and in the demo, only the windows and hold times differ', () => {
    const prod = alertRules('production').groups[0]?.rules ?? [];
    const demo = alertRules('demo').groups[0]?.rules ?? [];
    expect(prod.map((r) => r.alert)).toEqual(alertNames);
    expect(demo.map((r) => r.alert)).toEqual(alertNames);
    const shape = (expr: string): string => expr.replace(/\[\d+[smh]\]/g, '[W]');
    expect(demo.map((r) => shape(r.expr))).toEqual(prod.map((r) => shape(r.expr)));
  });

  it('every alert says what to do and carries a severity', () => {
    for (const r of alertRules().groups.flatMap((g) => g.rules)) {
      expect(['warning', 'critical']).toContain(r.labels.severity);
      expect(r.annotations.summary.length).toBeGreaterThan(10);
      expect(r.annotations.description.length).toBeGreaterThan(40);
    }
  });
});
