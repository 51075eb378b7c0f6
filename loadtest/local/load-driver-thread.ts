// The load driver on a thread of its own. The harness' main thread also samples the system every
// second (API server lists, NATS, every consumer's /metrics), injects faults, draws the live view
// and — with local processes — runs every pod's pipes; on a busy 2-core machine those stalled the
// driver's event loop for 1.6 s (nice 0) to 7.7 s (nice 10) on the real-node drill, and every
// request in flight meanwhile was measured that much slower, or its arrival dropped. On a worker
// thread the driver is scheduled on its own and its loop does nothing but send arrivals and read
// answers, so what it measures is the system's latency, not the harness'.
//
// The worker (load-driver-worker.ts) runs the same LoadDriver and posts its per-second timeline
// every `snapshotMs`; totals and the accepted ids arrive once, when the profile is over and every
// request has settled.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DriverSecond, DriverTotals } from './load-driver.js';
import type { LoadProfile } from '../profiles/profiles.js';

/** What the harness reads from a running driver (LoadDriver and ThreadedLoadDriver both offer it). */
export interface LoadDriverHandle {
  /** Resolves when start() would begin the schedule at once (a worker has loaded its code). */
  ready(): Promise<void>;
  start(): void;
  stop(): void;
  done(): Promise<void>;
  elapsedSeconds(): number;
  inFlightRequests(): number;
  timeline(): readonly DriverSecond[];
  accepted(): readonly string[];
  totals(): DriverTotals;
}

export interface ThreadedLoadDriverOptions {
  profile: LoadProfile;
  /** e.g. http://127.0.0.1:18080/events */
  targetUrl: string;
  /** Request bodies are loadEvent(testId, sequence, now) (loadtest/profiles/events.ts). */
  testId: string;
  timeoutMs?: number;
  maxInFlight?: number;
  tickMs?: number;
  /**
   * host:port of every ready gateway pod, read on this thread every `backendsPollMs` and handed to
   * the worker: each new keep-alive connection goes to the next one, as a Service spreads
   * connections in the kernel. Absent: connections go to targetUrl.
   */
  backends?: () => readonly string[];
  backendsPollMs?: number;
  /** How often the worker posts its timeline (default 250 ms). */
  snapshotMs?: number;
}

/** Main thread → worker. */
export type ToDriverThread = { type: 'start' } | { type: 'stop' } | { type: 'backends'; backends: string[] };

/** Worker → main thread. */
export type FromDriverThread =
  | { type: 'ready' }
  | { type: 'snapshot'; timeline: DriverSecond[]; inFlight: number; elapsedSeconds: number }
  | {
      type: 'done';
      timeline: DriverSecond[];
      totals: DriverTotals;
      accepted: string[];
      elapsedSeconds: number;
    }
  | { type: 'error'; message: string };

/** The worker's start-up data (workerData). */
export type DriverThreadInit = Omit<
  ThreadedLoadDriverOptions,
  'backends' | 'backendsPollMs' | 'snapshotMs'
> & {
  /** The ready gateway pods when the driver starts (later lists arrive as messages). */
  backends?: string[];
  snapshotMs: number;
};

const workerModule = new URL('./load-driver-worker.ts', import.meta.url).href;
// tsx's ESM build (its CommonJS build resolves its loader wrongly from an eval'd worker).
const tsxApi = pathToFileURL(
  path.join(
    path.dirname(createRequire(import.meta.url).resolve('tsx/package.json')),
    'dist/esm/api/index.mjs',
  ),
).href;

export class ThreadedLoadDriver implements LoadDriverHandle {
  private readonly worker: Worker;
  private snapshot: { timeline: DriverSecond[]; inFlight: number; elapsedSeconds: number } = {
    timeline: [],
    inFlight: 0,
    elapsedSeconds: 0,
  };
  private final: { totals: DriverTotals; accepted: string[] } | undefined;
  private started = false;
  private readonly finished: Promise<void>;
  private readonly loaded: Promise<void>;
  private backendsTimer: NodeJS.Timeout | undefined;
  private lastBackends = '';

