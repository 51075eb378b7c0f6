// The operator's settings, all from environment variables, validated once at start-up. Every
// problem is reported at once with the variable's name and what it accepts, so a bad Deployment
// fails in its first log line instead of misbehaving later.
import { hostname } from 'node:os';
import { isLogLevel, type LogLevel } from '../observability/logger.js';

export interface OperatorConfig {
  /** Namespaces to watch; undefined = all namespaces. */
  namespaces?: string[];
  metricsHost: string;
  metricsPort: number;
  logLevel: LogLevel;
  leaderElection: boolean;
  leaseName: string;
  leaseNamespace: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  /**
   * Before taking the Lease over from a holder whose lease ran out, annotate every scale target
   * (kube/takeover-fence.ts), so a /scale write the old leader sent late fails with 409. Needs
   * `patch` on the target objects themselves (the chart's leaderElection.fenceTargets grants it).
   */
  fenceTargets: boolean;
  /**
   * How often the leader renews this installation's entry on the EventConsumer CRD (one GET and
   * one PATCH; installation-registry.ts). An entry not renewed for 3 periods stops counting.
   */
  installationRenewSeconds: number;
  /** This replica's identity in the Lease (the pod name in a cluster). */
  identity: string;
  /** Reconciles running at once (mostly waiting on the API server and NATS, so more than cores). */
  workers: number;
  /** Rewrite an unchanged status (lastPollTime) this often; changes are written at once. */
  statusRefreshSeconds: number;
  /** Write a status whose backlog alone moved to another order of magnitude at most this often. */
  statusReadingsSeconds: number;
  /** Write a status whose other readings alone (rates, exact backlog, messages) changed at most this often. */
  statusRatesSeconds: number;
  /** Readings-only status writes per second, all EventConsumers together. */
  statusReadingsPerSecond: number;
  /** Re-read an idle EventConsumer's scale target at least this often (busy ones every poll). */
  targetRefreshSeconds: number;
  /** How often informers re-list from scratch (a guard against silently stalled watches). */
  resyncSeconds: number;
  /** Timeout of one JetStream API request. */
  natsRequestTimeoutMs: number;
  /** Path of a kubeconfig file; undefined = in-cluster config or the default loading rules. */
  kubeconfig?: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Namespace the pod runs in, from the service account mount (in-cluster only). */
type ReadNamespaceFile = () => string | undefined;

export function loadConfig(
  env: NodeJS.ProcessEnv,
  readNamespaceFile: ReadNamespaceFile = () => undefined,
): OperatorConfig {
  const problems: string[] = [];
  const text = (key: string): string | undefined => {
    const v = env[key]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const integer = (key: string, fallback: number, min: number, max: number): number => {
    const raw = text(key);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${key}=${JSON.stringify(raw)}: expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const raw = text(key)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    problems.push(`${key}=${JSON.stringify(raw)}: expected true or false`);
    return fallback;
  };

  let namespaces: string[] | undefined;
  const nsRaw = text('JETSCALE_NAMESPACES') ?? text('JETSCALE_NAMESPACE');
  if (nsRaw !== undefined && nsRaw !== '*') {
    namespaces = [
      ...new Set(
        nsRaw
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      ),
    ];
    for (const ns of namespaces) {
      if (!DNS_LABEL.test(ns))
        problems.push(
          `JETSCALE_NAMESPACES: "${ns}" is not a namespace name (comma-separated list, or * for all)`,
        );
    }
    if (namespaces.length === 0) namespaces = undefined;
  }

  const logLevelRaw = text('JETSCALE_LOG_LEVEL') ?? 'info';
  let logLevel: LogLevel = 'info';
  if (isLogLevel(logLevelRaw)) logLevel = logLevelRaw;
  else
    problems.push(`JETSCALE_LOG_LEVEL=${JSON.stringify(logLevelRaw)}: expected debug, info, warn or error`);

  const leaseName = text('JETSCALE_LEASE_NAME') ?? 'jetscale-operator';
  if (!DNS_SUBDOMAIN.test(leaseName))
    problems.push(`JETSCALE_LEASE_NAME=${JSON.stringify(leaseName)}: expected a DNS subdomain name`);
  const leaseNamespace =
    text('JETSCALE_LEASE_NAMESPACE') ?? readNamespaceFile() ?? text('POD_NAMESPACE') ?? 'default';
  if (!DNS_LABEL.test(leaseNamespace))
    problems.push(`JETSCALE_LEASE_NAMESPACE=${JSON.stringify(leaseNamespace)}: expected a namespace name`);

  const leaseDurationSeconds = integer('JETSCALE_LEASE_DURATION_SECONDS', 15, 2, 300);
  const renewDeadlineSeconds = integer('JETSCALE_LEASE_RENEW_DEADLINE_SECONDS', 10, 1, 300);
  const retryPeriodSeconds = integer('JETSCALE_LEASE_RETRY_PERIOD_SECONDS', 2, 1, 60);
  if (!(retryPeriodSeconds < renewDeadlineSeconds && renewDeadlineSeconds < leaseDurationSeconds)) {
    problems.push(
      `lease timings must satisfy retry period (${retryPeriodSeconds}s) < renew deadline (${renewDeadlineSeconds}s) < lease duration (${leaseDurationSeconds}s)`,
    );
  }

  const leaderElection = bool('JETSCALE_LEADER_ELECTION', true);
  const fenceTargets = bool('JETSCALE_FENCE_TARGETS', false);
  if (fenceTargets && !leaderElection)
    problems.push(
      'JETSCALE_FENCE_TARGETS=true needs leader election (JETSCALE_LEADER_ELECTION=true): the fence is set by a standby taking the Lease over, and without a Lease there is none',
    );

  const config: OperatorConfig = {
    metricsHost: text('JETSCALE_METRICS_HOST') ?? '0.0.0.0',
    metricsPort: integer('JETSCALE_METRICS_PORT', 8080, 0, 65535),
    logLevel,
    leaderElection,
    leaseName,
    leaseNamespace,
    leaseDurationSeconds,
    renewDeadlineSeconds,
    retryPeriodSeconds,
    fenceTargets,
    installationRenewSeconds: integer('JETSCALE_INSTALLATION_RENEW_SECONDS', 30, 1, 300),
    identity: text('JETSCALE_POD_NAME') ?? text('POD_NAME') ?? `${hostname()}-${process.pid}`,
    workers: integer('JETSCALE_WORKERS', 32, 1, 256),
    statusRefreshSeconds: integer('JETSCALE_STATUS_REFRESH_SECONDS', 300, 5, 3600),
    statusReadingsSeconds: integer('JETSCALE_STATUS_READINGS_SECONDS', 30, 0, 3600),
    statusRatesSeconds: integer('JETSCALE_STATUS_RATES_SECONDS', 120, 0, 3600),
    statusReadingsPerSecond: integer('JETSCALE_STATUS_READINGS_PER_SECOND', 2, 1, 1000),
    targetRefreshSeconds: integer('JETSCALE_TARGET_REFRESH_SECONDS', 15, 0, 600),
    resyncSeconds: integer('JETSCALE_RESYNC_SECONDS', 300, 10, 86400),
    natsRequestTimeoutMs: integer('JETSCALE_NATS_TIMEOUT_MS', 2000, 100, 60000),
  };
  if (namespaces !== undefined) config.namespaces = namespaces;
  const kubeconfig = text('KUBECONFIG');
  if (kubeconfig !== undefined) config.kubeconfig = kubeconfig;
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
