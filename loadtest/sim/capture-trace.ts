// Turns a harness run (reports/<testid>/result.json from `make demo`, `make e2e` or
// `make loadtest-local`) into a recorded trace for the scaling bench:
//
//   npx tsx loadtest/sim/capture-trace.ts reports/<testid>/result.json [--scale 10] [--out FILE]
//
// The trace is the requests the gateway accepted each second (what entered the stream), × scale.
// Without --out it prints the JSON.

import { readFileSync, writeFileSync } from 'node:fs';
import { recordingFromHarnessResult } from './traces.js';

function usage(problem: string): never {
  process.stderr.write(`${problem}\nusage: capture-trace.ts <result.json> [--scale N] [--out FILE]\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
let input: string | undefined;
let scale = 1;
let out: string | undefined;
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  if (arg === '--scale') {
    scale = Number(args[++i]);
    if (!(scale > 0)) usage('--scale takes a positive number');
  } else if (arg === '--out') out = args[++i] ?? usage('--out needs a file');
  else if (arg !== undefined && !arg.startsWith('--') && input === undefined) input = arg;
  else usage(`unexpected argument ${arg ?? ''}`);
}
if (input === undefined) usage('which result.json?');

const recording = recordingFromHarnessResult(JSON.parse(readFileSync(input, 'utf8')) as unknown, scale);
// One point per line, as Prettier formats it: readable, and a re-capture diffs line by line.
const text = `{\n  "description": ${JSON.stringify(recording.description)},\n  "points": [\n${recording.points
  .map((p) => `    { "t": ${p.t}, "ratePerSecond": ${p.ratePerSecond} }`)
  .join(',\n')}\n  ]\n}\n`;
if (out === undefined) process.stdout.write(text);
else {
  writeFileSync(out, text);
  process.stderr.write(`${recording.points.length} points → ${out}: ${recording.description}\n`);
}
