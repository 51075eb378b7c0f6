// Handlers that fail at once, in their own process (so that what a test measures of its own event
// loop is the operator's): consume() clients on a real nats-server that nak every message, and a
// subscriber of the max-deliveries advisories that counts what the server sends a subscriber of
// them. Argument: {"url", "stream", "consumer", "handlers"}. Prints {"ready": true} once consuming,
// then one JSON line a second: {"advisories": n, "lineBytes": b}, the advisories received in that
// second and the bytes of their MSG lines as a client's parser reads them. Stops on SIGTERM.
import process from 'node:process';
import { clearInterval, setInterval } from 'node:timers';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';

const { url, stream, consumer, handlers } = JSON.parse(process.argv[2] ?? '{}');
const nc = await connect({ servers: url });
const watcher = await connect({ servers: url });
let advisories = 0;
let lineBytes = 0;
watcher.subscribe('$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>', {
  callback: (_err, m) => {
    advisories++;
    lineBytes += `MSG ${m.subject} 1 ${m.data.length}\r\n`.length;
  },
});
await watcher.flush();
const running = [];
for (let i = 0; i < handlers; i++) {
  const c = await jetstream(nc).consumers.get(stream, consumer);
  const messages = await c.consume({ max_messages: 2000 });
  running.push(messages);
  void (async () => {
    for await (const m of messages) m.nak();
  })();
}
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
const timer = setInterval(() => {
  process.stdout.write(`${JSON.stringify({ advisories, lineBytes })}\n`);
  advisories = 0;
  lineBytes = 0;
}, 1000);
process.once('SIGTERM', async () => {
  clearInterval(timer);
  for (const m of running) await m.close().catch(() => undefined);
  await nc.close();
  await watcher.close();
  process.exit(0);
});
