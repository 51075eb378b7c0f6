// Specifies how failed consumer-info requests are classified: the kind decides what the
// controller does, the message names stream, consumer and server.
import type { ConsumerInfo } from '@nats-io/jetstream';
import {
  answeredByLeader,
  consumerInfoError,
  consumerInfoProblems,
  placementOf,
  sampleFromConsumerInfo,
  removesHeldMessages,
  removesInside,
  streamCountsOf,
  streamFirstSeqOf,
  streamSubjectsOf,
  upstreamOf,
  copiedSinceConsumerRead,
  removingLimitsOf,
  storedOf,
  streamLimitOf,
  limitedStreamStateOf,
  serverTimeOf,
  MAX_SERVER_CLOCK_SKEW_SECONDS,
  keptConfigCurrent,
  STREAM_CONFIG_RETRY_MS,
  STREAM_CONFIG_TTL_MS,
  STREAM_CONFIG_UNWATCHED_TTL_MS,
} from './jetstream-backlog-source.js';

const ref = { stream: 'ORDERS', consumer: 'worker' };
const named = (name: string, message: string, code?: number): Error =>
  Object.assign(new Error(message), { name, code });

describe('consumerInfoError', () => {
  it.each([
    [
      'StreamNotFound',
      named('StreamNotFoundError', 'stream not found', 404),
      'stream "ORDERS" does not exist',
    ],
    [
      'ConsumerNotFound',
      named('ConsumerNotFoundError', 'consumer not found', 404),
      'consumer "worker" does not exist on stream "ORDERS"',
    ],
    [
      'Unauthorized',
      named(
        'PermissionViolationError',
        "Permissions Violation for Publish to '$JS.API.CONSUMER.INFO.ORDERS.worker'",
      ),
      'not allowed',
    ],
    [
      'Unauthorized',
      named('PermissionViolationError', 'Permissions Violation for Subscription to "_INBOX.Vx7.*"'),
      'subscribe to _INBOX.>',
    ],
    [
      'JetStreamDisabled',
      Object.assign(named('JetStreamNotEnabled', 'JetStream not enabled for account'), {
        cause: named('JetStreamApiError', 'JetStream not enabled for account', 10039),
      }),
      'JetStream is not enabled for the account',
    ],
    // nats.js gives "no responders" the same error name: no JetStream answered at all.
    [
      'Unreachable',
      Object.assign(named('JetStreamNotEnabled', 'jetstream is not enabled'), {
        cause: named('RequestError', 'no responders: $JS.API.CONSUMER.INFO.ORDERS.worker'),
      }),
      'is JetStream enabled',
    ],
    ['Unreachable', named('TimeoutError', 'timeout'), 'no answer from NATS'],
    [
      'Unreachable',
      named('NoRespondersError', 'no responders: $JS.API.CONSUMER.INFO.ORDERS.worker'),
      'is JetStream enabled',
    ],
    // As nats.js makes them: `code` is JetStream's err_code, `status` the HTTP-like code.
    [
      'Invalid',
      Object.assign(named('JetStreamApiError', 'bad request', 10003), { status: 400 }),
      'JetStream rejected',
    ],
    [
      'Unreachable',
      Object.assign(named('JetStreamApiError', 'JetStream system temporarily unavailable', 10008), {
        status: 503,
      }),
      'has no leader',
    ],
    // A reply that is not JSON (a hostile server, a proxy that mangles replies) was an answer:
    // before, "no answer from NATS", as for a timeout.
    [
      'Unreachable',
      (() => {
        try {
          JSON.parse('{"type":"io.nats.jetstream.api.v1.consumer_info_response","num_pending": 12,');
        } catch (err) {
          return err as Error;
        }
        throw new Error('parsed');
      })(),
      'with a reply that is not JSON',
    ],
  ])('classifies as %s', (kind, err, text) => {
    const error = consumerInfoError(err, ref, 'nats-1');
    expect(error.kind).toBe(kind);
    expect(error.message).toContain(text);
    expect(error.message).toContain('nats-1');
    expect(error.where).toEqual({ stream: 'ORDERS', consumer: 'worker', server: 'nats-1' });
  });
});

