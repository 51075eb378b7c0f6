// The worker thread behind ThreadedLoadDriver (load-driver-thread.ts): one LoadDriver, bodies from
// loadEvent(testId, …), connections spread over the gateway pods the main thread last reported,
// its timeline posted every snapshotMs and its totals once every request has settled.
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { loadEvent } from '../profiles/events.js';
import { LoadDriver } from './load-driver.js';
import type { DriverThreadInit, FromDriverThread, ToDriverThread } from './load-driver-thread.js';

const port = parentPort;
if (!port) throw new Error('load-driver-worker.ts runs as a worker thread (ThreadedLoadDriver)');
const init = workerData as DriverThreadInit;
const post = (message: FromDriverThread): void => port.postMessage(message);

let backends: string[] | undefined = init.backends;
let turn = 0;
/** The next ready gateway pod; none ready is refused, as a Service without endpoints refuses. */
const connect = (): net.Socket => {
  const list = backends ?? [];
  const backend = list.length > 0 ? list[turn++ % list.length] : undefined;
  if (!backend) {
    const socket = new net.Socket();
    const refused = Object.assign(new Error('no ready gateway pod'), { code: 'ECONNREFUSED' });
    process.nextTick(() => socket.destroy(refused));
    return socket;
  }
  const colon = backend.lastIndexOf(':');
  return net.connect({ host: backend.slice(0, colon), port: Number(backend.slice(colon + 1)) });
};

const driver = new LoadDriver({
  profile: init.profile,
  targetUrl: init.targetUrl,
  body: (sequence) => {
    const event = loadEvent(init.testId, sequence, new Date());
    return { id: event.id, json: JSON.stringify(event) };
  },
  ...(init.timeoutMs !== undefined ? { timeoutMs: init.timeoutMs } : {}),
  ...(init.maxInFlight !== undefined ? { maxInFlight: init.maxInFlight } : {}),
  ...(init.tickMs !== undefined ? { tickMs: init.tickMs } : {}),
  ...(init.backends !== undefined ? { connect } : {}),
});

let snapshots: NodeJS.Timeout | undefined;
const snapshot = (): void =>
  post({
    type: 'snapshot',
    timeline: driver.timeline().map((s) => ({ ...s })),
    inFlight: driver.inFlightRequests(),
    elapsedSeconds: driver.elapsedSeconds(),
  });

port.on('message', (message: ToDriverThread) => {
  try {
    if (message.type === 'backends') backends = message.backends;
    else if (message.type === 'stop') driver.stop();
    else if (message.type === 'start') {
      driver.start();
      snapshots = setInterval(snapshot, init.snapshotMs);
      void driver.done().then(() => {
        clearInterval(snapshots);
        post({
          type: 'done',
          timeline: driver.timeline().map((s) => ({ ...s })),
          totals: driver.totals(),
          accepted: [...driver.accepted()],
          elapsedSeconds: driver.elapsedSeconds(),
        });
      });
    }
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
});
post({ type: 'ready' });
