// The simulated business work of the consumer, configurable so load tests can make the consumer the
// bottleneck (I/O latency, CPU burn) and exercise retries (random transient failures) and the DLQ
// (event types whose handler always fails), and hangs (event types whose handler never returns).
import type { StoredEvent } from '../shared/event.js';

export class HandlerFailure extends Error {
  override readonly name = 'HandlerFailure';
}

export interface WorkSettings {
  latencyMs: number;
  jitterMs: number;
  cpuMs: number;
  transientFailureRate: number;
  poisonTypes: readonly string[];
  /** Event types whose handler never returns: a deadlock or a call without a timeout, for drills. */
  hangTypes?: readonly string[];
}

export type Work = (event: StoredEvent) => Promise<void>;

export function simulatedWork(settings: WorkSettings, random: () => number = Math.random): Work {
  return async (event) => {
    if (settings.hangTypes?.includes(event.type) === true) return new Promise<void>(() => undefined);
    if (settings.poisonTypes.includes(event.type))
      throw new HandlerFailure(`event type ${event.type} always fails (POISON_TYPES)`);
    if (settings.transientFailureRate > 0 && random() < settings.transientFailureRate) {
      throw new HandlerFailure('simulated transient failure (TRANSIENT_FAILURE_RATE)');
    }
    const waitMs = settings.latencyMs + (settings.jitterMs > 0 ? random() * settings.jitterMs : 0);
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    if (settings.cpuMs > 0) burnCpu(settings.cpuMs);
  };
}

/** Busy-loops for `ms`: real CPU work blocks the event loop, and so must the simulation. */
function burnCpu(ms: number): void {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
  if (x < 0) throw new Error('unreachable');
}
