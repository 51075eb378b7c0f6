// Experiment for issue 16: is "claim + append" in ONE atomic batch (nats-server 2.12) faster than
// the consumer's two round trips today (KV create of the processed id, then the expected-sequence
// append to the event log)? Runs both on its own nats-server, alternating A/B, with the same
// concurrency and per-aggregate order as the consumer, and prints events/s per run.
// Usage: npx tsx workloads/bench/claim-append-bench.ts [--events N] [--aggregates N] [--concurrency N] [--rounds N]
import {
  jetstream,
  jetstreamManager,
  JetStreamApiError,
  StorageType,
  type JetStreamClient,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, headers, nuid, type NatsConnection } from '@nats-io/transport-node';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer } from '../../hack/stack/nats-server.js';

function arg(name: string, fallback: string): number {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback);
}
const EVENTS = arg('events', '5000');
const AGGREGATES = arg('aggregates', '1000');
const CONCURRENCY = arg('concurrency', '64');
const ROUNDS = arg('rounds', '2');
/** `--memory 1`: both the log and the KV bucket in memory (shows where the batch's cost is). */
const MEMORY = arg('memory', '0') === 1;
const encoder = new TextEncoder();

type Append = (round: string, i: number, aggregate: number, lastSeq: number) => Promise<number>;

/** Runs EVENTS appends, CONCURRENCY at once, one aggregate strictly in order; returns events/s. */
async function drive(append: Append, round: string): Promise<number> {
  const last = new Map<number, number>();
  const chains = new Map<number, Promise<void>>();
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < EVENTS) {
      const i = next++;
      const aggregate = i % AGGREGATES;
      const previous = chains.get(aggregate) ?? Promise.resolve();
      const mine = previous.then(async () => {
        last.set(aggregate, await append(round, i, aggregate, last.get(aggregate) ?? 0));
      });
      chains.set(aggregate, mine);
      await mine;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return EVENTS / ((performance.now() - started) / 1000);
}

/** Today: KV create of the processed id, then the expected-last-subject-sequence append. */
function twoRoundTrips(js: JetStreamClient, kvCreate: (k: string, v: string) => Promise<number>): Append {
  return async (round, i, aggregate, lastSeq) => {
    const id = `${round}-${i}`;
    await kvCreate(id, JSON.stringify({ aggregateId: `a${aggregate}`, after: lastSeq }));
    const ack = await js.publish(`log.${round}.a${aggregate}`, encoder.encode(JSON.stringify({ id, i })), {
      msgID: id,
      expect: { lastSubjectSequence: lastSeq },
    });
    return ack.seq;
  };
}

/**
 * One atomic batch: the id's marker (expected last subject sequence 0: never applied) published
 * without a reply, then the commit (the log entry, expected-sequence and msg id) as a request.
 */
function oneAtomicBatch(nc: NatsConnection): Append {
  return async (round, i, aggregate, lastSeq) => {
    const id = `${round}-${i}`;
    const batch = nuid.next();
    const h1 = headers();
    h1.set('Nats-Batch-Id', batch);
    h1.set('Nats-Batch-Sequence', '1');
    h1.set('Nats-Expected-Last-Subject-Sequence', '0');
    nc.publish(`ids.${round}.${id}`, encoder.encode(JSON.stringify({ aggregateId: `a${aggregate}` })), {
      headers: h1,
    });
    const h2 = headers();
    h2.set('Nats-Batch-Id', batch);
    h2.set('Nats-Batch-Sequence', '2');
    h2.set('Nats-Batch-Commit', '1');
    h2.set('Nats-Msg-Id', id);
    h2.set('Nats-Expected-Last-Subject-Sequence', String(lastSeq));
    const reply = await nc.request(`log.${round}.a${aggregate}`, encoder.encode(JSON.stringify({ id, i })), {
      headers: h2,
      timeout: 10_000,
    });
    const ack = reply.json<{ seq?: number; count?: number; error?: { description: string } }>();
    if (ack.error || ack.count !== 2 || ack.seq === undefined)
      throw new Error(`batch ${id}: ${ack.error?.description ?? JSON.stringify(ack)}`);
    return ack.seq;
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-claim-bench-'));
  const server = await startNatsServer({ dir });
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: 'LOG',
      subjects: ['log.>', 'ids.>'],
      allow_atomic: true,
      duplicate_window: 120_000_000_000,
      storage: MEMORY ? StorageType.Memory : StorageType.File,
    });
    const kv = await new Kvm(nc).create('processed', { history: 1, storage: MEMORY ? 'memory' : 'file' });
    const js = jetstream(nc);
    // Both modes see the same server state: A and B alternate, each with fresh ids and subjects.
    const results: Array<{ mode: string; rate: number }> = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const [mode, append] of [
        ['kv-create + append (2 round trips)', twoRoundTrips(js, (k, v) => kv.create(k, v))],
        ['atomic batch id + append (1 round trip)', oneAtomicBatch(nc)],
      ] as const) {
        const rate = await drive(append, `r${r}${mode.startsWith('kv') ? 'k' : 'b'}`);
        results.push({ mode, rate });
        process.stdout.write(`[claim-bench] round ${r + 1}: ${mode}: ${Math.round(rate)} events/s\n`);
      }
    }
    const info = await jsm.streams.info('LOG');
    process.stdout.write(
      `[claim-bench] ${MEMORY ? 'memory' : 'file'} storage, ${EVENTS} events × ${ROUNDS} rounds, ${AGGREGATES} aggregates, ${CONCURRENCY} in flight; LOG holds ${info.state.messages} messages (expected ${EVENTS * ROUNDS * 3})\n`,
    );
  } catch (err) {
    process.stdout.write(
      `[claim-bench] failed: ${err instanceof JetStreamApiError ? err.message : String(err)}\n`,
    );
    process.exitCode = 1;
  } finally {
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