describe('reading a sample from CONSUMER.INFO', () => {
  /** The parts of a reply jetscale reads, as nats-server 2.12 sends them. */
  const reply = (overrides: Record<string, unknown> = {}): ConsumerInfo =>
    ({
      stream_name: 'ORDERS',
      name: 'worker',
      config: { durable_name: 'worker', max_ack_pending: 1000 },
      delivered: { consumer_seq: 1500, stream_seq: 1400, last_active: '2026-01-01T00:00:00Z' },
      ack_floor: { consumer_seq: 1200, stream_seq: 1190 },
      num_ack_pending: 300,
      num_redelivered: 2,
      num_waiting: 1,
      num_pending: 700,
      ...overrides,
    }) as unknown as ConsumerInfo;

  it('reads the counters, the delivered stream sequence and max_ack_pending', () => {
    expect(consumerInfoProblems(reply())).toEqual([]);
    expect(sampleFromConsumerInfo(reply(), 42)).toEqual({
      at: 42,
      pending: 700,
      ackPending: 300,
      redelivered: 2,
      waiting: 1,
      deliveredConsumerSeq: 1500,
      deliveredStreamSeq: 1400,
      ackFloorConsumerSeq: 1200,
      ackFloorStreamSeq: 1190,
      maxAckPending: 1000,
      filtered: false,
      consumerFilter: '',
    });
  });

  it('reads max_deliver when the consumer has one (-1 and 0: none)', () => {
    const of = (max: number) =>
      sampleFromConsumerInfo(reply({ config: { durable_name: 'worker', max_deliver: max } }), 0).maxDeliver;
    expect([of(4), of(1), of(-1), of(0)]).toEqual([4, 1, undefined, undefined]);
  });

  it('reads a pull consumer’s max_waiting (none for a push consumer, nor when it is not a whole number above 0)', () => {
    const of = (config: Record<string, unknown>) =>
      sampleFromConsumerInfo(reply({ config: { durable_name: 'worker', ...config } as never }), 0).maxWaiting;
    expect([of({ max_waiting: 1 }), of({ max_waiting: 512 }), of({})]).toEqual([1, 512, undefined]);
    expect([
      of({ max_waiting: 0 }),
      of({ max_waiting: -1 }),
      of({ max_waiting: 1.5 }),
      of({ max_waiting: '1' }),
    ]).toEqual([undefined, undefined, undefined, undefined]);
    expect(of({ max_waiting: 1, deliver_subject: 'push.worker' })).toBeUndefined();
  });

  it('carries the stream first sequence read after it, on a stream that removes held messages', () => {
    expect(sampleFromConsumerInfo(reply(), 0, undefined, { streamFirstSeq: 1195 })).toMatchObject({
      removesHeld: true,
      streamFirstSeq: 1195,
    });
    // Unknown (the STREAM.INFO failed): said so, without a number.
    const unknown = sampleFromConsumerInfo(reply(), 0, undefined, { streamFirstSeq: undefined });
    expect(unknown.removesHeld).toBe(true);
    expect(unknown).not.toHaveProperty('streamFirstSeq');
    expect(sampleFromConsumerInfo(reply(), 0)).not.toHaveProperty('removesHeld');
  });

  it('carries the stream counters read after it, on a stream that removes messages from inside it', () => {
    const counts = { firstSeq: 1, lastSeq: 2000, messages: 1500, numDeleted: 500 };
    expect(
      sampleFromConsumerInfo(reply(), 0, undefined, { streamFirstSeq: 1, inside: { by: 'limits', counts } }),
    ).toMatchObject({ removesHeld: true, removesInside: 'limits', streamFirstSeq: 1, stream: counts });
    const unknown = sampleFromConsumerInfo(reply(), 0, undefined, {
      streamFirstSeq: undefined,
      inside: { by: 'requests', counts: undefined },
    });
    expect(unknown.removesInside).toBe('requests');
    expect(unknown).not.toHaveProperty('stream');
    expect(sampleFromConsumerInfo(reply(), 0, undefined, { streamFirstSeq: 1 })).not.toHaveProperty(
      'removesInside',
    );
  });

  it('tells an ack_policy none consumer', () => {
    const of = (ack_policy: string) =>
      sampleFromConsumerInfo(reply({ config: { durable_name: 'worker', ack_policy } }), 0).ackNone;
    expect([of('none'), of('explicit'), of('all')]).toEqual([true, undefined, undefined]);
  });

  it('tells a push consumer without deliver_group, whose subscribers do not share its messages', () => {
    const config = (extra: Record<string, unknown>) => ({ durable_name: 'worker', ...extra });
    const of = (extra: Record<string, unknown>) =>
      sampleFromConsumerInfo(reply({ config: config(extra) }), 0).pushWithoutGroup;
    expect(of({ deliver_subject: 'deliver.worker' })).toBe(true);
    expect(of({ deliver_subject: 'deliver.worker', deliver_group: 'workers' })).toBeUndefined();
    expect(of({})).toBeUndefined(); // pull
    expect(of({ deliver_subject: '' })).toBeUndefined();
  });

  it('tells a push consumer, with or without deliver_group (2f: its subscribers are sent what max_ack_pending allows)', () => {
    const of = (extra: Record<string, unknown>) =>
      sampleFromConsumerInfo(reply({ config: { durable_name: 'worker', ...extra } }), 0).push;
    expect(of({ deliver_subject: 'deliver.worker' })).toBe(true);
    expect(of({ deliver_subject: 'deliver.worker', deliver_group: 'workers' })).toBe(true);
    expect(of({})).toBeUndefined(); // pull
    expect(of({ deliver_subject: '' })).toBeUndefined();
    expect(
      consumerInfoProblems(
        reply({ config: { durable_name: 'worker', deliver_subject: ['deliver.worker'] } }),
      ),
    ).toEqual(['config.deliver_subject is ["deliver.worker"], not a subject']);
    expect(consumerInfoProblems(reply({ config: { durable_name: 'worker', deliver_subject: 7 } }))).toEqual([
      'config.deliver_subject is 7, not a subject',
    ]);
  });

  it('tells a pull consumer whose priority groups pin one client (nats-server 2.11+)', () => {
    const of = (extra: Record<string, unknown>) =>
      sampleFromConsumerInfo(reply({ config: { durable_name: 'worker', ...extra } }), 0).pinnedClient;
    expect(of({ priority_groups: ['jobs'], priority_policy: 'pinned_client' })).toBe(true);
    expect(of({ priority_groups: ['jobs'], priority_policy: 'overflow' })).toBeUndefined();
    expect(of({ priority_groups: ['jobs'], priority_policy: 'prioritized' })).toBeUndefined();
    expect(of({ priority_policy: 'none' })).toBeUndefined();
    expect(of({})).toBeUndefined(); // servers before 2.11 send neither
  });

  it('reads a pause on the server (nats-server 2.11+: paused, pause_remaining in nanoseconds)', () => {
    const paused = reply({ paused: true, pause_remaining: 42_500_000_000 });
    expect(consumerInfoProblems(paused)).toEqual([]);
    expect(sampleFromConsumerInfo(paused, 0)).toMatchObject({ paused: true, pauseRemainingSeconds: 42.5 });
    // Servers before 2.11 send neither; a pause that ended says paused false (or nothing).
    expect(sampleFromConsumerInfo(reply(), 0)).not.toHaveProperty('paused');
    expect(sampleFromConsumerInfo(reply({ paused: false }), 0)).not.toHaveProperty('paused');
    expect(consumerInfoProblems(reply({ paused: 'yes' }))).toEqual(['paused is "yes", not true or false']);
    expect(consumerInfoProblems(reply({ paused: true, pause_remaining: -1 }))).toEqual([
      'pause_remaining is -1, not a whole number of nanoseconds ≥ 0',
    ]);
  });

  it('reads when the consumer was created, which tells a recreated durable from the old one', () => {
    const created = '2026-01-01T00:00:00.123456789Z';
    expect(sampleFromConsumerInfo(reply({ created }), 0).consumerCreated).toBe(created);
    expect(sampleFromConsumerInfo(reply({ created: 17 }), 0)).not.toHaveProperty('consumerCreated');
  });

  it('says whether the consumer has a filter subject, and refuses one that is not a subject', () => {
    const one = reply({ config: { durable_name: 'worker', filter_subject: 'ORDERS.eu' } });
    const many = reply({ config: { durable_name: 'worker', filter_subjects: ['ORDERS.eu', 'ORDERS.us'] } });
    const none = reply({ config: { durable_name: 'worker', filter_subject: '', filter_subjects: [] } });
    expect([one, many, none].map((info) => consumerInfoProblems(info))).toEqual([[], [], []]);
    expect([one, many, none].map((info) => sampleFromConsumerInfo(info, 0).filtered)).toEqual([
      true,
      true,
      false,
    ]);
    // Its filters, in an order that does not depend on how they were listed (rates.ts restarts
    // the arrival estimate when they change).
    const reordered = reply({
      config: { durable_name: 'worker', filter_subjects: ['ORDERS.us', 'ORDERS.eu'] },
    });
    expect(
      [one, many, reordered, none].map((info) => sampleFromConsumerInfo(info, 0).consumerFilter),
    ).toEqual(['ORDERS.eu', 'ORDERS.eu ORDERS.us', 'ORDERS.eu ORDERS.us', '']);
    expect(consumerInfoProblems(reply({ config: { durable_name: 'worker', filter_subject: 7 } }))).toEqual([
      'config.filter_subject is 7, not a subject',
    ]);
    expect(
      consumerInfoProblems(reply({ config: { durable_name: 'worker', filter_subjects: 'ORDERS.eu' } })),
    ).toEqual(['config.filter_subjects is "ORDERS.eu", not a list of subjects']);
  });

  it('counts a filter that covers the whole stream as unfiltered, when the stream config is known', () => {
    const filtered = (filter: string, config: Record<string, unknown> | undefined): boolean => {
      const stream = config === undefined ? undefined : streamSubjectsOf({ config });
      if (typeof stream === 'string') throw new Error(stream);
      return (
        sampleFromConsumerInfo(
          reply({ config: { durable_name: 'worker', filter_subject: filter } }),
          0,
          stream,
        ).filtered === true
      );
    };
    expect(filtered('ORDERS.>', { subjects: ['ORDERS.>'] })).toBe(false);
    expect(filtered('ORDERS.new', { subjects: ['ORDERS.new'] })).toBe(false);
    expect(filtered('ORDERS.new', { subjects: ['ORDERS.*'] })).toBe(true);
    expect(filtered('ORDERS.>', { subjects: ['ORDERS.>', 'PAYMENTS.>'] })).toBe(true);
    expect(filtered('ORDERS.>', { subjects: ['ORDERS.>'], sources: [{ name: 'EU' }] })).toBe(true);
    expect(
      filtered('ORDERS.>', { subjects: ['ORDERS.>'], subject_transform: { src: '>', dest: 'x.>' } }),
    ).toBe(true);
    expect(filtered('ORDERS.>', undefined)).toBe(true); // stream not read: the cautious side
  });

  it('refuses a stream config whose subjects are not a list of subjects', () => {
    expect(streamSubjectsOf({ config: { subjects: 'ORDERS.>' } })).toBe(
      'config.subjects is "ORDERS.>", not a list of subjects',
    );
    expect(streamSubjectsOf({ config: { subjects: ['ORDERS.>', 3] } })).toBe(
      'config.subjects is ["ORDERS.>",3], not a list of subjects',
    );
    expect(streamSubjectsOf({})).toBe('the stream info has no config');
    expect(streamSubjectsOf({ config: { mirror: { name: 'A' } } })).toEqual({
      subjects: [],
      otherSubjects: true,
    });
  });

  it('reads an absent max_ack_pending as unlimited', () => {
    const info = reply({ config: { durable_name: 'worker' } });
    expect(consumerInfoProblems(info)).toEqual([]);
    expect(sampleFromConsumerInfo(info, 0).maxAckPending).toBe(-1);
  });

  it('reads the max_ack_pending of an AckNone consumer as unlimited: the server does not apply it there', () => {
    // nats-server accepts max_ack_pending on an ack_policy none consumer and reports it, but nothing
    // ever awaits ack, so it never holds a delivery back (measured on nats-server 2.12: a fetch of
    // 10 from such a consumer with max_ack_pending 1 got all 10).
    const info = reply({
      config: { durable_name: 'worker', ack_policy: 'none', max_ack_pending: 1 },
      num_ack_pending: 0,
    });
    expect(consumerInfoProblems(info)).toEqual([]);
    expect(sampleFromConsumerInfo(info, 0).maxAckPending).toBe(-1);
    const explicit = reply({
      config: { durable_name: 'worker', ack_policy: 'explicit', max_ack_pending: 1 },
    });
    expect(sampleFromConsumerInfo(explicit, 0).maxAckPending).toBe(1);
  });

  it.each([
    ['a missing delivered block', { delivered: undefined }, 'delivered.consumer_seq is missing'],
    ['a missing stream sequence', { delivered: { consumer_seq: 5 } }, 'delivered.stream_seq is missing'],
    ['a string counter', { num_pending: '700' }, 'num_pending is "700"'],
    ['a negative counter', { num_ack_pending: -1 }, 'num_ack_pending is -1'],
    ['a fractional counter', { num_waiting: 0.5 }, 'num_waiting is 0.5'],
    ['a missing ack floor', { ack_floor: null }, 'ack_floor.consumer_seq is missing'],
    [
      'a non-numeric max_deliver',
      { config: { durable_name: 'worker', max_deliver: '4' } },
      'config.max_deliver is "4"',
    ],
    [
      'a missing ack floor stream sequence',
      { ack_floor: { consumer_seq: 5 } },
      'ack_floor.stream_seq is missing',
    ],
    [
      'a non-numeric max_ack_pending',
      { config: { durable_name: 'worker', max_ack_pending: 'lots' } },
      'config.max_ack_pending is "lots"',
    ],
  ])('names what is wrong with %s', (_name, overrides, problem) => {
    expect(consumerInfoProblems(reply(overrides))).toContainEqual(expect.stringContaining(problem));
  });
});

