// The dashboards against real scrapes: the gateway and the consumer run as local processes on the
// test stack's NATS (their own stream names), take a few events, and their /metrics must expose
// every gateway/consumer series a dashboard queries. (The operator's series are checked against
// its real /metrics in operator-chart.int.test.ts; k6 series are external,
// listed in EXTERNAL_SERIES, and cannot be scraped here.)
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { diesWithThisProcess } from '../../hack/stack/dies-with-parent.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { eventually, testStack, uniqueName } from '../env.js';
import { dashboardQueries, loadDashboards, metricNames, namesInScrape } from './promql.js';
import { operatorChart, repoRoot } from './support.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

describe('dashboard queries vs real workload scrapes', () => {
  const suffix = uniqueName('pkgdash').split('-')[1] ?? 'x';
  const names = {
    EVENTS_STREAM: `PKGDASH_${suffix}`,
    EVENTS_SUBJECT_PREFIX: `pkgdash-${suffix}`,
    CONSUMER_NAME: 'processor',
    EVENT_LOG_STREAM: `PKGDASH_LOG_${suffix}`,
    EVENT_LOG_SUBJECT_PREFIX: `pkgdashlog-${suffix}`,
    DLQ_STREAM: `PKGDASH_DLQ_${suffix}`,
    DLQ_SUBJECT_PREFIX: `pkgdashdlq-${suffix}`,
    PROJECTION_BUCKET: `pkgdash_projection_${suffix}`,
  };
  const children: ChildProcess[] = [];
  const outputs = new Map<string, string>();

  function start(component: 'gateway' | 'consumer', port: number): void {
    const workload = diesWithThisProcess(process.execPath, [
      '--import',
      'tsx',
      path.join(repoRoot, 'workloads', 'src', component, 'main.ts'),
    ]);
    const child = spawn(workload.command, workload.args, {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        NATS_URL: testStack().natsUrl,
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'warn',
        ...names,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    outputs.set(component, '');
    const add = (d: Buffer): void =>
      void outputs.set(component, (outputs.get(component) ?? '') + d.toString());
    child.stdout?.on('data', add);
    child.stderr?.on('data', add);
    children.push(child);
  }

  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    const nc = await connect({ servers: testStack().natsUrl });
    const jsm = await jetstreamManager(nc);
    for (const stream of [
      names.EVENTS_STREAM,
      names.EVENT_LOG_STREAM,
      names.DLQ_STREAM,
      `KV_${names.PROJECTION_BUCKET}`,
    ]) {
      await jsm.streams.delete(stream).catch(() => undefined);
    }
    await nc.drain();
  });

  it('every gateway and consumer metric a dashboard queries is in their /metrics', async () => {
    const gatewayPort = await freePort();
    const consumerPort = await freePort();
    start('gateway', gatewayPort);
    start('consumer', consumerPort);
    for (const [component, port] of [
      ['gateway', gatewayPort],
      ['consumer', consumerPort],
    ] as const) {
      await eventually(
        `${component} ready on ${port} (output: ${outputs.get(component)?.slice(-1500) ?? ''})`,
        async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok ? true : undefined),
        60_000,
        250,
      );
    }
    // A few events end to end, so counters and histograms have samples, not only TYPE lines.
    const events = Array.from({ length: 5 }, (_, i) => ({
      type: 'deposit',
      aggregateId: `acct-${i}`,
      payload: { amount: 1 },
      timestamp: new Date().toISOString(),
    }));
    const accepted = await fetch(`http://127.0.0.1:${gatewayPort}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(accepted.status).toBe(202);
    await eventually(
      'the consumer applying the events',
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${consumerPort}/metrics`)).text();
        return /^jetscale_consumer_events_processed_total(\{[^}]*\})? 5$/m.test(text) ? true : undefined;
      },
      60_000,
      250,
    );

    const scraped = new Set<string>();
    for (const port of [gatewayPort, consumerPort]) {
      for (const n of namesInScrape(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()))
        scraped.add(n);
    }
    const wanted = [
      ...new Set(
        loadDashboards(path.join(operatorChart, 'dashboards'))
          .flatMap(({ file, dashboard }) => dashboardQueries(file, dashboard))
          .flatMap((q) => metricNames(q.expr))
          .filter((n) => n.startsWith('jetscale_gateway_') || n.startsWith('jetscale_consumer_')),
      ),
    ];
    expect(wanted.length).toBeGreaterThan(10);
    expect(wanted.filter((n) => !scraped.has(n))).toEqual([]);
  });
});
