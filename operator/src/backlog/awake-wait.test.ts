import { spawn } from 'node:child_process';
import { settledWithinAwake } from './awake-wait.js';

/** Holds this process's event loop, as a long synchronous task or a starved CPU does. */
function holdLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // held
  }
}

/**
 * A child process that answers a line on its stdin with "pong" on its stdout: an answer that
 * arrives as I/O while this process's loop may be held. `ready` once it reads.
 */
function echoChild(): { ready: Promise<void>; ask: () => Promise<string>; end: () => Promise<void> } {
  const child = spawn('sh', ['-c', 'echo ready; read line; echo pong'], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  let buffered = '';
  const lines: Array<(line: string) => void> = [];
  const seen: string[] = [];
  child.stdout.on('data', (b: Buffer) => {
    buffered += String(b);
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      seen.push(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
      lines.shift()?.(seen[seen.length - 1] ?? '');
    }
  });
  const nextLine = () => new Promise<string>((resolve) => lines.push(resolve));
  const ready = nextLine().then(() => undefined);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    ready,
    ask: () => {
      const answer = nextLine();
      child.stdin.write('ping\n');
      return answer;
    },
    end: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

describe('settledWithinAwake', () => {
  it('gives the value of a promise settled in time', async () => {
    const wait = await settledWithinAwake(new Promise<string>((r) => setTimeout(() => r('pong'), 20)), 1000);
    expect(wait).toMatchObject({ settled: true, value: 'pong' });
  });

  it('ends unsettled once the time is up, the loop free all along', async () => {
    const started = performance.now();
    const wait = await settledWithinAwake(new Promise<never>(() => undefined), 200);
    expect(wait.settled).toBe(false);
    // Generous: 200 ms of ticks plus timer slop, not a second.
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('takes an answer that arrived while the loop was held past the time for one (a plain timer read it as none)', async () => {
    const child = echoChild();
    try {
      await child.ready;
      const answer = child.ask();
      const plainTimer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 200));
      const wait = settledWithinAwake(answer, 200);
      // The child answers at once; its line waits in the pipe, unread while the loop is held.
      holdLoop(1500);
      // A timer due while the loop was held runs before the pipe is read: it says "no answer".
      expect(await Promise.race([plainTimer, answer.then(() => 'answered' as const)])).toBe('timeout');
      const result = await wait;
      expect(result).toMatchObject({ settled: true, value: 'pong' });
      // The held loop is the delay, not time the answer was given.
      expect(result.eventLoopDelayMs).toBeGreaterThan(1000);
    } finally {
      await child.end();
    }
  });

  it('still ends unsettled when nothing came, however long the loop was held', async () => {
    const wait = settledWithinAwake(new Promise<never>(() => undefined), 200);
    holdLoop(400);
    const result = await wait;
    expect(result.settled).toBe(false);
    expect(result.eventLoopDelayMs).toBeGreaterThan(300);
  });
});