describe('streams that remove messages a consumer holds (STREAM.INFO)', () => {
  const ns = 1_000_000_000;
  it.each([
    ['max_age on a limits stream', { retention: 'limits', max_age: 3 * ns, discard: 'old' }, true],
    [
      'max_age with discard new (age removes whatever discard says)',
      { max_age: 3 * ns, discard: 'new' },
      true,
    ],
    ['max_msgs discarding old', { max_msgs: 100, discard: 'old' }, true],
    ['max_bytes discarding old (discard absent: old)', { max_bytes: 1024 }, true],
    ['max_msgs discarding new (new messages are refused instead)', { max_msgs: 100, discard: 'new' }, false],
    ['no limits (-1 and 0 as nats-server sends them)', { max_msgs: -1, max_bytes: -1, max_age: 0 }, false],
    [
      'a WorkQueue stream (not handled: acknowledgements move its first sequence too)',
      { retention: 'workqueue', max_age: 3 * ns },
      false,
    ],
  ])('%s', (_title, config, removes) => {
    expect(removesHeldMessages({ config: { name: 'ORDERS', subjects: ['orders.>'], ...config } })).toBe(
      removes,
    );
  });

  it.each([
    [
      'max_msgs_per_subject (a KV-like stream), purges and deletes denied',
      { max_msgs_per_subject: 1, deny_delete: true, deny_purge: true },
      'limits',
    ],
    [
      'rollups allowed, purges and deletes denied',
      { allow_rollup_hdrs: true, deny_delete: true, deny_purge: true },
      'limits',
    ],
    [
      'per-message TTLs allowed (allow_msg_ttl, 2.11+), purges and deletes denied',
      { allow_msg_ttl: true, deny_delete: true, deny_purge: true },
      'limits',
    ],
    ['per-message TTLs allowed, purges and deletes too', { allow_msg_ttl: true }, 'limits'],
    ['deletes allowed (deny_delete absent)', { deny_purge: true }, 'requests'],
    ['purges allowed', { deny_delete: true, deny_purge: false }, 'requests'],
    [
      'nothing removes from inside (-1: no per-subject limit)',
      { max_msgs_per_subject: -1, deny_delete: true, deny_purge: true },
      false,
    ],
    [
      'a WorkQueue stream (not handled: acknowledgements remove messages)',
      { retention: 'workqueue', max_msgs_per_subject: 1 },
      false,
    ],
  ])('removes from inside: %s', (_title, config, removes) => {
    expect(removesInside({ config: { name: 'KV_X', subjects: ['$KV.X.>'], ...config } })).toBe(removes);
  });

  it('reads the stream counters (num_deleted absent: 0), and says why a reply without them is unusable', () => {
    expect(
      streamCountsOf({ state: { first_seq: 3, last_seq: 2000, messages: 1500, num_deleted: 498 } }),
    ).toEqual({
      firstSeq: 3,
      lastSeq: 2000,
      messages: 1500,
      numDeleted: 498,
    });
    expect(streamCountsOf({ state: { first_seq: 1, last_seq: 10, messages: 10 } })).toMatchObject({
      numDeleted: 0,
    });
    expect(streamCountsOf({ state: { first_seq: 1, last_seq: -1, messages: '10' } })).toBe(
      'state.last_seq is -1, not a whole number ≥ 0; state.messages is "10", not a whole number ≥ 0',
    );
    expect(streamCountsOf(null)).toBe(
      'state.first_seq is missing, not a whole number ≥ 0; state.last_seq is missing, not a whole number ≥ 0; state.messages is missing, not a whole number ≥ 0',
    );
  });

  it('reads the first sequence, and says why a reply without one is unusable', () => {
    expect(streamFirstSeqOf({ state: { first_seq: 1195, last_seq: 2000 } })).toBe(1195);
    expect(streamFirstSeqOf({ state: { first_seq: '1195' } })).toBe(
      'state.first_seq is "1195", not a whole number ≥ 0',
    );
    expect(streamFirstSeqOf({})).toBe('state.first_seq is missing, not a whole number ≥ 0');
    expect(streamFirstSeqOf(null)).toBe('state.first_seq is missing, not a whole number ≥ 0');
  });
});

