import { filterCoversStream, subjectCovers } from './filter-coverage.js';

const stream = (...subjects: string[]) => ({ subjects, otherSubjects: false });

describe('subjectCovers', () => {
  it.each([
    ['orders.>', 'orders.>', true],
    ['orders.>', 'orders.*', true],
    ['orders.>', 'orders.eu.new', true],
    ['orders.*', 'orders.new', true],
    ['orders.*', 'orders.*', true],
    ['orders.new', 'orders.new', true],
    ['>', 'a.b.c', true],
    ['*.>', 'orders.>', true],
    ['orders.*', 'orders.>', false], // orders.eu.new passes the stream, not the filter
    ['orders.new', 'orders.*', false],
    ['orders.new', 'orders.old', false],
    ['orders.>', 'orders', false], // > needs at least one more token
    ['orders.*.new', 'orders.*', false],
    ['orders', 'orders.new', false],
    ['orders.eu.>', 'orders.>', false],
  ])('filter %s covers stream subject %s: %s', (filter, pattern, covers) => {
    expect(subjectCovers(filter, pattern)).toBe(covers);
  });
});

describe('filterCoversStream', () => {
  it('no filter covers everything', () => {
    expect(filterCoversStream([], stream('orders.>'))).toBe(true);
    expect(filterCoversStream([''], stream('orders.>'))).toBe(true);
  });

  it('a filter equal to the stream subject, or wider, covers it', () => {
    expect(filterCoversStream(['orders.>'], stream('orders.>'))).toBe(true);
    expect(filterCoversStream(['orders.created'], stream('orders.created'))).toBe(true);
    expect(filterCoversStream(['>'], stream('orders.>', 'payments.*'))).toBe(true);
  });

  it('every stream subject must be covered, by one of the filters', () => {
    expect(filterCoversStream(['orders.>'], stream('orders.>', 'payments.>'))).toBe(false);
    expect(filterCoversStream(['orders.>', 'payments.>'], stream('orders.>', 'payments.>'))).toBe(true);
    expect(filterCoversStream(['orders.new'], stream('orders.*'))).toBe(false);
  });

  it('is not known to cover a stream whose messages can carry other subjects, or that lists none', () => {
    expect(filterCoversStream(['orders.>'], { subjects: ['orders.>'], otherSubjects: true })).toBe(false);
    expect(filterCoversStream(['orders.>'], stream())).toBe(false);
  });
});
