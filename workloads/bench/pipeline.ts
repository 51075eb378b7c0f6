// Ways of keeping many publishes in flight, shared by the benchmark's publish ceiling and its
// batched floor. No NATS here: the publish is a function passed in, so both are unit-tested
// (pipeline.test.ts).

/**
 * Calls `publishOne(0 … count-1)` keeping `window` calls in flight at all times (a sliding window:
 * each settled call starts the next at once). Resolves when all have resolved; rejects with the
 * first failure and starts nothing after it.
 */
export function publishWindowed(
  count: number,
  window: number,
  publishOne: (i: number) => Promise<unknown>,
): Promise<void> {
  if (!Number.isSafeInteger(window) || window < 1)
    throw new Error(`window must be an integer ≥ 1, got ${window}`);
  return new Promise<void>((resolve, reject) => {
    let next = 0;
    let inFlight = 0;
    let failed = false;
    const pump = () => {
      while (!failed && inFlight < window && next < count) {
        inFlight++;
        publishOne(next++).then(
          () => {
            inFlight--;
            if (next >= count && inFlight === 0) resolve();
            else pump();
          },
          (err: unknown) => {
            failed = true;
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
      }
    };
    if (count <= 0) resolve();
    else pump();
  });
}

/**
 * Calls `publishBatch(first, size)` for consecutive batches of `batch` indexes of 0 … count-1 (the last
 * may be smaller), `lanes` of them in flight: each lane starts its next batch when its last settled, as
 * the gateway's closed loop sends its requests. Resolves when all settled; rejects with the first
 * failure, and no lane starts a batch after it.
 */
export function publishInBatches(
  count: number,
  batch: number,
  lanes: number,
  publishBatch: (first: number, size: number) => Promise<unknown>,
): Promise<void> {
  if (!Number.isSafeInteger(batch) || batch < 1)
    throw new Error(`batch must be an integer ≥ 1, got ${batch}`);
  if (!Number.isSafeInteger(lanes) || lanes < 1)
    throw new Error(`lanes must be an integer ≥ 1, got ${lanes}`);
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (!failed && next < count) {
      const first = next;
      const size = Math.min(batch, count - first);
      next += size;
      try {
        await publishBatch(first, size);
      } catch (err) {
        failed = true;
        throw err instanceof Error ? err : new Error(String(err));
      }
    }
  };
  return Promise.all(Array.from({ length: lanes }, () => lane())).then(() => undefined);
}

interface Waiting<T> {
  item: T;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Collects items added within one turn of the event loop and hands them to `send` together, at most
 * `maxBatch` per call (a full batch goes at once, the rest at the next `setImmediate`). Each `add`
 * settles with the outcome of the call its item went out in. Batches are not serialized: several
 * may be in flight.
 */
export class Batcher<T> {
  private pending: Waiting<T>[] = [];
  private scheduled = false;
  /** Sizes of the batches sent so far. */
  readonly sizes: number[] = [];

  constructor(
    private readonly maxBatch: number,
    private readonly send: (items: T[]) => Promise<void>,
  ) {
    if (!Number.isSafeInteger(maxBatch) || maxBatch < 1)
      throw new Error(`maxBatch must be an integer ≥ 1, got ${maxBatch}`);
  }

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      this.sizes.push(batch.length);
      let sent: Promise<void>;
      try {
        sent = this.send(batch.map((w) => w.item));
      } catch (err) {
        sent = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      sent.then(
        () => batch.forEach((w) => w.resolve()),
        (err: unknown) => batch.forEach((w) => w.reject(err instanceof Error ? err : new Error(String(err)))),
      );
    }
  }
}