describe('whether CONSUMER.INFO came from the consumer leader', () => {
  const info = (cluster: unknown): ConsumerInfo => ({ cluster }) as unknown as ConsumerInfo;

  it('takes a standalone server (no cluster) and a clustered reply naming its leader', () => {
    expect(answeredByLeader(info(undefined))).toBe(true);
    expect(answeredByLeader(info({ name: 'c', leader: 'n1', replicas: [] }))).toBe(true);
  });

  it('refuses a clustered reply without a leader: a replica answered, and its num_pending is 0', () => {
    expect(answeredByLeader(info({ name: 'c' }))).toBe(false);
    expect(answeredByLeader(info({ name: 'c', leader: '' }))).toBe(false);
    expect(answeredByLeader(info({ name: 'c', leader: 7 }))).toBe(false);
  });
});

describe('placementOf: where a clustered consumer lives (for a read nobody answers)', () => {
  const withCluster = (cluster: unknown): ConsumerInfo => ({ cluster }) as unknown as ConsumerInfo;

  it('counts the leader and the other replicas', () => {
    expect(placementOf(withCluster({ name: 'c', leader: 'n1' }))).toEqual({ leader: 'n1', replicas: 1 });
    expect(
      placementOf(withCluster({ name: 'c', leader: 'n1', replicas: [{ name: 'n0' }, { name: 'n2' }] })),
    ).toEqual({ leader: 'n1', replicas: 3 });
  });

  it('knows none on a standalone server or without a leader', () => {
    expect(placementOf(withCluster(undefined))).toBeUndefined();
    expect(placementOf(withCluster({ name: 'c', leader: '' }))).toBeUndefined();
    expect(placementOf(withCluster({ name: 'c' }))).toBeUndefined();
  });
});

