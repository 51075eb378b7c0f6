// CLI of the audit: `audit [--json] [--wait SECONDS] [--stuck-after SECONDS]`. Exit 0 when nothing
// was lost, applied twice or stuck, 1 when something was, 2 when the audit could not run.
import { loadConfig, natsSchema } from '../shared/config.js';
import { connectNats } from '../shared/nats.js';
import { formatAudit, runAudit } from './audit.js';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const waitIndex = args.indexOf('--wait');
  const waitSeconds = waitIndex >= 0 ? Number(args[waitIndex + 1]) : 0;
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new Error('--wait takes a number of seconds');
  const stuckIndex = args.indexOf('--stuck-after');
  const stuckSeconds = stuckIndex >= 0 ? Number(args[stuckIndex + 1]) : undefined;
  if (stuckSeconds !== undefined && (!Number.isFinite(stuckSeconds) || stuckSeconds < 0))
    throw new Error('--stuck-after takes a number of seconds');
  const config = loadConfig(natsSchema);
  const nc = await connectNats(config, 'jetscale-audit', false);
  try {
    const report = await runAudit(nc, config, {
      settleTimeoutMs: waitSeconds * 1000,
      ...(stuckSeconds !== undefined ? { stuckAfterMs: stuckSeconds * 1000 } : {}),
    });
    process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${formatAudit(report)}\n`);
    return report.ok ? 0 : 1;
  } finally {
    await nc.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`audit could not run: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
