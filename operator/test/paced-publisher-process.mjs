// Open-model JetStream publishers in their own process, so that a test which also reads, judges and
// runs pod processes cannot hold its arrivals back (or be held back by them): real-clients.int
// publishes 80 a second to each of ~20 streams, one ack each, and in one jest process beside the
// operator that starved both (session 25: 12,823-15,917 publish acks missed per stream, the
// operator's polls ~30 s apart).
// Argument: {"url"}. Commands on stdin, one JSON line each:
//   {"op": "start", "id", "subject", "perSecond"} - every 100 ms, publish what the rate owes since
//     the start (a process that was paused catches up), each publish acked asynchronously;
//   {"op": "stop", "id"} - stop publishing, wait for the acks still out, then answer.
// Answers on stdout, one JSON line each: {"ready": true} once connected; {"id", "started": true};
// {"id", "published", "failures"} after a stop (failures: publishes whose ack did not come, the
// message may still have been stored). A malformed command gets {"error"} and is otherwise ignored.
// Ends when stdin closes.
import process from 'node:process';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';

const TICK_MS = 100;
const { url } = JSON.parse(process.argv[2] ?? '{}');
if (typeof url !== 'string')
  throw new Error('paced-publisher-process.mjs: argument {"url": "nats://..."} expected');
const nc = await connect({ servers: url });
const js = jetstream(nc);
const say = (answer) => process.stdout.write(`${JSON.stringify(answer)}\n`);

/** id -> { subject, perSecond, started, published, failures, acks: Set<Promise> } */
const loads = new Map();
const timer = setInterval(() => {
  const now = performance.now();
  for (const load of loads.values()) {
    const owed = Math.floor(((now - load.started) / 1000) * load.perSecond) - load.published;
    for (let k = 0; k < owed; k++) {
      const ack = js.publish(load.subject, `m${load.published++}`).then(
        () => undefined,
        () => {
          load.failures++;
        },
      );
      load.acks.add(ack);
      void ack.finally(() => load.acks.delete(ack));
    }
  }
}, TICK_MS);

async function command(line) {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    return say({ error: `not JSON: ${line.slice(0, 100)}` });
  }
  if (cmd.op === 'start') {
    if (typeof cmd.id !== 'string' || typeof cmd.subject !== 'string' || !(cmd.perSecond > 0))
      return say({ error: `start needs id, subject and perSecond > 0: ${line.slice(0, 200)}` });
    if (loads.has(cmd.id)) return say({ error: `${cmd.id} is already publishing` });
    loads.set(cmd.id, {
      subject: cmd.subject,
      perSecond: cmd.perSecond,
      started: performance.now(),
      published: 0,
      failures: 0,
      acks: new Set(),
    });
    return say({ id: cmd.id, started: true });
  }
  if (cmd.op === 'stop') {
    const load = loads.get(cmd.id);
    if (load === undefined) return say({ error: `${String(cmd.id)} is not publishing` });
    loads.delete(cmd.id);
    await Promise.all([...load.acks]);
    return say({ id: cmd.id, published: load.published, failures: load.failures });
  }
  return say({ error: `unknown op in ${line.slice(0, 200)}` });
}

const pending = new Set();
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const p = command(line);
    pending.add(p);
    void p.finally(() => pending.delete(p));
  })
  .on('close', async () => {
    clearInterval(timer);
    await Promise.allSettled([...pending]);
    await nc.close();
  });
say({ ready: true });