describe('a mirror or sourced stream: what it has not copied yet from its origin (STREAM.INFO)', () => {
  const ms = 1e6;
  const mirror = (source: Record<string, unknown>, lastSeq = 500): unknown => ({
    config: { name: 'M', mirror: { name: 'ORDERS' } },
    state: { first_seq: 1, last_seq: lastSeq, messages: lastSeq },
    mirror: { name: 'ORDERS', ...source },
  });

  it('is nothing to say on a stream with neither', () => {
    expect(upstreamOf({ config: { name: 'ORDERS' }, state: { last_seq: 10 } })).toBeUndefined();
  });

  it('counts the lag of a mirror in contact, and the sum over sources', () => {
    expect(upstreamOf(mirror({ lag: 5852, active: 20 * ms }))).toEqual({
      lag: 5852,
      from: 'mirror of "ORDERS"',
    });
    const sourced = {
      config: { name: 'ALL', sources: [{ name: 'EU' }, { name: 'US' }] },
      state: { last_seq: 300 },
      sources: [
        { name: 'EU', lag: 10, active: 400 * ms, filter_subject: 'eu.>' },
        { name: 'US', lag: 0, active: 900 * ms },
      ],
    };
    expect(upstreamOf(sourced)).toEqual({ lag: 10, from: 'sources "EU", "US"' });
  });

  it.each([
    ['before the first contact (active -1)', { lag: 0, active: -1 }, 500, 'has not been in contact'],
    [
      'while it reports an error',
      { lag: 0, active: -1, error: { code: 404, err_code: 10059, description: 'stream not found' } },
      500,
      'reports an error (stream not found)',
    ],
    ['after 10 s without a message or heartbeat', { lag: 7, active: 12_000 * ms }, 500, 'for 12s'],
    [
      'set up but nothing copied yet (lag 0, last_seq 0)',
      { lag: 0, active: 3 * ms },
      0,
      'copied nothing yet',
    ],
    ['a lag that is not a count', { lag: -1, active: 3 * ms }, 500, 'not a whole number'],
    ['no active', { lag: 3 }, 500, 'not a duration'],
  ] as const)('is not known %s', (_, source, lastSeq, says) => {
    const read = upstreamOf(mirror(source, lastSeq));
    expect(read).toEqual({ unknown: expect.stringContaining(says) });
  });

  it('is caught up at lag 0 once something was copied', () => {
    expect(upstreamOf(mirror({ lag: 0, active: 900 * ms }))).toEqual({ lag: 0, from: 'mirror of "ORDERS"' });
  });

  it('is all of a consumer that reads every subject, and not known to a filtered one while anything lags', () => {
    const info = (config: Record<string, unknown>): ConsumerInfo =>
      ({
        stream_name: 'M',
        name: 'worker',
        config: { durable_name: 'worker', ...config },
        delivered: { consumer_seq: 0, stream_seq: 0 },
        ack_floor: { consumer_seq: 0, stream_seq: 0 },
        num_ack_pending: 0,
        num_redelivered: 0,
        num_waiting: 0,
        num_pending: 100,
      }) as unknown as ConsumerInfo;
    const stream = streamSubjectsOf({ config: { name: 'M', mirror: { name: 'ORDERS' } } });
    if (typeof stream === 'string') throw new Error(stream);
    const lagging = { lag: 400, from: 'mirror of "ORDERS"' };
    expect(sampleFromConsumerInfo(info({}), 0, stream, undefined, lagging).upstream).toEqual(lagging);
    expect(
      sampleFromConsumerInfo(info({ filter_subject: 'orders.eu' }), 0, stream, undefined, lagging).upstream,
    ).toEqual({ unknown: expect.stringContaining('up to 400 messages the mirror of "ORDERS"') });
    const caughtUp = { lag: 0, from: 'mirror of "ORDERS"' };
    expect(
      sampleFromConsumerInfo(info({ filter_subject: 'orders.eu' }), 0, stream, undefined, caughtUp).upstream,
    ).toEqual(caughtUp);
    expect(sampleFromConsumerInfo(info({}), 0, stream)).not.toHaveProperty('upstream');
  });
});

