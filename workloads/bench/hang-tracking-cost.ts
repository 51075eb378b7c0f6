// What the consumer's hung-handler tracking (processor.ts `running`, STUCK_AFTER_MS) costs per event:
// the same loop with and without it, as CPU time (process.cpuUsage, so a loaded machine slows both
// alike), the median of --runs runs of --events events with --in-flight handlers running at once and
// the oldest read every --read-every events (a scrape or a /healthz probe).
// `npx tsx workloads/bench/hang-tracking-cost.ts [--events N] [--runs R] [--in-flight K] [--read-every M]`.
// Not part of make bench-workloads: the cost is far below what that bench resolves.

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`${name} takes a whole number ≥ 1, not ${process.argv[i + 1]}`);
  return v;
};
const events = arg('--events', 2_000_000);
const runs = arg('--runs', 7);
const inFlight = arg('--in-flight', 64);
const readEvery = arg('--read-every', 10_000);

interface Running {
  since: number;
  seq: number;
}

/** CPU nanoseconds per event of one run; `track` adds what the processor does per event. */
function run(track: boolean): number {
  const running = new Set<Running>();
  const slots: (Running | undefined)[] = new Array<Running | undefined>(inFlight);
  let sink = 0;
  const start = process.cpuUsage();
  for (let i = 0; i < events; i++) {
    const slot = i % inFlight;
    const finished = slots[slot];
    if (track) {
      const r = { since: performance.now(), seq: i };
      running.add(r);
      if (finished) running.delete(finished);
      slots[slot] = r;
      if (i % readEvery === 0) sink += running.values().next().value?.seq ?? 0;
    } else {
      if (finished) sink += finished.seq & 1;
      slots[slot] = { since: 0, seq: i };
    }
  }
  const used = process.cpuUsage(start);
  if (sink < 0) console.log(sink); // keeps the loop's work observable
  return ((used.user + used.system) * 1000) / events;
}

function clockRead(): number {
  let sink = 0;
  const start = process.cpuUsage();
  for (let i = 0; i < events; i++) sink += performance.now();
  const used = process.cpuUsage(start);
  if (sink < 0) console.log(sink);
  return ((used.user + used.system) * 1000) / events;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
for (let k = 0; k < 3; k++) {
  // warm up the JIT
  run(true);
  run(false);
}
const tracked: number[] = [];
const bare: number[] = [];
for (let k = 0; k < runs; k++) {
  tracked.push(run(true));
  bare.push(run(false));
}
const clock = median(Array.from({ length: runs }, clockRead));
const t = median(tracked);
const b = median(bare);
console.log(
  `hung-handler tracking: ${(t - b).toFixed(0)} ns of CPU per event more (tracked ${t.toFixed(0)}, without ${b.toFixed(0)}; ` +
    `one performance.now() ${clock.toFixed(0)} ns), median of ${runs} runs of ${events} events, ${inFlight} in flight`,
);
