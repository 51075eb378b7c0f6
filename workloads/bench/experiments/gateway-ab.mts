// Experiment behind workloads/README "Session 35" (issue 16): two gateway builds (this checkout's and OLD_ROOT's, both `npm run build`) on one
// nats-server, taking turns (ABBA…) under the same closed loop (10 lanes of batches of 100, node:http); per turn
// the gateway's and nats-server's CPU per stored event (µs, to 0.1) and events/s, then the paired ratios.
// OLD_ROOT=/tmp/old nice -n 19 npx tsx workloads/bench/experiments/gateway-ab.mts [seconds per turn] [rounds]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer } from '../../../hack/stack/nats-server.js';
import { startWorkload, workloadEnv } from '../../test/harness.js';
import { EventsLoad, eventsBody } from '../load.js';

const seconds = Number(process.argv[2] ?? 5);
const rounds = Number(process.argv[3] ?? 6);
const oldRoot = process.env['OLD_ROOT'];
// NEW_ARGS: node flags for the new gateway only (e.g. a V8 GC setting against the same build as OLD_ROOT).
const newArgs = (process.env['NEW_ARGS'] ?? '').split(' ').filter((a) => a !== '');
if (!oldRoot) throw new Error('OLD_ROOT: a built checkout to compare with');
const cpu = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
};
const dir = mkdtempSync(path.join(os.tmpdir(), 'gw16-ab-'));
const server = await startNatsServer({ dir });
const gateways = [
  {
    name: 'new',
    w: startWorkload('gateway', workloadEnv(server.url, 'ab-new'), newArgs, undefined, 'built'),
  },
  { name: 'old', w: startWorkload('gateway', workloadEnv(server.url, 'ab-old'), [], oldRoot, 'built') },
];
const results: Record<string, { gw: number; srv: number; eps: number }[]> = { new: [], old: [] };
try {
  const ts = new Date().toISOString();
  let n = 0;
  const turn = async (port: number) => {
    const load = new EventsLoad(port, 10);
    const begin = performance.now();
    let stored = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (performance.now() - begin < seconds * 1000) {
          const first = n;
          n += 100;
          if ((await load.post(eventsBody(100, first, 1000, ts))) === 202) stored += 100;
        }
      }),
    );
    load.close();
    return { stored, secs: (performance.now() - begin) / 1000 };
  };
  const serverPid = server.pid();
  if (serverPid === undefined) throw new Error('no server pid');
  // Warm both up (JIT) before measuring.
  for (const g of gateways) await turn(await g.w.port);
  for (let r = 0; r < rounds; r++) {
    for (const g of r % 2 === 0 ? gateways : [...gateways].reverse()) {
      const pid = g.w.proc.pid as number;
      const s0 = cpu(serverPid);
      const g0 = cpu(pid);
      const { stored, secs } = await turn(await g.w.port);
      const row = {
        gw: ((cpu(pid) - g0) * 1e6) / stored,
        srv: ((cpu(serverPid) - s0) * 1e6) / stored,
        eps: stored / secs,
      };
      results[g.name]?.push(row);
      console.log(
        `round ${r + 1} ${g.name}: ${Math.round(row.eps)} events/s; gateway ${row.gw.toFixed(2)} µs, nats-server ${row.srv.toFixed(2)} µs per event; load ${os.loadavg()[0]?.toFixed(1)}`,
      );
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  for (const k of ['gw', 'srv', 'eps'] as const) {
    const ratios = (results['new'] ?? []).map((row, i) => row[k] / ((results['old'] ?? [])[i]?.[k] ?? NaN));
    console.log(
      `new ÷ old ${k}: median ${med(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}); new median ${med((results['new'] ?? []).map((x) => x[k])).toFixed(2)}, old ${med((results['old'] ?? []).map((x) => x[k])).toFixed(2)}`,
    );
  }
} finally {
  for (const g of gateways) {
    g.w.kill('SIGTERM');
    await g.w.exited;
  }
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