describe('a stream bounded by max_msgs / max_bytes (scaling/stream-full.ts)', () => {
  it.each([
    ['no limit', { retention: 'workqueue' }, undefined],
    [
      'max_msgs, discard new',
      { retention: 'workqueue', max_msgs: 200, discard: 'new' },
      { discard: 'new', maxMsgs: 200 },
    ],
    ['max_bytes, discard old (the default)', { max_bytes: 9800 }, { discard: 'old', maxBytes: 9800 }],
    [
      'both',
      { max_msgs: 200, max_bytes: 9800, discard: 'new' },
      { discard: 'new', maxMsgs: 200, maxBytes: 9800 },
    ],
    ['-1 (unlimited, what nats-server reports)', { max_msgs: -1, max_bytes: -1 }, undefined],
    ['not whole numbers', { max_msgs: '200', max_bytes: 1.5 }, undefined],
  ] as const)('%s', (_, config, limit) => {
    expect(streamLimitOf({ config: { name: 'Q', ...config } })).toEqual(limit);
  });
  it('what it holds: state.messages and state.bytes, each left out when unusable', () => {
    expect(storedOf({ state: { messages: 198, bytes: 9702 } })).toEqual({ messages: 198, bytes: 9702 });
    expect(storedOf({ state: { messages: -1, bytes: 'x' } })).toEqual({});
    expect(storedOf({})).toEqual({});
  });
});

