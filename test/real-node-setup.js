// Jest global setup for the real-node project (`make e2e-real-node`): builds the images
// (hack/images.sh, tag "test") and starts a stack of its own with a real kubelet + containerd node
// (hack/stack/real-node.ts): NATS and the control plane on the node's private IP, which its pods
// reach; its directory (/tmp/jetscale-realnode-*) goes with it at the end. The tests find it
// through the same environment variables as the integration project, plus JETSCALE_REAL_NODE_STATE
// and JETSCALE_IMAGE_TAG. Needs root, Docker and containerd; the error says what is missing. Plain JS: jest loads global setup outside its module mapper.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

export default async function realNodeSetup() {
  const { startStack, writeEnvFile } = await tsImport('../hack/stack/stack.ts', import.meta.url);
  const { realNodeUnavailable } = await tsImport('../loadtest/harness/real-node-runtime.ts', import.meta.url);
  const why = await realNodeUnavailable();
  if (why)
    throw new Error(
      `the real-node tests need a host that can run a real node: ${why}\n` +
        '(`make test` runs them and CI installs all of this in .ci/run; on a host that cannot, `make test NO_REAL_NODE=1` leaves them out and says so)',
    );
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const tag = 'test';
  const started = Date.now();
  console.error(
    `\n[real-node] building jetscale/operator:${tag} and jetscale/workloads:${tag} (hack/images.sh)…`,
  );
  execFileSync('bash', [path.join(root, 'hack', 'images.sh'), tag], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const { startInScratchDir } = await tsImport('../hack/stack/scratch-dir.ts', import.meta.url);
  const {
    running: stack,
    dir,
    stop,
  } = await startInScratchDir('jetscale-realnode-', async (dir) => {
    const stack = await startStack({
      dir,
      clusterName: `jetscale-rn-${process.pid}`,
      realNode: true,
      progress: (line) => console.error(`[real-node] ${line}`),
    });
    try {
      await stack.realNode.importDockerImages([`jetscale/operator:${tag}`, `jetscale/workloads:${tag}`]);
    } catch (err) {
      await stack.stop();
      throw err;
    }
    writeEnvFile(path.join(dir, 'env'), stack.env);
    return stack;
  });
  for (const [k, v] of Object.entries(stack.env)) process.env[k] = v;
  process.env.JETSCALE_IMAGE_TAG = tag;
  console.error(
    `[real-node] images and stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s (state in ${dir}, removed at the end)`,
  );
  globalThis.__jetscaleStopRealNodeStack = stop;
}
