// The subject a CONSUMER.INFO request is published on, built from the EventConsumer's domain or
// apiPrefix, stream and consumer, and checked before anything is sent. The connection is shared
// by every EventConsumer with the same servers and credentials: a subject with whitespace or
// CR/LF would be a protocol error, and one past the server's control-line limit (4096 bytes by
// default) makes nats-server close the connection ("maximum control line exceeded") under
// everyone. The CRD's patterns and lengths refuse such specs first; this is the last guard.
import { BacklogError } from './backlog-error.js';

export interface SubjectParts {
  stream: string;
  consumer: string;
  domain?: string;
  apiPrefix?: string;
}

/**
 * Longest subject sent, in bytes. The longest the CRD allows (a 255-character apiPrefix, stream
 * and consumer, 4 bytes each) is about 3,100 bytes; with the reply inbox and the PUB line's
 * other fields that stays under nats-server's default max_control_line of 4096.
 */
export const MAX_SUBJECT_BYTES = 3200;

/** A subject token: no separators, wildcards, whitespace, control or format characters. */
const TOKEN = /^[^.*>\p{Z}\p{Cc}\p{Cf}]+$/u;

/** The JetStream API prefix nats.js uses for this domain / apiPrefix. */
export function apiPrefix(parts: Pick<SubjectParts, 'domain' | 'apiPrefix'>): string {
  if (parts.apiPrefix !== undefined) return parts.apiPrefix.replace(/\.$/, '');
  return parts.domain !== undefined ? `$JS.${parts.domain}.API` : '$JS.API';
}

/** The CONSUMER.INFO subject, or a BacklogError (kind Invalid: not the server's fault) saying what to fix. */
export function consumerInfoSubject(parts: SubjectParts): { subject: string } | { error: BacklogError } {
  const where = { stream: parts.stream.slice(0, 64), consumer: parts.consumer.slice(0, 64) };
  const invalid = (field: string, why: string): { error: BacklogError } => ({
    error: new BacklogError(
      'Invalid',
      `the JetStream request for this consumer cannot be sent: spec.nats.${field} ${why}; fix the EventConsumer (nothing was sent to NATS)`,
      where,
    ),
  });
  for (const field of ['domain', 'stream', 'consumer'] as const) {
    const value = parts[field];
    if (value !== undefined && (value.length > 1024 || !TOKEN.test(value)))
      return invalid(
        field,
        'must be one subject token without dots, wildcards, whitespace or control characters',
      );
  }
  if (parts.apiPrefix !== undefined) {
    const tokens = parts.apiPrefix.replace(/\.$/, '').split('.');
    if (parts.apiPrefix.length > 1024 || tokens.some((t) => !TOKEN.test(t)))
      return invalid(
        'apiPrefix',
        'must be dot-separated subject tokens without wildcards, whitespace or control characters',
      );
  }
  const subject = `${apiPrefix(parts)}.CONSUMER.INFO.${parts.stream}.${parts.consumer}`;
  const bytes = Buffer.byteLength(subject);
  if (bytes > MAX_SUBJECT_BYTES)
    return invalid(
      parts.apiPrefix !== undefined ? 'apiPrefix' : parts.domain !== undefined ? 'domain' : 'stream',
      `makes the request subject ${bytes} bytes long, above the ${MAX_SUBJECT_BYTES} NATS allows on a shared connection`,
    );
  return { subject };
}
