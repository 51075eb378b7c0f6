// Benchmark: one operator process, one NATS, the local API server, N EventConsumers (default
// 1,000) at a 5 s poll interval. Reports CPU per reconcile, resident memory, and whether every
// EventConsumer is polled on time (reconciles per window against the schedule, and how late polls
// start). Starts its own nats-server and namespace, reuses the dev stack's API server (.dev/env or
// JETSCALE_TEST_ENV), cleans up and stops by itself.
//   npx tsx operator/bench/bench-operator.ts
// BENCH_COUNT, BENCH_SECONDS, BENCH_POLL vary the load; BENCH_NODE_FLAGS passes flags to node;
// BENCH_OPERATOR runs a given build's dist/operator/src/main.js instead of building this checkout.
// BENCH_BUSY=1 makes every EventConsumer busy: a message arrives for each every second, so its
// backlog and rates change at every poll (the EventConsumers are paused, so no pods start; they
// still read, decide and report). The report gives status writes per minute and the API server's
// own request counts; JETSCALE_STATUS_READINGS_SECONDS, _RATES_SECONDS, _READINGS_PER_SECOND and
// JETSCALE_WORKERS are passed to the operator; BENCH_OPERATOR=<checkout>/dist/operator/src/main.js
// measures another build (before/after).
// BENCH_LOAD=idle: no messages at all (every EventConsumer idle at zero replicas). BENCH_LOAD=moving:
// the EventConsumers are not paused and their backlogs move: each gets BENCH_MOVING_HIGH msg/s
// (default 20) for 40 s of every 120 s and BENCH_MOVING_LOW (default 2) otherwise, the cycles
// staggered across EventConsumers, and the bench consumes and acks for the Deployment's ready
// replicas, BENCH_REPLICA_RATE msg/s each (default 5): the operator scales up and down as in
// production. Both report NATS reads and API requests per EventConsumer per minute (issue 13: what
// the adaptive poll costs on the real operator); use a small BENCH_COUNT (e.g. 20) for these.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { readEnvFile } from '../../hack/stack/stack.js';
import { startNatsServer } from '../../hack/stack/nats-server.js';
import { freePort } from '../../hack/stack/ports.js';
import { repoRoot, toolPath } from '../../hack/stack/tools.js';
import { eventConsumersPath } from '../src/api/v1alpha1/group-version.js';
import { KubeApiClient } from '../src/kube/api-client.js';

const COUNT = Number(process.env.BENCH_COUNT ?? 1000);
const MEASURE_SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const POLL_SECONDS = Number(process.env.BENCH_POLL ?? 5);
const BUSY = process.env.BENCH_BUSY === '1';
const LOAD = process.env.BENCH_LOAD ?? '';
if (!['', 'idle', 'moving'].includes(LOAD))
  throw new Error(
    `BENCH_LOAD=${LOAD}: expected idle or moving (or unset: 5 % of the EventConsumers with a backlog)`,
  );
if (LOAD !== '' && BUSY) throw new Error('BENCH_LOAD and BENCH_BUSY=1 exclude each other');
const MOVING = LOAD === 'moving';
const positiveEnv = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${raw}: expected a number ≥ 0`);
  return n;
};
const MOVING_HIGH = positiveEnv('BENCH_MOVING_HIGH', 20);
const MOVING_LOW = positiveEnv('BENCH_MOVING_LOW', 2);
const REPLICA_RATE = positiveEnv('BENCH_REPLICA_RATE', 5);
const MOVING_CYCLE_SECONDS = 120;
const MOVING_HIGH_SECONDS = 40;
const MOVING_MAX_REPLICAS = 10;
const WITH_BACKLOG = BUSY || LOAD !== '' ? 0 : Math.min(COUNT, Math.ceil(COUNT / 20));
const CONCURRENCY = 16;
const RECOMMENDED_NODE_FLAGS = '--max-old-space-size=128 --max-semi-space-size=4';

const log = (msg: string): void => {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

async function inBatches<T>(items: T[], work: (item: T) => Promise<void>, label: string): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
      done++;
      if (done % 250 === 0 || done === items.length) log(`${label}: ${done}/${items.length}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

/** CPU seconds (user + system) and resident bytes of a process, from /proc. */
function processUsage(pid: number): { cpuSeconds: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  const hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  return { cpuSeconds: ticks / hz, rssBytes: rssKb * 1024 };
}

