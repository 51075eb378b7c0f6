// Dead-lettering: copy a message (payload, headers, reason) to the DLQ stream and only once the DLQ
// acknowledged the copy, terminate the original — `term()` counts as an acknowledgement, so
// terminating first could lose the event if the copy then failed.
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import type { Topology } from '../shared/config.js';

export const DlqHeaders = {
  reason: 'Jetscale-Dlq-Reason',
  detail: 'Jetscale-Dlq-Detail',
  streamSeq: 'Jetscale-Dlq-Stream-Seq',
  deliveries: 'Jetscale-Dlq-Deliveries',
  originalSubject: 'Jetscale-Dlq-Original-Subject',
  originalMsgId: 'Jetscale-Dlq-Original-Msg-Id',
} as const;

export type DeadLetterReason =
  | 'invalid_event'
  | 'max_deliveries'
  | 'version_conflict'
  /** The aggregate's event log holds an entry that cannot be read (see UnreadableAggregate). */
  | 'unreadable_aggregate';

export class DeadLetterer {
  constructor(
    private readonly js: JetStreamClient,
    private readonly topology: Topology,
  ) {}

  /** Publishes the DLQ copy (deduplicated per source sequence), then terminates the message. */
  async deadLetter(
    msg: JsMsg,
    reason: DeadLetterReason,
    detail: string,
    aggregateId: string | undefined,
  ): Promise<void> {
    const h = headers();
    const original = msg.headers;
    for (const key of original?.keys() ?? []) {
      const values = original?.values(key) ?? [];
      // Publish-time directives of the original would be re-applied to the copy, so keep them aside.
      if (key === 'Nats-Msg-Id') {
        for (const v of values) h.append(DlqHeaders.originalMsgId, v);
        continue;
      }
      if (key.startsWith('Nats-Expected')) continue;
      for (const v of values) h.append(key, v);
    }
    h.set(DlqHeaders.reason, reason);
    // Printable ASCII only and bounded: the detail may quote user input (see STORED_EVENT_HEADROOM).
    h.set(DlqHeaders.detail, detail.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 500));
    h.set(DlqHeaders.streamSeq, String(msg.seq));
    h.set(DlqHeaders.deliveries, String(msg.info.deliveryCount));
    h.set(DlqHeaders.originalSubject, msg.subject);
    await this.js.publish(this.topology.dlqSubject(aggregateId ?? '_invalid'), msg.data, {
      headers: h,
      msgID: `dlq-${this.topology.eventsStream}-${msg.seq}`,
    });
    msg.term(`${reason}: ${detail}`.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 200));
  }
}
