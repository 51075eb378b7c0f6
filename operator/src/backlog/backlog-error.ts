// Errors of the backlog source as values with a kind, so the controller decides what each means
// (a missing consumer is never a reason to scale; an unreachable server counts toward fallback; a
// slow but live one — Busy, the read was refused without asking it — does not), and messages that name the stream, consumer and server and say what to check.

export type BacklogErrorKind =
  | 'StreamNotFound'
  | 'ConsumerNotFound'
  | 'Unreachable'
  /** The connection answers, slowly: enough reads already wait on it, so this one was not sent. */
  | 'Busy'
  | 'Unauthorized'
  | 'Invalid';

export class BacklogError extends Error {
  constructor(
    readonly kind: BacklogErrorKind,
    message: string,
    readonly where: { stream?: string; consumer?: string; server?: string } = {},
  ) {
    super(message);
    this.name = 'BacklogError';
  }
}

export function isBacklogError(err: unknown): err is BacklogError {
  return err instanceof BacklogError;
}
