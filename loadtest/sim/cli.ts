// The plumbing of the loadtest/sim command-line scripts (compare-bench, compare-policies,
// compare-window): run `main` only when the file is the one node was asked to run (not when a test
// imports it), and turn an error into its message and exit status 2 (bad arguments or input files).
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Whether the module at `moduleUrl` (its import.meta.url) is the script node was started with. */
export function invokedDirectly(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(moduleUrl);
}

/** Runs `main` with the script's arguments when `moduleUrl` was invoked directly; an error exits 2 with its message. */
export function runScript(moduleUrl: string, main: (argv: string[]) => void): void {
  if (!invokedDirectly(moduleUrl)) return;
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 2;
  }
}
