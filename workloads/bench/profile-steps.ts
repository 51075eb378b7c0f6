// Splits a V8 CPU profile of the consumer (`bench-workloads.ts --profile DIR`, or `node --cpu-prof`) into
// the steps of the full path, so the profile reads as CPU per step rather than per function:
//
//   npx tsx workloads/bench/profile-steps.ts <file.cpuprofile> [--from S] [--to S] [--client-us N [--system-us N]]
//
// (bench-workloads.ts --profile DIR prints this table itself for each full phase, over its timed window.)
//
// Each sample goes to the innermost frame of its stack that names a step (rules below, leaf first),
// so a TextEncoder call under msg.ack() is the ack's, the same call under the publisher's send is the
// append's. --from/--to keep the samples between those seconds of the profile (drop start-up and the
// tail). The V8 profiler samples wall-clock time while the thread runs JavaScript or native code,
// including time the thread waits preempted inside a system call: on a busy machine the socket write
// (nats.js's flush) collects such samples, so the shares are given without it as well, and with
// --client-us (the consumer's CPU per event from /proc in the same run) each share becomes µs per event.
// No NATS here: pure over the profile's JSON (profile-steps.test.ts).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** What `node --cpu-prof` writes (the fields used here). */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export const STEP_NAMES = [
  'socket write',
  'garbage collection',
  'receive (nats.js parser, consume())',
  'msg.info (reply subject parsed)',
  'decode + validate the event',
  'schedule (per-aggregate order)',
  'work (simulated handler)',
  'fold + cache',
  'append: entry, headers, publish',
  'PubAck',
  'projection write',
  'ack',
  'metrics',
  'handle (processor)',
  'other (runtime, timers, microtasks)',
] as const;
export type StepName = (typeof STEP_NAMES)[number];

interface Rule {
  step: StepName;
  /** The frame's function name; any when absent. */
  fn?: RegExp;
  /** A part of the frame's url; any (including none) when absent. */
  url?: string;
  /** Taken only when no other rule matches any frame of the stack (generic nats.js code under a step is that step's). */
  fallback?: boolean;
}

/**
 * Leaf first: the first frame (from the sample's own frame towards the root) that some rule matches names
 * the sample's step; within a frame the first matching rule wins.
 */
const RULES: Rule[] = [
  { step: 'socket write', fn: /^(writeBuffer|writev|writeUtf8String|writeLatin1String)$/, url: '' },
  { step: 'garbage collection', fn: /^\(garbage collector\)$/ },
  { step: 'ack', fn: /^(ack|doAck|nak|term)$/, url: '@nats-io/jetstream/lib/jsmsg' },
  {
    step: 'msg.info (reply subject parsed)',
    fn: /^(parseInfo|get info|get seq)$/,
    url: '@nats-io/jetstream/lib/jsmsg',
  },
  { step: 'decode + validate the event', fn: /^decodeStoredEvent$/ },
  { step: 'metrics', url: 'prom-client' },
  { step: 'metrics', url: 'shared/folded-histogram' },
  { step: 'metrics', url: 'consumer/metrics' },
  { step: 'PubAck', fn: /^(answer|pubAckOf)$/, url: 'shared/js-publisher' },
  { step: 'projection write', url: 'consumer/projection-writer' },
  {
    step: 'projection write',
    fn: /^(flushPending|flushOne|trySave|settle|worker|lowWater)$/,
    url: 'consumer/event-store',
  },
  {
    step: 'fold + cache',
    fn: /^(foldEntry|remember|keepPending|markPending|fromCache|observeLogSeq|isoNow)$/,
  },
  { step: 'append: entry, headers, publish', url: 'shared/js-publisher' },
  { step: 'append: entry, headers, publish', fn: /^(apply|eventLogSubject|eventLogAggregateFilter)$/ },
  { step: 'work (simulated handler)', url: 'consumer/work' },
  { step: 'schedule (per-aggregate order)', url: 'consumer/scheduler' },
  { step: 'receive (nats.js parser, consume())', fn: /^run$/, url: 'consumer/processor' },
  { step: 'handle (processor)', url: 'consumer/processor' },
  { step: 'receive (nats.js parser, consume())', url: '@nats-io/', fallback: true },
];

function matches(rule: Rule, frame: { functionName: string; url: string }): boolean {
  if (rule.fn && !rule.fn.test(frame.functionName)) return false;
  if (rule.url === '' && frame.url !== '') return false;
  if (rule.url && !frame.url.includes(rule.url)) return false;
  return true;
}

/** Frames that are not work: the profiler's idle and "(program)" (time outside any JavaScript). */
const NOT_BUSY = new Set(['(idle)', '(program)', '(root)']);

export interface StepShares {
  /** Busy milliseconds sampled per step. */
  ms: Map<StepName, number>;
  /** All busy milliseconds sampled in the window. */
  totalMs: number;
}

