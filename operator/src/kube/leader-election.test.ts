// Specifies Lease-based leader election against an in-memory Lease store that enforces
// resourceVersion like the API server: acquire a free Lease, wait out a live holder's full lease
// duration, lose on 409, step down after the renew deadline, release on stop.
import { jest } from '@jest/globals';
import { silentLogger } from '../observability/logger.js';
import { KubeApiError, type KubeApi, type RequestOptions } from './api-client.js';
import { LeaderElector } from './leader-election.js';

interface StoredLease {
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: Record<string, unknown>;
}

class FakeLeases implements KubeApi {
  lease: StoredLease | undefined;
  version = 1;
  down = false;
  async request<T>(method: string, _path: string, options?: RequestOptions): Promise<T> {
    if (this.down) throw new Error('connection refused');
    const body = options?.body as StoredLease | undefined;
    if (method === 'GET') {
      if (!this.lease) throw new KubeApiError(404, 'NotFound', 'not found');
      return structuredClone(this.lease) as T;
    }
    if (method === 'POST') {
      if (this.lease) throw new KubeApiError(409, 'AlreadyExists', 'exists');
      this.lease = {
        metadata: {
          ...(body?.metadata ?? { name: 'l', namespace: 'ns' }),
          resourceVersion: String(++this.version),
        },
        spec: body?.spec ?? {},
      };
      return structuredClone(this.lease) as T;
    }
    if (method === 'PUT') {
      if (!this.lease || body?.metadata.resourceVersion !== this.lease.metadata.resourceVersion)
        throw new KubeApiError(409, 'Conflict', 'conflict');
      this.lease = {
        metadata: { ...body.metadata, resourceVersion: String(++this.version) },
        spec: body.spec,
      };
      return structuredClone(this.lease) as T;
    }
    throw new Error(`unexpected ${method}`);
  }
  /** Another candidate renews the Lease as its holder. */
  renewAs(holder: string): void {
    if (!this.lease) throw new Error('no lease');
    this.lease = {
      metadata: { ...this.lease.metadata, resourceVersion: String(++this.version) },
      spec: {
        ...this.lease.spec,
        holderIdentity: holder,
        renewTime: new Date().toISOString(),
        leaseDurationSeconds: 15,
      },
    };
  }
}

function elector(api: KubeApi, identity: string, log: string[]) {
  return new LeaderElector({
    api,
    namespace: 'ns',
    name: 'l',
    identity,
    leaseDurationSeconds: 15,
    renewDeadlineSeconds: 10,
    retryPeriodSeconds: 2,
    logger: silentLogger,
    onStartedLeading: () => log.push(`${identity} leads`),
    onStoppedLeading: () => log.push(`${identity} stops`),
  });
}

describe('LeaderElector', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('creates and holds a free Lease, renewing it every retry period', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    const a = elector(api, 'a', log);
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(log).toEqual(['a leads']);
    const renewed = api.lease?.spec.renewTime;
    await jest.advanceTimersByTimeAsync(2000);
    expect(api.lease?.spec.renewTime).not.toBe(renewed);
    expect(a.isLeader()).toBe(true);
    await a.stop();
  });

  it('waits a full lease duration after the holder stops renewing, then takes over', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    api.lease = {
      metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' },
      spec: { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: new Date().toISOString() },
    };
    const b = elector(api, 'b', log);
    b.start();
    // While the other holder renews, b never leads.
    for (let i = 0; i < 10; i++) {
      api.renewAs('other');
      await jest.advanceTimersByTimeAsync(2000);
    }
    expect(log).toEqual([]);
    // The holder dies: b takes over after 15 s (+ up to one retry period), not before.
    await jest.advanceTimersByTimeAsync(13_000);
    expect(log).toEqual([]);
    await jest.advanceTimersByTimeAsync(4000);
    expect(log).toEqual(['b leads']);
    expect(api.lease?.spec.holderIdentity).toBe('b');
    expect(api.lease?.spec.leaseTransitions).toBe(1);
    await b.stop();
  });

  it('stops leading when another candidate wins the race (409) and when renewals fail past the deadline', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    const a = elector(api, 'a', log);
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    api.renewAs('intruder');
    await jest.advanceTimersByTimeAsync(2000);
    expect(log).toEqual(['a leads', 'a stops']);
    await a.stop();

    const api2 = new FakeLeases();
    const log2: string[] = [];
    const c = elector(api2, 'c', log2);
    c.start();
    await jest.advanceTimersByTimeAsync(0);
    api2.down = true;
    await jest.advanceTimersByTimeAsync(8000);
    expect(c.isLeader()).toBe(true);
    await jest.advanceTimersByTimeAsync(4000);
    expect(log2).toEqual(['c leads', 'c stops']);
    api2.down = false;
    await c.stop();
  });

  it('releases the Lease on stop so a standby need not wait', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    const a = elector(api, 'a', log);
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    await a.stop();
    expect(log).toEqual(['a leads', 'a stops']);
    expect(api.lease?.spec.holderIdentity).toBeNull();
    const b = elector(api, 'b', []);
    b.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(b.isLeader()).toBe(true);
    await b.stop();
  });
});
