import { JetStreamApiError } from '@nats-io/jetstream';
import { errors, headers } from '@nats-io/transport-node';
import { EncodedHeaders, OWN_KEYS, publishHeaders, pubAckOf } from './js-publisher.js';

const reply = (body: unknown, code?: number) => ({
  data: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)),
  headers: code === undefined ? undefined : headers(code, 'No Responders'),
});

describe('pubAckOf (the answer to a JetStream publish)', () => {
  it('is the PubAck when the stream stored the message', () => {
    expect(pubAckOf('log.a.1', reply({ stream: 'LOG', seq: 42 }))).toEqual({ stream: 'LOG', seq: 42 });
  });

  it('is a JetStreamApiError with the server codes when the stream refused it', () => {
    const err = pubAckOf(
      'log.a.1',
      reply({ error: { code: 400, err_code: 10071, description: 'wrong last sequence: 7' } }),
    );
    expect(err).toBeInstanceOf(JetStreamApiError);
    expect((err as JetStreamApiError).code).toBe(10071);
    expect((err as JetStreamApiError).message).toBe('wrong last sequence: 7');
  });

  it('is NoRespondersError when no stream takes the subject (status 503)', () => {
    expect(pubAckOf('log.a.1', reply('', 503))).toBeInstanceOf(errors.NoRespondersError);
  });

  it('names the subject when the answer is not a PubAck', () => {
    expect(pubAckOf('log.a.1', reply('nope'))).toEqual(
      new Error('invalid JetStream ack for log.a.1: not JSON'),
    );
    expect(pubAckOf('log.a.1', reply({ stream: '', seq: 1 }))).toEqual(
      new Error('invalid JetStream ack for log.a.1'),
    );
  });
});

describe('publishHeaders (what the server checks before it stores a publish)', () => {
  const entries = (h: ReturnType<typeof publishHeaders>) =>
    h === undefined ? undefined : Object.fromEntries([...h.keys()].map((k) => [k, h.get(k)]));

  it('is none for a plain publish', () => {
    expect(publishHeaders()).toBeUndefined();
    expect(publishHeaders(undefined, {})).toBeUndefined();
  });

  it('carries the expected last sequence over a filter (the event log append)', () => {
    expect(
      entries(publishHeaders({ lastSubjectSequence: 0, lastSubjectSequenceSubject: 'log.a.*' })),
    ).toEqual({
      'Nats-Expected-Last-Subject-Sequence': '0',
      'Nats-Expected-Last-Subject-Sequence-Subject': 'log.a.*',
    });
  });

  it('carries the msg id and the expected stream as js.publish() sets them (the gateway’s publish)', () => {
    expect(entries(publishHeaders(undefined, { msgId: 'e-1', expectedStream: 'EVENTS' }))).toEqual({
      'Nats-Msg-Id': 'e-1',
      'Nats-Expected-Stream': 'EVENTS',
    });
  });

  // nats.js's publish sends `headers.encode()`; the encoded headers must be the bytes its own MsgHdrsImpl
  // sends for the same keys and values, and refuse what it refuses.
  const natsBytes = (pairs: [string, string][]) => {
    const h = headers();
    for (const [k, v] of pairs) h.set(k, v);
    return Buffer.from((h as unknown as { encode(): Uint8Array }).encode()).toString('latin1');
  };
  const ourBytes = (h: ReturnType<typeof publishHeaders>) =>
    Buffer.from((h as unknown as { encode(): Uint8Array }).encode()).toString('latin1');

  it('encodes to the bytes nats.js sends for the same headers', () => {
    const cases: [Parameters<typeof publishHeaders>, [string, string][]][] = [
      [[{ lastSubjectSequence: 0 }], [['Nats-Expected-Last-Subject-Sequence', '0']]],
      [
        [{ lastSubjectSequence: 9_007_199_254_740_991, lastSubjectSequenceSubject: 'eventlog.agg-1.*' }],
        [
          ['Nats-Expected-Last-Subject-Sequence', '9007199254740991'],
          ['Nats-Expected-Last-Subject-Sequence-Subject', 'eventlog.agg-1.*'],
        ],
      ],
      [
        [undefined, { msgId: 'e_1-ü', expectedStream: 'EVENTS' }],
        [
          ['Nats-Msg-Id', 'e_1-ü'],
          ['Nats-Expected-Stream', 'EVENTS'],
        ],
      ],
      [[undefined, { msgId: '  spaced  ' }], [['Nats-Msg-Id', '  spaced  ']]],
      [
        [
          { lastSubjectSequence: 7, lastSubjectSequenceSubject: 'log.a.*' },
          { msgId: 'x', expectedStream: 'S' },
        ],
        [
          ['Nats-Expected-Last-Subject-Sequence', '7'],
          ['Nats-Expected-Last-Subject-Sequence-Subject', 'log.a.*'],
          ['Nats-Msg-Id', 'x'],
          ['Nats-Expected-Stream', 'S'],
        ],
      ],
    ];
    for (const [args, pairs] of cases) expect(ourBytes(publishHeaders(...args))).toBe(natsBytes(pairs));
  });

  it('refuses a value with CR or LF, as nats.js does', () => {
    expect(() => natsBytes([['Nats-Msg-Id', 'a\r\nX: y']])).toThrow();
    expect(() => publishHeaders(undefined, { msgId: 'a\r\nX: y' })).toThrow(/cannot contain/);
    expect(() => publishHeaders(undefined, { expectedStream: 'S\n' })).toThrow(/cannot contain/);
  });

  it('sets only names nats.js accepts (OWN_KEYS, whose names are not checked again per publish)', () => {
    const all = publishHeaders(
      { lastSubjectSequence: 1, lastSubjectSequenceSubject: 'log.a.*' },
      { msgId: 'x', expectedStream: 'S' },
    );
    expect(new Set(all?.keys())).toEqual(new Set(OWN_KEYS));
    for (const k of OWN_KEYS) expect(() => headers().set(k, 'v')).not.toThrow();
    expect(() => headers().set('Bad:Name', 'v')).toThrow();
    expect(() => new EncodedHeaders([['Bad:Name', 'v']])).toThrow(/invalid header name/);
  });

  it('reads values trimmed, as nats.js does', () => {
    expect(publishHeaders(undefined, { msgId: '  spaced  ' })?.get('Nats-Msg-Id')).toBe('spaced');
  });

  it('reads like nats.js headers and cannot be changed after encoding', () => {
    const h = publishHeaders({ lastSubjectSequence: 3, lastSubjectSequenceSubject: 'log.b.*' });
    expect(h?.get('Nats-Expected-Last-Subject-Sequence')).toBe('3');
    expect(h?.has('Nats-Msg-Id')).toBe(false);
    expect([...(h ?? [])]).toEqual([
      ['Nats-Expected-Last-Subject-Sequence', ['3']],
      ['Nats-Expected-Last-Subject-Sequence-Subject', ['log.b.*']],
    ]);
    expect(() => h?.set('Nats-Msg-Id', 'x')).toThrow(/read-only/);
  });
});
