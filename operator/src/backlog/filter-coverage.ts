// Whether a consumer's filter subjects let through every message its stream can hold. rates.ts
// treats a filtered consumer's redeliveries as possibly hidden (delivered.stream_seq also moves
// over other subjects' messages), which costs it capacity evidence; a filter that covers the whole
// stream — stream subjects ["orders.>"] and filter "orders.>", or a single stream subject equal to
// the filter — skips nothing, so Δdelivered.stream_seq counts new deliveries exactly as for an
// unfiltered consumer. Pure: the stream's config is read and validated in jetstream-backlog-source.ts.

/** What of a stream's config decides which subjects its messages can have. */
export interface StreamSubjects {
  /** config.subjects: the subjects the stream listens on. */
  subjects: string[];
  /**
   * Whether messages can arrive with subjects the list does not show: a mirror, sources, or a
   * subject transform that rewrites stored subjects. Then no filter is known to cover the stream.
   */
  otherSubjects: boolean;
}

/**
 * Whether every subject matching `pattern` also matches `filter` (NATS wildcards: `*` one token,
 * `>` one or more tokens, only as the last token).
 */
export function subjectCovers(filter: string, pattern: string): boolean {
  const f = filter.split('.');
  const p = pattern.split('.');
  for (let i = 0; i < f.length; i++) {
    const token = f[i];
    if (token === '>') return i < p.length; // the rest of the pattern: one or more tokens
    const other = p[i];
    if (other === undefined || other === '>') return false; // pattern is longer than the filter allows
    if (token === '*') continue; // any one token, a wildcard one too
    if (token !== other) return false; // a literal covers only itself
  }
  return f.length === p.length;
}

/**
 * Whether the consumer's filters (config.filter_subject and filter_subjects, empty strings
 * ignored) let through every message the stream can hold: each stream subject is covered by one
 * filter. No filter at all covers everything. A stream whose messages can carry other subjects
 * (mirror, sources, subject transform), or that lists no subjects, is not known to be covered.
 */
export function filterCoversStream(filters: readonly string[], stream: StreamSubjects): boolean {
  const used = filters.filter((f) => f !== '');
  if (used.length === 0) return true;
  if (stream.otherSubjects || stream.subjects.length === 0) return false;
  return stream.subjects.every((s) => used.some((f) => subjectCovers(f, s)));
}
