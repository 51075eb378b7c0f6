// Specifies the informer supervisor: restart on error with backoff and one restart in flight,
// deletes found by re-listing, a watchdog for silent informers, and no events from old instances.
import { jest } from '@jest/globals';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { silentLogger } from '../observability/logger.js';
import { InformerSupervisor, type InformerFactory } from './informer-supervisor.js';

type Callback = (arg?: unknown) => void;

class FakeInformer {
  readonly callbacks = new Map<string, Callback[]>();
  stopped = false;
  constructor(private readonly list: () => Promise<KubernetesListObject<KubernetesObject>>) {}
  on(verb: string, cb: Callback): void {
    this.callbacks.set(verb, [...(this.callbacks.get(verb) ?? []), cb]);
  }
  off(): void {}
  emit(verb: string, arg?: unknown): void {
    for (const cb of this.callbacks.get(verb) ?? []) cb(arg);
  }
  async start(): Promise<void> {
    const list = await this.list();
    for (const item of list.items) this.emit('add', item);
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
}

const obj = (name: string, rv = '1'): KubernetesObject => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv },
});

function setup(initial: KubernetesObject[], opts: { staleAfterMs?: number; resyncMs?: number } = {}) {
  let items = initial;
  let lists = 0;
  let refusal: Error | undefined;
  const instances: FakeInformer[] = [];
  const factory: InformerFactory<KubernetesObject> = (_path, list) => {
    const informer = new FakeInformer(list);
    instances.push(informer);
    return informer as unknown as ReturnType<InformerFactory<KubernetesObject>>;
  };
  const restarts: string[] = [];
  const supervisor = new InformerSupervisor<KubernetesObject>({
    resource: 'things',
    path: '/things',
    list: async () => {
      lists++;
      if (refusal) throw refusal;
      return { items, metadata: { resourceVersion: '1' } };
    },
    factory,
    logger: silentLogger,
    backoff: { baseMs: 1000, maxMs: 8000, jitter: 0 },
    resyncMs: opts.resyncMs ?? 3_600_000,
    staleAfterMs: opts.staleAfterMs ?? 7_200_000,
    onRestart: (cause) => restarts.push(cause),
  });
  const events: string[] = [];
  supervisor.on({
    add: (o) => events.push(`add ${o.metadata?.name}`),
    update: (o) => events.push(`update ${o.metadata?.name}`),
    delete: (o) => events.push(`delete ${o.metadata?.name}`),
  });
  return {
    supervisor,
    instances,
    restarts,
    events,
    setItems: (next: KubernetesObject[]) => (items = next),
    refuse: (err: Error | undefined) => (refusal = err),
    lists: () => lists,
  };
}

