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
 * At most this many filter-against-subject matches per decision. A tenant's consumer may list
 * thousands of filters over a stream of as many subjects, and coverage is decided at every reading
 * on the operator's one event loop: matching every pair took 1.2 s for 1,000 of each and 40 s for
 * 8,000, every poll, stalling every other tenant. Past it the answer is "not known to cover"; up
 * to it a decision costs tens of milliseconds at most (2.3 µs a match on a loaded machine here).
 */
export const MAX_COVERAGE_MATCHES = 10_000;

const isWildcard = (subject: string): boolean => subject.split('.').some((t) => t === '*' || t === '>');

/**
 * Whether the consumer's filters (config.filter_subject and filter_subjects, empty strings
 * ignored) let through every message the stream can hold: each stream subject is covered by one
 * filter. No filter at all covers everything. A stream whose messages can carry other subjects
 * (mirror, sources, subject transform), or that lists no subjects, is not known to be covered; nor
 * is one that needs more than MAX_COVERAGE_MATCHES matches to decide — the cautious side: a filtered
 * consumer learns capacity from fewer intervals, never more. A literal filter covers only the
 * same subject, so those are looked up at once and only wildcard filters are matched.
 */
export function filterCoversStream(filters: readonly string[], stream: StreamSubjects): boolean {
  const used = filters.filter((f) => f !== '');
  if (used.length === 0) return true;
  if (stream.otherSubjects || stream.subjects.length === 0) return false;
  const literal = new Set<string>();
  const wildcard: string[] = [];
  for (const f of used) {
    if (isWildcard(f)) wildcard.push(f);
    else literal.add(f);
  }
  let matchesLeft = MAX_COVERAGE_MATCHES;
  for (const s of stream.subjects) {
    if (literal.has(s)) continue;
    if (matchesLeft < wildcard.length) return false;
    matchesLeft -= wildcard.length;
    if (!wildcard.some((f) => subjectCovers(f, s))) return false;
  }
  return true;
}