describe('WorkQueue and Interest streams whose limits remove messages besides acknowledgements', () => {
  it.each([
    ['a limits stream (removesHeldMessages covers it)', { max_age: 3e9 }, undefined],
    ['a work queue without limits', { retention: 'workqueue' }, undefined],
    ['max_age', { retention: 'workqueue', max_age: 3e9 }, { maxAgeSeconds: 3 }],
    [
      'max_msgs discarding new (rejects, removes nothing)',
      { retention: 'workqueue', max_msgs: 100, discard: 'new' },
      undefined,
    ],
    ['max_msgs discarding old', { retention: 'interest', max_msgs: 100 }, { maxMsgs: 100 }],
    ['max_bytes discarding old', { retention: 'interest', max_bytes: 1e6 }, { maxBytes: 1e6 }],
    ['max_msgs_per_subject', { retention: 'workqueue', max_msgs_per_subject: 1 }, { maxMsgsPerSubject: 1 }],
    ['per-message TTLs', { retention: 'workqueue', allow_msg_ttl: true }, { msgTtl: true }],
  ] as const)('%s', (_, config, limits) => {
    expect(removingLimitsOf({ config: { name: 'Q', ...config } })).toEqual(limits);
  });

  it("reads the state its limits are bounded by: the oldest message's age on the server's clock", () => {
    expect(
      limitedStreamStateOf({
        ts: '2026-12-04T23:00:10.5Z',
        state: { messages: 3, bytes: 300, last_seq: 40, first_ts: '2026-12-04T23:00:08Z' },
      }),
    ).toEqual({ messages: 3, bytes: 300, lastSeq: 40, oldestAgeSeconds: 2.5 });
    expect(
      limitedStreamStateOf({
        state: { messages: 0, bytes: 0, last_seq: 40, first_ts: '0001-01-01T00:00:00Z' },
      }),
    ).toEqual({ messages: 0, bytes: 0, lastSeq: 40, oldestAgeSeconds: 0 });
    expect(limitedStreamStateOf({ state: { messages: 3, bytes: 300, last_seq: 40 } })).toContain(
      'not a time',
    );
    expect(limitedStreamStateOf({ state: { messages: -1, bytes: 0, last_seq: 0 } })).toContain(
      'state.messages',
    );
  });

  it('reads first_seq where an acknowledgement removes the message (a gap inside is one acknowledged)', () => {
    const state = {
      messages: 27,
      bytes: 2700,
      first_seq: 101,
      last_seq: 130,
      first_ts: '2026-12-04T23:00:08Z',
    };
    const at = (config: Record<string, unknown>, consumers = 1): unknown =>
      limitedStreamStateOf({
        ts: '2026-12-04T23:00:11Z',
        config,
        state: { ...state, consumer_count: consumers },
      });
    expect(at({ retention: 'workqueue' })).toMatchObject({ firstSeq: 101, lastSeq: 130, messages: 27 });
    expect(at({ retention: 'interest' })).toMatchObject({ firstSeq: 101 });
    // Another consumer may still hold what this one acknowledged: no gap would show it.
    expect(at({ retention: 'interest' }, 2)).not.toHaveProperty('firstSeq');
    expect(at({ retention: 'limits' })).not.toHaveProperty('firstSeq');
    expect(at({})).not.toHaveProperty('firstSeq');
    expect(
      limitedStreamStateOf({
        ts: '2026-12-04T23:00:11Z',
        config: { retention: 'workqueue' },
        state: { ...state, first_seq: 'x' },
      }),
    ).not.toHaveProperty('firstSeq');
  });
});

describe('copiedSinceConsumerRead: a mirror copies between the CONSUMER.INFO and STREAM.INFO replies', () => {
  // The consumer's snapshot: 1,400 delivered, 700 pending, so the stream's last sequence was 2,100.
  const info = (config: Record<string, unknown> = {}): ConsumerInfo =>
    ({
      config: { durable_name: 'worker', ...config },
      delivered: { consumer_seq: 1500, stream_seq: 1400 },
      num_pending: 700,
    }) as unknown as ConsumerInfo;
  const counts = { firstSeq: 1, lastSeq: 2_600, messages: 2_600, numDeleted: 0 };

  it('counts what the stream stored after the consumer was read (in neither num_pending nor the lag)', () => {
    expect(copiedSinceConsumerRead(info(), false, counts)).toBe(500);
    expect(copiedSinceConsumerRead(info(), false, { ...counts, lastSeq: 2_100, messages: 2_100 })).toBe(0);
  });

  it('counts nothing where num_pending is not every message after the delivered sequence', () => {
    // A filter: other subjects' messages are stored too.
    expect(copiedSinceConsumerRead(info(), true, counts)).toBe(0);
    // last_per_subject counts one message a subject.
    expect(copiedSinceConsumerRead(info({ deliver_policy: 'last_per_subject' }), false, counts)).toBe(0);
    // Messages removed from the front past the consumer's position (max_age), or from inside.
    expect(copiedSinceConsumerRead(info(), false, { ...counts, firstSeq: 1_800 })).toBe(0);
    expect(copiedSinceConsumerRead(info(), false, { ...counts, numDeleted: 3 })).toBe(0);
    // The stream's counters not read, or behind the consumer's snapshot.
    expect(copiedSinceConsumerRead(info(), false, undefined)).toBe(0);
    expect(copiedSinceConsumerRead(info(), false, { ...counts, lastSeq: 2_000 })).toBe(0);
  });
});

