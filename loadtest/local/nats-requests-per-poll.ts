// What one round of backlog reads costs NATS: requests per poll, bytes, and the server's time for
// CONSUMER.INFO and STREAM.INFO, at N EventConsumers (one stream and one durable consumer each,
// with the stream config given), read as the operator reads them (readConsumerBacklog on one shared
// connection, all at once). Requests are counted by the server (the account's JetStream API total,
// $JS.API.INFO), reply bytes by the client connection's stats (nats.js counts payloads only: the
// requests themselves are empty, ~100 B of protocol each); the server's time of each kind of request
// is the median round trip of that request alone, sent one at a time after the rounds.
//
//   npm run build && node dist/loadtest/local/nats-requests-per-poll.js [N ...] [--config default|deny-delete-purge|max-age]
//
// Prints one line per N: requests per round (CONSUMER.INFO + STREAM.INFO), reply bytes per round
// and per EventConsumer, the round's wall time, and the median round trip of each request.
import { jetstreamManager, RetentionPolicy, type StreamConfig } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer } from '../../hack/stack/nats-server.js';
import { readConsumerBacklog } from '../../operator/src/backlog/jetstream-backlog-source.js';

const ROUNDS = 5;
const SINGLE_SAMPLES = 200;

const configs: Record<string, Partial<StreamConfig>> = {
  /** What `nats stream add` and nats.js give without options: limits, deletes and purges allowed. */
  default: {},
  /** Deletes and purges denied: nothing removes a held message from inside the stream. */
  'deny-delete-purge': { deny_delete: true, deny_purge: true },
  /** Messages expire (a common production setting). */
  'max-age': { max_age: 3600 * 1e9, deny_delete: true, deny_purge: true },
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const configAt = args.indexOf('--config');
  const configName = configAt >= 0 ? (args[configAt + 1] ?? 'default') : 'default';
  const extra = configs[configName];
  if (extra === undefined) throw new Error(`--config must be one of ${Object.keys(configs).join(', ')}`);
  const counts = args
    .filter((a, i) => i !== configAt && i !== configAt + 1)
    .map((a) => Number.parseInt(a, 10))
    .filter((n) => Number.isInteger(n) && n > 0);
  const ns = counts.length > 0 ? counts : [1, 100, 500];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-reqs-'));
  const server = await startNatsServer({ dir });
  try {
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    let created = 0;
    for (const n of ns) {
      for (; created < n; created++) {
        const name = `S${created}`;
        await jsm.streams.add({
          name,
          subjects: [`s${created}.>`],
          retention: RetentionPolicy.Limits,
          ...extra,
        });
        await jsm.consumers.add(name, { durable_name: 'worker', ack_policy: 'explicit' as never });
        await nc.request(`s${created}.x`, 'x');
      }
      const refs = Array.from({ length: n }, (_, i) => ({ stream: `S${i}`, consumer: 'worker' }));
      // A first round fills the stream config cache, as a running operator's has.
      await Promise.all(refs.map((ref) => readConsumerBacklog(nc, ref, { timeoutMs: 10_000 })));
      const apiBefore = (await jsm.getAccountInfo()).api.total;
      const statsBefore = nc.stats();
      const started = performance.now();
      for (let r = 0; r < ROUNDS; r++) {
        const readings = await Promise.all(
          refs.map((ref) => readConsumerBacklog(nc, ref, { timeoutMs: 10_000 })),
        );
        const failed = readings.filter((x) => !x.ok).length;
        if (failed > 0) throw new Error(`${failed} of ${n} reads failed`);
      }
      const roundMs = (performance.now() - started) / ROUNDS;
      const statsAfter = nc.stats();
      // getAccountInfo is itself one API request.
      const requests = ((await jsm.getAccountInfo()).api.total - apiBefore - 1) / ROUNDS;
      const inBytes = (statsAfter.inBytes - statsBefore.inBytes) / ROUNDS;
      const consumerRtt: number[] = [];
      const streamRtt: number[] = [];
      let consumerBytes = 0;
      let streamBytes = 0;
      for (let i = 0; i < SINGLE_SAMPLES; i++) {
        const ref = refs[i % n] as { stream: string; consumer: string };
        let t = performance.now();
        const ci = await nc.request(`$JS.API.CONSUMER.INFO.${ref.stream}.${ref.consumer}`, '');
        consumerRtt.push(performance.now() - t);
        consumerBytes = ci.data.length;
        t = performance.now();
        const si = await nc.request(`$JS.API.STREAM.INFO.${ref.stream}`, '');
        streamRtt.push(performance.now() - t);
        streamBytes = si.data.length;
      }
      console.log(
        `${configName} N=${n}: ${requests.toFixed(1)} requests a round (${(requests / n).toFixed(2)} per EventConsumer); ` +
          `${(inBytes / 1024).toFixed(1)} KiB of replies a round (${(inBytes / n).toFixed(0)} B per EventConsumer); ` +
          `round ${roundMs.toFixed(1)} ms; reply CONSUMER.INFO ${consumerBytes} B, STREAM.INFO ${streamBytes} B; ` +
          `round trip alone (median of ${SINGLE_SAMPLES}) CONSUMER.INFO ${median(consumerRtt).toFixed(3)} ms, STREAM.INFO ${median(streamRtt).toFixed(3)} ms`,
      );
    }
    await nc.close();
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
