// Stops the stack global-setup.js started (a reused dev stack is left running).
export default async function globalTeardown() {
  const stop = globalThis.__jetscaleStopStack;
  if (stop) {
    console.error('[test] stopping the stack');
    await stop();
  }
}
