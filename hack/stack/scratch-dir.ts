// Scratch directories under the system's temporary directory, each removed by whoever made it.
// jest's global setups for the integration and real-node projects start a stack in one per run
// (startInScratchDir), tests and test helpers make their own (test/scratch.ts, removed after the
// test file), and before this every run left its directories behind (/tmp/jetscale-test-*,
// /tmp/jetscale-values-*, /tmp/jetscale-cg-*, …). Only that directory is removed, and only once
// what ran in it has stopped: if starting fails, the directory stays (the error names the logs in
// it); if stopping fails, it stays too (a process may still be writing there).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ScratchDir {
  /** e.g. /tmp/jetscale-realnode-AbC123 */
  dir: string;
  /** Removes `dir` and everything in it, and nothing else. */
  remove(): void;
}

export interface InScratchDir<T> {
  /** What `start` returned. */
  running: T;
  /** The directory it runs in, e.g. /tmp/jetscale-realnode-AbC123. */
  dir: string;
  /** Stops it, then removes `dir`. */
  stop(): Promise<void>;
}

/** A fresh `<parent>/<prefix>XXXXXX` (parent: the system's temporary directory). */
export function makeScratchDir(prefix: string, parent: string = os.tmpdir()): ScratchDir {
  if (!/^[a-z0-9][a-z0-9-]*-$/.test(prefix))
    throw new Error(`scratch directory prefix "${prefix}" must be lower-case words joined and ended by "-"`);
  const dir = mkdtempSync(path.join(parent, prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `start` in a fresh `<parent>/<prefix>XXXXXX` (parent: the system's temporary directory). */
export async function startInScratchDir<T extends { stop(): Promise<void> }>(
  prefix: string,
  start: (dir: string) => Promise<T>,
  parent: string = os.tmpdir(),
): Promise<InScratchDir<T>> {
  const scratch = makeScratchDir(prefix, parent);
  const running = await start(scratch.dir);
  return {
    running,
    dir: scratch.dir,
    stop: async () => {
      await running.stop();
      scratch.remove();
    },
  };
}