/** Busy time per step in the samples between `fromS` and `toS` seconds after the profile's start. */
export function stepsOf(profile: CpuProfile, fromS = 0, toS = Infinity): StepShares {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stepOfNode = new Map<number, StepName>();
  const stepOf = (id: number): StepName => {
    const known = stepOfNode.get(id);
    if (known) return known;
    let step: StepName | undefined;
    for (const fallback of [false, true]) {
      for (let cur: number | undefined = id; cur !== undefined && !step; cur = parent.get(cur)) {
        const frame = byId.get(cur)?.callFrame;
        step = frame && RULES.find((r) => (r.fallback ?? false) === fallback && matches(r, frame))?.step;
      }
      if (step) break;
    }
    step ??= 'other (runtime, timers, microtasks)';
    stepOfNode.set(id, step);
    return step;
  };
  const ms = new Map<StepName, number>(STEP_NAMES.map((s) => [s, 0]));
  let totalMs = 0;
  let at = 0; // µs since the profile's start
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < fromS * 1e6 || at > toS * 1e6) continue;
    const id = profile.samples[i] as number;
    const name = byId.get(id)?.callFrame.functionName ?? '';
    if (NOT_BUSY.has(name)) continue;
    const step = stepOf(id);
    ms.set(step, (ms.get(step) ?? 0) + delta / 1000);
    totalMs += delta / 1000;
  }
  return { ms, totalMs };
}

/**
 * A markdown table: each step's share of the busy samples, and without the socket write. With `clientUs`
 * (the process's CPU per event) each share without the socket write becomes µs per event; with `systemUs`
 * (its system CPU per event, from /proc) the socket write row is that system time (every system call,
 * reads included) and the other rows share the user time, `clientUs − systemUs`.
 */
export function stepsTable(shares: StepShares, clientUs?: number, systemUs?: number): string {
  const write = shares.ms.get('socket write') ?? 0;
  const rest = shares.totalMs - write;
  const userUs = clientUs === undefined ? undefined : clientUs - (systemUs ?? 0);
  const head =
    clientUs === undefined
      ? ''
      : ` µs per event (of ${clientUs}${systemUs === undefined ? '' : `, ${systemUs} of it system time`}) |`;
  const lines = [
    `| step | share of busy samples | without the socket write |${head}`,
    `| --- | ---: | ---: |${clientUs === undefined ? '' : ' ---: |'}`,
  ];
  for (const step of STEP_NAMES) {
    const v = shares.ms.get(step) ?? 0;
    const all = shares.totalMs > 0 ? (100 * v) / shares.totalMs : 0;
    const without = step === 'socket write' || rest <= 0 ? undefined : (100 * v) / rest;
    let us = '—';
    if (userUs !== undefined && without !== undefined) us = ((without / 100) * userUs).toFixed(1);
    else if (step === 'socket write' && systemUs !== undefined) us = `${systemUs.toFixed(1)} (system time)`;
    lines.push(
      `| ${step} | ${all.toFixed(1)} % | ${without === undefined ? '—' : without.toFixed(1) + ' %'} |${clientUs === undefined ? '' : ` ${us} |`}`,
    );
  }
  return lines.join('\n');
}

function parseArgs(argv: string[]): {
  file: string;
  from: number;
  to: number;
  clientUs?: number;
  systemUs?: number;
} {
  let file = '';
  let from = 0;
  let to = Infinity;
  let clientUs: number | undefined;
  let systemUs: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0)
        throw new Error(`${a} needs a number ≥ 0, got ${argv[i] ?? '(nothing)'}`);
      return v;
    };
    if (a === '--from') from = num();
    else if (a === '--to') to = num();
    else if (a === '--client-us') clientUs = num();
    else if (a === '--system-us') systemUs = num();
    else if (a.startsWith('--'))
      throw new Error(`unknown flag ${a} (--from S, --to S, --client-us N, --system-us N)`);
    else file = a;
  }
  if (!file)
    throw new Error(
      'usage: profile-steps.ts <file.cpuprofile> [--from S] [--to S] [--client-us N [--system-us N]]',
    );
  if (to <= from) throw new Error(`--to (${to}) must be after --from (${from})`);
  if (systemUs !== undefined && (clientUs === undefined || systemUs > clientUs))
    throw new Error('--system-us needs --client-us, and at most that');
  return { file, from, to, clientUs, systemUs };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const o = parseArgs(process.argv.slice(2));
  const profile = JSON.parse(readFileSync(o.file, 'utf8')) as CpuProfile;
  const shares = stepsOf(profile, o.from, o.to);
  console.log(`busy ${shares.totalMs.toFixed(0)} ms sampled between ${o.from} and ${o.to} s`);
  console.log(stepsTable(shares, o.clientUs, o.systemUs));
}
