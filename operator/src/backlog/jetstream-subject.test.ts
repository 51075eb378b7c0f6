// Specifies the last guard before a request goes out on a shared connection: nothing that would be
// a protocol error or exceed nats-server's control-line limit is ever sent.
import { MAX_SUBJECT_BYTES, apiPrefix, consumerInfoSubject } from './jetstream-subject.js';

const ref = { stream: 'ORDERS', consumer: 'worker' };

describe('consumerInfoSubject', () => {
  it.each([
    [ref, '$JS.API.CONSUMER.INFO.ORDERS.worker'],
    [{ ...ref, domain: 'hub' }, '$JS.hub.API.CONSUMER.INFO.ORDERS.worker'],
    [{ ...ref, apiPrefix: '$JS.leaf.API' }, '$JS.leaf.API.CONSUMER.INFO.ORDERS.worker'],
    [{ ...ref, apiPrefix: '$JS.leaf.API.' }, '$JS.leaf.API.CONSUMER.INFO.ORDERS.worker'],
    [{ stream: 'Bestellungen_Ä', consumer: 'wörker' }, '$JS.API.CONSUMER.INFO.Bestellungen_Ä.wörker'],
  ])('builds the subject nats.js would use for %j', (parts, subject) => {
    expect(consumerInfoSubject(parts)).toEqual({ subject });
  });

  it.each([
    ['a 5,000-character domain', { ...ref, domain: 'd'.repeat(5000) }, 'spec.nats.domain'],
    ['an apiPrefix with CRLF', { ...ref, apiPrefix: '$JS.API\r\nPUB x 1' }, 'spec.nats.apiPrefix'],
    ['an apiPrefix with a space', { ...ref, apiPrefix: '$JS. API' }, 'spec.nats.apiPrefix'],
    ['an apiPrefix with an empty token', { ...ref, apiPrefix: '$JS..API' }, 'spec.nats.apiPrefix'],
    ['a stream with U+00A0', { ...ref, stream: 'A\u00a0B' }, 'spec.nats.stream'],
    ['a consumer with a wildcard', { ...ref, consumer: 'w>' }, 'spec.nats.consumer'],
    [
      'names that together pass the byte limit',
      { stream: 'é'.repeat(900), consumer: 'é'.repeat(900), apiPrefix: 'p'.repeat(1000) },
      'spec.nats.apiPrefix',
    ],
  ])('refuses %s as Invalid (not the server’s fault), naming the field', (_what, parts, field) => {
    const result = consumerInfoSubject(parts);
    expect('error' in result).toBe(true);
    if (!('error' in result)) return;
    expect(result.error.kind).toBe('Invalid');
    expect(result.error.message).toContain(field);
    expect(result.error.message.length).toBeLessThan(400);
  });

  it('allows the longest subject the CRD lets through, within the limit', () => {
    const longest = { apiPrefix: 'ä'.repeat(255), stream: '😀'.repeat(255), consumer: '😀'.repeat(255) };
    const result = consumerInfoSubject(longest);
    expect(result).toHaveProperty('subject');
    if ('subject' in result) expect(Buffer.byteLength(result.subject)).toBeLessThanOrEqual(MAX_SUBJECT_BYTES);
  });

  it('uses the prefix nats.js derives from a domain', () => {
    expect(apiPrefix({ domain: 'hub' })).toBe('$JS.hub.API');
    expect(apiPrefix({})).toBe('$JS.API');
  });
});
