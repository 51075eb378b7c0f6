// Stops the stack (real node included) test/real-node-setup.js started.
export default async function realNodeTeardown() {
  const stop = globalThis.__jetscaleStopRealNodeStack;
  if (stop) {
    console.error('[real-node] stopping the real node and the stack');
    await stop();
  }
}
