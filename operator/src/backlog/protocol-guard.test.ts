// What the operator takes from a NATS server (protocol-guard.ts): everything a nats-server sends,
// however the bytes are split; nothing that would grow its heap or hold its event loop.
import { DEFAULT_PROTOCOL_LIMITS, ProtocolGuard } from './protocol-guard.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

const INFO = `INFO ${JSON.stringify({
  server_id: 'NDXXX',
  server_name: 'nats-0',
  version: '2.12.0',
  proto: 1,
  headers: true,
  max_payload: 1048576,
  jetstream: true,
  client_id: 7,
  connect_urls: ['10.0.0.1:4222', '10.0.0.2:4222', '[fd00::3]:4222'],
})}\r\n`;

/** What a nats-server sends a client that asks CONSUMER.INFO (with headers) and gets pinged. */
const CONVERSATION =
  INFO +
  'PONG\r\n' +
  'PING\r\n' +
  '+OK\r\n' +
  `MSG _INBOX.abc.1 1 ${'{"num_pending":12}'.length}\r\n{"num_pending":12}\r\n` +
  // Headers "NATS/1.0 503\r\n\r\n" (16 bytes), then "hello": 21 in all.
  'HMSG _INBOX.abc.2 1 $JS.ACK.x 16 21\r\nNATS/1.0 503\r\n\r\nhello\r\n' +
  'MSG $JS.EVENT.ADVISORY.X 2 0\r\n\r\n' +
  '-ERR \'Permissions Violation for Subscription to "_INBOX.>"\'\r\n' +
  INFO;

