// A stack (or anything that stops) started in a scratch directory of its own under the system's
// temporary directory, which stopping it removes: jest's global setups for the integration and
// real-node projects start one per run, and before this every run left its directory behind
// (/tmp/jetscale-test-*, /tmp/jetscale-realnode-*). Only that directory is removed, and only once
// what ran in it has stopped: if starting fails, the directory stays (the error names the logs in
// it); if stopping fails, it stays too (a process may still be writing there).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface InScratchDir<T> {
  /** What `start` returned. */
  running: T;
  /** The directory it runs in, e.g. /tmp/jetscale-realnode-AbC123. */
  dir: string;
  /** Stops it, then removes `dir`. */
  stop(): Promise<void>;
}

/** Runs `start` in a fresh `<parent>/<prefix>XXXXXX` (parent: the system's temporary directory). */
export async function startInScratchDir<T extends { stop(): Promise<void> }>(
  prefix: string,
  start: (dir: string) => Promise<T>,
  parent: string = os.tmpdir(),
): Promise<InScratchDir<T>> {
  if (!/^[a-z0-9][a-z0-9-]*-$/.test(prefix))
    throw new Error(`scratch directory prefix "${prefix}" must be lower-case words joined and ended by "-"`);
  const dir = mkdtempSync(path.join(parent, prefix));
  const running = await start(dir);
  return {
    running,
    dir,
    stop: async () => {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
