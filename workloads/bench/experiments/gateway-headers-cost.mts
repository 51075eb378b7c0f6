// Experiment behind workloads/README "Session 35" (issue 16): µs per publish of the gateway's headers, publishHeaders() against a template.
import { publishHeaders } from '../../src/shared/js-publisher.js';
const ids = Array.from({ length: 1000 }, (_, i) => `g-${100000 + i}`);
const prefix = 'NATS/1.0\r\nNats-Msg-Id: ';
const suffix = '\r\nNats-Expected-Stream: GW_THIS_EVENTS\r\n\r\n';
const CR_OR_LF = /[\r\n]/;
const f: Record<string, (id: string) => unknown> = {
  // nats.js encodes the headers it is given when it writes the publish (MsgHdrsImpl.encode, not in its typings):
  // counted here, as the template's Buffer.from is.
  publishHeaders: (id) =>
    (
      publishHeaders(undefined, { msgId: id, expectedStream: 'GW_THIS_EVENTS' }) as unknown as {
        encode(): Uint8Array;
      }
    ).encode(),
  template: (id) => {
    if (CR_OR_LF.test(id)) throw new Error('x');
    return {
      b: Buffer.from(prefix + id.trim() + suffix),
      k: ['Nats-Msg-Id', id, 'Nats-Expected-Stream', 'S'],
    };
  },
};
for (let rep = 0; rep < 3; rep++)
  for (const [k, fn] of Object.entries(f)) {
    for (let i = 0; i < 200000; i++) fn(ids[i % 1000] ?? '');
    const t = process.cpuUsage();
    for (let i = 0; i < 1000000; i++) fn(ids[i % 1000] ?? '');
    const c = process.cpuUsage(t);
    console.log(k, ((c.user + c.system) / 1e6).toFixed(3), 'µs');
  }
