// Runs the workloads' audit (workloads/src/audit: accepted vs applied vs dead-lettered) against the
// target's JetStream and reduces it to the two numbers every run is judged on — events lost and
// events applied twice — plus the counts behind them for the report.
import { connect } from '@nats-io/transport-node';
import { runAudit } from '../../workloads/src/audit/audit.js';
import { loadConfig, natsSchema } from '../../workloads/src/shared/config.js';
import type { HarnessTarget } from './target.js';
import type { AuditOutcome } from './types.js';

/** Audits once nothing is pending any more, or after `settleTimeoutMs`. */
export async function auditTarget(target: HarnessTarget, settleTimeoutMs: number): Promise<AuditOutcome> {
  try {
    const config = loadConfig(natsSchema, { ...target.jetstreamEnv, NATS_URL: target.natsUrl });
    const nc = await connect({
      servers: target.natsUrl,
      name: 'jetscale-harness-audit',
      maxReconnectAttempts: 10,
    });
    try {
      const report = await runAudit(nc, config, { settleTimeoutMs, settleIntervalMs: 1000 });
      return {
        ran: true,
        lost: report.lost,
        appliedTwice: report.appliedTwice,
        pending: report.pending,
        stuck: report.stuck,
        counts: {
          accepted: report.accepted,
          applied: report.applied,
          'dead-lettered': report.deadLettered,
          'still pending': report.pending,
          stuck: report.stuck,
          'applied and dead-lettered': report.appliedAndDeadLettered,
          'applied, not accepted': report.appliedNotAccepted,
        },
        ...(report.lostIds.length || report.appliedTwiceIds.length || report.stuckIds.length
          ? {
              error: `examples — lost: ${report.lostIds.slice(0, 5).join(', ') || 'none'}; applied twice: ${report.appliedTwiceIds.slice(0, 5).join(', ') || 'none'}; stuck: ${report.stuckIds.slice(0, 5).join(', ') || 'none'}`,
            }
          : {}),
      };
    } finally {
      await nc.close();
    }
  } catch (err) {
    return {
      ran: false,
      lost: 0,
      appliedTwice: 0,
      pending: 0,
      stuck: 0,
      counts: {},
      error: err instanceof Error ? err.message : String(err),
    };
  }
}
