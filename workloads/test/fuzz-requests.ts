// Seeded generator of what careless and hostile clients send the gateway: junk bytes, broken and
// truncated JSON, bodies nested thousands of levels, numbers past float range, `__proto__` keys,
// event types named like Object built-ins, wrong field types, batches mixing good and bad events,
// wrong content types, bodies at and past the size limits — interleaved with valid events (single
// and batched, some versioned, some retried with the same id, some of the poison type). The same
// seed gives the same requests, so a failure can be replayed with FUZZ_SEED.

import { seededRng } from '../../test/seeded-rng.js';

export interface FuzzRequest {
  /** What the generator meant to send, for failure messages. */
  kind: string;
  contentType: string;
  body: string | Uint8Array;
  /** Ids of the events in the body if it is valid (a 202 must store exactly these). */
  validIds: string[] | null;
  /** Extra request headers (content encodings, charsets). */
  headers?: Record<string, string>;
}

const BUILTIN_TYPES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__', 'isPrototypeOf'];

export class RequestFuzzer {
  private readonly random: () => number;
  private nextId = 0;
  private readonly versions = new Map<string, number>();
  private readonly sent: Record<string, unknown>[] = [];

  constructor(
    seed: number,
    private readonly aggregates = 40,
  ) {
    this.random = seededRng(seed);
  }

  private int(max: number): number {
    return Math.floor(this.random() * max);
  }

  private pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  private aggregate(): string {
    return `agg-${this.int(this.aggregates)}`;
  }

  /** A valid event (about 1 in 10 versioned, 1 in 50 of the poison type). */
  validEvent(): Record<string, unknown> {
    const aggregateId = this.aggregate();
    const r = this.random();
    const type =
      r < 0.02 ? 'poison' : r < 0.2 ? this.pick(BUILTIN_TYPES) : this.pick(['deposit', 'withdrawal', 'note']);
    const payload: Record<string, unknown> = {
      amount: Math.round((this.random() - 0.3) * 1e6) / 100,
      note: this.pick(['', 'ünïcödé ✓', 'a'.repeat(this.int(300)), '{"not":"parsed"}']),
    };
    if (this.random() < 0.1) payload['constructor'] = { prototype: { x: 1 } };
    if (this.random() < 0.1) payload['nested'] = { a: [{ b: [1, 2, { c: null }] }] };
    const event: Record<string, unknown> = {
      id: `fz-${this.nextId++}`,
      type,
      aggregateId,
      payload,
      timestamp: new Date().toISOString(),
    };
    // Versioned aggregates get consecutive versions (sent concurrently, so some arrive out of order).
    if (aggregateId.endsWith('7')) {
      const version = (this.versions.get(aggregateId) ?? 0) + 1;
      this.versions.set(aggregateId, version);
      event['version'] = version;
    }
    this.sent.push(event);
    return event;
  }

  private deep(levels: number): string {
    const open = this.random() < 0.5 ? '[' : '{"a":';
    const close = open === '[' ? ']' : '}';
    return `${open.repeat(levels)}1${close.repeat(levels)}`;
  }

  /** One request; `junkRatio` of them are junk. */
  next(junkRatio: number): FuzzRequest {
    if (this.random() >= junkRatio) return this.valid();
    return this.junk();
  }

  private valid(): FuzzRequest {
    const r = this.random();
    if (r < 0.08 && this.sent.length > 0) {
      // A client retry: the same event, same id (a duplicate within the window).
      const again = this.pick(this.sent);
      return this.json('retry', again, [String(again['id'])]);
    }
    if (r < 0.3) {
      const events = Array.from({ length: 1 + this.int(20) }, () => this.validEvent());
      const ids = events.map((e) => String(e['id']));
      return this.random() < 0.5 ? this.json('batch', events, ids) : this.json('batch', { events }, ids);
    }
    const event = this.validEvent();
    return this.json('single', event, [String(event['id'])]);
  }

  private json(kind: string, value: unknown, validIds: string[] | null = null): FuzzRequest {
    return { kind, contentType: 'application/json', body: JSON.stringify(value), validIds };
  }

  private raw(kind: string, body: string | Uint8Array, contentType = 'application/json'): FuzzRequest {
    return { kind, contentType, body, validIds: null };
  }

