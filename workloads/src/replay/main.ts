// CLI of the replay: rebuild projections from the event log and compare with the live ones.
// `replay [--json]`; exit 0 when equal, 1 when different, 2 when it could not run.
import { loadConfig, natsSchema } from '../shared/config.js';
import { connectNats } from '../shared/nats.js';
import { formatReplay, runReplay } from '../consumer/replay.js';

async function main(): Promise<number> {
  const json = process.argv.slice(2).includes('--json');
  const config = loadConfig(natsSchema);
  const nc = await connectNats(config, 'jetscale-replay', false);
  try {
    const report = await runReplay(nc, config);
    process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReplay(report)}\n`);
    return report.matches ? 0 : 1;
  } finally {
    await nc.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`replay could not run: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
