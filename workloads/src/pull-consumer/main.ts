// A JetStream pull consumer written the way nats.js users write one, with the library's default
// pull settings, for the real-client matrix (operator/test/real-clients.int.test.ts):
// PULL_MODE=consume iterates `consumer.consume()` with no options (max_messages 100, refilled at
// 75 %); PULL_MODE=fetch loops over `consumer.fetch()` with no options (batches of 100). Each
// message is handled one at a time: wait HANDLER_MS (the work), then ack. SIGTERM stops pulling,
// handles and acks what is already buffered, drains the connection and exits 0.
//
// Environment: NATS_URL, STREAM, CONSUMER (required), PULL_MODE (consume | fetch, default consume),
// HANDLER_MS (default 10). The nats.go counterpart is workloads/go-consumer.
import { jetstream, type Consumer, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, pullConsumerSchema } from '../shared/config.js';
import { runMain } from '../shared/lifecycle.js';

const say = (text: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${text}\n`);
};

async function main(): Promise<void> {
  const config = loadConfig(pullConsumerSchema);
  const nc = await connect({
    servers: config.NATS_URL.split(',').map((s) => s.trim()),
    name: `jetscale-pull-consumer ${process.env.POD_NAME ?? ''}`,
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
  const consumer: Consumer = await jetstream(nc).consumers.get(config.STREAM, config.CONSUMER);
  let handled = 0;
  let stopping = false;
  let current: ConsumerMessages | undefined;
  const handle = async (m: JsMsg): Promise<void> => {
    await sleep(config.HANDLER_MS);
    m.ack();
    handled++;
  };
  const report = setInterval(() => say(`handled ${handled}`), 5000);
  process.once('SIGTERM', () => {
    stopping = true;
    // consume(): the iterator still yields what is buffered, which is handled and acked below.
    // fetch(): ends the batch that is waiting for messages.
    void current?.close();
  });
  say(
    `consuming ${config.STREAM}/${config.CONSUMER}, mode ${config.PULL_MODE}, handler ${config.HANDLER_MS} ms`,
  );

  if (config.PULL_MODE === 'consume') {
    current = await consumer.consume();
    for await (const m of current) await handle(m);
  } else {
    while (!stopping) {
      current = await consumer.fetch();
      for await (const m of current) await handle(m);
    }
  }
  clearInterval(report);
  say(`stopping after ${handled} messages`);
  await nc.drain();
}

runMain(main);
