import { ConfigError, consumerSchema, gatewaySchema, loadConfig, topologyOf } from './config.js';

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
});
