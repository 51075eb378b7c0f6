// The integration project's test environment: jest's node environment, plus a check that a test
// file leaves nothing running behind it. Every integration file runs in the one jest process
// (--runInBand), so a socket, server, child process or worker a file leaves open keeps working
// during the files after it (loading the machine, writing where a later file counts, holding the
// run open at its end: "Jest did not exit"). After the file's own afterAll hooks, every handle
// that keeps the process alive and was not there before the file must be gone within
// SETTLE_MS (closing a socket or reaping a killed child takes a moment); if one is not, the
// handles are stopped and the file fails, naming what it left ("[leak-guard]");
// JETSCALE_LEAK_GUARD=report only logs it (for finding every leak of a run at once). Every file ran
// clean in a full rehearsal (s19's ci10: no "[leak-guard]" line). Unreferenced handles (idle keep-alive
// sockets, unref'd timers) do not hold the process and are not counted; nor are stdin, stdout and
// stderr, made on first use.
// Plain JS: jest loads a test environment outside its TypeScript transform.
import { TestEnvironment } from 'jest-environment-node';

const SETTLE_MS = 30_000;

/** Handles that keep the process alive (node lists only referenced ones), stdio left out. */
function liveHandles() {
  return process._getActiveHandles().filter((h) => !(h?._isStdio === true || [0, 1, 2].includes(h?.fd)));
}

/** What a leaked handle is, in words a reader can trace to a test. */
function describeHandle(h) {
  const kind = h?.constructor?.name ?? typeof h;
  if (kind === 'ChildProcess')
    return `child process ${h.pid} (${(h.spawnargs ?? []).join(' ').slice(0, 160)})`;
  if (kind === 'Server') {
    const a = h.address?.();
    return `server listening on ${typeof a === 'object' && a !== null ? `${a.address}:${a.port}` : String(a)}`;
  }
  if (kind === 'Socket' || kind === 'TLSSocket')
    return `${kind} ${h.localAddress ?? '?'}:${h.localPort ?? '?'} -> ${h.remoteAddress ?? '?'}:${h.remotePort ?? '?'}`;
  return kind;
}

export default class IntegrationEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.testPath = context.testPath;
  }

  async setup() {
    await super.setup();
    this.handlesBefore = new Set(liveHandles());
  }

  async teardown() {
    await super.teardown();
    const left = () => liveHandles().filter((h) => !this.handlesBefore.has(h));
    const deadline = Date.now() + SETTLE_MS;
    while (left().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const handles = left();
    if (handles.length === 0) return;
    const leaked = handles.map(describeHandle);
    // Stopped here, so that one file's leak does not reach the files after it or hang the end of
    // the run.
    for (const h of handles) {
      if (typeof h.kill === 'function') h.kill('SIGKILL');
      else if (typeof h.destroy === 'function') h.destroy();
      else if (typeof h.close === 'function') h.close();
    }
    const problem =
      `${this.testPath} left ${leaked.length} handle(s) open ${SETTLE_MS / 1000} s after its last afterAll, ` +
      `which would go on running during the files after it in this jest process: ${leaked.join('; ')}. ` +
      'Close or stop them in afterAll (and await their end).';
    if (process.env.JETSCALE_LEAK_GUARD !== 'report') throw new Error(`[leak-guard] ${problem}`);
    process.stderr.write(`\n[leak-guard] ${problem} (stopped here; JETSCALE_LEAK_GUARD=report)\n`);
  }
}
