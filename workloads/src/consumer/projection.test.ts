import {
  countOf,
  emptyProjection,
  foldEntry,
  projectionDiff,
  projectionSchema,
  type LogEntry,
} from './projection.js';

const entry = (id: string, version: number, type: string, amount?: number): LogEntry => ({
  id,
  type,
  aggregateId: 'acc-1',
  payload: amount === undefined ? {} : { amount },
  timestamp: '2026-01-01T00:00:00.000Z',
  version,
  sourceSeq: version,
  appliedAt: '2026-01-01T00:00:01.000Z',
});

describe('projection', () => {
  it('folds entries into version, totals and per-type counts', () => {
    let s = emptyProjection('acc-1');
    s = foldEntry(s, entry('a', 1, 'deposit', 10.1), 7);
    s = foldEntry(s, entry('b', 2, 'deposit', 0.2), 9);
    s = foldEntry(s, entry('c', 3, 'note'), 12);
    expect(s).toEqual({
      aggregateId: 'acc-1',
      version: 3,
      lastLogSeq: 12,
      eventCount: 3,
      total: 10.3,
      countsByType: { deposit: 2, note: 1 },
      lastEventId: 'c',
    });
  });

  it("counts event types named like built-in properties as the user's own (issue 17, item 8)", () => {
    const types = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__', 'constructor'];
    const s = types.reduce(
      (st, type, i) => foldEntry(st, entry(`e${i}`, i + 1, type, 1), i + 1),
      emptyProjection('acc-1'),
    );
    expect(countOf(s.countsByType, 'constructor')).toBe(2);
    expect(countOf(s.countsByType, 'toString')).toBe(1);
    expect(countOf(s.countsByType, '__proto__')).toBe(1);
    expect(countOf(s.countsByType, 'isPrototypeOf')).toBe(0);
    // Survives the round trip through the projection bucket (JSON) unchanged.
    const stored = JSON.parse(JSON.stringify(s)) as unknown;
    const read = projectionSchema.parse(stored);
    expect(projectionDiff(read, s)).toEqual([]);
    expect(Object.keys(read.countsByType).sort()).toEqual(
      ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf'].sort(),
    );
  });

  it('refuses to read a projection a broken writer stored', () => {
    const good = foldEntry(emptyProjection('acc-1'), entry('a', 1, 'deposit', 1), 1);
    // What the old code wrote for type "constructor" and for an overflowing total.
    const broken = { ...good, countsByType: { constructor: 'function Object() { [native code] }1' } };
    expect(projectionSchema.safeParse(JSON.parse(JSON.stringify(broken))).success).toBe(false);
    const overflow = JSON.parse(JSON.stringify({ ...good, total: Infinity })) as unknown; // total: null
    expect(projectionSchema.safeParse(overflow).success).toBe(false);
  });

  it('ignores non-numeric amounts', () => {
    const e = { ...entry('a', 1, 'deposit'), payload: { amount: 'lots' } };
    expect(foldEntry(emptyProjection('acc-1'), e, 1).total).toBe(0);
  });

  it('folding is deterministic, so a replay equals the live state', () => {
    const entries = Array.from({ length: 50 }, (_, i) =>
      entry(`e${i}`, i + 1, i % 3 ? 'deposit' : 'withdrawal', (i * 7) / 10),
    );
    const fold = () => entries.reduce((s, e, i) => foldEntry(s, e, i + 1), emptyProjection('acc-1'));
    expect(projectionDiff(fold(), fold())).toEqual([]);
  });

  it('names the fields that differ', () => {
    const a = foldEntry(emptyProjection('acc-1'), entry('a', 1, 'deposit', 1), 1);
    const b = foldEntry(a, entry('b', 2, 'refund', 1), 2);
    expect(projectionDiff(a, b)).toEqual([
      'version',
      'lastLogSeq',
      'eventCount',
      'total',
      'lastEventId',
      'countsByType.refund',
    ]);
  });
});
