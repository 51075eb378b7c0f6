// Prints one policy-fuzzer world's timeline (its spec, segments and every poll: the world's truth,
// what the policy read and decided) and its violations, to see how a violation came about:
//   npx tsx operator/src/scaling/test/print-world.ts <seed> [fromSeconds] [toSeconds]
// FUZZ_CLIENT=<name> runs the world with that client (pull-clients.ts, e.g. 'nats.js fetch() loop':
// how decide.fuzz.test.ts runs its regression worlds) instead of the one it draws. FUZZ_SLOW=1 runs it
// with readings answered late, as decide.fuzz's "(slow readings)" worlds (SLOW_READINGS); FUZZ_ADVERSE=1
// runs its adverse world (adverseWorld: handlers that change 10×, poisoned messages, a paused pod),
// FUZZ_CRON=1 its world sent in bursts (cronWorld), FUZZ_RESTART=1 its world with an operator
// restart (restartingWorld), FUZZ_RESTART=starting one restarted while its pods start
// (startingRestartWorld).
import {
  adverseWorld,
  CLIENTS,
  cronWorld,
  randomWorld,
  restartingWorld,
  runWorld,
  SLOW_READINGS,
  startingRestartWorld,
} from './fuzz-world.js';
import { fifoWaitSeconds, stepViolations, steadyViolations } from './fuzz-invariants.js';
import { asRateState } from '../rates.js';

const [seedArg, fromArg, toArg] = process.argv.slice(2);
const seed = Number(seedArg);
if (!Number.isInteger(seed)) {
  console.error('usage: print-world.ts <seed> [fromSeconds] [toSeconds] (seed: a whole number)');
  process.exit(2);
}
const from = Number(fromArg ?? 0);
const to = Number(toArg ?? Infinity);
const clientName = process.env.FUZZ_CLIENT;
const client = CLIENTS.find((c) => c.name === clientName);
if (clientName !== undefined && client === undefined) {
  console.error(`FUZZ_CLIENT "${clientName}" is none of: ${CLIENTS.map((c) => c.name).join(', ')}`);
  process.exit(2);
}
const world = {
  ...(process.env.FUZZ_ADVERSE === '1'
    ? adverseWorld(seed)
    : process.env.FUZZ_CRON === '1'
      ? cronWorld(seed)
      : process.env.FUZZ_RESTART === '1'
        ? restartingWorld(seed)
        : process.env.FUZZ_RESTART === 'starting'
          ? startingRestartWorld(seed)
          : randomWorld(seed)),
  ...(client === undefined ? {} : { client }),
  ...(process.env.FUZZ_SLOW === '1' ? { slowReadings: SLOW_READINGS } : {}),
};
const run = runWorld(world);
const { segments, spec, ...rest } = world;
console.log(JSON.stringify({ ...rest, client: world.client.name }, null, 0));
console.log(JSON.stringify(spec));
segments.forEach((s, i) =>
  console.log(
    `segment ${i} from ${run.segmentStarts[i]}s: ${s.seconds}s ${s.rate.toFixed(1)}/s ${s.shape}${s.shape === 'clumped' ? ` of ${s.clump}` : s.cron !== undefined ? ` (${s.cron.burstSeconds}s of every ${s.cron.periodSeconds}s)` : ''}, handler ${s.handlerPerSecond}/s`,
  ),
);
// FIFO wait of the message completed last by each poll (at poll resolution).
const waitAt = run.steps.map((_, i) => fifoWaitSeconds(run, i));
let peak = { wait: 0, t: 0 };
run.steps.forEach((s, i) => {
  const wait = waitAt[i] ?? 0;
  if (s.t >= from && s.t <= to && wait > peak.wait) peak = { wait, t: s.t };
});
run.steps.forEach((s, i) => {
  if (s.t < from || s.t > to) return;
  const r = s.decision.rates;
  const h = asRateState(s.decision.history.rates);
  console.log(
    `t=${s.t.toFixed(2)} wait=${(waitAt[i] ?? 0).toFixed(0)} arrived=${s.truth.arrived} pend=${s.sample.pending} ack=${s.sample.ackPending} rep=${s.currentReplicas}/${s.readyReplicas} → ${s.decision.desiredReplicas} (rec ${s.decision.recommendedReplicas}${s.decision.limitedBy ? ` ${s.decision.limitedBy}` : ''}) arr=${r.arrivalPerSecond?.toFixed(1)} conf=${h?.confirmedArrivalPerSecond?.toFixed(1)} last=${h?.lastIntervalArrivalPerSecond?.toFixed(1)} disp=${h?.arrivalDispersion?.toFixed(2)} per=${r.perReplicaPerSecond?.toFixed(1)}${s.applied ? '' : ' NOT APPLIED'} | ${s.decision.reason}`,
  );
});
console.log(`longest wait ${peak.wait.toFixed(1)}s at t=${peak.t.toFixed(1)}`);
const violations = [...stepViolations(run), ...steadyViolations(run)];
console.log(`${violations.length} violations`);
for (const v of violations) console.log(v);
