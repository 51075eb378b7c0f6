// Specifies the order in which statuses are written: what users act on first, readings under one
// budget for all EventConsumers, oldest first, one write per EventConsumer at a time with the
// newest status; and the writer that runs them off the reconcile workers.
import type { RequestOptions } from '../kube/api-client.js';
import { FencedError, KubeApiError } from '../kube/api-client.js';
import { silentLogger } from '../observability/logger.js';
import { StatusOvertakenError, StatusWriteQueue, StatusWriter, type StatusPatch } from './status-writer.js';

type Taken = { key: string; item: string } | { waitMs: number } | undefined;
const keyOf = (t: Taken): string | undefined => (t && 'key' in t ? t.key : undefined);

describe('StatusWriteQueue', () => {
  it('writes the newest status of an EventConsumer once, however often it was offered', () => {
    const q = new StatusWriteQueue<string>({ readingsPerSecond: 10 });
    q.offer('a', 'readings', 'a1', 0);
    q.offer('a', 'readings', 'a2', 0);
    q.offer('a', 'readings', 'a3', 0);
    const t = q.take(0);
    expect(t).toEqual({ key: 'a', item: 'a3', lane: 'readings' });
    expect(q.take(0)).toBeUndefined();
  });

  it('never has two writes of one EventConsumer in flight; a newer status waits for the first', () => {
    const q = new StatusWriteQueue<string>({ readingsPerSecond: 10 });
    q.offer('a', 'state', 'a1', 0);
    expect(keyOf(q.take(0))).toBe('a');
    q.offer('a', 'state', 'a2', 0);
    expect(q.take(0)).toBeUndefined();
    q.done('a');
    expect(q.take(0)).toEqual({ key: 'a', item: 'a2', lane: 'state' });
  });

  it('writes what users act on before readings, and a state change moves a waiting status up', () => {
    const q = new StatusWriteQueue<string>({ readingsPerSecond: 10 });
    q.offer('r1', 'readings', 'x', 0);
    q.offer('r2', 'readings', 'x', 0);
    q.offer('s1', 'state', 'x', 0);
    q.offer('r2', 'state', 'y', 0);
    expect([q.take(0), q.take(0), q.take(0)].map(keyOf)).toEqual(['s1', 'r2', 'r1']);
  });

  it('counts what waits by lane, following a status moved up to the state lane and one taken or forgotten', () => {
    const q = new StatusWriteQueue<string>({ readingsPerSecond: 10 });
    q.offer('r1', 'readings', 'x', 0);
    q.offer('r2', 'readings', 'x', 0);
    q.offer('s1', 'state', 'x', 0);
    expect(q.sizeByLane()).toEqual({ state: 1, readings: 2 });
    q.offer('r2', 'state', 'y', 0);
    q.offer('s1', 'readings', 'z', 0); // never back down
    expect(q.sizeByLane()).toEqual({ state: 2, readings: 1 });
    q.take(0);
    q.remove('r1');
    q.remove('gone');
    expect(q.sizeByLane()).toEqual({ state: 1, readings: 0 });
    q.offer('r3', 'readings', 'x', 0);
    q.dropReadings();
    expect(q.sizeByLane()).toEqual({ state: 1, readings: 0 });
    expect(q.size()).toBe(1);
  });

  it('writes readings of the EventConsumer whose status has gone longest without a write first', () => {
    const q = new StatusWriteQueue<string>({ readingsPerSecond: 10 });
    q.offer('fresh', 'readings', 'x', 9_000);
    q.offer('old', 'readings', 'x', 1_000);
    q.offer('never', 'readings', 'x', -Infinity);
    expect([q.take(0), q.take(0), q.take(0)].map(keyOf)).toEqual(['never', 'old', 'fresh']);
  });

  it('keeps readings within the budget for all EventConsumers together; what users act on is never held back', () => {
    const q = new StatusWriteQueue<string>({ readingsPerSecond: 2 });
    for (let i = 0; i < 1000; i++) q.offer(`r${i}`, 'readings', 'x', i);
    let readings = 0;
    // 60 s in steps of 100 ms: at most 2 per second after the first second's burst.
    for (let now = 0; now <= 60_000; now += 100) {
      for (let t = q.take(now); t && 'key' in t; t = q.take(now)) {
        readings++;
        q.done(t.key);
      }
    }
    expect(readings).toBeGreaterThanOrEqual(2 * 60);
    expect(readings).toBeLessThanOrEqual(2 * 60 + 2);
    const waiting = q.take(60_000);
    expect(waiting).toEqual({ waitMs: expect.any(Number) as number });
    // The budget is spent; a state change goes at once.
    q.offer('s', 'state', 'x', 0);
    expect(keyOf(q.take(60_000))).toBe('s');
  });

  it('lets no EventConsumer take more than its turn: one whose state changes at every poll does not starve the others', () => {
    const q = new StatusWriteQueue<string>({ readingsPerSecond: 1 });
    const others = Array.from({ length: 20 }, (_, i) => `o${i}`);
    for (const k of others) q.offer(k, 'state', 'x', 0);
    const written: string[] = [];
    for (let step = 0; step < 21; step++) {
      q.offer('hostile', 'state', `h${step}`, 0); // a new state at every poll
      const t = q.take(step * 1000);
      const key = keyOf(t);
      if (key === undefined) continue;
      written.push(key);
      q.done(key);
    }
    expect(written.filter((k) => k === 'hostile').length).toBeLessThanOrEqual(2);
    expect(others.every((k) => written.includes(k))).toBe(true);
  });

  it('drops waiting readings (on stopping) but keeps what users act on', () => {
    const q = new StatusWriteQueue<string>({ readingsPerSecond: 1 });
    q.offer('r', 'readings', 'x', 0);
    q.offer('s', 'state', 'x', 0);
    q.dropReadings();
    expect(q.size()).toBe(1);
    expect(keyOf(q.take(0))).toBe('s');
  });
});

