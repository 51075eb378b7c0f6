import { stepsOf, stepsTable, type CpuProfile } from './profile-steps.js';

const NM = 'file:///app/node_modules/@nats-io';
const DIST = 'file:///app/dist/workloads/src';

/** A profile whose samples are 1 ms apart: root → microtasks → (the ack, an append, the parser, a decode). */
function profile(samples: number[]): CpuProfile {
  const node = (id: number, functionName: string, url: string, children: number[] = []) => ({
    id,
    callFrame: { functionName, url },
    children,
  });
  return {
    nodes: [
      node(1, '(root)', '', [2, 10, 11]),
      node(2, 'runMicrotasks', '', [3, 6, 9, 12]),
      node(3, 'ack', `${NM}/jetstream/lib/jsmsg.js`, [4]),
      node(4, 'publish', `${NM}/nats-core/lib/protocol.js`, [5]),
      node(5, 'encode', 'node:internal/encoding'),
      node(6, 'send', `${DIST}/shared/js-publisher.js`, [7]),
      node(7, 'publish', `${NM}/nats-core/lib/protocol.js`, [8]),
      node(8, 'writeBuffer', ''),
      node(9, 'parse', `${NM}/nats-core/lib/parser.js`),
      node(10, '(garbage collector)', ''),
      node(11, '(idle)', ''),
      node(12, 'decodeStoredEvent', `${DIST}/shared/event.js`, [13]),
      node(13, 'safeParse', 'file:///app/node_modules/zod/v4/classic/schemas.js'),
    ],
    startTime: 0,
    endTime: samples.length * 1000,
    samples,
    timeDeltas: samples.map(() => 1000),
  };
}

describe('stepsOf (a consumer profile split by step)', () => {
  const samples = [5, 5, 7, 8, 9, 10, 11, 13];

  it("gives a sample to the innermost step of its stack: nats.js's publish is the ack's under msg.ack(), the append's under the publisher", () => {
    const { ms, totalMs } = stepsOf(profile(samples));
    expect(ms.get('ack')).toBe(2);
    expect(ms.get('append: entry, headers, publish')).toBe(1);
    expect(ms.get('socket write')).toBe(1);
    expect(ms.get('receive (nats.js parser, consume())')).toBe(1);
    expect(ms.get('garbage collection')).toBe(1);
    expect(ms.get('decode + validate the event')).toBe(1);
    expect(ms.get('other (runtime, timers, microtasks)')).toBe(0);
    // (idle) is not busy time
    expect(totalMs).toBe(7);
  });

  it('keeps only the samples inside --from/--to', () => {
    const { ms, totalMs } = stepsOf(profile(samples), 0.0035, 0.0085);
    expect(totalMs).toBe(4);
    expect(ms.get('ack')).toBe(0);
    expect(ms.get('decode + validate the event')).toBe(1);
  });

  it('turns shares without the socket write into µs per event', () => {
    const table = stepsTable(stepsOf(profile(samples)), 30);
    // 6 ms without the write; the ack's 2 of them are a third of 30 µs
    expect(table).toContain('| ack | 28.6 % | 33.3 % | 10.0 |');
    expect(table).toContain('| socket write | 14.3 % | — | — |');
  });

  it('with the system time, gives it to the socket write and shares the user time among the rest', () => {
    const table = stepsTable(stepsOf(profile(samples)), 30, 6);
    expect(table).toContain('| ack | 28.6 % | 33.3 % | 8.0 |');
    expect(table).toContain('| socket write | 14.3 % | — | 6.0 (system time) |');
  });
});
