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
