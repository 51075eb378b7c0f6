// The load of `BENCH_LOAD=moving make bench-operator` (operator/bench/bench-operator.ts) in the
// simulator: one EventConsumer with 20 msg/s for 40 s of every 120 s and 2 msg/s otherwise,
// 5 msg/s per ready replica, maxReplicas 10, a 5 s pollInterval, the spec's other defaults. It
// prints the simulated jetscale's consumer reads and API requests per minute (request-cost.ts), to
// set beside what the real operator did under the same load (operator/README.md "Benchmark").
//   npx tsx loadtest/sim/operator-load.ts [--seeds N] [--startup MIN-MAX] [--minutes M]
import { withScalingDefaults } from '../../operator/src/scaling/defaults.js';
import { JetscaleAutoscaler } from './jetscale-autoscaler.js';
import { defaultWorkload, simulate, type WorkloadModel } from './simulator.js';
import type { Trace } from './traces.js';

export const MOVING = {
  high: 20,
  low: 2,
  cycleSeconds: 120,
  highSeconds: 40,
  perReplica: 5,
  maxReplicas: 10,
};

export function movingTrace(minutes: number): Trace {
  return {
    name: 'operator-moving',
    description: `${MOVING.high}/s for ${MOVING.highSeconds} s of every ${MOVING.cycleSeconds} s, ${MOVING.low}/s otherwise`,
    durationSeconds: minutes * 60,
    rateAt: (t) => (t % MOVING.cycleSeconds < MOVING.highSeconds ? MOVING.high : MOVING.low),
  };
}

function parseArgs(argv: string[]): {
  seeds: number;
  startup: { min: number; max: number };
  minutes: number;
} {
  const out = { seeds: 5, startup: { min: 1, max: 3 }, minutes: 60 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--seeds' && /^\d+$/.test(value) && Number(value) > 0) out.seeds = Number(value);
    else if (flag === '--minutes' && /^\d+$/.test(value) && Number(value) > 0) out.minutes = Number(value);
    else if (flag === '--startup' && /^\d+(\.\d+)?-\d+(\.\d+)?$/.test(value)) {
      const [min, max] = value.split('-').map(Number) as [number, number];
      if (max < min) throw new Error(`--startup ${value}: the maximum is below the minimum`);
      out.startup = { min, max };
    } else
      throw new Error(
        `unknown or invalid argument ${flag} ${value} (--seeds N, --startup MIN-MAX, --minutes M)`,
      );
  }
  return out;
}

function main(): void {
  const { seeds, startup, minutes } = parseArgs(process.argv.slice(2));
  const workload: WorkloadModel = {
    ...defaultWorkload,
    serviceRatePerReplica: MOVING.perReplica,
    inFlightPerReplica: 1,
    startupSeconds: startup,
    terminationSeconds: 1,
  };
  const spec = withScalingDefaults({ minReplicas: 0, maxReplicas: MOVING.maxReplicas });
  for (let seed = 1; seed <= seeds; seed++) {
    const r = simulate(
      {
        seed,
        trace: movingTrace(minutes),
        workload,
        metricStalenessSeconds: 0,
        initialReplicas: 1,
        tickSeconds: 0.25,
      },
      new JetscaleAutoscaler(spec, 5),
    );
    process.stdout.write(
      `seed ${seed}: ${r.consumerReadsPerMinute.toFixed(1)} NATS reads/min, ${r.apiRequestsPerMinute.toFixed(1)} API requests/min, ${((r.scaleEvents / r.durationSeconds) * 60).toFixed(1)} scale changes/min, p99 wait ${r.p99WaitSeconds.toFixed(1)} s\n`,
    );
  }
}

main();