  private junk(): FuzzRequest {
    const base = (): Record<string, unknown> => ({
      type: 'deposit',
      aggregateId: this.aggregate(),
      payload: { amount: 1 },
      timestamp: new Date().toISOString(),
    });
    const withPayload = (payload: string) =>
      JSON.stringify({ ...base(), payload: { amount: 1 } }).replace('{"amount":1}', payload);
    switch (this.int(22)) {
      case 0:
        return this.raw(
          'random bytes',
          Uint8Array.from({ length: 1 + this.int(2000) }, () => this.int(256)),
        );
      case 1: {
        const text = JSON.stringify(this.validEvent());
        this.sent.pop();
        return this.raw('truncated JSON', text.slice(0, this.int(text.length)));
      }
      case 2:
        return this.raw('deep payload', withPayload(`{"x":${this.deep(30 + this.int(20_000))}}`));
      case 3:
        return this.raw('deep body', this.deep(1 + this.int(50_000)));
      case 4:
        return this.raw(
          'amount out of range',
          withPayload(
            `{"amount":${this.pick(['1e308', '-1e400', '1.8e303', '"12"', 'null', '1e13', '[]'])}}`,
          ),
        );
      case 5:
        return this.raw(
          '__proto__ key',
          withPayload(
            this.pick([
              '{"__proto__":{"polluted":true}}',
              '{"a":{"b":[{"__proto__":1}]}}',
              '{"__proto__":null}',
            ]),
          ),
        );
      case 6:
        return this.json('bad aggregateId', {
          ...base(),
          aggregateId: this.pick(['a.b', 'a b', 'ä', '', 'x'.repeat(129), '>', '*', 'a\u0000b']),
        });
      case 7:
        return this.json('bad id', {
          ...base(),
          id: this.pick(['a:b', '', 'x'.repeat(129), 'a/b', 7, null]),
        });
      case 8:
        return this.json('bad type', {
          ...base(),
          type: this.pick(['', 'x'.repeat(65), 'a.b', 3, null, ['deposit']]),
        });
      case 9:
        return this.json('bad timestamp', {
          ...base(),
          timestamp: this.pick(['yesterday', '', 1_700_000_000, '2026-13-45T99:00:00Z', '2026-01-01']),
        });
      case 10:
        return this.json('bad version', { ...base(), version: this.pick([0, -1, 1.5, 2 ** 60, '3', null]) });
      case 11:
        return this.json('unknown field', {
          ...base(),
          [this.pick(['colour', '__proto__', 'constructor'])]: 1,
        });
      case 12: {
        // One bad event spoils the batch: nothing of it may be stored.
        const events = [this.validEvent(), { ...base(), aggregateId: 'bad.agg' }, this.validEvent()];
        this.sent.splice(-2, 2);
        return this.json('batch with a bad element', this.random() < 0.5 ? events : { events });
      }
      case 13:
        return this.json('empty or oversized batch', this.random() < 0.5 ? [] : { events: [], extra: 1 });
      case 14:
        return this.raw('JSON primitive', this.pick(['null', '42', '"text"', 'true', '{}', '[[]]']));
      case 15:
        return this.raw(
          'wrong content type',
          JSON.stringify(base()),
          this.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', '']),
        );
      case 16:
        return this.raw(
          'payload not an object',
          JSON.stringify({ ...base(), payload: this.pick([[], 'x', 1, null]) }),
        );
      case 17:
        return this.raw(
          'many bad elements',
          JSON.stringify(Array.from({ length: 400 }, () => ({ junk: true }))),
        );
      case 18:
        return this.raw('duplicate keys', withPayload('{"amount":1,"amount":1e400}'));
      case 19:
        return {
          ...this.raw(
            'corrupt gzip body',
            Uint8Array.from({ length: 1 + this.int(500) }, () => this.int(256)),
          ),
          headers: { 'content-encoding': this.pick(['gzip', 'deflate', 'br', 'x-unknown']) },
        };
      case 20:
        return this.raw(
          'unsupported charset',
          JSON.stringify(base()),
          this.pick(['application/json; charset=ebcdic', 'application/json; charset=utf-16']),
        );
      default: {
        // Valid, though awkward: lone surrogates and control characters in a string.
        const id = `fz-${this.nextId++}`;
        const body = JSON.stringify({ id, ...base() }).replace(
          '{"amount":1}',
          '{"s":"\\ud800\\u0001\\udfff"}',
        );
        return { kind: 'lone surrogates', contentType: 'application/json', body, validIds: [id] };
      }
    }
  }

  /** A body the size checks must catch: an id-less event within 64 bytes of `maxBodyBytes`. */
  nearLimit(maxBodyBytes: number): FuzzRequest {
    const event = { ...this.validEvent() };
    this.sent.pop();
    delete event['id'];
    event['payload'] = { blob: '' };
    const blob = 'z'.repeat(maxBodyBytes - this.int(64) - JSON.stringify(event).length);
    return this.raw('near the body limit without id', JSON.stringify({ ...event, payload: { blob } }));
  }
}
