// Helpers for the packaging tests: run the pinned helm, kubectl, promtool and shellcheck,
// render the charts, and read YAML/JSON the way the API server and Grafana will.
import * as k8s from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pinnedVersions, repoRoot, toolPath } from '../../hack/stack/tools.js';
import { testScratchDir } from '../scratch.js';

export { repoRoot };

export const chartsDir = path.join(repoRoot, 'charts');
export const operatorChart = path.join(chartsDir, 'jetscale');
export const demoChart = path.join(chartsDir, 'jetscale-demo');

/** The Kubernetes version CI tests against (hack/versions.env), e.g. v1.34.4. */
export const kubernetesVersion = ((): string => {
  const v = pinnedVersions().KUBERNETES_VERSION;
  if (v === undefined) throw new Error('KUBERNETES_VERSION is missing from hack/versions.env');
  return v;
})();

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws on a non-zero exit (tests assert on it). */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  // JETSCALE_PKG_TRACE=1 logs each command as it starts (jest shows output only when a file ends).
  if (process.env.JETSCALE_PKG_TRACE) process.stderr.write(`[run] ${command} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    if (options.input !== undefined && child.stdin !== null) {
      // A command may exit before reading all of its input; that is its answer, not our error.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}

/** Runs a command and throws with its output when it fails. */
export async function runOk(
  command: string,
  args: string[],
  options: Parameters<typeof run>[2] = {},
): Promise<string> {
  const r = await run(command, args, options);
  if (r.code !== 0) {
    throw new Error(`${path.basename(command)} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

export const helmPath = (): string => toolPath('helm');
export const kubectlPath = (): string => toolPath('kubectl');

/** helm with an isolated home, so a developer's repos/plugins never change what tests see. */
export function helmEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = path.join(os.tmpdir(), 'jetscale-packaging-helm');
  for (const d of ['cache', 'config', 'data']) mkdirSync(path.join(home, d), { recursive: true });
  return {
    ...process.env,
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_DATA_HOME: path.join(home, 'data'),
    ...extra,
  };
}

export function helm(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<RunResult> {
  return run(helmPath(), args, { env: helmEnv(env), ...(input === undefined ? {} : { input }) });
}

/**
 * helm with `--values -` and the values on its stdin, as `--set`-free YAML (JSON is valid YAML;
 * it keeps numbers, booleans and strings exactly as written here). No file: a values file per
 * render once left hundreds of /tmp/jetscale-values-* directories behind.
 */
export function helmWithValues(
  args: string[],
  values: unknown,
  laterArgs: string[] = [],
): Promise<RunResult> {
  return helm([...args, '--values', '-', ...laterArgs], {}, JSON.stringify(values));
}

/**
 * A copy of charts/jetscale-demo whose charts/ holds a stand-in for the NATS dependency.
 *
 * Helm refuses to render a chart whose declared dependency is missing from charts/, even when
 * its condition is false, and the real NATS chart cannot be fetched here (no internet). The
 * stand-in has the dependency's name and a version inside the declared range, and renders one
 * marker ConfigMap, so tests can prove the `nats.enabled` condition switches the dependency
 * on and off. Chart.yaml, values and templates are the real ones.
 */
export function demoChartWithNatsStandIn(): string {
  const dir = testScratchDir('jetscale-demo-chart-');
  const chart = path.join(dir, 'jetscale-demo');
  cpSync(demoChart, chart, { recursive: true });
  const stand = path.join(chart, 'charts', 'nats');
  mkdirSync(path.join(stand, 'templates'), { recursive: true });
  writeFileSync(path.join(stand, 'Chart.yaml'), 'apiVersion: v2\nname: nats\nversion: 1.2.0\n');
  writeFileSync(
    path.join(stand, 'templates', 'marker.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-nats-standin-marker\n',
  );
  return chart;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/**
 * Parses a multi-document YAML stream (helm template output) into objects, skipping documents
 * that hold only comments. Strict: a duplicated key (which kubectl also refuses) throws.
 */
export function parseObjects(yamlText: string): KubeObject[] {
  return yamlText
    .split(/^---\s*$/m)
    .filter((doc) => doc.split('\n').some((line) => line.trim() !== '' && !line.trim().startsWith('#')))
    .map((doc): unknown => k8s.loadYaml(doc))
    .filter((d): d is KubeObject => typeof d === 'object' && d !== null && 'kind' in d);
}

export async function renderChart(
  chart: string,
  values: unknown = {},
  extraArgs: string[] = [],
): Promise<KubeObject[]> {
  const out = await helmWithValues(
    ['template', 'pkgtest', chart, '--namespace', 'pkgtest-ns', '--kube-version', kubernetesVersion],
    values,
    extraArgs,
  );
  if (out.code !== 0) throw new Error(`helm template ${path.basename(chart)} failed:\n${out.stderr}`);
  return parseObjects(out.stdout);
}

export function findObject<T = KubeObject>(objects: KubeObject[], kind: string, nameIncludes = ''): T {
  const found = objects.find((o) => o.kind === kind && (o.metadata?.name ?? '').includes(nameIncludes));
  if (found === undefined) {
    throw new Error(
      `no ${kind}${nameIncludes ? ` named *${nameIncludes}*` : ''} among: ${objects.map((o) => `${o.kind}/${o.metadata?.name}`).join(', ')}`,
    );
  }
  return found as T;
}

export function yamlFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => path.join(dir, f));
}