  constructor(private readonly options: ThreadedLoadDriverOptions) {
    const init: DriverThreadInit = {
      profile: options.profile,
      targetUrl: options.targetUrl,
      testId: options.testId,
      snapshotMs: options.snapshotMs ?? 250,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
      ...(options.tickMs !== undefined ? { tickMs: options.tickMs } : {}),
      ...(options.backends ? { backends: [...options.backends()] } : {}),
    };
    // The harness runs from TypeScript (tsx, or jest's transform): the worker loads its .ts module
    // through tsx's API, whichever of the two started this thread.
    this.worker = new Worker(
      `import(${JSON.stringify(tsxApi)}).then((tsx) => tsx.tsImport(${JSON.stringify(workerModule)}, ${JSON.stringify(workerModule)}))`,
      { eval: true, workerData: init },
    );
    let markLoaded: () => void = () => undefined;
    this.loaded = new Promise<void>((resolve) => (markLoaded = resolve));
    this.finished = new Promise<void>((resolve, reject) => {
      this.worker.on('message', (message: FromDriverThread) => {
        if (message.type === 'ready') markLoaded();
        else if (message.type === 'snapshot') this.snapshot = message;
        else if (message.type === 'done') {
          this.snapshot = { timeline: message.timeline, inFlight: 0, elapsedSeconds: message.elapsedSeconds };
          this.final = { totals: message.totals, accepted: message.accepted };
          this.stopPolling();
          void this.worker.terminate();
          resolve();
        } else reject(new Error(`the load driver thread failed: ${message.message}`));
      });
      this.worker.once('error', (err) => {
        this.stopPolling();
        reject(err);
      });
      this.worker.once('exit', (code) => {
        this.stopPolling();
        if (!this.final)
          reject(new Error(`the load driver thread exited (code ${code}) before the run ended`));
      });
    });
    // done() may never be awaited when start() fails; keep an unobserved rejection quiet.
    this.finished.catch(() => undefined);
  }

  /**
   * Resolves once the worker has loaded (compiling its TypeScript takes a few seconds on a busy
   * machine): the harness starts its clock, sampler and faults after this, so the schedule and the
   * faults line up. Rejects when the worker fails to load.
   */
  ready(): Promise<void> {
    return Promise.race([this.loaded, this.finished]);
  }

  start(): void {
    if (this.started) throw new Error('a ThreadedLoadDriver runs once; create a new one');
    this.started = true;
    this.post({ type: 'start' });
    const poll = this.options.backends;
    if (poll) {
      this.backendsTimer = setInterval(() => {
        const backends = [...poll()];
        const key = backends.join(',');
        if (key === this.lastBackends) return;
        this.lastBackends = key;
        this.post({ type: 'backends', backends });
      }, this.options.backendsPollMs ?? 500);
    }
  }

  stop(): void {
    if (!this.final) this.post({ type: 'stop' });
  }

  done(): Promise<void> {
    if (!this.started) throw new Error('ThreadedLoadDriver.done() before start()');
    return this.finished;
  }

  elapsedSeconds(): number {
    return this.snapshot.elapsedSeconds;
  }

  inFlightRequests(): number {
    return this.snapshot.inFlight;
  }

  /** Per-second counts as of the worker's last snapshot (at most snapshotMs old). */
  timeline(): readonly DriverSecond[] {
    return this.snapshot.timeline;
  }

  accepted(): readonly string[] {
    return this.final?.accepted ?? [];
  }

  totals(): DriverTotals {
    if (!this.final) throw new Error('ThreadedLoadDriver.totals() before the run ended (await done())');
    return this.final.totals;
  }

  /** Ends the worker without waiting for the run (teardown after a failure). */
  async terminate(): Promise<void> {
    this.stopPolling();
    await this.worker.terminate();
  }

  private post(message: ToDriverThread): void {
    this.worker.postMessage(message);
  }

  private stopPolling(): void {
    if (this.backendsTimer) clearInterval(this.backendsTimer);
    this.backendsTimer = undefined;
  }
}
