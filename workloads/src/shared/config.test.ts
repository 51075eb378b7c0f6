import {
  ConfigError,
  consumerSchema,
  gatewaySchema,
  loadConfig,
  pullConsumerSchema,
  topologyOf,
} from './config.js';

describe('loadConfig', () => {
  it('fills documented defaults', () => {
    const c = loadConfig(gatewaySchema, {});
    expect(c).toMatchObject({
      NATS_URL: 'nats://127.0.0.1:4222',
      EVENTS_STREAM: 'EVENTS',
      CONSUMER_NAME: 'processor',
      PORT: 8080,
    });
    expect(loadConfig(consumerSchema, {}).PORT).toBe(8081);
    expect(topologyOf(c).eventsSubject('acc-1')).toBe('events.acc-1');
  });

  it('names every bad variable and its value', () => {
    const attempt = () =>
      loadConfig(consumerSchema, { PORT: 'eighty', TRANSIENT_FAILURE_RATE: '2', EVENTS_STREAM: 'a.b' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/PORT="eighty": must be a whole number/);
    expect(attempt).toThrow(/TRANSIENT_FAILURE_RATE="2"/);
    expect(attempt).toThrow(/EVENTS_STREAM="a.b"/);
  });

  it('parses POISON_TYPES as a list', () => {
    expect(loadConfig(consumerSchema, { POISON_TYPES: 'a, b,,' }).POISON_TYPES).toEqual(['a', 'b']);
  });

  it('parses HANG_TYPES as a list, empty by default', () => {
    expect(loadConfig(consumerSchema, {}).HANG_TYPES).toEqual([]);
    expect(loadConfig(consumerSchema, { HANG_TYPES: 'hang,,stall ' }).HANG_TYPES).toEqual(['hang', 'stall']);
  });

  it('takes STUCK_AFTER_MS as 0 (never) or at least 1 s, and longer than the simulated work', () => {
    expect(loadConfig(consumerSchema, {}).STUCK_AFTER_MS).toBe(300_000);
    expect(loadConfig(consumerSchema, { STUCK_AFTER_MS: '0', WORK_LATENCY_MS: '5000' }).STUCK_AFTER_MS).toBe(
      0,
    );
    expect(() => loadConfig(consumerSchema, { STUCK_AFTER_MS: '500' })).toThrow(
      /STUCK_AFTER_MS="500": must be 0 \(never\) or at least 1000/,
    );
    expect(() =>
      loadConfig(consumerSchema, {
        STUCK_AFTER_MS: '2000',
        WORK_LATENCY_MS: '1500',
        WORK_LATENCY_JITTER_MS: '400',
        WORK_CPU_MS: '100',
      }),
    ).toThrow(
      /STUCK_AFTER_MS="2000": must be 0 \(never\) or longer than a handler's simulated work .* = 2000\)/,
    );
  });

  it('reads the real-client matrix consumer: stream and consumer required, mode and handler time checked', () => {
    expect(loadConfig(pullConsumerSchema, { STREAM: 'S', CONSUMER: 'c' })).toMatchObject({
      PULL_MODE: 'consume',
      HANDLER_MS: 10,
    });
    const attempt = () =>
      loadConfig(pullConsumerSchema, { CONSUMER: 'a.b', PULL_MODE: 'push', HANDLER_MS: '-5' });
    expect(attempt).toThrow(/STREAM: /);
    expect(attempt).toThrow(/CONSUMER="a.b"/);
    expect(attempt).toThrow(/PULL_MODE="push": must be consume or fetch/);
    expect(attempt).toThrow(/HANDLER_MS="-5": must be at least 0/);
  });
});
