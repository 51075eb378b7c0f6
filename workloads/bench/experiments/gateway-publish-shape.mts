// Experiment behind workloads/README "Session 35" (issue 16): nats-server's CPU per event for the same publishes in different shapes —
// a sliding window of single publishes (the bench's ceiling) against requests of 100 (publishMany, the
// gateway's shape) — from one process, into fresh streams configured like the gateway's. Not part of CI.
// nice -n 19 npx tsx workloads/bench/experiments/gateway-publish-shape.mts [events per pattern] [rounds]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { JetStreamPublisher, publishHeaders } from '../../src/shared/js-publisher.js';
import { streamConfigs } from '../../src/shared/topology.js';
import { topologyOf } from '../../src/shared/config.js';
import { configOf, workloadEnv } from '../../test/harness.js';
import { publishWindowed } from '../pipeline.js';

const events = Number(process.argv[2] ?? 50_000);
const rounds = Number(process.argv[3] ?? 3);
const dir = mkdtempSync(path.join(os.tmpdir(), 'gw16-shape-'));
const port = 20000 + Math.floor(Math.random() * 20000);
const server = spawn(
  path.join('.tools', 'bin', 'nats-server'),
  ['-js', '-p', String(port), '-sd', dir, '-a', '127.0.0.1'],
  { stdio: 'ignore' },
);
const cpu = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
};
const self = () => (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
try {
  await new Promise((r) => setTimeout(r, 1000));
  const nc = await connect({ servers: `127.0.0.1:${port}` });
  const jsm = await jetstreamManager(nc);
  const config = configOf(workloadEnv(`nats://127.0.0.1:${port}`, 'shape'));
  const streamConfig = streamConfigs(config)[0];
  if (!streamConfig) throw new Error('no events stream configuration');
  const t = topologyOf(config);
  const publisher = new JetStreamPublisher(nc, 30_000, { coalesce: true });
  const body = (i: number) =>
    Buffer.from(
      JSON.stringify({
        id: `s-${i}`,
        type: 'deposit',
        aggregateId: `agg-${i % 1000}`,
        payload: { amount: 1 },
        timestamp: new Date().toISOString(),
      }),
    );
  const publishOf = (id: string, i: number) => ({
    subject: t.eventsSubject(`agg-${i % 1000}`),
    data: body(i),
    headers: publishHeaders(undefined, { msgId: id, expectedStream: t.eventsStream }),
  });
  const busy = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };
  const requests =
    (lanes: number, size: number, busyMs = 0) =>
    async (prefix: string) => {
      let next = 0;
      const lane = async () => {
        while (next < events) {
          const first = next;
          next += size;
          busy(busyMs);
          const batch = [];
          for (let i = first; i < Math.min(first + size, events); i++)
            batch.push(publishOf(`${prefix}-${i}`, i));
          const { answers } = await publisher.publishMany(batch);
          if (answers.some((a) => a instanceof Error)) throw new Error('a publish failed');
        }
      };
      await Promise.all(Array.from({ length: lanes }, lane));
    };
  const windowed = (w: number) => (prefix: string) =>
    publishWindowed(events, w, (i) => {
      const p = publishOf(`${prefix}-${i}`, i);
      return publisher.publish(p.subject, p.data, undefined, {
        msgId: `${prefix}-${i}`,
        expectedStream: t.eventsStream,
      });
    });
  const patterns: [string, (prefix: string) => Promise<void>][] = [
    ['window 1,000 of single publishes', windowed(1000)],
    ['window 10,000 of single publishes', windowed(10_000)],
    ['10 lanes of publishMany(100) (the gateway closed loop)', requests(10, 100)],
    ['100 lanes of publishMany(100)', requests(100, 100)],
    ['10 lanes of publishMany(100), 1 ms of CPU before each (a request parsed)', requests(10, 100, 1)],
  ];
  // KEEP=N: one stream for all, N events published into it first (the gateway's long-lived stream and dedup map).
  const keep = Number(process.env['KEEP'] ?? 0);
  if (keep > 0) {
    await jsm.streams.add(streamConfig);
    const saved = events;
    for (let done = 0; done < keep; done += saved) await requests(10, 100)(`pre${done}`);
    console.log(
      `prefilled ${keep} events; stream ${JSON.stringify((await jsm.streams.info(t.eventsStream)).state.messages)} messages`,
    );
  }
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? patterns : [...patterns].reverse();
    for (const [name, run] of order) {
      if (keep === 0) await jsm.streams.add(streamConfig);
      const s0 = cpu(server.pid ?? -1);
      const c0 = self();
      const t0 = performance.now();
      await run(`r${r}`);
      const seconds = (performance.now() - t0) / 1000;
      const s = ((cpu(server.pid ?? -1) - s0) * 1e6) / events;
      const c = ((self() - c0) * 1e6) / events;
      console.log(
        `round ${r + 1} ${name}: ${Math.round(events / seconds)} events/s, nats-server ${s.toFixed(1)} µs, client ${c.toFixed(1)} µs per event; load ${os.loadavg()[0]?.toFixed(1)}`,
      );
      if (keep === 0) await jsm.streams.delete(t.eventsStream);
    }
  }
  publisher.close();
  await nc.close();
} finally {
  server.kill();
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dir, { recursive: true, force: true });
}
