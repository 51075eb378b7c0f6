// The harness command line (`make demo`, `make e2e`, `make loadtest-local`):
//
//   tsx loadtest/harness/main.ts demo [--scenario spike] [--faults | --no-faults] [--png]
//       starts its own local stack (nats-server + kwok cluster), deploys charts/jetscale-demo and
//       an EventConsumer, runs the operator as two leader-elected processes, replays the scenario
//       with a live view, prints verdicts and the report path, and tears everything down (also on
//       Ctrl-C). Exit 0 = every verdict passed, 1 = a verdict failed, 2 = the run could not happen.
//   tsx loadtest/harness/main.ts run --env .dev/env [--scenario spike-ci] [--no-faults]
//       the same against a running stack described by an env file (a fresh namespace and
//       JetStream names of its own; restart-nats is not available there).
//   tsx loadtest/harness/main.ts kind [--scenario spike] [--rate-scale 10] [--context kind-jetscale]
//       the same against the kind demo (`make kind-up`); see kind-target.ts.
//   --runtime auto|real-node|processes (demo): real-node runs every pod as a real container on a
//       real kubelet + containerd node (needs root, Docker, containerd; builds the images with
//       hack/images.sh); processes runs them as local processes on kwok nodes (the pod runner);
//       auto (default) takes the real node when the host has what it needs and says which ran.
//   --rate-scale N multiplies every rate of the profile.
//   --operator-replicas 0 runs demo/run with no autoscaler at all: the baseline jetscale is judged against.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../hack/stack/ports.js';
import { FileScrapeTargets } from '../../hack/stack/scrape-targets.js';
import { readEnvFile, startStack, type StartedStack, type StackEnv } from '../../hack/stack/stack.js';
import { repoRoot, toolPath } from '../../hack/stack/tools.js';
import {
  isProfileName,
  profileDurationSeconds,
  profileNames,
  profiles,
  scaleProfile,
  type ProfileName,
} from '../profiles/profiles.js';
import { operatorEntry } from '../local/operator-pair.js';
import { startLocalSystem, type LocalSystem } from '../local/system.js';
import { kindTarget, type KindTarget } from './kind-target.js';
import { realNodeTarget, type RealNodeTarget } from './real-node-target.js';
import { realNodeUnavailable } from './real-node-runtime.js';
import { LiveView } from './live-view.js';
import type { HarnessTarget } from './target.js';
import { runScenario, type RunOutcome } from './run-scenario.js';
import { isProcessAlive } from '../../hack/stack/process-alive.js';
import { collectDiagnostics } from '../../hack/stack/real-node-diagnostics.js';
import { realNodeLogFiles } from '../../hack/stack/real-node.js';

const run = promisify(execFile);
/** Tag of the images the real-node demo builds and runs (hack/images.sh). */
const imageTag = 'demo';

interface Args {
  command: 'demo' | 'run' | 'kind';
  scenario: ProfileName;
  faults: 'profile' | 'none';
  envFile?: string;
  png: boolean;
  reportDir: string;
  /** 0 runs the same scenario with no autoscaler: the baseline jetscale is compared with. */
  operatorReplicas: number;
  /** Multiplies every rate of the profile (a real cluster takes far more than the local stack). */
  rateScale: number;
  /** kind only: the demo gateway (NodePort 30080 → 127.0.0.1:8080) and the kubectl context. */
  gatewayUrl: string;
  context?: string;
  runtime: 'auto' | 'real-node' | 'processes';
}

