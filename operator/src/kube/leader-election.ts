// Active-passive leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the
// leader renews every retry period and gives up leading when it could not renew within the renew
// deadline; a candidate takes the Lease once the holder's record has not changed for a full lease
// duration as measured on the candidate's own clock (no trust in other clocks). Every write carries
// the resourceVersion read just before, so of two racing candidates one gets 409 Conflict and
// loses. On shutdown the leader releases the Lease so a standby takes over at once.
import type { Logger } from '../observability/logger.js';
import { isConflict, isNotFound, type KubeApi } from './api-client.js';

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  api: KubeApi;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  logger: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

/** MicroTime as the API server writes it (RFC 3339 with microseconds). */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private lastRenewAt = 0;
  /** The holder's record as last seen and when we first saw it (our clock). */
  private observed: { holder: string; renewTime: string; at: number } | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly options: LeaderElectionOptions) {}

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    this.tick();
  }

  /** Stops campaigning; a leader releases the Lease first. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
    if (this.leading) {
      this.setLeading(false);
      await this.release();
    }
  }

  private tick(): void {
    if (this.stopped) return;
    this.inFlight = this.tryAcquireOrRenew()
      .catch((err: unknown) => {
        this.options.logger.warn('leader election: Lease request failed', {
          error: err instanceof Error ? err.message : String(err),
        });
      })
      .finally(() => {
        if (this.leading && Date.now() - this.lastRenewAt > this.options.renewDeadlineSeconds * 1000) {
          this.options.logger.warn(
            'leader election: could not renew the Lease within the renew deadline; stepping down',
            {
              lease: `${this.options.namespace}/${this.options.name}`,
            },
          );
          this.setLeading(false);
        }
        this.inFlight = undefined;
        if (!this.stopped) {
          this.timer = setTimeout(() => this.tick(), this.options.retryPeriodSeconds * 1000);
          this.timer.unref();
        }
      });
  }

  private path(): string {
    const { namespace, name } = this.options;
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(name)}`;
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { api, namespace, name, identity, leaseDurationSeconds } = this.options;
    const now = Date.now();
    let lease: Lease;
    try {
      lease = await api.request<Lease>('GET', this.path(), {
        timeoutMs: this.options.renewDeadlineSeconds * 1000,
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await api.request<Lease>(
          'POST',
          `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`,
          {
            body: {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name, namespace },
              spec: {
                holderIdentity: identity,
                leaseDurationSeconds,
                acquireTime: microTime(now),
                renewTime: microTime(now),
                leaseTransitions: 0,
              },
            },
          },
        );
      } catch (createErr) {
        if (isConflict(createErr)) return; // another candidate created it first
        throw createErr;
      }
      this.renewed(now);
      return;
    }

    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewTime = spec.renewTime ?? '';
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: now };
    }
    const duration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    const heldByOther = holder !== '' && holder !== identity;
    if (heldByOther && now - this.observed.at < duration) {
      if (this.leading) this.setLeading(false);
      return;
    }

    const takingOver = holder !== identity;
    const updated: Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: microTime(now),
        acquireTime: takingOver ? microTime(now) : (spec.acquireTime ?? microTime(now)),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver && holder !== '' ? 1 : 0),
      },
    };
    try {
      // The resourceVersion in metadata makes this a compare-and-swap: 409 means someone else won.
      await api.request<Lease>('PUT', this.path(), {
        body: updated,
        timeoutMs: this.options.renewDeadlineSeconds * 1000,
      });
    } catch (err) {
      if (isConflict(err)) {
        if (this.leading) this.setLeading(false);
        return;
      }
      throw err;
    }
    if (takingOver)
      this.options.logger.info('leader election: acquired the Lease', {
        lease: `${namespace}/${name}`,
        previousHolder: holder || undefined,
      });
    this.renewed(now);
  }

  private renewed(at: number): void {
    this.lastRenewAt = at;
    if (!this.leading) this.setLeading(true);
  }

  private setLeading(leading: boolean): void {
    if (this.leading === leading) return;
    this.leading = leading;
    if (leading) this.options.onStartedLeading();
    else this.options.onStoppedLeading();
  }

  /** Gives the Lease up (holder cleared, duration 1 s) so a standby need not wait for expiry. */
  private async release(): Promise<void> {
    const { api, identity, namespace, name } = this.options;
    try {
      const lease = await api.request<Lease>('GET', this.path(), { timeoutMs: 5000 });
      if ((lease.spec?.holderIdentity ?? '') !== identity) return;
      await api.request<Lease>('PUT', this.path(), {
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: null,
            leaseDurationSeconds: 1,
            renewTime: microTime(Date.now()),
          },
        },
        timeoutMs: 5000,
      });
      this.options.logger.info('leader election: released the Lease', { lease: `${namespace}/${name}` });
    } catch (err) {
      this.options.logger.warn(
        'leader election: could not release the Lease; the standby takes over after it expires',
        {
          error: err instanceof Error ? err.message : String(err),
        },
      );
    }
  }
}
