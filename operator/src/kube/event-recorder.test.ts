// Specifies what the EventRecorder sends: messages capped like condition messages (by code point,
// never splitting a surrogate pair, saying how much was left out) and repeated warnings suppressed.
import { silentLogger } from '../observability/logger.js';
import type { KubeApi, RequestOptions } from './api-client.js';
import { EventRecorder, MAX_EVENT_MESSAGE, type EventTarget } from './event-recorder.js';

interface SentEvent {
  type: string;
  reason: string;
  message: string;
  involvedObject: { name: string };
}

class RecordingApi implements KubeApi {
  readonly sent: SentEvent[] = [];
  async request<T>(_method: string, _path: string, options: RequestOptions = {}): Promise<T> {
    await Promise.resolve();
    // What goes over the wire: a lone surrogate survives JSON.stringify only as an escape, which
    // the API server turns into U+FFFD.
    this.sent.push(JSON.parse(JSON.stringify(options.body)) as SentEvent);
    return undefined as T;
  }
}

const target: EventTarget = {
  apiVersion: 'jetscale.io/v1alpha1',
  kind: 'EventConsumer',
  namespace: 'shop',
  name: 'orders',
};

function recorder(api: KubeApi): EventRecorder {
  return new EventRecorder({ api, logger: silentLogger, instance: 'jetscale-0' });
}

describe('EventRecorder', () => {
  it('never splits a surrogate pair when it caps a long message, and says how much was cut', async () => {
    const api = new RecordingApi();
    const events = recorder(api);
    // One ASCII character first, so a cut at an even UTF-16 offset lands inside a pair.
    const message = `x${'😀'.repeat(2000)}`;
    events.warning(target, 'NatsUnreachable', message);
    await events.flush();
    const sent = api.sent[0]?.message ?? '';
    expect(sent).not.toMatch(/\p{Cs}/u); // no lone surrogate
    expect([...sent].length).toBeLessThanOrEqual(MAX_EVENT_MESSAGE);
    expect(sent).toMatch(/^x😀+ … \(\d+ more characters\)$/u);
  });

  it('sends a message within the cap unchanged, emoji and all', async () => {
    const api = new RecordingApi();
    const events = recorder(api);
    const message = '😀'.repeat(MAX_EVENT_MESSAGE);
    events.normal(target, 'Scaled', message);
    await events.flush();
    const sent = api.sent[0]?.message ?? '';
    expect({ characters: [...sent].length, unchanged: sent === message }).toEqual({
      characters: MAX_EVENT_MESSAGE,
      unchanged: true,
    });
  });

  it('sends an identical warning once per interval but every scale Event', async () => {
    const api = new RecordingApi();
    const events = recorder(api);
    events.warning(target, 'ConsumerNotFound', 'consumer worker not found');
    events.warning(target, 'ConsumerNotFound', 'consumer worker not found');
    events.normal(target, 'Scaled', 'from 1 to 2');
    events.normal(target, 'Scaled', 'from 1 to 2');
    await events.flush();
    expect(api.sent.map((e) => `${e.type} ${e.reason}`)).toEqual([
      'Warning ConsumerNotFound',
      'Normal Scaled',
      'Normal Scaled',
    ]);
  });

  it('sends warnings of one reason and repeat key once per interval whatever their message; other keys and plain warnings are their own', async () => {
    const api = new RecordingApi();
    const events = recorder(api);
    events.warning(target, 'HandlingNearMaxAge', 'held 2.7s of 3s', { repeatKey: 'near' });
    events.warning(target, 'HandlingNearMaxAge', 'held 2.9s of 3s', { repeatKey: 'near' });
    events.warning(target, 'HandlingNearMaxAge', 'held 2.8s of 3s', { repeatKey: 'other' });
    events.warning(target, 'HandlingNearMaxAge', 'held 2.9s of 3s');
    events.warning({ ...target, name: 'another' }, 'HandlingNearMaxAge', 'held 2.9s of 3s', {
      repeatKey: 'near',
    });
    await events.flush();
    expect(api.sent.map((e) => `${e.involvedObject.name} ${e.message}`)).toEqual([
      'orders held 2.7s of 3s',
      'orders held 2.8s of 3s',
      'orders held 2.9s of 3s',
      'another held 2.9s of 3s',
    ]);
  });
});
