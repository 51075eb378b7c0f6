// Whose fault a failed attempt is. NATS trouble (timeouts, disconnects, a JetStream API error while
// the cluster recovers) is retried without limit and spends none of the event's attempts; anything
// else — a bug, data the code cannot handle, a message the server refuses as too large — would
// fail the same way every time, so it counts towards MAX_DELIVER and ends in the DLQ with the
// error as its reason instead of blocking the aggregate forever.
import { JetStreamApiError, JetStreamError } from '@nats-io/jetstream';
import { errors } from '@nats-io/transport-node';
import { WriterMarkStale } from './projection-writer.js';

export type FailureKind = 'infrastructure' | 'event';

const infrastructure = [
  errors.ClosedConnectionError,
  errors.DrainingConnectionError,
  errors.ConnectionError,
  errors.RequestError,
  errors.TimeoutError,
  errors.NoRespondersError,
  errors.ProtocolError,
  errors.PermissionViolationError,
  errors.AuthorizationError,
];

/** JetStream's "message size exceeds maximum allowed": the event's size, not an outage. */
const MESSAGE_TOO_LARGE = 10054;

export function failureKind(err: unknown): FailureKind {
  // The client's refusal of an oversized message is an argument error: the event's own size.
  if (err instanceof errors.InvalidArgumentError) return 'event';
  if (err instanceof JetStreamApiError && err.code === MESSAGE_TOO_LARGE) return 'event';
  if (err instanceof JetStreamApiError || err instanceof JetStreamError) return 'infrastructure';
  // The writer mark could not be written (NATS trouble), so appends wait: not the event's fault.
  if (err instanceof WriterMarkStale) return 'infrastructure';
  if (infrastructure.some((kind) => err instanceof kind)) return 'infrastructure';
  if (err instanceof Error && err.cause !== undefined && err.cause !== err) return failureKind(err.cause);
  return 'event';
}
