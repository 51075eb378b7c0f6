// Jest global setup for the integration project: a real NATS JetStream server and a real
// Kubernetes control plane on 127.0.0.1, or — when JETSCALE_TEST_ENV names a dev stack's env
// file (`make dev-up` prints it) — that running stack, reused. A stack started here lives in
// /tmp/jetscale-test-*, which the teardown removes with it, or, when jest is killed and runs no
// teardown, the stack's watchdog (hack/stack/stack-watchdog.ts).
// Plain JS on purpose: jest loads global setup outside its module mapper, so the TypeScript stack
// code is loaded through tsx.
import path from 'node:path';
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { readEnvFile, startStack, writeEnvFile } = await tsImport('../hack/stack/stack.ts', import.meta.url);
  const exportEnv = (env) => Object.entries(env).forEach(([k, v]) => (process.env[k] = v));
  const reuse = process.env.JETSCALE_TEST_ENV;
  if (reuse) {
    exportEnv(readEnvFile(reuse));
    console.error(`\n[test] reusing the stack described by ${reuse}`);
    return;
  }
  const { startInScratchDir } = await tsImport('../hack/stack/scratch-dir.ts', import.meta.url);
  const { removeWhenThisProcessEnds } = await tsImport('../hack/stack/stack-watchdog.ts', import.meta.url);
  const { clusterExecutables } = await tsImport('../hack/stack/cluster.ts', import.meta.url);
  const started = Date.now();
  console.error('');
  const {
    running: stack,
    dir,
    stop,
  } = await startInScratchDir('jetscale-test-', async (dir) => {
    // A jest that is killed runs no teardown: the control plane kwokctl starts would run on.
    const watchdog = removeWhenThisProcessEnds(dir, clusterExecutables());
    try {
      const stack = await startStack({
        dir,
        clusterName: `jetscale-test-${process.pid}`,
        progress: (line) => console.error(`[test] ${line}`),
      });
      writeEnvFile(path.join(dir, 'env'), stack.env);
      return stack;
    } catch (err) {
      watchdog.keepDirectory(); // its logs say why the stack did not start
      throw err;
    }
  });
  exportEnv(stack.env);
  console.error(
    `[test] stack up in ${((Date.now() - started) / 1000).toFixed(1)} s (state in ${dir}, removed at the end)`,
  );
  globalThis.__jetscaleStopStack = stop;
}
