// Pure helpers of the workloads benchmark: the summary of phases repeated in interleaved rounds
// (median and spread), ratios paired within a round, the order of the phases in each round, and the
// command line, validated. No I/O here, so all of it is unit-tested (stats.test.ts).

/** Median, smallest and largest of the values of one quantity over the rounds. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function median(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2 === 1
    ? (finite[mid] as number)
    : ((finite[mid - 1] as number) + (finite[mid] as number)) / 2;
}

/** Median and range of the finite values (a phase that could not be timed gives NaN and is left out). */
export function summarize(values: readonly number[]): Summary {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), n: finite.length };
}

/**
 * `a[i] / b[i]` for each round i: a ratio between two phases is taken within a round (same minutes,
 * same load), then summarized — never as a ratio of two medians, which would pair different rounds.
 */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length)
    throw new Error(`paired ratios need as many values on both sides (${a.length} vs ${b.length})`);
  return a.map((x, i) => x / (b[i] as number));
}

/**
 * The phases of round `round` (0-based): in the given order in even rounds, reversed in odd ones
 * (A B C, C B A, A B C …), so a load that drifts during a round favours no phase over the rounds.
 */
export function roundOrder<T>(phases: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...phases] : [...phases].reverse();
}

const grouped = (n: number, digits: number) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** "1,234 (1,100–1,300)": median, then the range over the rounds; "—" when nothing was timed. */
export function formatSummary(s: Summary, digits = 0, scale = 1): string {
  if (s.n === 0) return '—';
  const f = (n: number) => grouped(n * scale, digits);
  return s.n === 1 ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

/** A percentage summary, "23 % (20–27)". */
export function formatPercent(s: Summary): string {
  return s.n === 0 ? '—' : `${formatSummary(s, 0, 100).replace(' (', ' % (')}${s.n === 1 ? ' %' : ''}`;
}

/**
 * The gateway against a bare publisher by CPU: the publisher's µs per event ÷ the gateway's (server and
 * gateway process) for the same stores, as a percentage; 100 % = the HTTP path adds nothing. Both come
 * from one run, so the share moves far less with the machine's load than a share of events/s does.
 * '—' when either figure is missing.
 */
export function cpuShare(publisherUs: number, gatewayUs: number | undefined): string {
  if (gatewayUs === undefined || !(gatewayUs > 0) || !(publisherUs > 0)) return '—';
  return `${Math.round((100 * publisherUs) / gatewayUs)} %`;
}

/** Events the ceiling keeps in flight at most (natscli's batch 1,000): the closed loop keeps as many. */
export const CLOSED_LOOP_EVENTS = 1000;
/** Requests at most in flight in the closed loop: single events over this many HTTP connections. */
export const CLOSED_LOOP_MAX_LANES = 100;

/**
 * Requests the gateway's closed loop keeps in flight for a batch size: `CLOSED_LOOP_EVENTS` events
 * (10 requests of 100, 100 of 10), at most `CLOSED_LOOP_MAX_LANES` requests (single events: 100).
 */
export function closedLoopLanes(batch: number): number {
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch size ${batch}: a positive integer`);
  return Math.max(1, Math.min(CLOSED_LOOP_MAX_LANES, Math.round(CLOSED_LOOP_EVENTS / batch)));
}

/** Consumer phases the bench can run in its interleaved rounds (`old` comes with `--compare`). */
export const CONSUMER_PHASES = [
  'bare',
  'floor',
  'floor-batch',
  'floor-fast',
  'floor-readback',
  'full',
] as const;
export type ConsumerPhase = (typeof CONSUMER_PHASES)[number];
/** The phases run unless `--phases` says otherwise: `floor-fast` and `floor-readback` need nats-server ≥ 2.14, not the pinned one. */
export const DEFAULT_PHASES: readonly ConsumerPhase[] = ['bare', 'floor', 'floor-batch', 'full'];

export interface BenchOptions {
  /** Events stored once, read by every consumer phase with a durable consumer of its own. */
  events: number;
  aggregates: number;
  /** Share of the events (0 ≤ x < 1) that go to `hotAggregates` hot aggregates (a skewed stream). */
  hotShare: number;
  hotAggregates: number;
  concurrency: number;
  /** Length of each consumer phase's timed window. */
  seconds: number;
  /** Events each consumer phase settles before its window opens (JIT, caches and the pull pipeline warm). */
  warmUp: number;
  rounds: number;
  /** Length of each gateway step. */
  gatewaySeconds: number;
  batches: number[];
  /** Events each publish pattern of the ceiling stores, per round. */
  ceilingEvents: number;
  /** The consumer phases to run (`old` is added by `compareDir`). */
  phases: ConsumerPhase[];
  profileDir: string;
  compareDir: string;
  /** Run the consumer and gateway from their TypeScript source (tsx) or from `npm run build`'s dist/. */
  run: 'source' | 'built';
  /**
   * Event-log entries (and the projection folded from them) each aggregate holds before a full (or old)
   * phase starts: the history a consumer that ran for weeks meets. 0: a fresh log per phase.
   */
  prefill: number;
  /**
   * How the gateway's load is sent: `http` (node:http, bodies written out; the default since session 23)
   * or `fetch` (undici's fetch() with each event built and JSON.stringify'd: the bench before). The
   * ladder uses the first; the closed loop runs once with each, so two compare in one run.
   */
  loadGenerators: LoadGenerator[];
}

export const LOAD_GENERATORS = ['http', 'fetch'] as const;
export type LoadGenerator = (typeof LOAD_GENERATORS)[number];

export const benchDefaults: BenchOptions = {
  events: 60_000,
  aggregates: 1000,
  hotShare: 0,
  hotAggregates: 8,
  concurrency: 64,
  seconds: 10,
  warmUp: 2000,
  rounds: 5,
  gatewaySeconds: 5,
  batches: [1, 10, 100],
  ceilingEvents: 10_000,
  phases: [...DEFAULT_PHASES],
  profileDir: '',
  compareDir: '',
  run: 'source',
  prefill: 0,
  loadGenerators: ['http'],
};

const usage =
  'usage: bench-workloads.ts [--events N≥10000] [--aggregates N] [--hot-share 0..<1] [--hot-aggregates N] ' +
  '[--concurrency N] [--seconds S] [--warm-up N] [--rounds N] [--gateway-seconds S] [--batches 1,10,100|none] ' +
  `[--ceiling-events N≥1000] [--phases ${CONSUMER_PHASES.join(',')}] [--profile DIR] [--compare DIR] [--run source|built] [--prefill N] [--load-generators http,fetch]`;

/** Parses and validates the command line; throws an error naming the flag and what to fix. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const o: BenchOptions = {
    ...benchDefaults,
    batches: [...benchDefaults.batches],
    phases: [...benchDefaults.phases],
    loadGenerators: [...benchDefaults.loadGenerators],
  };
  const integer = (flag: string, raw: string, min: number): number => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min)
      throw new Error(`--${flag} must be an integer ≥ ${min}, got '${raw}'. ${usage}`);
    return n;
  };
  const positive = (flag: string, raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n <= 0)
      throw new Error(`--${flag} must be a number of seconds > 0, got '${raw}'. ${usage}`);
    return n;
  };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i] ?? '';
    const raw = argv[i + 1];
    if (!flag.startsWith('--')) throw new Error(`unexpected argument '${flag}'. ${usage}`);
    const name = flag.slice(2);
    if (raw === undefined || raw.startsWith('--')) throw new Error(`${flag} needs a value. ${usage}`);
    switch (name) {
      case 'events':
        o.events = integer(name, raw, 10_000);
        break;
      case 'aggregates':
        o.aggregates = integer(name, raw, 1);
        break;
      case 'hot-aggregates':
        o.hotAggregates = integer(name, raw, 1);
        break;
      case 'hot-share': {
        const n = Number(raw);
        if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1)
          throw new Error(`--hot-share must be a number from 0 to below 1, got '${raw}'. ${usage}`);
        o.hotShare = n;
        break;
      }
      case 'concurrency':
        o.concurrency = integer(name, raw, 1);
        break;
      case 'seconds':
        o.seconds = positive(name, raw);
        break;
      case 'warm-up':
        o.warmUp = integer(name, raw, 1);
        break;
      case 'gateway-seconds':
        o.gatewaySeconds = positive(name, raw);
        break;
      case 'rounds':
        o.rounds = integer(name, raw, 1);
        break;
      case 'batches':
        if (raw === 'none') o.batches = [];
        else {
          const parts = raw.split(',');
          if (parts.some((p) => !['1', '10', '100'].includes(p)))
            throw new Error(
              `--batches must be 'none' or a list of 1, 10 and 100 (e.g. 1,100), got '${raw}'. ${usage}`,
            );
          o.batches = parts.map(Number);
        }
        break;
      case 'ceiling-events':
        o.ceilingEvents = integer(name, raw, 1000);
        break;
      case 'phases': {
        const parts = raw.split(',');
        const known = (p: string): p is ConsumerPhase => (CONSUMER_PHASES as readonly string[]).includes(p);
        if (parts.some((p) => !known(p)) || new Set(parts).size !== parts.length)
          throw new Error(
            `--phases must be a list without repeats of ${CONSUMER_PHASES.join(', ')} (e.g. bare,floor), got '${raw}'. ${usage}`,
          );
        o.phases = parts.filter(known);
        break;
      }
      case 'prefill':
        o.prefill = integer(name, raw, 0);
        break;
      case 'profile':
        o.profileDir = raw;
        break;
      case 'compare':
        o.compareDir = raw;
        break;
      case 'run':
        if (raw !== 'source' && raw !== 'built')
          throw new Error(
            `--run must be 'source' (tsx) or 'built' (npm run build's dist/), got '${raw}'. ${usage}`,
          );
        o.run = raw;
        break;
      case 'load-generators': {
        const parts = raw.split(',');
        if (
          parts.some((p) => !(LOAD_GENERATORS as readonly string[]).includes(p)) ||
          new Set(parts).size !== parts.length
        )
          throw new Error(
            `--load-generators must be a list of ${LOAD_GENERATORS.join(' and ')} without repeats (e.g. http,fetch), got '${raw}'. ${usage}`,
          );
        o.loadGenerators = parts as LoadGenerator[];
        break;
      }
      default:
        throw new Error(`unknown flag ${flag}. ${usage}`);
    }
  }
  if (o.warmUp >= Math.floor(0.9 * o.events))
    throw new Error(
      `--warm-up must be below 90 % of --events (${Math.floor(0.9 * o.events)}: a window closes there), got ${o.warmUp}. ${usage}`,
    );
  return o;
}

