// Where the pinned tools built by hack/tools.sh live, and a clear error when one is missing.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found from this file whether it runs from source or from dist/. */
export const repoRoot = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'hack', 'versions.env'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the jetscale repository root (hack/versions.env)');
    dir = parent;
  }
  return dir;
})();

export const toolsBin = process.env.JETSCALE_TOOLS_BIN ?? path.join(repoRoot, '.tools', 'bin');

export type ToolName =
  | 'nats-server'
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubectl'
  | 'kwok'
  | 'kwokctl'
  | 'helm'
  | 'prometheus'
  | 'promtool'
  | 'shellcheck'
  /** The nats.go sample consumer of the real-client matrix (workloads/go-consumer), not a pin. */
  | 'jetscale-go-consumer'
  /** The jnats consumer of the real-client matrix (workloads/java-consumer): a launcher script. */
  | 'jetscale-java-consumer'
  /** The async-nats consumer of the real-client matrix (workloads/rust-consumer). */
  | 'jetscale-rust-consumer';

/** Absolute path of a pinned tool; throws with the command that builds it when it is absent. */
export function toolPath(name: ToolName): string {
  const p = path.join(toolsBin, name);
  if (!existsSync(p)) {
    throw new Error(`${name} is not built: run \`make tools\` (hack/tools.sh) to build it into ${toolsBin}`);
  }
  return p;
}

/**
 * Where `hack/tools.sh nats-py` installs the pinned nats-py (NATS_PY_VERSION): a directory for
 * PYTHONPATH, for the nats.py consumer of the real-client matrix (workloads/py-consumer).
 */
export function natsPyDir(): string {
  const version = pinnedVersions().NATS_PY_VERSION;
  if (version === undefined) throw new Error('NATS_PY_VERSION is missing from hack/versions.env');
  return path.join(toolsBin, `nats-py-${version}`);
}

/** The pinned versions from hack/versions.env (the one place they are written). */
export function pinnedVersions(): Record<string, string> {
  const text = readFileSync(path.join(repoRoot, 'hack', 'versions.env'), 'utf8');
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(\S+)/.exec(line);
    if (m?.[1] && m[2]) out[m[1]] = m[2];
  }
  return out;
}
