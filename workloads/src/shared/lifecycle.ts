// Process plumbing shared by the long-running workloads: configuration errors become a clear message
// and exit code 2, and start-up steps that need NATS are retried instead of crashing the pod.
import { ConfigError } from './config.js';
import { errorMessage, type Logger } from './log.js';

/** Runs `main`; a ConfigError is printed plainly (exit 2), anything else as a fatal error (exit 1). */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

/**
 * Retries `step` with capped backoff until it succeeds or `stopped()` says to give up. A ConfigError
 * is not retried: it will not go away by itself.
 */
export async function retryUntil<T>(
  what: string,
  step: () => Promise<T>,
  log: Logger,
  stopped: () => boolean = () => false,
): Promise<T> {
  let delayMs = 250;
  for (;;) {
    try {
      return await step();
    } catch (err) {
      if (stopped() || err instanceof ConfigError) throw err;
      log.warn(`${what} failed; retrying`, { error: errorMessage(err), retryInMs: delayMs });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 5000);
    }
  }
}