/** The value below which `q` of a histogram's observations fall (the upper bound of that bucket). */
function histogramQuantile(buckets: Array<{ le: number; count: number }>, q: number): number {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total === 0) return 0;
  return sorted.find((b) => b.count >= q * total)?.le ?? Infinity;
}

/** The API server's own count of requests (apiserver_request_total) by verb, resource and subresource. */
async function apiServerRequests(api: KubeApiClient): Promise<Map<string, number>> {
  const text = await api.request<string>('GET', '/metrics');
  const counts = new Map<string, number>();
  for (const line of String(text).split('\n')) {
    const m = /^apiserver_request_total\{([^}]*)\}\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries(
      [...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
    );
    const key = `${labels.verb ?? ''} ${labels.resource ?? ''}${labels.subresource ? `/${labels.subresource}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(m[2]));
  }
  return counts;
}

/** Sums a Prometheus metric (all series) from the text exposition. */
function metricSum(text: string, name: string, match: (labels: string) => boolean = () => true): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m && m[1] === name && match(m[2] ?? '')) sum += Number(m[3]);
  }
  return sum;
}

function kubeconfigPath(): string {
  const envFile = process.env.JETSCALE_TEST_ENV ?? path.join(repoRoot, '.dev/env');
  if (existsSync(envFile)) {
    const env = readEnvFile(envFile);
    if (env.KUBECONFIG) return env.KUBECONFIG;
  }
  if (process.env.KUBECONFIG) return process.env.KUBECONFIG;
  throw new Error('no API server: run `make dev-up` first (the benchmark reuses .dev/env) or set KUBECONFIG');
}

/**
 * Builds the operator (so the benchmark measures the current source) and returns its entry point;
 * BENCH_OPERATOR=path/to/main.js runs another build instead (such as main's, for a before/after).
 */
