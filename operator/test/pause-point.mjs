// Test-only preload for the HA drills (`node --import <this file> dist/operator/src/main.js`): it
// freezes the operator's main thread at a named pause point of its code, on cue — as a long
// stop-the-world GC pause or a frozen VM would freeze it there — and lets it go on cue. Unlike
// SIGSTOP, which almost always catches a Node process idle in epoll_wait (and on resume libuv runs
// the overdue timers, the term's deadline first, before any I/O), this stops it in the middle of
// JavaScript: when it resumes, the code after the breakpoint runs before any timer can.
//
// A worker thread drives the main thread's V8 inspector. With JETSCALE_PAUSE_DIR set:
//   <dir>/arm      written by the drill: {"point": "<a name in operator/src/kube/pause-points.ts>"};
//                  read once (and removed); a breakpoint is set on every call of that point's
//                  function (found through its global registry, not by source text), and
//                  <dir>/armed written;
//   <dir>/paused   written here at the first hit (the main thread is now frozen);
//   <dir>/resume   written by the drill (and removed here): the breakpoint is removed and the
//                  main thread resumes. A failure is written to <dir>/error.
// Nothing else of the process is touched.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';
import process from 'node:process';
import { clearInterval, setInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread } from 'node:worker_threads';

const dir = process.env.JETSCALE_PAUSE_DIR;

/** Resolves once `file` exists, looking every 20 ms. */
function appears(file) {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (existsSync(file)) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
  });
}

// Module-level: a Session only referenced from a pending request would be garbage-collected, and
// the request never answered.
const session = new Session();

async function drive() {
  // The inspector connection does not keep the worker's event loop alive; this does (the worker
  // itself is unref'd, so the process still exits when the operator does).
  setInterval(() => undefined, 60_000);
  session.connectToMainThread();
  const post = (method, params = {}) =>
    new Promise((resolve, reject) =>
      session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
    );
  let breakpointId;
  session.on('Debugger.paused', (message) => {
    const hit = breakpointId !== undefined && message.params.hitBreakpoints?.includes(breakpointId);
    if (!hit) {
      void post('Debugger.resume');
      return;
    }
    writeFileSync(path.join(dir, 'paused'), `${Date.now()}\n`);
    void appears(path.join(dir, 'resume')).then(async () => {
      rmSync(path.join(dir, 'resume'));
      await post('Debugger.removeBreakpoint', { breakpointId });
      breakpointId = undefined;
      await post('Debugger.resume');
    });
  });
  // The debugger is enabled only once armed: it slows the process down (start-up most of all).
  await appears(path.join(dir, 'arm'));
  await post('Debugger.enable');
  const { point } = JSON.parse(readFileSync(path.join(dir, 'arm'), 'utf8'));
  rmSync(path.join(dir, 'arm')); // once: a restarted process (same directory) is not armed again
  // The point is a function of operator/src/kube/pause-points.ts, registered on globalThis: the
  // breakpoint is on its call, wherever the code around it moves.
  const { result } = await post('Runtime.evaluate', {
    expression: `globalThis[Symbol.for('jetscale.pausePoints')]?.[${JSON.stringify(point)}]`,
  });
  if (result.type !== 'function' || result.objectId === undefined) {
    writeFileSync(
      path.join(dir, 'error'),
      `no pause point ${JSON.stringify(point)} is registered (operator/src/kube/pause-points.ts; got ${result.type})\n`,
    );
    return;
  }
  ({ breakpointId } = await post('Debugger.setBreakpointOnFunctionCall', { objectId: result.objectId }));
  writeFileSync(path.join(dir, 'armed'), `${point}\n`);
}

if (dir !== undefined) {
  if (isMainThread) new Worker(fileURLToPath(import.meta.url)).unref();
  else
    drive().catch((err) => {
      writeFileSync(path.join(dir, 'error'), `${err instanceof Error ? err.stack : String(err)}\n`);
    });
}
