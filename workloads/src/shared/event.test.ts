import {
  decodeStoredEvent,
  encodeEvents,
  fieldPath,
  parseEventsBody,
  STORED_EVENT_HEADROOM,
  storedEventLimit,
  type StoredEvent,
} from './event.js';
import { MAX_PAYLOAD_DEPTH } from './payload.js';

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
    expect(parseEventsBody(valid, 10, ids())).toEqual({
      kind: 'ok',
      events: [{ ...valid, id: 'gen-1' }],
      form: 'one',
    });
  });

  it('keeps a client-supplied id (it becomes the Nats-Msg-Id)', () => {
    const r = parseEventsBody({ ...valid, id: 'my-id_1' }, 10, ids());
    expect(r.kind === 'ok' && r.events[0]?.id).toBe('my-id_1');
  });

  it('stores an event as its fields in schema order, a generated id last and a sent one in its place', () => {
    const stored = (body: unknown) => {
      const r = parseEventsBody(body, 10, ids());
      return r.kind === 'ok' ? r.events.map((e) => JSON.stringify(e)) : r;
    };
    expect(stored([valid, { version: 2, id: 'mine', ...valid }])).toEqual([
      '{"type":"deposit","aggregateId":"acc-1","payload":{"amount":5},"timestamp":"2026-01-01T00:00:00.000Z","id":"gen-1"}',
      '{"id":"mine","type":"deposit","aggregateId":"acc-1","payload":{"amount":5},"timestamp":"2026-01-01T00:00:00.000Z","version":2}',
    ]);
    expect(stored(valid)).toEqual([
      '{"type":"deposit","aggregateId":"acc-1","payload":{"amount":5},"timestamp":"2026-01-01T00:00:00.000Z","id":"gen-1"}',
    ]);
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
    ['an amount that would overflow the total', { ...valid, payload: { amount: 1.8e303 } }, 'payload.amount'],
    ['a version above 2^53', { ...valid, version: 2 ** 60 }, 'version'],
    [
      'a payload nested too deep',
      { ...valid, payload: JSON.parse(`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`) as unknown },
      `payload.a${'[0]'.repeat(MAX_PAYLOAD_DEPTH - 1)}`,
    ],
    [
      'a __proto__ key in the payload',
      { ...valid, payload: JSON.parse('{"__proto__":{"x":1}}') as unknown },
      'payload.__proto__',
    ],
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

describe('encodeEvents', () => {
  const event = (id: string, blob = ''): StoredEvent => ({ ...valid, id, payload: { blob } });
  const size = (e: StoredEvent) => new TextEncoder().encode(JSON.stringify(e)).byteLength;

  it('encodes each event as it is stored, id included, and refuses one above the limit', () => {
    const small = event('gen-1');
    expect(encodeEvents([small], size(small), 'one')).toEqual({
      kind: 'ok',
      events: [{ event: small, data: new TextEncoder().encode(JSON.stringify(small)) }],
    });
    // One byte over: the generated id is what pushes it over (issue 17, item 7).
    expect(encodeEvents([small], size(small) - 1, 'one')).toEqual({
      kind: 'too_large',
      issues: [{ field: '(body)', message: expect.stringContaining(`at most ${size(small) - 1}`) }],
    });
  });

  it('names the batch element that is too large', () => {
    const big = event('b', 'x'.repeat(500));
    expect(encodeEvents([event('a'), big], 300, 'object')).toMatchObject({
      kind: 'too_large',
      issues: [{ field: 'events[1]' }],
    });
    expect(encodeEvents([big], 300, 'array')).toMatchObject({ issues: [{ field: '[0]' }] });
  });

  it('counts bytes, not characters', () => {
    const e = event('u', 'é'.repeat(100));
    expect(encodeEvents([e], size(e), 'one').kind).toBe('ok');
    expect(size(e)).toBeGreaterThan(JSON.stringify(e).length);
  });

  it('derives the limit from the server max_payload, leaving room for the consumer copies', () => {
    expect(storedEventLimit(1_048_576)).toBe(1_048_576 - STORED_EVENT_HEADROOM);
    expect(storedEventLimit(100)).toBe(0);
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

  it('keeps what another publisher wrote or refuses it, never drops a key silently', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    const proto = `{"id":"p","type":"deposit","aggregateId":"a","timestamp":"2026-01-01T00:00:00.000Z","payload":{"__proto__":{"x":1}}}`;
    expect(decodeStoredEvent(enc(proto))).toMatchObject({
      ok: false,
      reason: expect.stringContaining('payload.__proto__'),
    });
    const huge = `{"id":"h","type":"deposit","aggregateId":"a","timestamp":"2026-01-01T00:00:00.000Z","payload":{"amount":1e400}}`;
    expect(decodeStoredEvent(enc(huge))).toMatchObject({
      ok: false,
      reason: expect.stringContaining('amount'),
    });
  });
});

describe('fieldPath', () => {
  it('renders paths readably', () => {
    expect(fieldPath(['events', 3, 'aggregateId'])).toBe('events[3].aggregateId');
    expect(fieldPath([])).toBe('(body)');
  });
});