function usage(problem: string): never {
  process.stderr.write(
    `${problem}\nusage: main.ts demo|run [--scenario ${profileNames.join('|')}] [--no-faults] [--env FILE] [--png] [--reports DIR] [--operator-replicas 0-3] [--runtime auto|real-node|processes]\n`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const [command, ...rest] = argv;
  if (command !== 'demo' && command !== 'run' && command !== 'kind')
    usage(`unknown command ${command ?? '(none)'}`);
  const args: Args = {
    command,
    scenario: command === 'demo' ? 'spike' : 'spike-ci',
    faults: 'profile',
    png: false,
    reportDir: path.join(repoRoot, 'reports'),
    operatorReplicas: 2,
    rateScale: 1,
    gatewayUrl: 'http://127.0.0.1:8080',
    runtime: 'auto',
  };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = (): string => rest[++i] ?? usage(`${flag} needs a value`);
    if (flag === '--scenario') {
      const name = value();
      if (!isProfileName(name)) usage(`unknown scenario ${name}`);
      args.scenario = name;
    } else if (flag === '--no-faults') args.faults = 'none';
    else if (flag === '--faults') args.faults = 'profile';
    else if (flag === '--env') args.envFile = value();
    else if (flag === '--png') args.png = true;
    else if (flag === '--rate-scale') {
      args.rateScale = Number(value());
      if (!(args.rateScale > 0)) usage('--rate-scale takes a positive number');
    } else if (flag === '--gateway-url') args.gatewayUrl = value();
    else if (flag === '--context') args.context = value();
    else if (flag === '--runtime') {
      const runtime = value();
      if (runtime !== 'auto' && runtime !== 'real-node' && runtime !== 'processes')
        usage('--runtime takes auto, real-node or processes');
      args.runtime = runtime;
    } else if (flag === '--operator-replicas') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0 || n > 3) usage('--operator-replicas takes 0 to 3');
      args.operatorReplicas = n;
    } else if (flag === '--reports') args.reportDir = path.resolve(value());
    else usage(`unknown flag ${flag}`);
  }
  if (command === 'run' && !args.envFile) usage('run needs --env FILE (a stack env file, e.g. .dev/env)');
  return args;
}

/** Set once the run starts: progress lines then go through it, so the redrawn block stays intact. */
let liveView: LiveView | undefined;
const say = (line: string): void => {
  if (liveView) liveView.message(`[demo] ${line}`);
  else process.stderr.write(`[demo] ${line}\n`);
};