describe("serverTimeOf: when the server took a reading, by which server's clock", () => {
  const wall = Date.parse('2026-12-05T09:00:00Z');
  const info = (extra: Record<string, unknown>): ConsumerInfo => ({ ...extra }) as unknown as ConsumerInfo;
  const standalone = { serverId: 'NABC', wallNow: wall };

  it("stamps a standalone server's reading with its ts, on the clock of that server's run (its id)", () => {
    expect(serverTimeOf(info({ ts: '2026-12-05T08:59:59.123456789Z' }), standalone)).toEqual({
      serverTime: { at: wall - 877, clock: 'server NABC' },
    });
  });

  it("stamps a clustered consumer's reading on its leader's term: the leader and since when it leads", () => {
    const clustered = info({
      ts: '2026-12-05T09:00:00.5Z',
      cluster: { name: 'east', leader: 'n2', leader_since: '2026-12-05T08:10:00.25Z', replicas: [] },
    });
    const stamp = serverTimeOf(clustered, standalone);
    expect(stamp).toEqual({
      serverTime: { at: wall + 500, clock: 'leader n2 of cluster east since 2026-12-05T08:10:00.25Z' },
    });
    // A new term of the same leader (it restarted, or lost and won the leadership): another clock.
    const again = serverTimeOf(
      info({ ...clustered, cluster: { name: 'east', leader: 'n2', leader_since: '2026-12-05T09:00:00Z' } }),
      standalone,
    );
    expect('serverTime' in again && 'serverTime' in stamp && again.serverTime.clock).not.toBe(
      'serverTime' in stamp && stamp.serverTime.clock,
    );
  });

  it.each([
    ['no ts (nats-server < 2.10)', info({}), standalone, 'absent', 'no ts'],
    ['a ts that is no time', info({ ts: 'yesterday' }), standalone, 'invalid', '"yesterday"'],
    [
      'a ts Date.parse would take but RFC 3339 is not',
      info({ ts: 'Dec 5 2026' }),
      standalone,
      'invalid',
      'RFC 3339',
    ],
    ["Go's zero time", info({ ts: '0001-01-01T00:00:00Z' }), standalone, 'skewed', 'behind'],
    [
      "a clock ahead of the operator's by more than the bound",
      info({ ts: new Date(wall + (MAX_SERVER_CLOCK_SKEW_SECONDS + 1) * 1000).toISOString() }),
      standalone,
      'skewed',
      'ahead',
    ],
    [
      'a clustered leader that does not say since when it leads (nats-server < 2.11)',
      info({ ts: '2026-12-05T09:00:00Z', cluster: { name: 'east', leader: 'n2' } }),
      standalone,
      'unidentified',
      'since when n2 leads',
    ],
    [
      'a standalone server read through a JetStream domain (not the server connected to)',
      info({ ts: '2026-12-05T09:00:00Z' }),
      { ...standalone, domain: 'hub' },
      'unidentified',
      'domain "hub"',
    ],
    [
      'a connection that names no server id',
      info({ ts: '2026-12-05T09:00:00Z' }),
      { wallNow: wall },
      'unidentified',
      'server id',
    ],
  ] as const)('is not used with %s', (_, consumerInfo, answeredBy, kind, words) => {
    const stamp = serverTimeOf(consumerInfo, answeredBy);
    expect(stamp).toMatchObject({ unusable: kind });
    expect('message' in stamp ? stamp.message : '').toContain(words);
  });

  it("takes a clock behind the operator's within the bound (the stamp is older than the reply)", () => {
    const ts = new Date(wall - (MAX_SERVER_CLOCK_SKEW_SECONDS - 1) * 1000).toISOString();
    expect(serverTimeOf(info({ ts }), standalone)).toMatchObject({ serverTime: { clock: 'server NABC' } });
  });
});

describe('keptConfigCurrent: when a kept stream config is read again', () => {
  const at = 1_000;
  it('watched: at the first reading after an edit (or an interrupted watch), else after 5 min all the same', () => {
    const kept = { at, usable: true, watched: true };
    expect(keptConfigCurrent(kept, at + 1, false)).toBe(false);
    expect(keptConfigCurrent(kept, at + STREAM_CONFIG_TTL_MS - 1, true)).toBe(true);
    expect(keptConfigCurrent(kept, at + STREAM_CONFIG_TTL_MS, true)).toBe(false);
  });
  it('not watched (no advisories allowed, a domain or API prefix): after 30 s', () => {
    const kept = { at, usable: true, watched: false };
    expect(STREAM_CONFIG_UNWATCHED_TTL_MS).toBe(30_000);
    expect(keptConfigCurrent(kept, at + STREAM_CONFIG_UNWATCHED_TTL_MS - 1, false)).toBe(true);
    expect(keptConfigCurrent(kept, at + STREAM_CONFIG_UNWATCHED_TTL_MS, false)).toBe(false);
  });
  it('a failed or unusable read: retried after a minute, watched or not', () => {
    for (const watched of [true, false]) {
      const kept = { at, usable: false, watched };
      expect(keptConfigCurrent(kept, at + STREAM_CONFIG_RETRY_MS - 1, false)).toBe(true);
      expect(keptConfigCurrent(kept, at + STREAM_CONFIG_RETRY_MS, true)).toBe(false);
    }
  });
});
