// Kubernetes Events (core/v1) about EventConsumers: one on every scale (from, to, why) and one on
// every error. Identical warnings about the same object are sent at most once per interval, so a
// consumer that stays missing does not flood etcd; scale events are never suppressed. Sending is
// fire-and-forget: a lost Event must not fail a reconcile. Events are writes like any other: sent
// through the term's fenced client, refused quietly once this replica no longer leads; flush()
// waits for those still in flight before the Lease is released.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { isFenced, type KubeApi } from './api-client.js';
import { capText } from './capped-text.js';

/** Longest Event message written, in characters (code points; capped like condition messages). */
export const MAX_EVENT_MESSAGE = 1024;

export interface EventTarget {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export interface EventRecorderOptions {
  api: KubeApi;
  logger: Logger;
  /** reportingInstance: this replica's identity. */
  instance: string;
  /** Repeat an identical warning no sooner than this. */
  repeatAfterMs?: number;
}

/**
 * What makes two warnings identical: the object, the reason, and the repeat key when given (else
 * the message).
 */
export function warningKey(target: EventTarget, reason: string, message: string, repeatKey?: string): string {
  return `${target.namespace}/${target.name}/${reason}/${repeatKey !== undefined ? `key:${repeatKey}` : `message:${message}`}`;
}

/** When an identical warning may be sent again: no sooner than repeatAfterMs after the last (monotonic ms). */
export class RepeatedWarnings {
  private readonly lastSent = new Map<string, number>();

  constructor(private readonly repeatAfterMs: number) {}

  /** True (and noted as sent at `now`) unless the same key was sent less than repeatAfterMs ago. */
  admit(key: string, now: number): boolean {
    const last = this.lastSent.get(key);
    if (last !== undefined && now - last < this.repeatAfterMs) return false;
    this.lastSent.set(key, now);
    if (this.lastSent.size > 10_000) this.prune(now);
    return true;
  }

  /** Forgets every key of an object (it was deleted). */
  forget(namespace: string, name: string): void {
    const prefix = `${namespace}/${name}/`;
    for (const key of this.lastSent.keys()) if (key.startsWith(prefix)) this.lastSent.delete(key);
  }

  private prune(now: number): void {
    for (const [key, at] of this.lastSent) if (now - at >= this.repeatAfterMs) this.lastSent.delete(key);
  }
}

/** The core/v1 Event written: `now` an RFC 3339 time, `suffix` what makes its name unique. */
export function eventBody(
  target: EventTarget,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  instance: string,
  now: string,
  suffix: string,
): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${target.name}.${suffix}`, namespace: target.namespace },
    involvedObject: {
      apiVersion: target.apiVersion,
      kind: target.kind,
      namespace: target.namespace,
      name: target.name,
      uid: target.uid,
    },
    type,
    reason,
    message: capText(message, MAX_EVENT_MESSAGE),
    source: { component: 'jetscale-operator' },
    reportingComponent: 'jetscale.io/operator',
    reportingInstance: instance.slice(0, 128),
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}

export class EventRecorder {
  private readonly repeated: RepeatedWarnings;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: EventRecorderOptions) {
    this.repeated = new RepeatedWarnings(options.repeatAfterMs ?? 10 * 60_000);
  }

  normal(target: EventTarget, reason: string, message: string): void {
    this.send(target, 'Normal', reason, message);
  }

  /** A warning, suppressed when the same one was sent for the same object recently. */
  /**
   * `repeatKey`: warnings of the same reason and key count as identical whatever their message
   * (one whose numbers move at every poll, or that flickers on and off, is sent once per interval).
   */
  warning(target: EventTarget, reason: string, message: string, options: { repeatKey?: string } = {}): void {
    if (!this.repeated.admit(warningKey(target, reason, message, options.repeatKey), performance.now()))
      return;
    this.send(target, 'Warning', reason, message);
  }

  /** Forgets suppression state for an object (it was deleted). */
  forget(namespace: string, name: string): void {
    this.repeated.forget(namespace, name);
  }

  /** Resolves when every Event sent so far has been answered (or refused). */
  async flush(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  private send(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const body = eventBody(
      target,
      type,
      reason,
      message,
      this.options.instance,
      new Date().toISOString(),
      randomBytes(8).toString('hex'),
    );
    const sending: Promise<void> = this.options.api
      .request('POST', `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/events`, { body })
      .then(
        () => undefined,
        (err: unknown) => {
          if (isFenced(err)) return; // no longer leading: the next leader reports what happens
          this.options.logger.warn('could not record a Kubernetes Event', {
            namespace: target.namespace,
            name: target.name,
            reason,
            error: err instanceof Error ? err.message : String(err),
          });
        },
      )
      .finally(() => this.inFlight.delete(sending));
    this.inFlight.add(sending);
  }
}
