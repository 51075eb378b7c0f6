// Experiment (session 23, behind a comment in operator/src/scaling/decide.test.ts): one nats.js consume() replica whose handler hangs for HANG s under a
// short ack_wait, 20/s arriving; every second a consumer info is read, turned into a BacklogSample
// as the operator does, and fed to decide() (1 replica asked and ready). Prints what it decides.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { sampleFromConsumerInfo } from '../../src/backlog/jetstream-backlog-source.js';
import { decide, emptyHistory } from '../../src/scaling/decide.js';
import { withScalingDefaults } from '../../src/scaling/defaults.js';

const ACK_WAIT = Number(process.env.ACK_WAIT ?? 5);
const HANG_AT = Number(process.env.HANG_AT ?? 30);
const HANG = Number(process.env.HANG ?? 60);
const TOTAL = Number(process.env.TOTAL ?? 100);
const REPLICAS = Number(process.env.REPLICAS ?? 1);
const port = 40000 + Math.floor(Math.random() * 10000);
const dir = mkdtempSync('/tmp/pb/exp/js-');
const server = spawn(
  '/work/main/.tools/bin/nats-server',
  ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir],
  { stdio: 'ignore' },
);
await new Promise((r) => setTimeout(r, 1000));
const nc = await connect({ servers: `127.0.0.1:${port}` });
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: 'S', subjects: ['S.>'] });
await jsm.consumers.add('S', {
  durable_name: 'c',
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  ack_wait: ACK_WAIT * 1e9,
});
const js = jetstream(nc);
const t0 = Date.now();
const now = () => (Date.now() - t0) / 1000;
let hangRelease: () => void = () => {};
const hung = new Promise<void>((r) => (hangRelease = r));
const replicas = [];
for (let i = 0; i < REPLICAS; i++) {
  const ncr = await connect({ servers: `127.0.0.1:${port}` });
  const msgs = await (await jetstream(ncr).consumers.get('S', 'c')).consume({ max_messages: 100 });
  const hangs = i === 0; // replica 0 is the one that pauses
  replicas.push({
    ncr,
    msgs,
    done: (async () => {
      for await (const m of msgs) {
        await new Promise((r) => setTimeout(r, 20));
        const t = now();
        if (hangs && t >= HANG_AT && t < HANG_AT + HANG) await hung;
        m.ack();
      }
    })(),
  });
}
let published = 0;
const pub = setInterval(() => {
  for (let i = 0; i < 4; i++) void js.publish('S.x', `m${published++}`);
}, 200);
setTimeout(() => hangRelease(), (HANG_AT + HANG) * 1000);
const spec = withScalingDefaults({ maxReplicas: 10, minReplicas: 1 });
let history = emptyHistory();
for (let t = 1; t <= TOTAL; t++) {
  await new Promise((r) => setTimeout(r, t * 1000 - (Date.now() - t0)));
  const info = await jsm.consumers.info('S', 'c');
  const sample = sampleFromConsumerInfo(info, Date.now());
  const d = decide({
    spec,
    sample,
    currentReplicas: REPLICAS,
    readyReplicas: REPLICAS,
    history,
    now: sample.at,
  });
  history = d.history;
  console.log(
    `t=${t} pend=${sample.pending} ack=${sample.ackPending} redel=${sample.redelivered} wait=${sample.waiting} dseq=${sample.deliveredConsumerSeq}/${sample.deliveredStreamSeq} floor=${sample.ackFloorConsumerSeq} → ${d.desiredReplicas} ${d.limitedBy ?? ''} | ${d.reason.slice(0, 260)}`,
  );
}
clearInterval(pub);
hangRelease();
for (const r of replicas) {
  await r.msgs.close();
  await r.ncr.close();
}
await nc.close();
server.kill();