function operatorCommand(): string[] {
  const other = process.env.BENCH_OPERATOR;
  if (other !== undefined && other !== '') {
    if (!existsSync(other)) throw new Error(`BENCH_OPERATOR=${other}: no such file`);
    log(`running the operator built at ${other}`);
    return [other];
  }
  const built = path.join(repoRoot, 'dist/operator/src/main.js');
  log('building the operator (tsc -p tsconfig.build.json)');
  try {
    execFileSync(
      process.execPath,
      [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      { cwd: repoRoot, stdio: 'ignore' },
    );
  } catch {
    log('tsc reported type errors (possibly outside the operator); using what it emitted');
  }
  if (!existsSync(built)) throw new Error(`${built} was not built: run npm run build`);
  return [built];
}

async function main(): Promise<void> {
  const kubeconfig = kubeconfigPath();
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = new KubeApiClient(kc);
  const namespace = `bench-${Math.random().toString(16).slice(2, 8)}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-bench-'));
  let operator: ChildProcess | undefined;
  const nats = await startNatsServer({ dir });
  log(
    `nats-server on ${nats.url}; ${COUNT} EventConsumers at a ${POLL_SECONDS}s poll interval in namespace ${namespace}`,
  );
  try {
    execFileSync(
      toolPath('kubectl'),
      [
        'apply',
        '--server-side',
        '--force-conflicts',
        '--field-manager=jetscale-bench',
        '-f',
        path.join(repoRoot, 'manifests/crd/jetscale.io_eventconsumers.yaml'),
      ],
      {
        env: { ...process.env, KUBECONFIG: kubeconfig },
        stdio: 'ignore',
      },
    );
    await api.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    });

    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'BENCH', subjects: ['bench.>'] });
    const ids = Array.from({ length: COUNT }, (_, i) => i);
    await inBatches(
      ids,
      async (i) => {
        await jsm.consumers.add('BENCH', {
          durable_name: `c${i}`,
          ack_policy: AckPolicy.Explicit,
          filter_subject: `bench.${i}`,
        });
      },
      'JetStream consumers',
    );
    const js = jetstream(nc);
    for (let i = 0; i < WITH_BACKLOG; i++) for (let m = 0; m < 150; m++) await js.publish(`bench.${i}`, 'x');
    log(`published 150 messages to each of ${WITH_BACKLOG} consumers (the rest stay idle at zero replicas)`);

    await inBatches(
      ids,
      async (i) => {
        await api.request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
          body: {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: `w${i}` },
            spec: {
              replicas: 0,
              selector: { matchLabels: { app: `w${i}` } },
              template: {
                metadata: { labels: { app: `w${i}` } },
                spec: { containers: [{ name: 'w', image: 'jetscale/fake-worker' }] },
              },
            },
          },
        });
      },
      'Deployments',
    );
    await inBatches(
      ids,
      async (i) => {
        await api.request('POST', eventConsumersPath(namespace), {
          body: {
            apiVersion: 'jetscale.io/v1alpha1',
            kind: 'EventConsumer',
            metadata: { name: `ec${i}` },
            spec: {
              scaleTargetRef: { name: `w${i}` },
              nats: { servers: [nats.url], stream: 'BENCH', consumer: `c${i}` },
              minReplicas: 0,
              maxReplicas: MOVING ? MOVING_MAX_REPLICAS : 3,
              pollInterval: `${POLL_SECONDS}s`,
              ...(BUSY ? { paused: true } : {}),
            },
          },
        });
      },
      'EventConsumers',
    );

    const port = await freePort();
    // The flags operator/README.md recommends for the container (NODE_OPTIONS); BENCH_NODE_FLAGS=""
    // measures node's defaults instead.
    const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? RECOMMENDED_NODE_FLAGS)
      .split(' ')
      .filter((f) => f !== '');
    log(`operator node flags: ${nodeFlags.join(' ') || '(node defaults)'}`);
    const child = spawn(process.execPath, [...nodeFlags, ...operatorCommand()], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        KUBECONFIG: kubeconfig,
        JETSCALE_NAMESPACES: namespace,
        JETSCALE_LEADER_ELECTION: 'false',
        JETSCALE_METRICS_HOST: '127.0.0.1',
        JETSCALE_METRICS_PORT: String(port),
        JETSCALE_LOG_LEVEL: 'warn',
        JETSCALE_POD_NAME: 'bench',
        // The status cadence and budget may be varied from the environment (operator/README.md).
        ...Object.fromEntries(
          [
            'JETSCALE_STATUS_READINGS_SECONDS',
            'JETSCALE_STATUS_RATES_SECONDS',
            'JETSCALE_STATUS_READINGS_PER_SECOND',
            'JETSCALE_WORKERS',
          ].flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]]])),
        ),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    operator = child;
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const pid = child.pid;
    if (pid === undefined) throw new Error('the operator did not start');
    // An operator that exits (a crash, out of memory) ends the benchmark with its last words.
    let exited: string | undefined;
    child.once('exit', (code, signal) => {
      exited = `the operator exited (code ${code}, signal ${signal}); its last output:\n${output.split('\n').slice(-15).join('\n')}`;
    });
    const alive = (): void => {
      if (exited !== undefined) throw new Error(exited);
    };
    await waitForMetrics(port);
    const scrape = async (): Promise<string> => {
      // A loaded machine may drop a scrape now and then: three tries, and an exit is seen.
      for (let attempt = 1; ; attempt++) {
        alive();
        try {
          return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        } catch (err) {
          await sleep(1000);
          alive();
          if (attempt >= 3)
            throw new Error(
              `scraping the operator's metrics failed 3 times: ${err instanceof Error ? `${err.message} (${String(err.cause)})` : String(err)}`,
            );
        }
      }
    };
    log(
      `operator pid ${pid}, metrics on 127.0.0.1:${port}; waiting until every EventConsumer has been reconciled once and the queue is empty`,
    );
    // Busy: one message per EventConsumer per second, from now until the end of the measurement.
    let arrivals: NodeJS.Timeout | undefined;
    if (BUSY) {
      arrivals = setInterval(() => {
        for (let i = 0; i < COUNT; i++) nc.publish(`bench.${i}`, 'x');
      }, 1000);
      log(`busy: publishing one message per EventConsumer per second (${COUNT} msg/s)`);
    }
    let stopMoving: (() => Promise<void>) | undefined;
    if (MOVING) stopMoving = await startMovingLoad(nc, api, namespace, ids);
    const launched = Date.now();
    for (;;) {
      await sleep(1000);
      const m = await scrape();
      const done = metricSum(m, 'jetscale_reconcile_duration_seconds_count');
      const queued = metricSum(m, 'jetscale_work_queue_depth');
      // Busy EventConsumers poll as often as the policy asks (down to 1 s): the queue need not empty.
      if (done >= COUNT && (queued === 0 || BUSY || MOVING)) break;
      if (Date.now() - launched > 180_000)
        throw new Error(`the operator did not catch up within 180 s (${done} reconciles, ${queued} queued)`);
    }
    const catchUpSeconds = (Date.now() - launched) / 1000;
    log(`caught up ${catchUpSeconds.toFixed(1)} s after start (every EventConsumer polled once)`);
    // Each new EventConsumer's first status (and what users act on that changed since) goes in the
    // state lane, unbudgeted: wait until that lane is empty, or the steady state would count the
    // tail of start-up (1,000 first statuses take tens of seconds at the API server's pace).
    for (;;) {
      const m = await scrape();
      const stateWaiting = metricSum(m, 'jetscale_status_writes_waiting', (l) => l.includes('lane="state"'));
      if (stateWaiting === 0) break;
      if (Date.now() - launched > 300_000)
        throw new Error(
          `status writes of what users act on still waiting (${stateWaiting}) 300 s after start`,
        );
      await sleep(1000);
    }
    const settledSeconds = (Date.now() - launched) / 1000;
    log(
      `first statuses written ${settledSeconds.toFixed(1)} s after start; measuring steady state for ${MEASURE_SECONDS}s`,
    );
    await sleep(POLL_SECONDS * 1000);
    if (MOVING) {
      // One whole cycle first, so the window starts with replicas the load has already moved.
      log(`moving: one ${MOVING_CYCLE_SECONDS} s cycle before the window starts`);
      await sleep(MOVING_CYCLE_SECONDS * 1000);
    }
    const startUsage = processUsage(pid);
    const startMetrics = await scrape();
    const startApi = await apiServerRequests(api);
    const startLoad = os.loadavg()[0] ?? 0;
    const started = Date.now();
    let peakRss = startUsage.rssBytes;
    while (Date.now() - started < MEASURE_SECONDS * 1000) {
      await sleep(5000);
      const u = processUsage(pid);
      peakRss = Math.max(peakRss, u.rssBytes);
      const m = await scrape();
      const done =
        metricSum(m, 'jetscale_reconcile_duration_seconds_count') -
        metricSum(startMetrics, 'jetscale_reconcile_duration_seconds_count');
      log(
        `${Math.round((Date.now() - started) / 1000)}s: ${done} reconciles, RSS ${(u.rssBytes / 2 ** 20).toFixed(1)} MiB, CPU ${(u.cpuSeconds - startUsage.cpuSeconds).toFixed(2)} s, queue ${metricSum(m, 'jetscale_work_queue_depth')}`,
      );
    }
    const endUsage = processUsage(pid);
    const endMetrics = await scrape();
    const endApi = await apiServerRequests(api);
    const replicasAtEnd = MOVING ? await readyReplicas(api, namespace) : undefined;
    // Pending + awaiting ack of every consumer: shows whether the bench's consumption kept up.
    let backlogAtEnd = 0;
    if (MOVING)
      for (const i of ids) {
        const info = await jsm.consumers.info('BENCH', `c${i}`);
        backlogAtEnd += info.num_pending + info.num_ack_pending;
      }
    if (arrivals) clearInterval(arrivals);
    if (stopMoving) await stopMoving();
    const elapsed = (Date.now() - started) / 1000;
    const delta = (name: string, match?: (labels: string) => boolean): number =>
      metricSum(endMetrics, name, match) - metricSum(startMetrics, name, match);
    const reconciles = delta('jetscale_reconcile_duration_seconds_count');
    const failedReconciles = delta('jetscale_reconcile_duration_seconds_count', (l) =>
      l.includes('result="error"'),
    );
    const expected = (COUNT * elapsed) / POLL_SECONDS;
    const polls = delta('jetscale_poll_delay_seconds_count');
    const onTime = delta('jetscale_poll_delay_seconds_bucket', (l) => l.includes('le="1"'));
    const late = polls - onTime;
    const cpu = endUsage.cpuSeconds - startUsage.cpuSeconds;
    const errors = metricSum(endMetrics, 'jetscale_errors_total');
    const scaled = metricSum(endMetrics, 'jetscale_scale_events_total');
    // Status writes: PATCHes that were not /scale changes (also right for operators that predate
    // jetscale_status_writes_total).
    const statusWrites =
      delta('jetscale_kube_request_duration_seconds_count', (l) => l.includes('verb="PATCH"')) -
      delta('jetscale_scale_events_total');
    const meanReconcileMs =
      (1000 * delta('jetscale_reconcile_duration_seconds_sum')) / Math.max(1, reconciles);

    const delayBuckets = [
      ...new Set(
        endMetrics
          .split('\n')
          .flatMap((l) => /^jetscale_poll_delay_seconds_bucket\{.*le="([^"]+)"/.exec(l)?.[1] ?? []),
      ),
    ].map((le) => ({
      le: le === '+Inf' ? Infinity : Number(le),
      count: delta('jetscale_poll_delay_seconds_bucket', (l) => l.includes(`le="${le}"`)),
    }));
    const delayP99 = histogramQuantile(delayBuckets, 0.99);
    const writesPerMinute = (60 * statusWrites) / elapsed;
    const cpuShare = cpu / elapsed;
    // The verdicts, each with its bound. Status writes: what users act on is written at once (a
    // paused, busy EventConsumer has none of that), readings within the operator's budget of
    // STATUS_WRITES_PER_SECOND (default 2/s): 120/min however many EventConsumers, + 25 % slack.
    const readingsBudgetPerMinute = 60 * Number(process.env.JETSCALE_STATUS_READINGS_PER_SECOND ?? 2);
    const verdicts: Array<[string, boolean]> = [
      [`polls on schedule: ≤ 0.1 % start > 1 s late (p99 ≤ 1 s)`, late <= 0.001 * polls],
      [`reconciles ≥ 97 % of the schedule`, reconciles >= 0.97 * expected],
      ['no failed reconciles', failedReconciles === 0],
      // Moving EventConsumers write their status whenever the replicas they ask for change (the
      // state lane, unbudgeted by design): the readings budget bounds the readings lane only.
      ...(MOVING
        ? []
        : [
            [
              `status writes ≤ ${Math.round(1.25 * readingsBudgetPerMinute)}/min`,
              writesPerMinute <= 1.25 * readingsBudgetPerMinute,
            ] as [string, boolean],
          ]),
      ['CPU ≤ 50 % of one core', cpuShare <= 0.5],
      ['resident memory < 200 MiB', peakRss < 200 * 2 ** 20],
    ];
    const ok = verdicts.every(([, passed]) => passed);
    log('results');
    const minutes = elapsed / 60;
    const perEcMinute = (n: number): string => (n / COUNT / minutes).toFixed(1);
    const natsReads = delta('jetscale_nats_request_duration_seconds_count');
    const kubeByVerb = (verb: string): number =>
      delta('jetscale_kube_request_duration_seconds_count', (l) => l.includes(`verb="${verb}"`));
    const kubeAll = delta('jetscale_kube_request_duration_seconds_count');
    const loadLabel = BUSY
      ? ' (busy: 1 msg/s each, paused)'
      : LOAD === 'idle'
        ? ' (idle: no messages)'
        : MOVING
          ? ` (moving: ${MOVING_HIGH} msg/s for ${MOVING_HIGH_SECONDS} s of every ${MOVING_CYCLE_SECONDS} s, ${MOVING_LOW} msg/s otherwise; ${REPLICA_RATE} msg/s per ready replica consumed; maxReplicas ${MOVING_MAX_REPLICAS})`
          : '';
    const rows: Array<[string, string]> = [
      ['EventConsumers', `${COUNT}${loadLabel}`],
      ['poll interval', `${POLL_SECONDS}s`],
      [
        'load average (1 min) start / end',
        `${startLoad.toFixed(1)} / ${(os.loadavg()[0] ?? 0).toFixed(1)} on ${os.cpus().length} cores`,
      ],
      ['start-up catch-up (all polled once)', `${catchUpSeconds.toFixed(1)} s`],
      ['first statuses written (state lane empty)', `${settledSeconds.toFixed(1)} s`],
      ['measured window (steady state)', `${elapsed.toFixed(1)} s`],
      [
        'reconciles (expected on schedule)',
        `${reconciles} (${Math.round(expected)}), ${(reconciles / elapsed).toFixed(1)}/s`,
      ],
      ['polls started > 1 s late', `${late} of ${polls}`],
      ['poll delay p99 (histogram bucket)', delayP99 === Infinity ? '> 10 s' : `≤ ${delayP99} s`],
      ['failed reconciles', String(failedReconciles)],
      [
        'status writes',
        `${statusWrites}, ${((60 * statusWrites) / elapsed).toFixed(0)}/min (${((60 * statusWrites) / elapsed / COUNT).toFixed(2)} per EventConsumer per min; readings cadence ${process.env.JETSCALE_STATUS_READINGS_SECONDS ?? '30'} s)`,
      ],
      [
        'status writes by lane (state / readings)',
        `${delta('jetscale_status_writes_total', (l) => l.includes('lane="state"'))} / ${delta('jetscale_status_writes_total', (l) => l.includes('lane="readings"'))}`,
      ],
      ['mean reconcile latency', `${meanReconcileMs.toFixed(1)} ms`],
      [
        'CPU per reconcile',
        `${((1000 * cpu) / Math.max(1, reconciles)).toFixed(3)} ms (${(100 * cpuShare).toFixed(1)} % of one core)`,
      ],
      [
        'resident memory (end / peak)',
        `${(endUsage.rssBytes / 2 ** 20).toFixed(1)} / ${(peakRss / 2 ** 20).toFixed(1)} MiB`,
      ],
      ...['GET', 'PATCH', 'POST'].map((verb): [string, string] => {
        const n = delta('jetscale_kube_request_duration_seconds_count', (l) => l.includes(`verb="${verb}"`));
        const sum = delta('jetscale_kube_request_duration_seconds_sum', (l) => l.includes(`verb="${verb}"`));
        return [
          `API ${verb} requests (mean latency)`,
          `${n}, ${(n / elapsed).toFixed(1)}/s (${((1000 * sum) / Math.max(1, n)).toFixed(1)} ms)`,
        ];
      }),
      ...[...endApi.entries()]
        .map(([key, n]): [string, number] => [key, n - (startApi.get(key) ?? 0)])
        .filter(([, n]) => n > 0)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([key, n]): [string, string] => [
          `API server: ${key}`,
          `${n}, ${(n / elapsed).toFixed(1)}/s (all clients)`,
        ]),
      [
        'NATS consumer-info mean latency',
        `${((1000 * delta('jetscale_nats_request_duration_seconds_sum')) / Math.max(1, delta('jetscale_nats_request_duration_seconds_count'))).toFixed(2)} ms`,
      ],
      [
        'V8 heap used / total, external',
        `${(metricSum(endMetrics, 'nodejs_heap_size_used_bytes') / 2 ** 20).toFixed(1)} / ${(metricSum(endMetrics, 'nodejs_heap_size_total_bytes') / 2 ** 20).toFixed(1)} MiB, ${(metricSum(endMetrics, 'nodejs_external_memory_bytes') / 2 ** 20).toFixed(1)} MiB`,
      ],
      ['NATS connections', String(metricSum(endMetrics, 'jetscale_nats_connections'))],
      ['scale events so far / errors so far', `${scaled} / ${errors}`],
      ['per EventConsumer per minute: NATS reads', perEcMinute(natsReads)],
      [
        'per EventConsumer per minute: API requests',
        `${perEcMinute(kubeAll)} (GET ${perEcMinute(kubeByVerb('GET'))}, PATCH ${perEcMinute(kubeByVerb('PATCH'))}, POST ${perEcMinute(kubeByVerb('POST'))}, PUT ${perEcMinute(kubeByVerb('PUT'))})`,
      ],
      ['per EventConsumer per minute: scale changes', perEcMinute(delta('jetscale_scale_events_total'))],
      ...(replicasAtEnd === undefined
        ? []
        : [
            [
              'ready replicas / backlog at the end (all EventConsumers)',
              `${replicasAtEnd.total} / ${backlogAtEnd}`,
            ] as [string, string],
          ]),
      ...verdicts.map(([what, passed]): [string, string] => [passed ? 'pass' : 'FAIL', what]),
      ['verdict', ok ? 'PASS' : 'FAIL: see the rows above'],
    ];
    for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(36)} ${v}\n`);
    if (!ok) process.exitCode = 1;
    if (output.includes('"level":"error"'))
      log(
        `operator logged errors:\n${output
          .split('\n')
          .filter((l) => l.includes('"level":"error"'))
          .slice(0, 5)
          .join('\n')}`,
      );
    await nc.close();
  } finally {
    log('cleaning up');
    if (operator && operator.exitCode === null) {
      const exited = new Promise((r) => operator?.once('exit', r));
      operator.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
    }
    await api.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    // Wait for the namespace to go, so a following run does not compete with its garbage collection.
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      const gone = await api.request('GET', `/api/v1/namespaces/${namespace}`).then(
        () => false,
        () => true,
      );
      if (gone) break;
      await sleep(2000);
    }
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
    api.close();
    log('done');
  }
}

/** Ready replicas per Deployment (w<i>) in the namespace, and their sum: one LIST. */
async function readyReplicas(
  api: KubeApiClient,
  namespace: string,
): Promise<{ byIndex: Map<number, number>; total: number }> {
  const list = await api.request<{
    items?: Array<{ metadata?: { name?: string }; status?: { readyReplicas?: number } }>;
  }>('GET', `/apis/apps/v1/namespaces/${namespace}/deployments`);
  const byIndex = new Map<number, number>();
  let total = 0;
  for (const d of list.items ?? []) {
    const m = /^w(\d+)$/.exec(d.metadata?.name ?? '');
    if (!m) continue;
    const ready = d.status?.readyReplicas ?? 0;
    byIndex.set(Number(m[1]), ready);
    total += ready;
  }
  return { byIndex, total };
}

/**
 * BENCH_LOAD=moving: publishes each EventConsumer's moving arrivals (every 250 ms) and, once a
 * second, consumes and acks for its Deployment's ready replicas (REPLICA_RATE msg/s each), so the
 * backlog rises in the high phase and drains after it as pods come. The bench's own LIST of
 * Deployments (1/s) shows in the API server's counts, not in the operator's. Returns a stop function.
 */
async function startMovingLoad(
  nc: Awaited<ReturnType<typeof connect>>,
  api: KubeApiClient,
  namespace: string,
  ids: number[],
): Promise<() => Promise<void>> {
  const js = jetstream(nc);
  const consumers = await Promise.all(ids.map((i) => js.consumers.get('BENCH', `c${i}`)));
  const started = Date.now();
  const owed = new Map<number, number>();
  const rateOf = (i: number, t: number): number => {
    const phase = (t + (i * MOVING_CYCLE_SECONDS) / ids.length) % MOVING_CYCLE_SECONDS;
    return phase < MOVING_HIGH_SECONDS ? MOVING_HIGH : MOVING_LOW;
  };
  const publisher = setInterval(() => {
    const t = (Date.now() - started) / 1000;
    for (const i of ids) {
      const due = (owed.get(i) ?? 0) + rateOf(i, t) * 0.25;
      const whole = Math.floor(due);
      owed.set(i, due - whole);
      for (let m = 0; m < whole; m++) nc.publish(`bench.${i}`, 'x');
    }
  }, 250);
  let running = true;
  let ready = new Map<number, number>();
  // Ready replicas, once a second (one LIST).
  const readyLoop = (async () => {
    while (running) {
      try {
        ready = (await readyReplicas(api, namespace)).byIndex;
      } catch (err) {
        log(`listing Deployments failed (kept the last ready counts): ${String(err)}`);
      }
      await sleep(1000);
    }
  })();
  // Per EventConsumer: REPLICA_RATE msg/s per ready replica, as credit over the time that passed
  // (a fetch waits up to 1 s when fewer messages are there); at most a second's worth is kept, so
  // idle replicas cannot save up work.
  const consumeLoops = ids.map(async (i) => {
    const consumer = consumers[i] as (typeof consumers)[number];
    let credit = 0;
    let last = Date.now();
    while (running) {
      const now = Date.now();
      const perSecond = (ready.get(i) ?? 0) * REPLICA_RATE;
      credit = Math.min(Math.max(perSecond, 1), credit + (perSecond * (now - last)) / 1000);
      last = now;
      const n = Math.floor(credit);
      if (n < 1) {
        await sleep(250);
        continue;
      }
      try {
        const batch = await consumer.fetch({ max_messages: n, expires: 1000 });
        for await (const m of batch) {
          m.ack();
          credit--;
        }
      } catch (err) {
        log(`consuming for w${i} failed: ${String(err)}`);
        await sleep(1000);
      }
    }
  });
  log(
    `moving: ${MOVING_HIGH} msg/s for ${MOVING_HIGH_SECONDS} s of every ${MOVING_CYCLE_SECONDS} s per EventConsumer (${MOVING_LOW} msg/s otherwise), ${REPLICA_RATE} msg/s consumed per ready replica`,
  );
  return async () => {
    clearInterval(publisher);
    running = false;
    await Promise.all([readyLoop, ...consumeLoops]);
  };
}

async function waitForMetrics(port: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    await sleep(250);
  }
  throw new Error(`the operator did not become ready on 127.0.0.1:${port} within 30 s`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