// Lets the supervisor's promise chains (stop old informer, list, start) settle under fake timers.
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('InformerSupervisor', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('syncs from the first list and serves the cache', async () => {
    const { supervisor, events } = setup([obj('a'), obj('b')]);
    await supervisor.start();
    expect(supervisor.hasSynced()).toBe(true);
    expect(events).toEqual(['add a', 'add b']);
    expect(supervisor.get('a', 'ns')?.metadata?.name).toBe('a');
    await supervisor.stop();
  });

  it('a first list refused (403) is answered though not synced; synced once a list succeeds', async () => {
    const { supervisor, refuse, events } = setup([obj('a')]);
    refuse(new Error('eventconsumers.jetscale.io is forbidden: cannot list resource "eventconsumers"'));
    expect(supervisor.hasAnswered()).toBe(false);
    await supervisor.start();
    await settle();
    expect(supervisor.hasSynced()).toBe(false);
    expect(supervisor.hasAnswered()).toBe(true);
    expect(events).toEqual([]);
    refuse(undefined);
    jest.advanceTimersByTime(1000);
    await settle();
    expect(supervisor.hasSynced()).toBe(true);
    expect(supervisor.hasAnswered()).toBe(true);
    expect(events).toEqual(['add a']);
    await supervisor.stop();
  });

  it('restarts a failed informer after a backoff that grows, one restart in flight', async () => {
    const { supervisor, instances, restarts } = setup([obj('a')]);
    await supervisor.start();
    const first = instances[0];
    first?.emit('error', new Error('watch failed'));
    first?.emit('error', new Error('done fired twice'));
    expect(restarts).toEqual(['error']);
    jest.advanceTimersByTime(999);
    await settle();
    expect(instances).toHaveLength(1);
    jest.advanceTimersByTime(1);
    await settle();
    expect(instances).toHaveLength(2);
    expect(first?.stopped).toBe(true);
    await supervisor.stop();
  });

  it('says it recovered when a list succeeds after a failure, not on a plain re-list', async () => {
    const { supervisor, instances } = setup([obj('a')]);
    let recovered = 0;
    supervisor.on({ recovered: () => recovered++ });
    await supervisor.start();
    supervisor.restart('relist', 0);
    jest.advanceTimersByTime(0);
    await settle();
    expect(instances).toHaveLength(2);
    expect(recovered).toBe(0);
    instances[1]?.emit('error', new Error('connect ECONNREFUSED'));
    jest.advanceTimersByTime(1000);
    await settle();
    expect(instances).toHaveLength(3);
    expect(recovered).toBe(1);
    await supervisor.stop();
  });

  it('turns objects missing from a re-list into deletes', async () => {
    const { supervisor, events, setItems } = setup([obj('a'), obj('b')]);
    await supervisor.start();
    setItems([obj('b')]);
    supervisor.restart('relist', 0);
    jest.advanceTimersByTime(0);
    await settle();
    expect(events).toEqual(['add a', 'add b', 'delete a']);
    expect(supervisor.get('a', 'ns')).toBeUndefined();
    await supervisor.stop();
  });

  it('ignores events from a replaced informer', async () => {
    const { supervisor, instances, events } = setup([]);
    await supervisor.start();
    supervisor.restart('relist', 0);
    jest.advanceTimersByTime(0);
    await settle();
    instances[0]?.emit('add', obj('ghost'));
    instances[1]?.emit('add', obj('real'));
    expect(events).toEqual(['add real']);
    await supervisor.stop();
  });

  it('restarts an informer that has been silent longer than the stale limit', async () => {
    const { supervisor, instances, restarts } = setup([obj('a')], { staleAfterMs: 10_000 });
    await supervisor.start();
    jest.advanceTimersByTime(12_500);
    jest.advanceTimersByTime(1);
    await settle();
    expect(restarts).toContain('stale');
    expect(instances.length).toBeGreaterThanOrEqual(2);
    await supervisor.stop();
  });

  it('re-lists on its resync period', async () => {
    const { supervisor, restarts } = setup([obj('a')], { resyncMs: 5000 });
    await supervisor.start();
    jest.advanceTimersByTime(5000);
    await settle();
    expect(restarts).toEqual(['relist']);
    await supervisor.stop();
  });

  it('only reports an update when the resource version changed', async () => {
    const { supervisor, instances, events } = setup([obj('a', '1')]);
    await supervisor.start();
    instances[0]?.emit('update', obj('a', '1'));
    instances[0]?.emit('update', obj('a', '2'));
    expect(events).toEqual(['add a', 'update a']);
    await supervisor.stop();
  });

  describe('our own write answers as a canary for a stalled watch', () => {
    const withGen = (name: string, rv: string, generation: number): KubernetesObject => ({
      metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: rv, generation },
    });

    it('an answer with a newer generation is cached at once, handlers told, informer restarted', async () => {
      const { supervisor, events, restarts } = setup([withGen('a', '1', 1)]);
      await supervisor.start();
      supervisor.answered(withGen('a', '5', 2));
      expect(supervisor.get('a', 'ns')?.metadata?.generation).toBe(2);
      expect(events).toEqual(['add a', 'update a']);
      expect(restarts).toEqual(['missed']);
      await supervisor.stop();
    });

    it('restarts when the event of an answered write does not arrive within canaryMs', async () => {
      const { supervisor, restarts } = setup([withGen('a', '1', 1)]);
      await supervisor.start();
      supervisor.answered(withGen('a', '2', 1));
      jest.advanceTimersByTime(9_000);
      expect(restarts).toEqual([]);
      jest.advanceTimersByTime(3_500);
      expect(restarts).toEqual(['stale']);
      await supervisor.stop();
    });

    it('does not restart when the watch brings the event, or the answer is what the cache holds', async () => {
      const { supervisor, instances, restarts } = setup([withGen('a', '1', 1), withGen('b', '1', 1)]);
      await supervisor.start();
      supervisor.answered(withGen('a', '2', 1));
      instances[0]?.emit('update', withGen('a', '2', 1));
      supervisor.answered(withGen('b', '1', 1));
      // Another object, or one recreated under the same name, says nothing about this cache entry.
      supervisor.answered({
        metadata: { name: 'a', namespace: 'ns', uid: 'other', resourceVersion: '9', generation: 7 },
      });
      supervisor.answered(withGen('c', '3', 1));
      jest.advanceTimersByTime(60_000);
      expect(restarts).toEqual([]);
      expect(supervisor.get('a', 'ns')?.metadata?.generation).toBe(1);
      await supervisor.stop();
    });
  });

  describe('a silent watch is probed: the list it would have kept in step with', () => {
    const withGen = (name: string, rv: string, generation: number): KubernetesObject => ({
      metadata: { name, namespace: 'ns', resourceVersion: rv, generation, uid: `uid-${name}` },
    });

    it('takes a spec change the watch missed at once (no canary wait) and restarts the informer', async () => {
      const { supervisor, restarts, setItems, events } = setup([withGen('a', '1', 1)]);
      await supervisor.start();
      setItems([withGen('a', '2', 2)]);
      jest.advanceTimersByTime(12_500);
      await settle();
      expect(restarts).toEqual(['missed']);
      expect(supervisor.get('a', 'ns')?.metadata?.generation).toBe(2);
      expect(events).toEqual(['add a', 'update a']);
      await supervisor.stop();
    });

    it('restarts canaryMs after a probe found a change the watch did not bring (same generation, a new object, a deleted one)', async () => {
      for (const next of [
        [withGen('a', '2', 1)],
        [withGen('a', '1', 1), withGen('b', '3', 1)],
        [] as KubernetesObject[],
      ]) {
        const { supervisor, restarts, setItems } = setup([withGen('a', '1', 1)]);
        await supervisor.start();
        setItems(next);
        jest.advanceTimersByTime(12_500);
        await settle();
        expect(restarts).toEqual([]);
        jest.advanceTimersByTime(12_500);
        await settle();
        expect(restarts).toEqual(['stale']);
        await supervisor.stop();
      }
    });

    it('does not probe while the watch brings events, and a probe that finds the cache current restarts nothing', async () => {
      const { supervisor, instances, restarts, lists } = setup([withGen('a', '1', 1)]);
      await supervisor.start();
      const listed = lists();
      for (let rv = 2; rv < 8; rv++) {
        jest.advanceTimersByTime(5_000);
        instances[0]?.emit('update', withGen('a', String(rv), 1));
      }
      await settle();
      expect(lists()).toBe(listed);
      // Then quiet, and nothing changed meanwhile: probed, and left alone.
      const { supervisor: quiet, restarts: quietRestarts, lists: quietLists } = setup([withGen('a', '1', 1)]);
      await quiet.start();
      jest.advanceTimersByTime(60_000);
      await settle();
      expect(quietLists()).toBeGreaterThan(1);
      expect(quietRestarts).toEqual([]);
      expect(restarts).toEqual([]);
      await supervisor.stop();
      await quiet.stop();
    });
  });
});
