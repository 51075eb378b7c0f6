// Jest global setup for the integration project: a real NATS JetStream server and a real
// Kubernetes control plane on 127.0.0.1, or — when JETSCALE_TEST_ENV names a dev stack's env
// file (`make dev-up` prints it) — that running stack, reused. A stack started here lives in
// /tmp/jetscale-test-*, which the teardown removes with it.
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
  const started = Date.now();
  console.error('');
  const {
    running: stack,
    dir,
    stop,
  } = await startInScratchDir('jetscale-test-', async (dir) => {
    const stack = await startStack({
      dir,
      clusterName: `jetscale-test-${process.pid}`,
      progress: (line) => console.error(`[test] ${line}`),
    });
    writeEnvFile(path.join(dir, 'env'), stack.env);
    return stack;
  });
  exportEnv(stack.env);
  console.error(
    `[test] stack up in ${((Date.now() - started) / 1000).toFixed(1)} s (state in ${dir}, removed at the end)`,
  );
  globalThis.__jetscaleStopStack = stop;
}
