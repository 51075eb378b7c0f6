// The operator's entry point: read and validate the environment, load the kubeconfig, run the
// operator, and shut down cleanly on SIGTERM/SIGINT (stop taking work, finish the reconcile in
// flight, release the Lease, exit 0). On losing leadership it exits 1 at once, as
// controller-runtime does: whatever was still in flight dies with the process, and the Deployment
// starts it again as a standby. Wiring only; everything else lives in run-operator.ts.
import { KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from './config/config.js';
import { createLogger } from './observability/logger.js';
import { runOperator } from './run-operator.js';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function readNamespaceFile(): string | undefined {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, readNamespaceFile);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        JSON.stringify({
          time: new Date().toISOString(),
          level: 'error',
          msg: err.message,
          problems: err.problems,
        }) + '\n',
      );
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, base: { component: 'jetscale-operator' } });
  const kc = new KubeConfig();
  if (config.kubeconfig !== undefined) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();

  const operator = await runOperator(config, kc, logger);
  void operator.leadershipLost.then(async (reason) => {
    logger.error('lost leadership: exiting so that nothing still in flight can write', {
      identity: config.identity,
      reason,
      ...(await operator.metrics.fencedWriteCounts()),
    });
    process.exit(1);
  });
  let signalled = false;
  const shutdown = (signal: string): void => {
    if (signalled) {
      logger.warn('second signal: exiting at once', { signal });
      process.exit(1);
    }
    signalled = true;
    logger.info('received signal', { signal });
    const force = setTimeout(() => {
      logger.error('shutdown took longer than 25 s; exiting');
      process.exit(1);
    }, 25_000);
    force.unref();
    void operator.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(
    JSON.stringify({
      time: new Date().toISOString(),
      level: 'error',
      msg: 'operator failed to start',
      error: err instanceof Error ? err.message : String(err),
    }) + '\n',
  );
  process.exit(1);
});
