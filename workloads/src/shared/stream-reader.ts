// Reads every message a stream holds right now, in order, with an ordered consumer (no server-side
// state left behind). Used by the audit and the replay, which must see the whole record.
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';

export async function readWholeStream(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  onMessage: (msg: JsMsg) => void,
): Promise<number> {
  const info = await jsm.streams.info(stream);
  const lastSeq = info.state.last_seq;
  if (info.state.messages === 0) return 0;
  const consumer = await js.consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1000 });
  let count = 0;
  try {
    for await (const msg of messages) {
      onMessage(msg);
      count++;
      // Messages stored after we started are outside this snapshot.
      if (msg.seq >= lastSeq || msg.info.pending === 0) break;
    }
  } finally {
    await messages.close();
  }
  return count;
}
