// Exponential backoff with jitter, shared by the work queue (per-key retries), the informer
// supervisor (restarts), the NATS reconnects after a protocol violation (guarded-transport.ts) and
// the advisory subscription's pause after a storm (drop-advisories.ts). Jitter spreads retries so
// many keys, informers or connections do not retry in step.

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** 0 = none; 0.2 = the delay varies by up to ±20 %. */
  jitter: number;
}

/** Delay before retry number `attempt` (1 = the first retry). `random` returns [0, 1). */
export function backoffDelayMs(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempt - 1);
  const raw = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(exponent, 30));
  const spread = raw * options.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(Math.min(options.maxMs, raw + spread)));
}

/**
 * Delay before retry number `attempt` (1 = the first) that never comes early: a random time between
 * half and all of min(maxMs, baseMs·2^(attempt-1)). For waiting out something hostile or
 * overloaded, where a retry sooner than half the step would meet it again. `random` returns [0, 1).
 */
export function halfJitterDelayMs(
  attempt: number,
  options: { baseMs: number; maxMs: number },
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(Math.max(0, attempt - 1), 30));
  return Math.round(ceiling * (0.5 + random() / 2));
}
