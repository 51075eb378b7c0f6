// Exponential backoff with jitter, shared by the work queue (per-key retries) and the informer
// supervisor (restarts). Jitter spreads retries so many keys or informers do not retry in step.

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
