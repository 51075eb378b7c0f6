// Opens a BacklogSource per EventConsumer over the shared connection pool: reading goes through the
// pooled connection and its breaker (connecting if needed; failing at once while the connection
// is known down, see connection-pool.ts) and asks the consumer's leader for its numbers; closing
// releases the EventConsumer's share.
import type { Logger } from '../observability/logger.js';
import type { OperatorMetrics } from '../observability/metrics.js';
import type { BacklogReading, BacklogSource } from './backlog-source.js';
import type { ConnectionPool } from './connection-pool.js';
import { forgetConsumer, readConsumerBacklog, type ConsumerRef } from './jetstream-backlog-source.js';
import { consumerInfoSubject } from './jetstream-subject.js';
import type { NatsCredentials } from './nats-credentials.js';
import type { NatsConnection } from '@nats-io/transport-node';

export class NatsBacklogSources {
  constructor(
    private readonly pool: ConnectionPool,
    private readonly options: { timeoutMs: number; metrics?: OperatorMetrics; logger?: Logger },
  ) {}

  open(owner: string, servers: string[], credentials: NatsCredentials, ref: ConsumerRef): BacklogSource {
    const { pool, options } = this;
    // A request that would break the shared connection is never sent: the spec is at fault.
    const checked = consumerInfoSubject(ref);
    if ('error' in checked) {
      const error = checked.error;
      return { read: () => Promise.resolve({ ok: false, error }), close: () => undefined };
    }
    // The connection this source last read on: what is kept of the consumer's readings there is
    // forgotten when the source closes (one replaced before frees its own with it), and by a read
    // still out then, once it ends.
    let readOn: NatsConnection | undefined;
    let closed = false;
    // Why the last reading had no server time: said when it changes, not at every reading.
    let stampProblem: string | undefined;
    return {
      read(): Promise<BacklogReading> {
        return pool.read(owner, servers, credentials, async (nc) => {
          readOn = nc;
          const reading = await readConsumerBacklog(nc, ref, {
            timeoutMs: options.timeoutMs,
            observe: (seconds, result) => options.metrics?.natsRequestDuration.observe({ result }, seconds),
            onStreamInfoDenied: (message) =>
              options.logger?.warn('backlog reads cannot see the stream', {
                stream: ref.stream,
                consumer: ref.consumer,
                error: message,
              }),
            onServerTime: (stamp, message) => {
              options.metrics?.natsReadingStamps.inc({ stamp });
              if (message === stampProblem) return;
              stampProblem = message;
              const fields = { stream: ref.stream, consumer: ref.consumer, stamp };
              if (message === undefined)
                options.logger?.info('backlog readings are timed by the server again', fields);
              else
                options.logger?.[stamp === 'invalid' || stamp === 'skewed' ? 'warn' : 'info'](
                  "backlog readings are timed by the operator's clock, not the server's",
                  { ...fields, reason: message },
                );
            },
            onStreamEditsUnseen: (message) =>
              options.logger?.warn('backlog reads see stream edits late', { error: message }),
          });
          if (closed) forgetConsumer(nc, ref);
          return reading;
        });
      },
      close(): void {
        closed = true;
        if (readOn !== undefined) forgetConsumer(readOn, ref);
        readOn = undefined;
        pool.release(owner);
      },
    };
  }
}
