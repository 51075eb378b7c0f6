// What the local stack's Prometheus scrapes: file-based service discovery. Whoever starts a
// process that serves /metrics (the pod runner for pods, the operator pair, a real kubelet node)
// registers it here and unregisters it when the process is gone; each target is one
// `<id>.json` file in the targets directory, written atomically, which Prometheus' file_sd
// watches. One file per target lets several writers (even in different processes) share the
// directory without a lock.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface ScrapeTarget {
  /** host:port serving /metrics. */
  address: string;
  /** Target labels: job, namespace, pod (what the chart's ServiceMonitor/PodMonitor would attach). */
  labels: Record<string, string>;
}

/** Register/unregister scrape targets; ids are unique per target (e.g. `<namespace>/<pod>`). */
export interface ScrapeTargetSink {
  register(id: string, target: ScrapeTarget): void;
  unregister(id: string): void;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The file_sd document for one target; throws naming what is wrong with it. */
export function targetGroupFile(target: ScrapeTarget): string {
  if (!/^[^\s/:]+:\d{1,5}$/.test(target.address))
    throw new Error(`scrape target address ${JSON.stringify(target.address)} is not host:port`);
  for (const name of Object.keys(target.labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__'))
      throw new Error(`scrape target label ${JSON.stringify(name)} is not a valid Prometheus label name`);
  }
  return `${JSON.stringify([{ targets: [target.address], labels: target.labels }], null, 2)}\n`;
}

/** A file name for an id: anything outside [A-Za-z0-9._-] becomes `_`. */
export function targetFileName(id: string): string {
  if (id === '') throw new Error('a scrape target needs a non-empty id');
  return `${id.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;
}

export class FileScrapeTargets implements ScrapeTargetSink {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  register(id: string, target: ScrapeTarget): void {
    const file = path.join(this.dir, targetFileName(id));
    // Prometheus reads *.json only; the rename makes the new content appear whole.
    const tmp = path.join(this.dir, `.${targetFileName(id)}.${process.pid}.tmp`);
    writeFileSync(tmp, targetGroupFile(target));
    renameSync(tmp, file);
  }

  unregister(id: string): void {
    rmSync(path.join(this.dir, targetFileName(id)), { force: true });
  }
}
