import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../hack/stack/tools.js';
import { testScratchDir } from '../../test/scratch.js';
import {
  DOC_BLOCKS,
  FRONTIERS_JSON,
  FRONTIERS_SVG,
  README,
  SIM_README,
  compactResults,
  parseFrontiersFile,
  readFrontiersFile,
  renderedRun,
  replaceBlocks,
  staleDocs,
} from './render-claims.js';

const generated = [FRONTIERS_JSON, FRONTIERS_SVG, README, SIM_README];

/** A copy of the committed run and the docs rendered from it, to edit. */
function scratchCopy(): string {
  const root = testScratchDir('jetscale-claims-');
  for (const file of generated) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    copyFileSync(path.join(repoRoot, file), path.join(root, file));
  }
  return root;
}

/** `text` with the first number inside block `name` changed by one in its last digit. */
function editNumberIn(text: string, name: string): string {
  const begin = text.indexOf(`<!-- frontiers:begin ${name}`);
  const end = text.indexOf(`<!-- frontiers:end ${name} -->`);
  const inside = text.slice(begin, end);
  const match = /\d+\.\d\d s/.exec(inside.slice(inside.indexOf('\n')));
  if (match === null) throw new Error(`no number in block ${name}`);
  const at = begin + inside.indexOf('\n') + match.index;
  const digit = Number(text[at + match[0].length - 3]);
  return `${text.slice(0, at + match[0].length - 3)}${(digit + 1) % 10}${text.slice(at + match[0].length - 2)}`;
}

describe('the frontier chart and the claims (render-claims.ts)', () => {
  it('are committed exactly as render-claims.ts renders them from docs/frontiers.json (after a new run: npx tsx loadtest/sim/render-claims.ts --from results.json)', () => {
    expect(staleDocs(repoRoot)).toEqual([]);
  });

  it('notice a number edited by hand in any rendered block, in the chart, or in the committed run', () => {
    const root = scratchCopy();
    expect(staleDocs(root)).toEqual([]);
    for (const [doc, names] of Object.entries(DOC_BLOCKS)) {
      const original = readFileSync(path.join(root, doc), 'utf8');
      for (const name of names) {
        writeFileSync(path.join(root, doc), editNumberIn(original, name));
        expect(staleDocs(root)).toEqual([doc]);
      }
      writeFileSync(path.join(root, doc), original);
    }
    const svg = readFileSync(path.join(root, FRONTIERS_SVG), 'utf8');
    writeFileSync(path.join(root, FRONTIERS_SVG), svg.replace(/cx="(\d)/, 'cx="1$1'));
    expect(staleDocs(root)).toEqual([FRONTIERS_SVG]);
    writeFileSync(path.join(root, FRONTIERS_SVG), svg);
    // A median changed in the run itself: every rendering of it is then out of date.
    const json = readFileSync(path.join(root, FRONTIERS_JSON), 'utf8');
    const file = readFrontiersFile(root);
    const jet = file.traces[0]?.points.find((p) => p.family === 'jetscale' && p.knob === 'default');
    if (jet === undefined) throw new Error('no default jetscale point');
    const line = `{"family":"jetscale","knob":"default","p99":${JSON.stringify(jet.p99)},`;
    expect(json).toContain(line);
    writeFileSync(
      path.join(root, FRONTIERS_JSON),
      json.replace(line, `{"family":"jetscale","knob":"default","p99":${JSON.stringify(jet.p99 + 1)},`),
    );
    expect(staleDocs(root).sort()).toEqual([FRONTIERS_SVG, README, SIM_README].sort());
  });

  it('the chart and every block say which run they are: the commit and the seeds', () => {
    const file = readFrontiersFile(repoRoot);
    const rendered = renderedRun(repoRoot);
    expect(rendered.svg).toContain(file.commit);
    expect(rendered.svg).toContain(`${file.seeds.length} seeds`);
    for (const name of ['table', 'glance', 'sim-table'])
      expect(rendered.blocks[name]).toContain(
        `main at ${file.commit.slice(0, 7)} (${file.date}): ${file.seeds.length} seeds`,
      );
  });

  it('refuses a doc whose markers are missing or unclosed, naming the file and the block', () => {
    const blocks = { table: 'x', claims: 'y' };
    expect(() => replaceBlocks('no markers', blocks, 'README.md', ['table'])).toThrow(
      "README.md: no '<!-- frontiers:begin table -->'",
    );
    expect(() =>
      replaceBlocks('<!-- frontiers:begin table -->\nold\n', blocks, 'README.md', ['table']),
    ).toThrow("has no '<!-- frontiers:end table -->'");
    expect(() =>
      replaceBlocks('<!-- frontiers:begin tabel -->\n<!-- frontiers:end tabel -->', blocks, 'README.md', []),
    ).toThrow("unknown block 'tabel'");
    expect(
      replaceBlocks(
        'a\n<!-- frontiers:begin table (do not edit) -->\nold\nold\n<!-- frontiers:end table -->\nb',
        blocks,
        'R',
        ['table'],
      ),
    ).toBe('a\n<!-- frontiers:begin table (do not edit) -->\nx\n<!-- frontiers:end table -->\nb');
  });

  it('refuses a run file with a field missing or wrong, saying which and what it should be', () => {
    const good = JSON.parse(readFileSync(path.join(repoRoot, FRONTIERS_JSON), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(() => parseFrontiersFile({ ...good, commit: '5ccdf2c' })).toThrow(
      'commit: expected 40 hex digits',
    );
    expect(() => parseFrontiersFile({ ...good, date: '6 Dec' })).toThrow('date: expected YYYY-MM-DD');
    const traces = good['traces'] as Array<Record<string, unknown>>;
    const points = traces[0]?.['points'] as Array<Record<string, unknown>>;
    const shortSeeds = [{ ...points[0], seedP99: [1] }, ...points.slice(1)];
    expect(() => parseFrontiersFile({ ...good, traces: [{ ...traces[0], points: shortSeeds }] })).toThrow(
      /seedP99: expected \d+ numbers \(one per seed\), got 1/,
    );
    const noDefault = points.filter((p) => !(p['family'] === 'jetscale' && p['knob'] === 'default'));
    expect(() => parseFrontiersFile({ ...good, traces: [{ ...traces[0], points: noDefault }] })).toThrow(
      'no default jetscale point',
    );
  });
  it('adopts only a full bench run of a committed tree, and says what to do otherwise', () => {
    const full = {
      command: 'node dist/loadtest/sim/bench.js --out reports/bench-scaling',
      settings: { seeds: [1, 2] },
      provenance: { commit: 'a'.repeat(40), dirty: false, startedAt: '2026-12-06T10:00:00.000Z' },
      frontiers: [],
      medians: {},
    };
    expect(() => compactResults({ ...full, command: `${full.command} --traces step` })).toThrow(
      'a partial run',
    );
    expect(() => compactResults({ ...full, command: `${full.command} --policies jetscale` })).toThrow(
      'a partial run',
    );
    expect(() => compactResults({ ...full, provenance: { ...full.provenance, dirty: true } })).toThrow(
      'uncommitted changes',
    );
    expect(() => compactResults({ ...full, provenance: {} })).toThrow('pass --commit SHA');
    expect(() => compactResults({ ...full, provenance: {} }, { commit: 'b'.repeat(40) })).toThrow(
      'pass --date YYYY-MM-DD',
    );
    // Without learnerFloors (a run before the bench recorded them) its runs must be a full run's.
    expect(() => compactResults({ ...full, frontiers: [{ trace: 'step', points: [] }], runs: [] })).toThrow(
      'rerun `make bench-scaling`',
    );
  });
});