/** Headless Chromium screenshot of the report, when a Chromium is installed (optional). */
async function screenshot(reportPath: string): Promise<string | undefined> {
  const browser = ['chromium', 'chromium-browser', 'google-chrome']
    .map((b) => `/usr/bin/${b}`)
    .find((b) => existsSync(b));
  if (!browser) {
    say('no Chromium found (apt-get install chromium): skipping the PNG');
    return undefined;
  }
  const png = reportPath.replace(/\.html$/, '.png');
  await run(
    browser,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      `--screenshot=${png}`,
      '--window-size=1040,4200',
      `file://${reportPath}`,
    ],
    {
      timeout: 60_000,
    },
  );
  return png;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.command !== 'kind' && !existsSync(path.join(repoRoot, operatorEntry))) {
    say(`${operatorEntry} is missing: run \`make build\` (npm run build) first`);
    return 2;
  }
  const controller = new AbortController();
  let interrupted = false;
  let stack: StartedStack | undefined;
  let system: LocalSystem | undefined;
  let kind: KindTarget | undefined;
  let realNode: RealNodeTarget | undefined;
  let firstSignalAt = 0;
  /** Last resort on a second Ctrl-C: kill what we know synchronously rather than leave it running. */
  const emergencyCleanup = (): void => {
    for (const pid of system?.pids() ?? []) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const line of stack?.killNow() ?? []) say(`left behind: ${line}`);
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) {
      // npx/tsx forward the terminal's SIGINT, so one Ctrl-C arrives twice: only a later one forces.
      if (Date.now() - firstSignalAt < 3000) return;
      say(`${sig} again: killing everything now`);
      emergencyCleanup();
      process.exit(130);
    }
    interrupted = true;
    firstSignalAt = Date.now();
    say(`${sig}: stopping the load and tearing everything down (Ctrl-C again to force)…`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let scratch: string | undefined;
  let namespace: string | undefined;
  let outcome: RunOutcome | undefined;
  /** Where the real node's pod, kubelet and containerd logs and the events were saved. */
  let nodeLogs: string | undefined;
  /** The real node's logs go with it at teardown: save them first, once (report dir, else scratch). */
  const saveNodeLogs = async (): Promise<void> => {
    const node = stack?.realNode;
    if (!node || !namespace || !scratch || nodeLogs) return;
    const outDir = outcome ? path.join(path.dirname(outcome.reportPath), 'logs') : path.join(scratch, 'logs');
    say(`saving the pods', kubelet's and containerd's logs and the events into ${outDir}…`);
    const saved = await collectDiagnostics({
      kubectl: toolPath('kubectl'),
      kubeconfig: node.state.kubeconfig,
      namespaces: [namespace],
      nodeLogs: realNodeLogFiles(node.state.dir),
      outDir,
    });
    nodeLogs = saved.outDir;
    if (saved.failed.length > 0)
      say(
        `${saved.failed.length} of ${saved.files} not collected (listed in ${path.join(outDir, 'README.txt')})`,
      );
  };
  let failure: unknown;
  const started = Date.now();
  try {
    let target: HarnessTarget;
    if (args.command === 'kind') {
      say(`using the kind demo (context ${args.context ?? 'current'}, gateway ${args.gatewayUrl})`);
      kind = await kindTarget({
        ...(args.context ? { context: args.context } : {}),
        namespace: 'jetscale-demo',
        release: 'jetscale-demo',
        operatorNamespace: 'jetscale-system',
        leaseName: 'jetscale-leader',
        gatewayUrl: args.gatewayUrl,
      });
      target = kind.target;
    } else {
      let env: StackEnv;
      let suffix: string | undefined;
      let useRealNode = false;
      if (args.command === 'demo') {
        if (args.runtime !== 'processes') {
          const why = await realNodeUnavailable();
          if (why && args.runtime === 'real-node') throw new Error(`--runtime real-node: ${why}`);
          if (why) say(`pods run as local processes (the pod runner on kwok nodes): ${why}`);
          useRealNode = why === undefined;
        } else say('pods run as local processes (the pod runner on kwok nodes): --runtime processes');
        scratch = mkdtempSync(path.join(os.tmpdir(), 'jetscale-demo-'));
        if (useRealNode) {
          say('pods run as real containers on a real kubelet + containerd node; building the images…');
          await run('bash', [path.join(repoRoot, 'hack', 'images.sh'), imageTag], { maxBuffer: 64 << 20 });
        }
        say(
          `starting a local stack of its own in ${scratch} (nats-server + kwok cluster${useRealNode ? ' + a real node' : ' on 127.0.0.1'})…`,
        );
        stack = await startStack({
          dir: path.join(scratch, 'stack'),
          clusterName: `jetscale-demo-${process.pid}`,
          prometheus: { intervalSeconds: 1 },
          realNode: useRealNode,
          progress: say,
        });
        env = stack.env;
      } else {
        env = readEnvFile(path.resolve(args.envFile ?? ''));
        scratch = mkdtempSync(path.join(os.tmpdir(), 'jetscale-run-'));
        suffix = randomBytes(3).toString('hex');
        say(
          `using the stack in ${args.envFile} (NATS ${env.JETSCALE_NATS_URL}); JetStream names get suffix ${suffix}`,
        );
      }
      if (controller.signal.aborted) throw new Error('interrupted');
      const nats = stack?.nats;
      const prometheus =
        env.JETSCALE_PROMETHEUS_URL && env.JETSCALE_PROMETHEUS_TARGETS_DIR
          ? {
              url: env.JETSCALE_PROMETHEUS_URL,
              intervalSeconds: stack?.prometheus?.intervalSeconds ?? 1,
              targets: new FileScrapeTargets(env.JETSCALE_PROMETHEUS_TARGETS_DIR),
            }
          : undefined;
      if (prometheus) say(`prometheus at ${prometheus.url} scrapes the operator and every pod`);
      namespace = `jetscale-${args.command}-${randomBytes(3).toString('hex')}`;
      const restartNats = nats
        ? async (downSeconds: number): Promise<void> => {
            await nats.stop();
            await new Promise((r) => setTimeout(r, downSeconds * 1000));
            await nats.start();
          }
        : undefined;
      if (useRealNode && stack?.realNode) {
        realNode = await realNodeTarget({
          repoRoot,
          kubeconfig: env.KUBECONFIG,
          natsUrl: env.JETSCALE_NATS_URL,
          node: stack.realNode,
          namespace,
          workDir: scratch,
          imageTag,
          operatorReplicas: args.operatorReplicas,
          ...(restartNats ? { restartNats } : {}),
          ...(prometheus ? { prometheus } : {}),
          progress: say,
          onStartFailure: saveNodeLogs,
        });
        target = realNode.target;
      } else {
        system = await startLocalSystem({
          repoRoot,
          kubeconfig: env.KUBECONFIG,
          natsUrl: env.JETSCALE_NATS_URL,
          namespace,
          workDir: scratch,
          gatewayPort: await freePort(),
          operatorReplicas: args.operatorReplicas,
          ...(suffix ? { jetstreamSuffix: suffix } : {}),
          ...(prometheus ? { prometheus } : {}),
          ...(restartNats ? { restartNats } : {}),
          progress: say,
        });
        say(`sample system up in namespace ${namespace}; logs in ${path.join(scratch, 'logs')}`);
        target = system.target;
      }
    }
    if (controller.signal.aborted) throw new Error('interrupted');
    const profile =
      args.rateScale === 1 ? profiles[args.scenario] : scaleProfile(profiles[args.scenario], args.rateScale);
    liveView = new LiveView({ scenario: profile.name, totalSeconds: profileDurationSeconds(profile) });
    outcome = await runScenario({
      target,
      profile,
      view: liveView,
      ...(args.faults === 'none' ? { faults: [] } : {}),
      reportDir: args.reportDir,
      signal: controller.signal,
    });
    process.stdout.write(`\n${outcome.summary}\n  result: ${outcome.resultPath}\n`);
    if (args.png) {
      const png = await screenshot(outcome.reportPath).catch((err: unknown) => {
        say(`screenshot failed: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      });
      if (png) process.stdout.write(`  picture: ${png}\n`);
    }
  } catch (err) {
    failure = err;
  } finally {
    liveView = undefined;
    await saveNodeLogs().catch((err: unknown) => say(`saving the real node's logs failed: ${String(err)}`));
    say('tearing down…');
    await kind?.stop();
    await realNode?.stop().catch((err: unknown) => say(`teardown of the real-node system: ${String(err)}`));
    const pids = system?.pids() ?? [];
    await system?.stop().catch((err: unknown) => say(`teardown of the sample system: ${String(err)}`));
    await stack?.stop().catch((err: unknown) => say(`teardown of the stack: ${String(err)}`));
    const leaked = pids.filter(isProcessAlive);
    if (leaked.length > 0) say(`WARNING: processes still alive after teardown: ${leaked.join(', ')}`);
    const passed = outcome?.result.passed === true && !failure;
    if (scratch && passed) rmSync(scratch, { recursive: true, force: true });
    // The pod runner and the operator pair write their logs into <scratch>/logs; a real node's are
    // saved above (nodeLogs); a stack that did not start leaves its own logs under <scratch>/stack.
    else if (scratch && system) say(`logs kept in ${path.join(scratch, 'logs')}`);
    else if (scratch)
      say(`the run's directory (the stack's state and logs, rendered values) kept in ${scratch}`);
    if (nodeLogs) say(`pod, kubelet and containerd logs and the events: ${nodeLogs} (README.txt lists them)`);
    say(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  if (failure) {
    say(
      interrupted
        ? 'interrupted'
        : `could not complete the run: ${failure instanceof Error ? failure.message : String(failure)}`,
    );
    return interrupted ? 130 : 2;
  }
  return outcome?.result.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
