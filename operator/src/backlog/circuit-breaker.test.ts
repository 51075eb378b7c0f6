// Specifies the per-connection breaker: fail fast while down, one check at a time, backing off.
import { BacklogError } from './backlog-error.js';
import { CircuitBreaker } from './circuit-breaker.js';

const down = new BacklogError('Unreachable', 'no answer from NATS at nats-1');

function breaker(): { b: CircuitBreaker; advance(ms: number): void } {
  let t = 1_000_000;
  const b = new CircuitBreaker({
    now: () => t,
    random: () => 0.5, // no jitter
    backoff: { baseMs: 500, maxMs: 4000, jitter: 0.2 },
  });
  return { b, advance: (ms) => (t += ms) };
}

describe('CircuitBreaker', () => {
  it('lets requests through while the connection is healthy', () => {
    const { b } = breaker();
    expect(b.admit()).toBe('send');
    expect(b.isOpen()).toBe(false);
  });

  it('rejects at once while down, and allows one check when it is due', () => {
    const { b, advance } = breaker();
    b.failed(down);
    expect(b.isOpen()).toBe(true);
    expect(b.lastError()).toBe(down);
    expect(b.admit()).toBe('reject');
    advance(499);
    expect(b.admit()).toBe('reject');
    advance(1);
    expect(b.admit()).toBe('check');
    // Only one check at a time, however many readers come.
    expect(b.admit()).toBe('reject');
    expect(b.admit()).toBe('reject');
  });

  it('backs off exponentially up to the cap while checks fail', () => {
    const { b, advance } = breaker();
    const delays: number[] = [];
    b.failed(down);
    for (let i = 0; i < 6; i++) {
      delays.push(b.nextCheckInMs());
      advance(b.nextCheckInMs());
      expect(b.admit()).toBe('check');
      b.failed(down);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
    expect(b.downForMs()).toBe(500 + 1000 + 2000 + 4000 + 4000 + 4000);
  });

  it('closes and forgets the backoff when the connection answers', () => {
    const { b, advance } = breaker();
    b.failed(down);
    b.failed(down);
    advance(b.nextCheckInMs());
    expect(b.admit()).toBe('check');
    b.succeeded();
    expect(b.isOpen()).toBe(false);
    expect(b.admit()).toBe('send');
    b.failed(down);
    expect(b.nextCheckInMs()).toBe(500);
  });
});
