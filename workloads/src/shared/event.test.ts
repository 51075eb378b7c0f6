import { decodeStoredEvent, fieldPath, parseEventsBody } from './event.js';

const valid = {
  type: 'deposit',
  aggregateId: 'acc-1',
  payload: { amount: 5 },
  timestamp: '2026-01-01T00:00:00.000Z',
};
const ids = () => {
  let n = 0;
  return () => `gen-${++n}`;
};

describe('parseEventsBody', () => {
  it('accepts one event and generates an id when absent', () => {
    expect(parseEventsBody(valid, 10, ids())).toEqual({ kind: 'ok', events: [{ ...valid, id: 'gen-1' }] });
  });

  it('keeps a client-supplied id (it becomes the Nats-Msg-Id)', () => {
    const r = parseEventsBody({ ...valid, id: 'my-id_1' }, 10, ids());
    expect(r.kind === 'ok' && r.events[0]?.id).toBe('my-id_1');
  });

  it('accepts an array and {events: [...]}', () => {
    expect(parseEventsBody([valid, valid], 10, ids())).toMatchObject({
      kind: 'ok',
      events: [{ id: 'gen-1' }, { id: 'gen-2' }],
    });
    expect(parseEventsBody({ events: [valid] }, 10, ids())).toMatchObject({
      kind: 'ok',
      events: [{ id: 'gen-1' }],
    });
  });

  it.each([
    ['missing type', { ...valid, type: undefined }, 'type'],
    ['wrong type of payload', { ...valid, payload: 3 }, 'payload'],
    ['bad timestamp', { ...valid, timestamp: 'yesterday' }, 'timestamp'],
    ['timestamp as number', { ...valid, timestamp: 1700000000 }, 'timestamp'],
    ['aggregateId with a dot (would split the subject)', { ...valid, aggregateId: 'a.b' }, 'aggregateId'],
    ['id with a colon (not a KV key)', { ...valid, id: 'a:b' }, 'id'],
    ['zero version', { ...valid, version: 0 }, 'version'],
    ['unknown field', { ...valid, colour: 'red' }, 'colour'],
  ])('rejects %s naming the field', (_name, body, field) => {
    const r = parseEventsBody(body, 10, ids());
    expect(r.kind).toBe('invalid');
    expect(r.kind === 'invalid' && r.issues.map((i) => i.field)).toContain(field);
  });

  it('names the element of a batch that is wrong', () => {
    const r = parseEventsBody({ events: [valid, { ...valid, aggregateId: '' }] }, 10, ids());
    expect(r).toMatchObject({ kind: 'invalid', issues: [{ field: 'events[1].aggregateId' }] });
    const arr = parseEventsBody([valid, valid, { ...valid, payload: null }], 10, ids());
    expect(arr).toMatchObject({ kind: 'invalid', issues: [{ field: '[2].payload' }] });
  });

  it('rejects an empty batch and one above the limit', () => {
    expect(parseEventsBody([], 10, ids()).kind).toBe('invalid');
    expect(parseEventsBody([valid, valid, valid], 2, ids())).toEqual({ kind: 'too_many', count: 3, max: 2 });
  });

  it('rejects non-object bodies', () => {
    for (const body of [null, 'text', 42, true])
      expect(parseEventsBody(body, 10, ids()).kind).toBe('invalid');
  });
});

describe('decodeStoredEvent', () => {
  it('decodes a stored event and rejects garbage with a reason', () => {
    const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
    expect(decodeStoredEvent(enc({ ...valid, id: 'x' }))).toEqual({ ok: true, event: { ...valid, id: 'x' } });
    expect(decodeStoredEvent(enc('{nope'))).toMatchObject({
      ok: false,
      reason: expect.stringContaining('not JSON'),
    });
    expect(decodeStoredEvent(enc(valid))).toMatchObject({ ok: false, reason: expect.stringContaining('id') });
  });
});

describe('fieldPath', () => {
  it('renders paths readably', () => {
    expect(fieldPath(['events', 3, 'aggregateId'])).toBe('events[3].aggregateId');
    expect(fieldPath([])).toBe('(body)');
  });
});
