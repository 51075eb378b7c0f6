// What nats-server spends per event-log append, rule by rule: the same stored messages on streams that
// differ by one setting each, interleaved in rounds, nats-server's CPU per message from /proc.
// `npx tsx workloads/bench/append-cost.ts [--messages N] [--rounds R]`. Not part of make bench-workloads.
import { DiscardPolicy, jetstreamManager, type StreamConfig } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer } from '../../hack/stack/nats-server.js';
import { JetStreamPublisher, type Expectation } from '../src/shared/js-publisher.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const messages = arg('--messages', 40_000);
const rounds = arg('--rounds', 3);
const aggregates = arg('--aggregates', 1000);
/** In flight at once; fewer than the aggregates, so two never append to one aggregate together. */
const lanes = Math.max(1, Math.min(64, Math.floor(aggregates / 2)));

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

interface Variant {
  name: string;
  config: Partial<StreamConfig>;
  subject: (agg: number, id: number) => string;
  /** The expected-last-subject-sequence header, given the aggregate and its last stored sequence; none when absent. */
  expect?: (agg: number, last: number) => Expectation;
}
const perSubjectOne = {
  max_msgs_per_subject: 1,
  discard: DiscardPolicy.New,
  discard_new_per_subject: true,
};
const variants: Variant[] = [
  { name: 'plain, subject per message', config: {}, subject: (a, i) => `S.${a}.${i}` },
  { name: '+ one entry per subject', config: perSubjectOne, subject: (a, i) => `S.${a}.${i}` },
  {
    // The same header on the message's own (literal) subject: a lookup, not a scan.
    name: '+ expected last seq 0 on its own subject',
    config: {},
    subject: (a, i) => `S.${a}.${i}`,
    expect: () => ({ lastSubjectSequence: 0 }),
  },
  {
    name: '+ expected last seq over agg.*',
    config: {},
    subject: (a, i) => `S.${a}.${i}`,
    expect: (a, last) => ({ lastSubjectSequence: last, lastSubjectSequenceSubject: `S.${a}.*` }),
  },
  {
    // One subject per aggregate (the event id in the entry): the expectation on a literal subject, as
    // nats-server answers from its subject index without a wildcard match; no per-event subject, so no
    // one-entry-per-subject guard either.
    name: 'one subject per aggregate, expected last seq on it',
    config: {},
    subject: (a) => `S.${a}`,
    expect: (_a, last) => ({ lastSubjectSequence: last }),
  },
  {
    name: 'event log (both)',
    config: perSubjectOne,
    subject: (a, i) => `S.${a}.${i}`,
    expect: (a, last) => ({ lastSubjectSequence: last, lastSubjectSequenceSubject: `S.${a}.*` }),
  },
];

const entry = Buffer.from(
  JSON.stringify({
    id: 'c0-0-000000000',
    type: 'deposit',
    aggregateId: 'agg-999',
    payload: { amount: 6 },
    timestamp: new Date().toISOString(),
    version: 12,
    sourceSeq: 123456,
    appliedAt: new Date().toISOString(),
  }),
);

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'append-cost-'));
  const server = await startNatsServer({ dir });
  const pid = server.pid();
  if (pid === undefined) throw new Error('no nats-server pid');
  const nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  const publisher = new JetStreamPublisher(nc, 30_000);
  console.log(
    `nats-server ${nc.info?.version ?? '?'}; ${messages} messages over ${aggregates} aggregates, ${lanes} in flight; load ${os.loadavg()[0]?.toFixed(1)}`,
  );
  const results = new Map<string, number[]>();
  try {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        await jsm.streams.add({ name: 'S', subjects: ['S.>'], ...v.config });
        const last = new Array<number>(aggregates).fill(0);
        let next = 0;
        let errors = 0;
        const cpu0 = cpuSeconds(pid);
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: lanes }, async () => {
            for (let i = next++; i < messages; i = next++) {
              const a = i % aggregates;
              try {
                const ack = await publisher.publish(v.subject(a, i), entry, v.expect?.(a, last[a] ?? 0));
                last[a] = ack.seq;
              } catch {
                errors++;
              }
            }
          }),
        );
        const seconds = (performance.now() - t0) / 1000;
        const us = ((cpuSeconds(pid) - cpu0) * 1e6) / messages;
        await jsm.streams.delete('S');
        results.set(v.name, [...(results.get(v.name) ?? []), us]);
        console.log(
          `round ${r + 1} ${v.name}: ${Math.round(messages / seconds)} msgs/s, nats-server ${us.toFixed(1)} µs per message, ${errors} refused; load ${os.loadavg()[0]?.toFixed(1)}`,
        );
      }
    }
  } finally {
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [name, us] of results) {
    const s = [...us].sort((a, b) => a - b);
    console.log(
      `${name}: median ${s[Math.floor(s.length / 2)]?.toFixed(1)} µs (${s[0]?.toFixed(1)}–${s.at(-1)?.toFixed(1)})`,
    );
  }
}
void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
