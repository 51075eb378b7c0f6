// Experiment behind workloads/README "Session 35" (issue 16): µs per event of each gateway stage for a batch of 100, in-process, no NATS
// (parse, validate, encode, headers, the answer's JSON). nice -n 19 npx tsx workloads/bench/experiments/gateway-stage-cost.mts
import { parseJsonBody } from '../../src/gateway/json-body.js';
import { encodeEvents, parseEventsBody } from '../../src/shared/event.js';
import { publishHeaders } from '../../src/shared/js-publisher.js';
import { eventsBody } from '../load.js';

const ts = new Date().toISOString();
const bodies = Array.from({ length: 200 }, (_, k) => Buffer.from(eventsBody(100, k * 100, 1000, ts)));
const stages: Record<string, (b: Buffer) => unknown> = {
  parse: (b) => parseJsonBody(b),
  'parse+validate': (b) => parseEventsBody((parseJsonBody(b) as { value: unknown }).value, 1000),
  'parse+validate+encode': (b) => {
    const p = parseEventsBody((parseJsonBody(b) as { value: unknown }).value, 1000);
    if (p.kind !== 'ok') throw new Error('invalid');
    return encodeEvents(p.events, 1 << 20, p.form);
  },
  'parse+validate+encode+headers': (b) => {
    const p = parseEventsBody((parseJsonBody(b) as { value: unknown }).value, 1000);
    if (p.kind !== 'ok') throw new Error('invalid');
    const e = encodeEvents(p.events, 1 << 20, p.form);
    if (e.kind !== 'ok') throw new Error('too large');
    return e.events.map(({ event, data }) => ({
      subject: `events.${event.aggregateId}`,
      data,
      headers: publishHeaders(undefined, { msgId: event.id, expectedStream: 'EVENTS' }),
    }));
  },
};
for (let rep = 0; rep < 3; rep++)
  for (const [name, f] of Object.entries(stages)) {
    for (let i = 0; i < 2000; i++) f(bodies[i % bodies.length] ?? Buffer.alloc(0));
    const c0 = process.cpuUsage();
    const n = 5000;
    for (let i = 0; i < n; i++) f(bodies[i % bodies.length] ?? Buffer.alloc(0));
    const c = process.cpuUsage(c0);
    console.log(`${name}: ${((c.user + c.system) / n / 100).toFixed(2)} µs per event`);
  }
