import { API_REPLY_LIMIT_BYTES, oversizedReply, pagedStreamInfo } from './api-replies.js';

describe('oversizedReply', () => {
  it.each(['CONSUMER.INFO', 'STREAM.INFO'] as const)(
    'reads a %s reply up to its limit, and no byte more',
    (kind) => {
      const limit = API_REPLY_LIMIT_BYTES[kind];
      expect(oversizedReply(kind, limit)).toBeUndefined();
      expect(oversizedReply(kind, limit + 1)).toContain(`(${limit + 1} bytes), over jetscale's limit of`);
    },
  );

  it('keeps the limits above what real configs make (measured on nats-server 2.12)', () => {
    // A stream of 10,000 subjects: 429 KiB; 1,000 sources: 139 KiB; a consumer of 10,000 filter
    // subjects: 234 KiB (api-replies.ts).
    expect(oversizedReply('STREAM.INFO', 4 * 429 * 1024)).toBeUndefined();
    expect(oversizedReply('CONSUMER.INFO', 4 * 234 * 1024)).toBeUndefined();
  });

  it('says the size and the limit in MiB, and why', () => {
    expect(oversizedReply('CONSUMER.INFO', 64 * 1024 * 1024)).toMatch(
      /^is 64\.0 MiB \(67108864 bytes\), over jetscale's limit of 1\.0 MiB for CONSUMER.INFO replies: not parsed, as parsing a reply holds the operator's event loop/,
    );
  });
});

describe('pagedStreamInfo', () => {
  it('refuses a stream info that says it is a page of subjects', () => {
    expect(pagedStreamInfo({ total: 1e15, offset: 0, limit: 1 })).toContain(
      'one page of 1000000000000000 subjects',
    );
  });

  it.each([
    [
      'total 0, as nats-server answers a request without a subjects_filter',
      { total: 0, offset: 0, limit: 0 },
    ],
    ['no total', { config: {} }],
    ['not an object', 'x'],
    ['null', null],
  ])('reads %s', (_title, reply) => {
    expect(pagedStreamInfo(reply)).toBeUndefined();
  });
});
