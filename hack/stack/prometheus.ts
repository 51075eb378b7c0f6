// A real Prometheus (the pinned build) for the local stack: scrapes every target registered in its
// file-SD directory (hack/stack/scrape-targets.ts: the operator replicas, the gateway, every
// consumer pod as it comes and goes), evaluates jetscale's alert rules, keeps its TSDB under the
// stack's directory and answers the HTTP API on 127.0.0.1. The web UI's assets are not built in
// (hack/tools.sh); the API is what the harness and the tests use.
import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { alertRules } from '../../monitoring/alerts.js';
import { assertPortsHeldBy, blameTakenPorts } from './port-owners.js';
import { assertPortFree, startOnOwnPorts, waitFor } from './ports.js';
import { FileScrapeTargets } from './scrape-targets.js';
import { diesWithThisProcess } from './dies-with-parent.js';
import { directLauncher, type Launcher } from './stack-cgroup.js';
import { toolPath } from './tools.js';

export interface PrometheusOptions {
  /** Config, TSDB (data/), target files (targets/) and the log go here. */
  dir: string;
  port?: number;
  /** Scrape and rule evaluation interval; the demo uses 1 s. */
  intervalSeconds?: number;
  detached?: boolean;
  /** How to start the process (inside the stack's cgroup when it has a real node; stack-cgroup.ts). */
  launcher?: Launcher;
}

export interface PrometheusServer {
  url: string;
  port: number;
  dir: string;
  /** Register/unregister what to scrape here. */
  targets: FileScrapeTargets;
  intervalSeconds: number;
  pid(): number | undefined;
  stop(): Promise<void>;
}

/** prometheus.yml for the local stack: one file-SD job; the targets' own labels (job, namespace, pod). */
export function prometheusConfig(options: {
  intervalSeconds: number;
  targetsDir: string;
  ruleFiles: string[];
}) {
  const interval = `${options.intervalSeconds}s`;
  return {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles,
    scrape_configs: [
      {
        job_name: 'jetscale-local',
        // As the chart's ServiceMonitor: the operator's own `namespace` label (the EventConsumer's)
        // wins over the target's namespace label.
        honor_labels: true,
        file_sd_configs: [{ files: [path.join(options.targetsDir, '*.json')], refresh_interval: interval }],
      },
    ],
  };
}

/**
 * Starts Prometheus on the port given, or on one reserved against other stacks starting at the same
 * moment (ports.ts), retried with a new one when a process that reserves nothing took it.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  return startOnOwnPorts({
    count: 1,
    owner: `prometheus in ${options.dir}`,
    given: options.port === undefined ? undefined : [options.port],
    start: ([port]) => startPrometheusOn(options, port ?? 0),
  });
}

async function startPrometheusOn(options: PrometheusOptions, port: number): Promise<PrometheusServer> {
  await assertPortFree(port, 'prometheus');
  const intervalSeconds = options.intervalSeconds ?? 1;
  const dir = options.dir;
  const targets = new FileScrapeTargets(path.join(dir, 'targets'));
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  // The same alerts the chart ships, with the windows compressed for runs of minutes (monitoring/alerts.ts).
  const rulesFile = path.join(dir, 'jetscale-rules.yaml');
  writeFileSync(rulesFile, k8s.dumpYaml(alertRules('demo'), { lineWidth: -1 }));
  const configFile = path.join(dir, 'prometheus.yml');
  writeFileSync(
    configFile,
    k8s.dumpYaml(prometheusConfig({ intervalSeconds, targetsDir: targets.dir, ruleFiles: [rulesFile] }), {
      lineWidth: -1,
    }),
  );
  const logFile = path.join(dir, 'prometheus.log');
  const log = openSync(logFile, 'a');
  const launched = (options.launcher ?? directLauncher).wrap(toolPath('prometheus'), [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    '--storage.tsdb.retention.time=2d',
    `--web.listen-address=127.0.0.1:${port}`,
    // Apply target changes within a second (default 5 s): consumer pods come and go quickly.
    '--scrape.discovery-reload-interval=1s',
  ]);
  // A test's Prometheus ends with the process that started it, even when that one is killed; the
  // dev stack's (detached) outlives it.
  const { command, args } = options.detached
    ? launched
    : diesWithThisProcess(launched.command, launched.args);
  const child: ChildProcess = spawn(command, args, {
    stdio: ['ignore', log, log],
    detached: options.detached ?? false,
  });
  closeSync(log);
  if (options.detached) child.unref();
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`prometheus exited with code ${code}; see ${logFile}`))),
  );
  exited.catch(() => undefined);
  const ports = [{ port, purpose: 'prometheus' }];
  try {
    await Promise.race([
      waitFor(
        `prometheus ready on ${url}`,
        async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined),
        60_000,
      ),
      exited,
    ]);
    // The probe answered: from this Prometheus, not another stack's that took the port first.
    assertPortsHeldBy(child.pid, ports);
  } catch (err) {
    child.kill('SIGKILL');
    throw blameTakenPorts(err, child.pid, ports);
  }
  return {
    url,
    port,
    dir,
    targets,
    intervalSeconds,
    pid: () => child.pid,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    },
  };
}
