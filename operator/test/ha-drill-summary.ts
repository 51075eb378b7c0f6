// Summarises the numbers `make drill-ha` collected (one JSON line per drill run, written by
// recordNumbers in ha-drill.ts): runs, violations, failover times and fenced writes per drill.
// Usage: npx tsx operator/test/ha-drill-summary.ts reports/ha-drills.jsonl
import { readFileSync } from 'node:fs';
import type { DrillNumbers } from './ha-drill.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: ha-drill-summary.ts <results.jsonl>\n');
  process.exit(2);
}
const runs = readFileSync(file, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as DrillNumbers);

function stats(values: number[]): string {
  if (values.length === 0) return '-';
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const s = (ms: number): string => (ms / 1000).toFixed(2);
  return `min ${s(sorted[0] ?? NaN)} s, median ${s(at(0.5))} s, max ${s(sorted[sorted.length - 1] ?? NaN)} s`;
}

for (const drill of [...new Set(runs.map((r) => r.drill))]) {
  const these = runs.filter((r) => r.drill === drill);
  const fo = these.flatMap((r) => r.failovers);
  const fenced = these.flatMap((r) => Object.values(r.fenced));
  const sent = fenced.reduce((n, f) => n + f.sent, 0);
  const refused = fenced.reduce((n, f) => n + f.refused, 0);
  const refusedRuns = these.filter((r) => Object.values(r.fenced).some((f) => f.refused > 0)).length;
  process.stdout.write(
    [
      `${drill}: ${these.length} runs, ${these.reduce((n, r) => n + r.violations, 0)} writes by a non-holder, ${these.reduce((n, r) => n + r.scaleWrites, 0)} /scale writes`,
      `  takeover (old holder's last renewal → new holder's Lease write): ${stats(fo.map((f) => f.takeoverMs))}`,
      `  failover (old holder's last renewal → new holder's first poll, its first read of the target): ${stats(fo.flatMap((f) => (f.firstPollMs === undefined ? [] : [f.firstPollMs])))}`,
      `  renewals by the new holder before its first poll: ${fo.map((f) => f.renewalsBeforeFirstPoll ?? '-').join(' ')}`,
      `  first write (old holder's last renewal → new holder's first write, when the backlog asked for one): ${stats(fo.flatMap((f) => (f.firstWriteMs === undefined ? [] : [f.firstWriteMs])))}`,
      `  writes through the fence: ${sent + refused} attempted, ${refused} refused (in ${refusedRuns} of ${these.length} runs)`,
      '',
    ].join('\n'),
  );
}
