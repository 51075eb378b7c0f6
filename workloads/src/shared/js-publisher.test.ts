import { JetStreamApiError } from '@nats-io/jetstream';
import { errors, headers } from '@nats-io/transport-node';
import { publishHeaders, pubAckOf } from './js-publisher.js';

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
});