describe('StatusWriter', () => {
  function writer(answer: (path: string) => Promise<unknown>, now = () => 0) {
    const sent: string[] = [];
    const w = new StatusWriter({
      api: {
        request: async <T>(_m: string, path: string, _o?: RequestOptions): Promise<T> => {
          sent.push(path);
          return (await answer(path)) as T;
        },
      },
      logger: silentLogger,
      readingsPerSecond: 100,
      concurrency: 2,
      now,
    });
    const patch = (path: string, log: string[] = []): StatusPatch => ({
      path,
      body: {},
      onWritten: () => void log.push(`written ${path}`),
      onFailed: () => void log.push(`failed ${path}`),
    });
    return { w, sent, patch };
  }

  it('keeps at most `concurrency` PATCHes in flight, so status never takes every socket', async () => {
    const release: Array<() => void> = [];
    const { w, sent, patch } = writer(() => new Promise((r) => release.push(() => r({}))));
    for (let i = 0; i < 5; i++) w.submit(`ns/e${i}`, 'state', patch(`/e${i}`), 0);
    expect(sent).toHaveLength(2);
    release.splice(0).forEach((r) => r());
    await new Promise((r) => setImmediate(r));
    expect(sent).toHaveLength(4);
    while (release.length > 0) {
      release.splice(0).forEach((r) => r());
      await new Promise((r) => setImmediate(r));
    }
    await w.whenSettled();
    expect(sent).toHaveLength(5);
  });

  it('reports the lane a status was written through: a readings-only status that replaced a waiting state change goes, and counts, as state', async () => {
    const release: Array<() => void> = [];
    const lanes: string[] = [];
    const waiting: Array<Record<string, number>> = [];
    const w = new StatusWriter({
      api: { request: <T>(): Promise<T> => new Promise<T>((r) => release.push(() => r({} as T))) },
      logger: silentLogger,
      readingsPerSecond: 100,
      concurrency: 1,
      now: () => 0,
      onWaiting: (n) => void waiting.push(n),
    });
    const written = (path: string): StatusPatch => ({
      path,
      body: {},
      onWritten: (lane) => void lanes.push(`${path} ${lane}`),
      onFailed: () => undefined,
    });
    w.submit('ns/busy', 'state', written('/busy'), 0); // takes the one slot
    w.submit('ns/a', 'state', written('/a-state'), 0);
    w.submit('ns/a', 'readings', written('/a-readings'), 0); // replaces it, keeps the state lane
    expect(waiting.at(-1)).toEqual({ state: 1, readings: 0 });
    while (lanes.length < 2) {
      release.splice(0).forEach((r) => r());
      await new Promise((r) => setImmediate(r));
    }
    await w.whenSettled();
    expect(lanes).toEqual(['/busy state', '/a-readings state']);
    expect(waiting.at(-1)).toEqual({ state: 0, readings: 0 });
  });

  it('tells the reconciler when a write failed (so the next poll writes again), but not when the object is gone or was recreated (its uid says so), or the term ended', async () => {
    const log: string[] = [];
    const { w, patch } = writer(async (path) => {
      if (path === '/boom') throw new Error('500 from the API server');
      if (path === '/fenced') throw new FencedError('NotLeading', 'term ended');
      // The uid test of the patch failed: the object under this name is another one now.
      if (path === '/recreated')
        throw new KubeApiError(
          422,
          'Invalid',
          'the server rejected our request due to an error in our request',
        );
      // A webhook's 422 with only a message: the object is still the one the status was for.
      if (path === '/hooked/status')
        throw new KubeApiError(422, 'Invalid', 'admission webhook "w" denied the request: frozen');
      if (path === '/recreated-obj') return { metadata: { uid: 'new' } };
      if (path === '/hooked') return { metadata: { uid: 'same' } };
      // The status itself failed validation: a bug worth a warning and another try.
      if (path === '/invalid')
        throw new KubeApiError(422, 'Invalid', 'EventConsumer.jetscale.io "a" is invalid', [
          'status.desiredReplicas: Invalid value: -1',
        ]);
      return {};
    });
    w.submit('ns/a', 'state', patch('/boom', log), 0);
    w.submit('ns/b', 'state', patch('/fenced', log), 0);
    w.submit('ns/c', 'state', patch('/ok', log), 0);
    w.submit('ns/d', 'state', patch('/recreated', log), 0);
    w.submit('ns/e', 'state', patch('/invalid', log), 0);
    w.submit(
      'ns/f',
      'state',
      { ...patch('/recreated', log), object: { path: '/recreated-obj', uid: 'old' } },
      0,
    );
    w.submit(
      'ns/g',
      'state',
      { ...patch('/hooked/status', log), object: { path: '/hooked', uid: 'same' } },
      0,
    );
    await w.whenSettled();
    expect(log.sort()).toEqual(['failed /boom', 'failed /hooked/status', 'failed /invalid', 'written /ok']);
  });

  describe('conditional on status.writtenBy (a late write of an ended term is refused)', () => {
    /** One stored EventConsumer and the JSON Patch semantics of the API server for it. */
    function stored(writtenBy: string | undefined) {
      const object = { metadata: { uid: 'u1' }, status: { writtenBy } as Record<string, unknown> };
      const tested: Array<string | undefined> = [];
      const api = {
        request: async <T>(method: string, _path: string, options?: RequestOptions): Promise<T> => {
          if (method === 'GET') return structuredClone(object) as T;
          const ops = options?.body as Array<{ op: string; path: string; value: unknown }>;
          const test = ops.find((o) => o.op === 'test' && o.path === '/status/writtenBy');
          tested.push(test?.value as string | undefined);
          for (const o of ops) {
            const at = o.path === '/metadata/uid' ? object.metadata.uid : object.status.writtenBy;
            if (o.op === 'test' && at !== o.value)
              throw new KubeApiError(
                422,
                'Invalid',
                'the server rejected our request due to an error in our request',
              );
          }
          const add = ops.find((o) => o.op === 'add');
          object.status = add?.value as Record<string, unknown>;
          return structuredClone(object) as T;
        },
      };
      return { object, tested, api };
    }
    /** The status of u1 as `ours` writes it, having seen `seen` in the cache; outcomes go to `on`. */
    const patchBy = (
      ours: string,
      seen: string | undefined,
      on: Pick<StatusPatch, 'onWritten' | 'onFailed'> = {
        onWritten: () => undefined,
        onFailed: () => undefined,
      },
    ): StatusPatch => ({
      path: '/ec/status',
      object: { path: '/ec', uid: 'u1' },
      body: [
        { op: 'test', path: '/metadata/uid', value: 'u1' },
        { op: 'add', path: '/status', value: { writtenBy: ours } },
      ],
      writer: { ours, seen },
      ...on,
    });

    it('tests what the cache showed before its first write, its own writtenBy after', async () => {
      const { object, tested, api } = stored('a/1');
      const w = new StatusWriter({ api, logger: silentLogger, readingsPerSecond: 100, now: () => 0 });
      const log: string[] = [];
      const patch = (): StatusPatch =>
        patchBy('b/2', 'a/1', {
          onWritten: () => void log.push('written'),
          onFailed: (err) => void log.push(`failed ${String(err)}`),
        });
      w.submit('ns/ec', 'state', patch(), 0);
      await w.whenSettled();
      w.submit('ns/ec', 'state', patch(), 0);
      await w.whenSettled();
      expect(tested).toEqual(['a/1', 'b/2']);
      expect(log).toEqual(['written', 'written']);
      expect(object.status.writtenBy).toBe('b/2');
    });

    it('refuses a write once another term wrote, and writes over it at the next try, testing what is stored now', async () => {
      const { object, tested, api } = stored('a/1');
      const w = new StatusWriter({ api, logger: silentLogger, readingsPerSecond: 100, now: () => 0 });
      const failures: unknown[] = [];
      const patch = (): StatusPatch =>
        patchBy('a/1', 'a/1', { onWritten: () => undefined, onFailed: (err) => void failures.push(err) });
      // Another term took the status over.
      object.status = { writtenBy: 'c/3' };
      w.submit('ns/ec', 'state', patch(), 0);
      await w.whenSettled();
      expect(object.status.writtenBy).toBe('c/3');
      expect(failures).toHaveLength(1);
      expect(failures[0]).toBeInstanceOf(StatusOvertakenError);
      // The next poll (this term still leads): written over what is stored now.
      w.submit('ns/ec', 'state', patch(), 0);
      await w.whenSettled();
      expect(tested).toEqual(['a/1', 'c/3']);
      expect(object.status.writtenBy).toBe('a/1');
    });

    it('with a CRD that prunes writtenBy (older than it): every write goes, unconditionally, as before', async () => {
      const { object, tested, api } = stored(undefined);
      const pruning = {
        request: async <T>(method: string, path: string, options?: RequestOptions): Promise<T> => {
          const answer = await api.request<{ status?: Record<string, unknown> }>(method, path, options);
          delete object.status.writtenBy;
          if (answer.status) delete answer.status.writtenBy;
          return answer as T;
        },
      };
      const w = new StatusWriter({
        api: pruning,
        logger: silentLogger,
        readingsPerSecond: 100,
        now: () => 0,
      });
      const log: string[] = [];
      for (let i = 0; i < 3; i++) {
        w.submit(
          'ns/ec',
          'state',
          patchBy('b/2', undefined, {
            onWritten: () => void log.push('written'),
            onFailed: () => void log.push('failed'),
          }),
          0,
        );
        await w.whenSettled();
      }
      expect(log).toEqual(['written', 'written', 'written']);
      expect(tested).toEqual([undefined, undefined, undefined]);
    });

    it('writes unconditionally over a status that has no writtenBy (written before it existed)', async () => {
      const { object, tested, api } = stored(undefined);
      const w = new StatusWriter({ api, logger: silentLogger, readingsPerSecond: 100, now: () => 0 });
      w.submit('ns/ec', 'state', patchBy('b/2', undefined), 0);
      await w.whenSettled();
      expect(tested).toEqual([undefined]);
      expect(object.status.writtenBy).toBe('b/2');
    });
  });

  it('on drain writes the waiting state changes and drops the readings, then sends nothing more', async () => {
    const { w, sent, patch } = writer(async () => ({}));
    let now = 0;
    const slow = new StatusWriter({
      api: {
        request: async <T>(_m: string, path: string): Promise<T> => {
          sent.push(path);
          return {} as T;
        },
      },
      logger: silentLogger,
      readingsPerSecond: 1,
      concurrency: 1,
      now: () => now,
    });
    slow.submit('ns/r0', 'readings', patch('/r0'), 0); // the burst's one token
    slow.submit('ns/r1', 'readings', patch('/r1'), 0); // waits for the budget
    slow.submit('ns/s', 'state', patch('/s'), 0);
    await slow.drain(5000);
    expect(sent.sort()).toEqual(['/r0', '/s']);
    now += 10_000;
    slow.submit('ns/late', 'state', patch('/late'), 0);
    await slow.whenSettled();
    expect(sent).not.toContain('/late');
    w.stop();
  });
});
