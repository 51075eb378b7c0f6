// filter-count.ts: which streams' counts on a filter are its arrivals, which filters are counted,
// and what a STREAM.INFO reply to subjects_filter must look like to be used.
import {
  countedFilters,
  filterCountOf,
  filterCountUnusable,
  MAX_COUNTED_FILTERS,
  MAX_COUNTED_SUBJECTS,
} from './filter-count.js';

describe('filterCountUnusable: a stream whose count on a filter grows by exactly what arrives for it', () => {
  it.each([
    [{}, undefined],
    [{ retention: 'limits', discard: 'new', max_msgs: 1000 }, undefined],
    [{ retention: 'workqueue' }, "the stream's retention is workqueue: acknowledgements remove messages"],
    [{ retention: 'interest' }, "the stream's retention is interest: acknowledgements remove messages"],
    [{ max_age: 60e9 }, 'the stream removes messages at max_age'],
    [{ max_msgs: 1000 }, 'the stream removes its oldest messages at max_msgs or max_bytes'],
    [
      { max_bytes: 1 << 20, discard: 'old' },
      'the stream removes its oldest messages at max_msgs or max_bytes',
    ],
    [{ max_msgs_per_subject: 1 }, 'the stream removes messages at max_msgs_per_subject'],
    [{ allow_rollup_hdrs: true }, 'the stream allows rollups, which remove messages'],
    [{ allow_msg_ttl: true }, 'the stream allows per-message TTLs, which remove messages'],
    // nats-server sends -1 for "no limit".
    [{ max_age: 0, max_msgs: -1, max_bytes: -1, max_msgs_per_subject: -1 }, undefined],
  ])('%j: %s', (config, why) => {
    expect(filterCountUnusable({ config })).toBe(why);
  });

  it('needs a config', () => {
    expect(filterCountUnusable({})).toBe('the stream info has no config');
    expect(filterCountUnusable(null)).toBe('the stream info has no config');
  });
});

describe('countedFilters: literal filters, and wildcard ones on a stream of few subjects', () => {
  it('counts literal filters', () => {
    expect(countedFilters(['orders.created'])).toEqual(['orders.created']);
    expect(countedFilters(['a.b', 'a.c', 'a.d', 'a.e'])).toEqual(['a.b', 'a.c', 'a.d', 'a.e']);
  });

  it('counts a wildcard filter on a stream that held at most MAX_COUNTED_SUBJECTS subjects', () => {
    expect(countedFilters(['orders.>'], 12)).toEqual(['orders.>']);
    expect(countedFilters(['a.b', 'orders.*.created'], MAX_COUNTED_SUBJECTS)).toEqual([
      'a.b',
      'orders.*.created',
    ]);
    expect(countedFilters(['orders.>'], MAX_COUNTED_SUBJECTS + 1)).toBe(
      'filter subject "orders.>" has a wildcard and the stream holds 1,001 subjects (counted up to 1,000): the stream\'s count per matching subject can run to millions of entries a reading',
    );
  });

  it('says why it does not count wildcards, too many filters, or none', () => {
    expect(countedFilters(['orders.*'])).toMatch(
      /"orders\.\*" has a wildcard and the stream holds an unknown number of subjects/,
    );
    expect(countedFilters(['a.b', 'orders.>'])).toMatch(/"orders\.>" has a wildcard/);
    // A token that only contains * or > is literal.
    expect(countedFilters(['a.b*', 'a.>b'])).toEqual(['a.b*', 'a.>b']);
    const many = Array.from({ length: MAX_COUNTED_FILTERS + 1 }, (_, i) => `s.${i}`);
    expect(countedFilters(many)).toBe(
      `5 filter subjects, more than the ${MAX_COUNTED_FILTERS} counted (one request each)`,
    );
    expect(countedFilters([])).toBe('the consumer has no filter subject');
  });
});

