// Specifies what the EventRecorder sends, without I/O: the Event body (messages capped like
// condition messages — by code point, never splitting a surrogate pair, saying how much was left
// out) and which warnings count as identical and are suppressed within the repeat interval. Events
// sent to the real API server: scaling.int, leader-election.int (Scaled events by instance).
import {
  eventBody,
  MAX_EVENT_MESSAGE,
  RepeatedWarnings,
  warningKey,
  type EventTarget,
} from './event-recorder.js';

const target: EventTarget = {
  apiVersion: 'jetscale.io/v1alpha1',
  kind: 'EventConsumer',
  namespace: 'shop',
  name: 'orders',
};

/** The message as it goes over the wire: a lone surrogate survives JSON only as an escape. */
function sentMessage(message: string): string {
  const body = eventBody(target, 'Warning', 'NatsUnreachable', message, 'jetscale-0', 'now', 'abc');
  return (JSON.parse(JSON.stringify(body)) as { message: string }).message;
}

describe('eventBody', () => {
  it('never splits a surrogate pair when it caps a long message, and says how much was cut', () => {
    // One ASCII character first, so a cut at an even UTF-16 offset lands inside a pair.
    const sent = sentMessage(`x${'😀'.repeat(2000)}`);
    expect(sent).not.toMatch(/\p{Cs}/u); // no lone surrogate
    expect([...sent].length).toBeLessThanOrEqual(MAX_EVENT_MESSAGE);
    expect(sent).toMatch(/^x😀+ … \(\d+ more characters\)$/u);
  });

  it('sends a message within the cap unchanged, emoji and all', () => {
    const message = '😀'.repeat(MAX_EVENT_MESSAGE);
    const sent = sentMessage(message);
    expect({ characters: [...sent].length, unchanged: sent === message }).toEqual({
      characters: MAX_EVENT_MESSAGE,
      unchanged: true,
    });
  });

  it('names the object, this replica (capped at 128 characters) and a unique name', () => {
    const body = eventBody(target, 'Normal', 'Scaled', 'from 1 to 2', 'p'.repeat(200), 't', 'abc');
    expect(body).toMatchObject({
      metadata: { name: 'orders.abc', namespace: 'shop' },
      involvedObject: { kind: 'EventConsumer', namespace: 'shop', name: 'orders' },
      type: 'Normal',
      reason: 'Scaled',
      reportingInstance: 'p'.repeat(128),
      firstTimestamp: 't',
      lastTimestamp: 't',
    });
  });
});

describe('RepeatedWarnings and warningKey', () => {
  it('admits an identical warning once per interval', () => {
    const gate = new RepeatedWarnings(60_000);
    const key = warningKey(target, 'ConsumerNotFound', 'consumer worker not found');
    expect([gate.admit(key, 0), gate.admit(key, 59_999), gate.admit(key, 60_000)]).toEqual([
      true,
      false,
      true,
    ]);
  });

  it('counts warnings of one reason and repeat key as identical whatever their message; other keys and plain warnings are their own', () => {
    const gate = new RepeatedWarnings(60_000);
    const admitted = [
      [target, 'held 2.7s of 3s', 'near'],
      [target, 'held 2.9s of 3s', 'near'],
      [target, 'held 2.8s of 3s', 'other'],
      [target, 'held 2.9s of 3s', undefined],
      [{ ...target, name: 'another' }, 'held 2.9s of 3s', 'near'],
    ] as const;
    expect(
      admitted
        .filter(([t, message, repeatKey]) =>
          gate.admit(warningKey(t, 'HandlingNearMaxAge', message, repeatKey), 0),
        )
        .map(([t, message]) => `${t.name} ${message}`),
    ).toEqual([
      'orders held 2.7s of 3s',
      'orders held 2.8s of 3s',
      'orders held 2.9s of 3s',
      'another held 2.9s of 3s',
    ]);
  });

  it('forgets an object (deleted): its warnings are admitted again at once, other objects’ are not', () => {
    const gate = new RepeatedWarnings(60_000);
    const mine = warningKey(target, 'ConsumerNotFound', 'gone');
    const other = warningKey({ ...target, name: 'orders-2' }, 'ConsumerNotFound', 'gone');
    gate.admit(mine, 0);
    gate.admit(other, 0);
    gate.forget('shop', 'orders');
    expect([gate.admit(mine, 1), gate.admit(other, 1)]).toEqual([true, false]);
  });
});
