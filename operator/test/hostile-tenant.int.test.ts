// One tenant's hostile NATS servers must not stop another tenant's scaling. Tenant B's
// EventConsumers name servers it controls (hostile-nats-server.mjs, each in its own process): one
// sends an INFO of 300,000 connect_urls once connected, one an INFO line that never ends, one a
// PING flood while reading nothing, one a 48 MiB JetStream API reply. Tenant A's EventConsumer
// reads the stack's real nats-server. The compiled operator runs as a child process; its own
// /metrics say how long its event loop was held (nodejs_eventloop_lag_max_seconds, the max since
// the last scrape) and how big its memory grew (nodejs_heap_size_used_bytes + nodejs_external_memory_bytes).
//
// Before protocol-guard.ts (the pool-level drill, hostile-nats.int, on dda6006): the INFO flood held
// the event loop for 5.9 s and the PING flood for 10.3 s while the heap grew by 1,092 MiB, and
// every one of these reads failed as a timeout or a lost connection that did not say the server
// was at fault.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createNamespace, eventually, testStack } from '../../test/env.js';
import {
  closeKubeApi,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  installCrd,
  publish,
  readyReason,
  replicasReach,
  sleep,
  spawnOperator,
  startedMetricsPort,
  streamName,
  type OperatorProcess,
} from './harness.js';
import { sampleSum } from './metrics-text.js';
import { HostileNats, type Hostility } from './hostile-nats.js';

const HOSTILE: Record<string, Hostility> = {
  'info-flood': { kind: 'infoFlood', urls: 300_000, when: 'connected' },
  'endless-info': { kind: 'endlessInfo', when: 'connected', cap: 512 * 2 ** 20 },
  'ping-flood': { kind: 'pingFlood', cap: 512 * 2 ** 20 },
  'huge-reply': { kind: 'apiReply', reply: 'huge', bytes: 48 * 2 ** 20 },
};

describe("a tenant's hostile NATS servers", () => {
  let a: { name: string; cleanup: () => Promise<void> };
  let b: { name: string; cleanup: () => Promise<void> };
  let operator: OperatorProcess | undefined;
  let nc: NatsConnection | undefined;
  const servers: HostileNats[] = [];
  const stream = streamName('TENANTA');

  beforeAll(async () => {
    await installCrd();
    a = await createNamespace('op-tenant-a');
    b = await createNamespace('op-tenant-b');
  });

  afterAll(async () => {
    await operator?.stop();
    await nc?.close();
    await Promise.all(servers.map((s) => s.stop()));
    await a?.cleanup();
    await b?.cleanup();
    closeKubeApi();
  });

  it("leave the other tenant's EventConsumer scaling, and say on each of theirs what its server did", async () => {
    nc = await connect({ servers: testStack().natsUrl });
    await createStreamAndConsumer(nc, stream, 'worker');
    await publish(nc, stream, 250);
    await createDeployment(a.name, 'orders', 1);
    await createEventConsumer({
      namespace: a.name,
      name: 'orders',
      target: 'orders',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: { pollInterval: '1s', backlogPerReplica: 100, maxReplicas: 10 },
    });
    for (const [name, hostility] of Object.entries(HOSTILE)) {
      const server = await HostileNats.start(hostility);
      servers.push(server);
      await createDeployment(b.name, name, 1);
      await createEventConsumer({
        namespace: b.name,
        name,
        target: name,
        servers: [server.url()],
        stream: 'ORDERS',
        consumer: 'worker',
        extra: { pollInterval: '1s' },
      });
    }

    operator = spawnOperator('hostile-tenant', {
      JETSCALE_NAMESPACES: `${a.name},${b.name}`,
      JETSCALE_LEADER_ELECTION: 'false',
      JETSCALE_NATS_TIMEOUT_MS: '2000',
    });
    const port = await startedMetricsPort(operator);
    const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    await replicasReach(a.name, 'orders', 3, 60_000);

    // From here on, the operator's event loop and heap as its /metrics see them, every 500 ms.
    // The heap, and the memory outside it that buffers and sockets hold (nats.js buffers a line in a Uint8Array).
    const memoryOf = (text: string): number =>
      sampleSum(text, 'nodejs_heap_size_used_bytes') + sampleSum(text, 'nodejs_external_memory_bytes');
    const heapAtStart = memoryOf(await metrics());
    const samples = { loopMaxSeconds: 0, heapMaxBytes: heapAtStart, scrapes: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const text = await metrics();
        samples.loopMaxSeconds = Math.max(
          samples.loopMaxSeconds,
          sampleSum(text, 'nodejs_eventloop_lag_max_seconds'),
        );
        samples.heapMaxBytes = Math.max(samples.heapMaxBytes, memoryOf(text));
        samples.scrapes++;
        await sleep(500);
      }
    })();

    try {
      const messages: Record<string, string> = {};
      for (const name of Object.keys(HOSTILE)) {
        messages[name] = await readyReason(b.name, name, 'NatsUnreachable', 60_000).then(async (first) => {
          // The reason is set by the first failure; wait for the message that names the server's fault.
          if (/misbehaves/.test(first)) return first;
          return eventually(
            `${name}: a message saying what its server did`,
            async () => {
              const message = await readyReason(b.name, name, 'NatsUnreachable', 5_000);
              return /misbehaves/.test(message) ? message : undefined;
            },
            60_000,
            500,
          );
        });
      }
      console.log(JSON.stringify(messages, null, 2));
      expect(messages['info-flood']).toMatch(
        /misbehaves: it sent a protocol line of over 64 KiB \(starting "INFO"/,
      );
      expect(messages['endless-info']).toMatch(
        /misbehaves: it sent a protocol line of over 64 KiB \(starting "INFO"/,
      );
      expect(messages['ping-flood']).toMatch(/misbehaves: it sent over 100 PINGs within a second/);
      expect(messages['huge-reply']).toMatch(/misbehaves: it sent a message of 48\.0 MiB/);
      for (const message of Object.values(messages)) expect(message).toContain('127.0.0.1');

      // With every hostile server still at it (nats.js reconnects each second, and is dropped
      // again), tenant A's backlog grows and its EventConsumer follows at once.
      await publish(nc, stream, 200);
      await replicasReach(a.name, 'orders', 5, 30_000);
      await sleep(10_000);
    } finally {
      sampling = false;
      await sampler;
    }
    const reconnects = servers.map((s) => s.closed.length);
    console.log(
      JSON.stringify({
        loopMaxMs: Math.round(samples.loopMaxSeconds * 1000),
        heapGrowthMiB: +((samples.heapMaxBytes - heapAtStart) / 2 ** 20).toFixed(1),
        scrapes: samples.scrapes,
        connectionsDroppedPerServer: reconnects,
      }),
    );
    // Generous for a loaded 2-core machine; before, 5.9 s and 10.3 s, and over 1 GiB.
    expect(samples.loopMaxSeconds).toBeLessThan(1);
    expect(samples.heapMaxBytes - heapAtStart).toBeLessThan(100 * 2 ** 20);
    expect(samples.scrapes).toBeGreaterThan(10);
    // Each hostile server was dropped (and again on its reconnects), never left streaming.
    for (const n of reconnects) expect(n).toBeGreaterThan(0);
  });
});