describe('filterCountOf: a STREAM.INFO reply to one literal subjects_filter', () => {
  const reply = (state: unknown, total?: unknown) => ({
    config: {},
    state,
    ...(total !== undefined ? { total } : {}),
  });

  it('reads the count, or 0 when nats-server leaves subjects out (nothing stored on it)', () => {
    expect(filterCountOf(reply({ messages: 90, subjects: { 'o.a': 12 } }, 1), 'o.a')).toBe(12);
    expect(filterCountOf(reply({ messages: 90 }, 0), 'o.a')).toBe(0);
    expect(filterCountOf(reply({ messages: 90 }), 'o.a')).toBe(0);
  });

  it('refuses a reply that is not one count of the subject asked for, saying what is wrong', () => {
    expect(filterCountOf(reply({ subjects: { 'o.b': 12 } }, 1), 'o.a')).toBe(
      'state.subjects names "o.b", not the subject "o.a" asked for',
    );
    expect(filterCountOf(reply({ subjects: { 'o.a': -1 } }, 1), 'o.a')).toBe(
      'state.subjects["o.a"] is -1, not a whole number ≥ 0',
    );
    expect(filterCountOf(reply({ subjects: { 'o.a': '12' } }, 1), 'o.a')).toMatch(/not a whole number/);
    expect(filterCountOf(reply({ subjects: { 'o.a': 12 } }, 100000), 'o.a')).toBe(
      'total is 100000, not 0 or 1 for the literal subject "o.a"',
    );
    expect(filterCountOf(reply({ subjects: [12] }, 1), 'o.a')).toMatch(
      /not an object of subjects and counts/,
    );
    expect(filterCountOf({ config: {} }, 'o.a')).toBe('the reply has no state');
    expect(filterCountOf('x', 'o.a')).toBe('the reply is not a JSON object');
    expect(
      filterCountOf({ error: { code: 404, err_code: 10059, description: 'stream not found' } }, 'o.a'),
    ).toBe('the server answered an error (stream not found)');
  });
});

describe('filterCountOf: a STREAM.INFO reply to a wildcard subjects_filter', () => {
  const reply = (subjects: unknown, total: unknown) => ({
    config: {},
    state: { messages: 900, subjects },
    total,
  });

  it('sums the counts of the matching subjects', () => {
    expect(filterCountOf(reply({ 'o.1.created': 3, 'o.2.created': 4 }, 2), 'o.*.created')).toBe(7);
    expect(filterCountOf(reply({ 'o.a': 3, 'o.a.b.c': 5 }, 2), 'o.>')).toBe(8);
    expect(filterCountOf({ config: {}, state: { messages: 900 }, total: 0 }, 'o.>')).toBe(0);
  });

  it('refuses a page of a longer list, a subject the filter does not match, or a count that is not whole', () => {
    expect(filterCountOf(reply({ 'o.1.created': 3 }, 2), 'o.*.created')).toBe(
      'state.subjects has 1 subjects where total says 2 (a page of a longer list)',
    );
    expect(filterCountOf(reply({ 'o.1.deleted': 3 }, 1), 'o.*.created')).toBe(
      'state.subjects names "o.1.deleted", which "o.*.created" does not match',
    );
    expect(filterCountOf(reply({ 'o.*.created': 3 }, 1), 'o.*.created')).toMatch(/does not match/);
    expect(filterCountOf(reply({ o: 3 }, 1), 'o.>')).toMatch(/does not match/);
    expect(filterCountOf(reply({ 'o.1': 1.5 }, 1), 'o.>')).toBe(
      'state.subjects["o.1"] is 1.5, not a whole number ≥ 0',
    );
    expect(filterCountOf(reply({ 'o.1': 1 }, MAX_COUNTED_SUBJECTS + 1), 'o.>')).toBe(
      'total is 1001, not a whole number of subjects up to 1000 for "o.>"',
    );
    expect(filterCountOf({ config: {}, state: { messages: 900 }, total: 3 }, 'o.>')).toBe(
      'state.subjects is missing with total 3',
    );
  });
});
