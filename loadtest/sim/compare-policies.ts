// Paired comparison of default jetscale against variants of its poll and scale-up step: each
// variant runs on the same seeds and traces as the default, one thing changed. Prints, per trace,
// the default's medians (p99, replica-seconds, NATS consumer reads a minute) and per variant the
// paired 95 % interval of variant − default (paired.ts) for p99 and replica-seconds, and its reads
// a minute. The variants of the README's "The read: 2 s while messages flow" table that change
// only the spec (poll ≤ 1 s, +N pods per 15 s), measured against the default of this checkout.
//
//   npx tsx loadtest/sim/compare-policies.ts                              # poll1,up30,up40, 14 seeds
//   npx tsx loadtest/sim/compare-policies.ts --variants poll2,up60 --seeds 6 --traces step,bursty
import { runScript } from './cli.js';
import { defaultScaleUp } from '../../operator/src/scaling/defaults.js';
import type { ScalingSpec } from '../../operator/src/scaling/types.js';
import { benchTraces, DEFAULT_SEEDS, pairedRunOptions } from './bench.js';
import { JetscaleAutoscaler } from './jetscale-autoscaler.js';
import { pairedDifference, signedText, type DifferenceInterval } from './paired.js';
import { endingAt, jetscaleSpec, scenarioOptions, shared } from './scenarios.js';
import { simulate } from './simulator.js';

/** One change to default jetscale: its spec's pollInterval, or the Pods step of its scale-up. */
export interface PolicyVariant {
  /** As given on the command line: `poll<seconds>` or `up<pods>`. */
  name: string;
  label: string;
  pollSeconds?: number;
  scaleUpPods?: number;
}

export const DEFAULT_VARIANTS = 'poll1,up30,up40';

/** Parses `poll1,up40`; refuses anything else, naming what to fix. */
export function parseVariants(value: string): PolicyVariant[] {
  const names = value.split(',').map((v) => v.trim());
  const variants = names.map((name): PolicyVariant => {
    const m = /^(poll|up)(\d+(?:\.\d+)?)$/.exec(name);
    const n = m ? Number(m[2]) : NaN;
    if (!m || !(n > 0)) {
      throw new Error(
        `--variants: "${name}" is not a variant; use poll<seconds> (pollInterval, e.g. poll1) or up<pods> (scale-up step per 15 s, e.g. up40), comma-separated`,
      );
    }
    return m[1] === 'poll'
      ? { name, label: `poll ≤ ${n} s`, pollSeconds: n }
      : { name, label: `+${n} pods per 15 s`, scaleUpPods: n };
  });
  if (new Set(names).size !== names.length) throw new Error(`--variants: "${value}" names a variant twice`);
  return variants;
}

/** The spec a variant runs: the default's, with the Pods scale-up policy's value replaced. */
export function variantSpec(base: ScalingSpec, variant: PolicyVariant | undefined): ScalingSpec {
  if (variant?.scaleUpPods === undefined) return base;
  const rules = base.scaleUp ?? defaultScaleUp;
  return {
    ...base,
    scaleUp: {
      ...rules,
      policies: rules.policies.map((p) =>
        p.type === 'Pods' ? { ...p, value: variant.scaleUpPods ?? p.value } : p,
      ),
    },
  };
}

/** One simulated run, reduced to what the comparison reads. `variant` is undefined for the default. */
export interface PolicyRun {
  trace: string;
  variant: string | undefined;
  seed: number;
  p99WaitSeconds: number;
  replicaSeconds: number;
  consumerReadsPerMinute: number;
}

export interface VariantCell {
  variant: string;
  p99Difference: DifferenceInterval;
  replicaSecondsDifference: DifferenceInterval;
  consumerReadsPerMinute: number;
}

