// The gateway's load generator, kept cheap: it runs on the same 2 cores as the gateway and nats-server,
// and what it spends is CPU the gateway does not get. Measured in session 23 (workloads/README.md,
// "Is the ceiling a fair comparison?"): with undici's fetch() and each event built as an object and
// then JSON.stringify'd, the bench process spent 10–19 µs per event at batch 100, 62–75 at batch 10 and
// about 1,000 per single event, as much as the gateway itself. natscli, the ceiling, makes its
// messages and publishes them in one lean Go process.
import http from 'node:http';

/**
 * The JSON of `batch` events (one object for a batch of 1, an array otherwise), numbered from
 * `first`: the same text as `JSON.stringify` of `makeEvent('g-<n>', 'agg-<n % aggregates>')` with
 * `timestamp` (test/harness.ts), written out without building the objects.
 */
export function eventsBody(batch: number, first: number, aggregates: number, timestamp: string): string {
  if (!Number.isSafeInteger(batch) || batch < 1) throw new Error(`batch ${batch}: a positive integer`);
  if (!Number.isSafeInteger(aggregates) || aggregates < 1)
    throw new Error(`aggregates ${aggregates}: a positive integer`);
  if (!/^[0-9T:.Z+-]+$/.test(timestamp)) throw new Error(`timestamp ${timestamp}: an ISO-8601 date-time`);
  const one = (n: number) =>
    `{"id":"g-${n}","type":"deposit","aggregateId":"agg-${n % aggregates}","payload":{"amount":1},"timestamp":"${timestamp}"}`;
  if (batch === 1) return one(first);
  let body = '[';
  for (let k = 0; k < batch; k++) body += (k === 0 ? '' : ',') + one(first + k);
  return `${body}]`;
}

/** POSTs JSON bodies to `http://127.0.0.1:<port>/events` over kept-alive connections (node:http). */
export class EventsLoad {
  private readonly agent: http.Agent;

  constructor(
    private readonly port: number,
    /** Connections at most: the requests in flight at once beyond this wait for one. */
    maxSockets: number,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /** Resolves with the answer's status once its body was read; rejects on a connection error. */
  post(body: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          path: '/events',
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
