// Experiment behind workloads/README "Session 35" (issue 16): nats-server's CPU per event for the gateway's publishes (a real gateway, batches
// of 100 from 10 HTTP lanes) against the same publishes from this process (JetStreamPublisher.publishMany,
// 10 lanes of 100), on one server, alternating. nice -n 19 npx tsx workloads/bench/experiments/gateway-vs-publisher.mts [seconds] [rounds]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer } from '../../../hack/stack/nats-server.js';
import { JetStreamPublisher, publishHeaders } from '../../src/shared/js-publisher.js';
import { topologyOf } from '../../src/shared/config.js';
import { streamConfigs } from '../../src/shared/topology.js';
import { configOf, startWorkload, workloadEnv } from '../../test/harness.js';
import { EventsLoad, eventsBody } from '../load.js';

const seconds = Number(process.argv[2] ?? 8);
const rounds = Number(process.argv[3] ?? 2);
const variant = process.env['GATEWAY_ENV']
  ? (JSON.parse(process.env['GATEWAY_ENV']) as Record<string, string>)
  : {};
const cpu = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
};
const self = () => (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
const dir = mkdtempSync(path.join(os.tmpdir(), 'gw16-gvp-'));
const server = await startNatsServer({ dir });
const gateway = startWorkload(
  'gateway',
  { ...workloadEnv(server.url, 'gvp'), ...variant },
  [],
  undefined,
  'built',
);
try {
  const port = await gateway.port;
  const nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  const config = configOf(workloadEnv(server.url, 'shape'));
  const streamConfig = streamConfigs(config)[0];
  if (!streamConfig) throw new Error('no events stream configuration');
  await jsm.streams.add(streamConfig);
  const t = topologyOf(config);
  const publisher = new JetStreamPublisher(nc, 30_000, { coalesce: true });
  const ts = new Date().toISOString();
  let n = 0;
  const viaGateway = async () => {
    const load = new EventsLoad(port, 10);
    const begin = performance.now();
    let stored = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (performance.now() - begin < seconds * 1000) {
          const first = n;
          n += 100;
          if ((await load.post(eventsBody(100, first, 1000, ts))) === 202) stored += 100;
        }
      }),
    );
    load.close();
    return stored;
  };
  const viaPublisher = async () => {
    const begin = performance.now();
    let stored = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (performance.now() - begin < seconds * 1000) {
          const first = n;
          n += 100;
          const batch = [];
          for (let i = first; i < first + 100; i++) {
            const body = Buffer.from(
              JSON.stringify({
                id: `g-${i}`,
                type: 'deposit',
                aggregateId: `agg-${i % 1000}`,
                payload: { amount: 1 },
                timestamp: ts,
              }),
            );
            batch.push({
              subject: t.eventsSubject(`agg-${i % 1000}`),
              data: body,
              headers: publishHeaders(undefined, { msgId: `g-${i}`, expectedStream: t.eventsStream }),
            });
          }
          const { answers } = await publisher.publishMany(batch);
          stored += answers.filter((a) => !(a instanceof Error)).length;
        }
      }),
    );
    return stored;
  };
  const serverPid = server.pid();
  if (serverPid === undefined) throw new Error('no server pid');
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of (r % 2 === 0
      ? [
          ['gateway', viaGateway],
          ['publisher', viaPublisher],
        ]
      : [
          ['publisher', viaPublisher],
          ['gateway', viaGateway],
        ]) as [string, () => Promise<number>][]) {
      const s0 = cpu(serverPid);
      const g0 = cpu(gateway.proc.pid ?? -1);
      const c0 = self();
      const t0 = performance.now();
      const stored = await run();
      const secs = (performance.now() - t0) / 1000;
      const us = (x: number) => ((x * 1e6) / stored).toFixed(1);
      console.log(
        `round ${r + 1} ${name}: ${Math.round(stored / secs)} events/s; nats-server ${us(cpu(serverPid) - s0)} µs, gateway ${us(cpu(gateway.proc.pid ?? -1) - g0)} µs, this process ${us(self() - c0)} µs per event; load ${os.loadavg()[0]?.toFixed(1)}`,
      );
    }
  }
  publisher.close();
  await nc.close();
} finally {
  gateway.kill('SIGTERM');
  await gateway.exited;
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