export interface PolicyComparison {
  trace: string;
  /** Medians over seeds of the default. */
  p99: number;
  replicaSeconds: number;
  consumerReadsPerMinute: number;
  cells: VariantCell[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/**
 * Pairs each variant's runs with the default's by trace and seed. Throws when a seed ran under one
 * of them only: an unpaired seed would silently compare different arrivals.
 */
export function comparePolicies(runs: PolicyRun[], variants: string[]): PolicyComparison[] {
  const traces = [...new Set(runs.map((r) => r.trace))];
  return traces.map((trace) => {
    const of = (variant: string | undefined): PolicyRun[] =>
      runs.filter((r) => r.trace === trace && r.variant === variant).sort((x, y) => x.seed - y.seed);
    const base = of(undefined);
    const seedsBase = base.map((r) => r.seed).join(',');
    const cells = variants.map((variant): VariantCell => {
      const v = of(variant);
      const seedsV = v.map((r) => r.seed).join(',');
      if (base.length === 0 || seedsV !== seedsBase) {
        throw new Error(
          `${trace}: the default ran seeds [${seedsBase}], ${variant} ran [${seedsV}]; both need the same seeds`,
        );
      }
      const d = pairedDifference(
        { p99WaitSeconds: v.map((r) => r.p99WaitSeconds), replicaSeconds: v.map((r) => r.replicaSeconds) },
        {
          p99WaitSeconds: base.map((r) => r.p99WaitSeconds),
          replicaSeconds: base.map((r) => r.replicaSeconds),
        },
      );
      return {
        variant,
        p99Difference: d.p99Seconds,
        replicaSecondsDifference: d.replicaSecondsRelative,
        consumerReadsPerMinute: median(v.map((r) => r.consumerReadsPerMinute)),
      };
    });
    return {
      trace,
      p99: median(base.map((r) => r.p99WaitSeconds)),
      replicaSeconds: median(base.map((r) => r.replicaSeconds)),
      consumerReadsPerMinute: median(base.map((r) => r.consumerReadsPerMinute)),
      cells,
    };
  });
}

export function formatPolicyComparison(rows: PolicyComparison[], variants: PolicyVariant[]): string {
  const s2 = (x: number): string => signedText(x, 2);
  const pc = (x: number): string => signedText(100 * x, 1);
  const lines = [
    `| trace | default (p99 s / replica-s / reads a min) | ${variants.map((v) => v.label).join(' | ')} |`,
    `| --- | --- | ${variants.map(() => '---').join(' | ')} |`,
  ];
  for (const r of rows) {
    const cells = r.cells.map((c) => {
      const dp = c.p99Difference;
      const dc = c.replicaSecondsDifference;
      return `${s2(dp.estimate)} s [${s2(dp.low)}, ${s2(dp.high)}], ${pc(dc.estimate)} % [${pc(dc.low)}, ${pc(dc.high)}], ${c.consumerReadsPerMinute.toFixed(0)}`;
    });
    const rs = r.replicaSeconds.toLocaleString('en-US', { maximumFractionDigits: 0 });
    lines.push(
      `| ${r.trace} | ${r.p99.toFixed(2)} / ${rs} / ${r.consumerReadsPerMinute.toFixed(0)} | ${cells.join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

const defaultPods = defaultScaleUp.policies.find((p) => p.type === 'Pods')?.value;
const usage = `usage: compare-policies.ts [--variants v,v] [--seeds N] [--traces a,b]
  --variants v,v  poll<seconds> (the spec's pollInterval) or up<pods> (scale-up Pods step per 15 s)
                  against the default (pollInterval ${shared.jetscalePollSeconds} s, +${defaultPods} pods); default ${DEFAULT_VARIANTS}
  --seeds N       seeds 1..N (default ${DEFAULT_SEEDS}; paired intervals need at least 6)
  --traces a,b    only these traces (step, spike, ramp, diurnal, bursty, recurring, recorded, demo)`;

function main(argv: string[]): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    return;
  }
  const known = new Set(['--variants', '--seeds', '--traces']);
  for (let i = 0; i < argv.length; i += 2) {
    if (!known.has(argv[i] ?? '') || argv[i + 1] === undefined)
      throw new Error(`unexpected argument "${argv[i]}"\n${usage}`);
  }
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const variants = parseVariants(value('--variants') ?? DEFAULT_VARIANTS);
  const { seeds, only } = pairedRunOptions(value, usage);

  const traces = benchTraces();
  for (const note of traces.notes) console.log(`note: ${note}`);
  const runs: PolicyRun[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    for (const original of traces.forSeed(seed)) {
      if (only !== undefined && !only.includes(original.name)) continue;
      const trace = endingAt(original);
      for (const variant of [undefined, ...variants]) {
        const spec = variantSpec(jetscaleSpec(trace, false), variant);
        const autoscaler = new JetscaleAutoscaler(
          spec,
          variant?.pollSeconds ?? shared.jetscalePollSeconds,
          variant?.name ?? 'jetscale',
        );
        const r = simulate(scenarioOptions(trace, seed), autoscaler);
        runs.push({
          trace: original.name,
          variant: variant?.name,
          seed,
          p99WaitSeconds: r.p99WaitSeconds,
          replicaSeconds: r.replicaSeconds,
          consumerReadsPerMinute: autoscaler.requests().consumerReads / (original.durationSeconds / 60),
        });
      }
    }
    process.stderr.write(`seed ${seed}/${seeds} done\n`);
  }
  if (runs.length === 0) throw new Error(`no trace matched --traces ${only?.join(',')}\n${usage}`);
  const names = variants.map((v) => v.name);
  console.log(formatPolicyComparison(comparePolicies(runs, names), variants));
}

runScript(import.meta.url, main);