/**
 * The aggregate of the i-th stored event: round-robin over `aggregates`, except that a share
 * `hotShare` of the events, spread evenly through the stream, goes round-robin to `hotAggregates`
 * hot ones (`hot-<k>`).
 */
export function aggregateOf(
  i: number,
  o: Pick<BenchOptions, 'aggregates' | 'hotShare' | 'hotAggregates'>,
): string {
  // Event i is hot when the running count of hot events steps up at i (an even spread, no randomness).
  const hot = Math.floor((i + 1) * o.hotShare) > Math.floor(i * o.hotShare);
  if (hot) return `hot-${Math.floor(i * o.hotShare) % o.hotAggregates}`;
  return `agg-${i % o.aggregates}`;
}

/** One step of the gateway's ladder of offered rates, as far as its summary needs it. */
export interface LadderStep {
  offeredEventsPerSecond: number;
  eventsPerSecond: number;
  saturated: boolean;
}

/**
 * A gateway's ladder in two figures: the best step it kept up with (stored ≥ 90 % of the offer with p99
 * ≤ 1 s — a saturated step's events/s come with seconds of latency and 503s, so it is no throughput to
 * set against the ceiling), and the first step it saturated at (none: it kept up with the whole ladder,
 * so the ladder is too short to say).
 */
export function ladderSummary<T extends LadderStep>(steps: readonly T[]): { best?: T; saturatedAt?: T } {
  let best: T | undefined;
  for (const step of steps)
    if (!step.saturated && (!best || step.eventsPerSecond > best.eventsPerSecond)) best = step;
  return { best, saturatedAt: steps.find((step) => step.saturated) };
}