describe('ProtocolGuard', () => {
  it('takes what a nats-server sends, split anywhere', () => {
    const all = bytes(CONVERSATION);
    for (const size of [1, 2, 3, 7, 64, all.length]) {
      const guard = new ProtocolGuard();
      for (let i = 0; i < all.length; i += size)
        expect(guard.feed(all.subarray(i, i + size))).toBeUndefined();
      expect(guard.firstInfo?.server_name).toBe('nats-0');
    }
  });

  it('drops a line over the limit before it ends, naming its operation (before: buffered without end)', () => {
    const guard = new ProtocolGuard({ maxInfoLineBytes: 1024, maxLineBytes: 256 });
    expect(guard.feed(bytes('INFO {"padding":"'))).toBeUndefined();
    const chunk = bytes('x'.repeat(512));
    expect(guard.feed(chunk)).toBeUndefined();
    const violation = guard.feed(chunk);
    expect(violation?.what).toBe(
      'sent a protocol line of over 1 KiB (starting "INFO", not ended yet); a NATS server\'s INFO line is a few KiB',
    );
    // Once dropped, it stays so.
    expect(guard.feed(bytes('PING\r\n'))).toBe(violation);

    // Lines other than INFO have the lower limit, however the bytes come (here one at a time).
    const other = new ProtocolGuard({ maxInfoLineBytes: 1024, maxLineBytes: 256 });
    expect(other.feed(bytes(INFO))).toBeUndefined();
    const err = bytes(`-ERR '${'x'.repeat(300)}'\r\n`);
    let dropped;
    for (let i = 0; i < err.length && dropped === undefined; i++)
      dropped = other.feed(err.subarray(i, i + 1));
    expect(dropped?.what).toBe(
      'sent a protocol line of over 0 KiB (starting "-ERR", not ended yet); a NATS server\'s other lines are under 4 KiB',
    );
  });

  it('drops a server whose protocol lines come faster than a NATS server sends them', () => {
    let now = 0;
    const guard = new ProtocolGuard({ maxLineBytesPerSecond: 64 * 1024 }, () => now);
    expect(guard.feed(bytes(INFO))).toBeUndefined();
    // 1,000-byte subjects to a subscription of no one: nats.js parses each line all the same.
    const msg = bytes(`MSG ${'s'.repeat(1000)} 99 0\r\n\r\n`);
    for (let second = 0; second < 3; second++) {
      now = 1000 * second;
      for (let i = 0; i < 60; i++) expect(guard.feed(msg)).toBeUndefined();
    }
    now = 3000;
    let dropped;
    for (let i = 0; i < 70 && dropped === undefined; i++) dropped = guard.feed(msg);
    expect(dropped?.what).toBe('sent over 64 KiB of protocol lines (message payloads aside) within a second');
  });

  it('takes messages on the subscriptions the operator made at any rate, and no others (before: an advisory storm was dropped)', () => {
    // What nats.js writes: CONNECT, a request whose payload reads like a SUB, the advisory
    // subscription (sid 2), an inbox subscription with a limit (sid 3), split at every size.
    const written = bytes(
      'CONNECT {"verbose":false,"jwt":"eyJ0eXAi"}\r\nPING\r\n' +
        'PUB $JS.API.CONSUMER.INFO.S.C _INBOX.abc.1 11\r\nSUB x.y 9\r\n\r\n' +
        'HPUB a.b _INBOX.abc.2 12 21\r\nNATS/1.0\r\n\r\nSUB z 8\r\n\r\n' +
        'SUB $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.> 2\r\n' +
        'SUB _INBOX.once 3\r\nUNSUB 3 2\r\n',
    );
    const advisories = new Map(
      [2, 3, 8, 9].map((sid) => [
        sid,
        bytes(
          `MSG $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${'s'.repeat(250)}.${'c'.repeat(250)} ${sid} 2\r\n{}\r\n`,
        ),
      ]),
    );
    const advisory = (sid: number): Uint8Array => advisories.get(sid) ?? new Uint8Array(0);
    for (const size of [1, 2, 5, 64, written.length]) {
      const now = 0;
      const guard = new ProtocolGuard({ maxLineBytesPerSecond: 64 * 1024 }, () => now);
      for (let i = 0; i < written.length; i += size) guard.sent(written.subarray(i, i + size));
      expect(guard.subscriptionCount()).toBe(2); // sids 2 and 3: nothing read inside a payload
      expect(guard.feed(bytes(INFO))).toBeUndefined();
      // 5,000 advisories of 556-byte lines in one second (2.7 MiB): data the operator asked for.
      const violations = new Set<unknown>();
      for (let i = 0; i < 5_000; i++) violations.add(guard.feed(advisory(2)));
      expect([...violations]).toEqual([undefined]);
      // The limited subscription is left after its 2 messages; later ones count as lines.
      expect(guard.feed(advisory(3))).toBeUndefined();
      expect(guard.feed(advisory(3))).toBeUndefined();
      expect(guard.subscriptionCount()).toBe(1);
      // Messages on sids the operator never made (8, 9 were inside payloads) count as any line.
      let dropped;
      for (let i = 0; i < 200 && dropped === undefined; i++) dropped = guard.feed(advisory(i % 2 ? 8 : 9));
      expect(dropped?.what).toBe(
        'sent over 64 KiB of protocol lines (message payloads aside) within a second',
      );
    }
    // A subscription the operator left: what the server sent before it read the UNSUB is taken
    // (megabytes in flight when the operator leaves the advisories for their volume), up to the
    // PONG to a PING written after the UNSUB; then its messages count again.
    const guard = new ProtocolGuard({ maxLineBytesPerSecond: 64 * 1024 }, () => 0);
    guard.sent(bytes('SUB $JS.EVENT.ADVISORY.> 2\r\nPING\r\n'));
    expect(guard.feed(bytes(INFO))).toBeUndefined();
    for (let i = 0; i < 1000; i++) expect(guard.feed(advisory(2))).toBeUndefined();
    guard.sent(bytes('UNSUB 2\r\nPING\r\n'));
    for (let i = 0; i < 1000; i++) expect(guard.feed(advisory(2))).toBeUndefined();
    // The PONG to the PING before the UNSUB: the server may not have read it yet.
    expect(guard.feed(bytes('PONG\r\n'))).toBeUndefined();
    for (let i = 0; i < 1000; i++) expect(guard.feed(advisory(2))).toBeUndefined();
    // The PONG to the PING after it: the server has read the UNSUB, and sends nothing more on sid 2.
    expect(guard.feed(bytes('PONG\r\n'))).toBeUndefined();
    let dropped;
    for (let i = 0; i < 200 && dropped === undefined; i++) dropped = guard.feed(advisory(2));
    expect(dropped?.what).toMatch(/^sent over 64 KiB of protocol lines/);
  });

  it("takes a request's reply on the inbox, and counts messages beyond the requests sent as a stranger's (before: 38,000 a second, never dropped)", () => {
    let now = 0;
    const guard = new ProtocolGuard({ maxLineBytesPerSecond: 64 * 1024 }, () => now);
    // nats.js's one inbox subscription for requests (sid 1), the stream-edit advisories (sid 2,
    // also a wildcard, never a reply-to), and 3 requests naming the inbox, 1 with headers.
    guard.sent(
      bytes(
        'SUB _INBOX.abc.* 1\r\nSUB $JS.EVENT.ADVISORY.STREAM.UPDATED.* 2\r\n' +
          'PUB $JS.API.CONSUMER.INFO.S.C _INBOX.abc.1 0\r\n\r\n' +
          'HPUB $JS.API.STREAM.INFO.S _INBOX.abc.2 12 12\r\nNATS/1.0\r\n\r\n\r\n' +
          'PUB $JS.API.CONSUMER.INFO.S.D _INBOX.abc.3 0\r\n\r\n' +
          // A publish with a reply-to elsewhere, and one without: no reply owed to sid 1.
          'PUB a.b _INBOX.other.4 0\r\n\r\nPUB a.b 0\r\n\r\n',
      ),
    );
    expect(guard.feed(bytes(INFO))).toBeUndefined();
    const reply = (token: number): Uint8Array =>
      bytes(`MSG _INBOX.abc.${token} 1 ${'x'.repeat(200).length}\r\n${'x'.repeat(200)}\r\n`);
    // The 3 replies (here one late, after a second), and 1,000 stream-edit advisories: all taken.
    for (const token of [1, 2]) expect(guard.feed(reply(token))).toBeUndefined();
    for (let i = 0; i < 1000; i++)
      expect(
        guard.feed(bytes(`MSG $JS.EVENT.ADVISORY.STREAM.UPDATED.${'s'.repeat(100)} 2 2\r\n{}\r\n`)),
      ).toBeUndefined();
    now = 1500;
    expect(guard.feed(reply(3))).toBeUndefined();
    // Then a flood on the inbox: no request is waiting, so these count as lines, and the budget ends it.
    let dropped;
    let sent = 0;
    for (; sent < 5000 && dropped === undefined; sent++) dropped = guard.feed(reply(99));
    expect(dropped?.what).toBe('sent over 64 KiB of protocol lines (message payloads aside) within a second');
    expect(sent).toBeLessThan((64 * 1024) / 'MSG _INBOX.abc.99 1 200'.length + 2);
    // More requests owe more replies: a slow stream of them is taken however long it goes on.
    const paced = new ProtocolGuard({ maxLineBytesPerSecond: 64 * 1024 }, () => now);
    paced.sent(bytes('SUB _INBOX.abc.* 1\r\n'));
    expect(paced.feed(bytes(INFO))).toBeUndefined();
    for (let i = 0; i < 5000; i++) {
      now = i; // 1,000 requests a second, each answered
      paced.sent(bytes(`PUB $JS.API.CONSUMER.INFO.S.C _INBOX.abc.${i} 0\r\n\r\n`));
      expect(paced.feed(reply(i))).toBeUndefined();
    }
  });

  it('drops an INFO of too many connect_urls, or of ones that are no host:port (before: 300,000 held the loop 8.6 s)', () => {
    const urls = (n: number) => Array.from({ length: n }, (_, i) => `10.0.${i >> 8}.${i & 255}:4222`);
    const info = (fields: object) => bytes(`INFO ${JSON.stringify({ max_payload: 1024, ...fields })}\r\n`);
    expect(
      new ProtocolGuard().feed(info({ connect_urls: urls(DEFAULT_PROTOCOL_LIMITS.maxConnectUrls) })),
    ).toBeUndefined();
    expect(new ProtocolGuard().feed(info({ connect_urls: urls(257) }))?.what).toMatch(
      /^sent an INFO listing 257 connect_urls \(over the 256 the operator takes/,
    );
    expect(new ProtocolGuard().feed(info({ ws_connect_urls: urls(300) }))?.what).toMatch(
      /listing 300 ws_connect_urls/,
    );
    expect(new ProtocolGuard().feed(info({ connect_urls: ['a b:4222'] }))?.what).toMatch(
      /connect_urls holds "\\"a b:4222\\"", no host:port/,
    );
    expect(new ProtocolGuard().feed(info({ connect_urls: [{}] }))?.what).toMatch(/no host:port/);
    expect(new ProtocolGuard().feed(info({ connect_urls: 'x' }))?.what).toMatch(/connect_urls is not a list/);
  });

  it('drops an INFO nats.js would fail on: not JSON, not an object, a max_payload that is no size', () => {
    expect(new ProtocolGuard().feed(bytes('INFO {"a":\r\n'))?.what).toMatch(
      /^sent an INFO line that is not JSON/,
    );
    expect(new ProtocolGuard().feed(bytes('INFO [1]\r\n'))?.what).toBe(
      'sent an INFO line that is not a JSON object',
    );
    for (const bad of [-1, 0, 1.5, '1048576', 2 ** 60]) {
      expect(
        new ProtocolGuard().feed(bytes(`INFO {"max_payload":${JSON.stringify(bad)}}\r\n`))?.what,
      ).toMatch(/whose max_payload is .*, not a positive whole number of bytes/);
    }
    // A huge but whole max_payload is the server's business: what the operator takes is bounded by its own limit.
    expect(new ProtocolGuard().feed(bytes(`INFO {"max_payload":${2 ** 50}}\r\n`))).toBeUndefined();
  });

  it('drops a server whose first line is not INFO, and any line that is no NATS operation', () => {
    expect(new ProtocolGuard().feed(bytes('SSH-2.0-OpenSSH_9.6\r\n'))?.what).toBe(
      'sent "SSH-2.0-OpenSSH_9.6" where a NATS server first sends its INFO line: is it a NATS server\'s client port?',
    );
    const guard = new ProtocolGuard();
    expect(guard.feed(bytes(INFO))).toBeUndefined();
    expect(guard.feed(bytes('HELLO world\r\n'))?.what).toBe(
      'sent "HELLO world", which is no NATS protocol operation',
    );
  });

  it('drops a message over the limit before taking its payload, and one longer than its line says', () => {
    const guard = new ProtocolGuard({ maxMessageBytes: 1024 });
    expect(guard.feed(bytes(INFO))).toBeUndefined();
    expect(guard.feed(bytes('MSG _INBOX.a 1 1025\r\n'))?.what).toBe(
      'sent a message of 0.0 MiB (1025 bytes), over the 0.0 MiB the operator takes: its requests are answered in a few KiB',
    );
    const hmsg = new ProtocolGuard({ maxMessageBytes: 1024 });
    hmsg.feed(bytes(INFO));
    expect(hmsg.feed(bytes('HMSG _INBOX.a 1 12 2000\r\n'))?.what).toMatch(/^sent a message of/);
    const longer = new ProtocolGuard();
    longer.feed(bytes(INFO));
    expect(longer.feed(bytes('MSG _INBOX.a 1 2\r\nabcd\r\n'))?.what).toBe(
      'sent a message longer than its MSG line said',
    );
    for (const line of [
      'MSG _INBOX.a 1 -3',
      'MSG _INBOX.a 1',
      'MSG _INBOX.a 1 r x 2',
      'HMSG _INBOX.a 1 9 4',
    ]) {
      const g = new ProtocolGuard();
      g.feed(bytes(INFO));
      expect(g.feed(bytes(`${line}\r\n`))?.what).toMatch(/line the NATS protocol does not allow/);
    }
  });

  it('drops PING, INFO and control-line floods, and takes the same rate spread over seconds', () => {
    let now = 0;
    const flood = (line: string, perSecond: number, seconds: number) => {
      now = 0;
      const guard = new ProtocolGuard({}, () => now);
      guard.feed(bytes(INFO));
      for (let s = 0; s < seconds; s++) {
        now = 1000 * (s + 1);
        const violation = guard.feed(bytes(line.repeat(perSecond)));
        if (violation) return violation.what;
      }
      return undefined;
    };
    expect(flood('PING\r\n', 100, 5)).toBeUndefined();
    expect(flood('PING\r\n', 101, 1)).toMatch(/^sent over 100 PINGs within a second/);
    expect(flood(INFO, 20, 5)).toBeUndefined();
    expect(flood(INFO, 21, 1)).toMatch(/^sent over 20 INFO lines within a second/);
    expect(flood('PONG\r\n', 10_000, 3)).toBeUndefined();
    expect(flood('+OK\r\n', 10_001, 1)).toMatch(
      /^sent over 10000 protocol lines other than messages within a second/,
    );
  });
});
