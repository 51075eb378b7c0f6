// Errors of the backlog source as values with a kind, so the controller decides what each means
// (a missing consumer is never a reason to scale; an unreachable server counts toward fallback; a
// slow but live one — Busy, the read was refused without asking it — does not), and messages that name the stream, consumer and server and say what to check.

import type { TlsProblem } from './tls-diagnosis.js';

export type BacklogErrorKind =
  | 'StreamNotFound'
  | 'ConsumerNotFound'
  | 'Unreachable'
  /** The connection answers, slowly: enough reads already wait on it, so this one was not sent. */
  | 'Busy'
  | 'Unauthorized'
  /** The TLS handshake failed for a reason the configuration must fix (see tls-diagnosis.ts). */
  | 'TlsFailed'
  /**
   * The server answers, but the NATS user's account has no JetStream (err_code 10039): an account
   * to fix (or a user of the stream's account to give), not an outage.
   */
  | 'JetStreamDisabled'
  | 'Invalid';

export class BacklogError extends Error {
  constructor(
    readonly kind: BacklogErrorKind,
    message: string,
    readonly where: { stream?: string; consumer?: string; server?: string } = {},
    /** For TlsFailed: the problem, so each EventConsumer can name its own TLS Secret in the message. */
    readonly tls?: TlsProblem,
    /**
     * For Unauthorized, when the server refused the connection's credentials: its words, so each
     * EventConsumer can name its own auth Secret (the connection may be shared).
     */
    readonly refusal?: string,
  ) {
    super(message);
    this.name = 'BacklogError';
  }
}

export function isBacklogError(err: unknown): err is BacklogError {
  return err instanceof BacklogError;
}
