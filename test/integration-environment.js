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
//
// It also keeps a file's diagnostic traces out of the CI log: what a test prints with console.log
// (console.info, console.debug) goes to reports/traces/<file>.log, one file per test file, and the
// log gets one line naming that file, the first time the test file writes to it. When a test fails
// (or a hook), the lines it logged are printed into the log right there, with the lines the file's
// hooks logged (the last TRACE_HOOK_LINES), up to TRACE_DUMP_BYTES: a failing run still shows what
// explains it, a passing one only the pointer. console.warn and console.error stay jest's. A line
// meant for every run's log (a summary a maintainer reads) is written with process.stdout.write.
// Plain JS: jest loads a test environment outside its TypeScript transform.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { format } from 'node:util';
import { TestEnvironment } from 'jest-environment-node';

const SETTLE_MS = 30_000;
/** Where each integration file's console.log lines go, under the repository root. */
export const TRACE_DIR = path.join('reports', 'traces');
/** Of the lines logged outside any test (beforeAll, afterAll), the last this many are printed with a failure. */
const TRACE_HOOK_LINES = 40;
/** At most this much of a failed test's trace is printed into the log (its last lines); the file has all. */
const TRACE_DUMP_BYTES = 64 * 1024;

/** reports/traces/<the test file's path, '/' as '-', without .test.ts>.log, relative to the root. */
export function traceFileOf(rootDir, testPath) {
  const relative = path.relative(rootDir, testPath).replace(/\.test\.[cm]?[jt]s$/, '');
  return path.join(TRACE_DIR, `${relative.split(path.sep).join('-')}.log`);
}

/** "describe … test" as jest names a test. */
function fullName(test) {
  const names = [];
  for (let t = test; t !== undefined && t.parent !== undefined; t = t.parent) names.unshift(t.name);
  return names.join(' ');
}

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
    this.rootDir = config.projectConfig.rootDir;
    this.traceFile = traceFileOf(this.rootDir, this.testPath);
    /** Every traced line of this file: [the test running when it was logged (undefined in hooks), text]. */
    this.traced = [];
    this.traceOpened = false;
    this.currentTest = undefined;
  }

  async setup() {
    await super.setup();
    this.handlesBefore = new Set(liveHandles());
    // jest set the file's console before setup; log, info and debug go to the trace instead.
    const jestConsole = this.global.console;
    const trace = (...args) => this.trace(format(...args));
    const traced = { log: trace, info: trace, debug: trace };
    this.global.console = new Proxy(jestConsole, {
      get(target, prop) {
        if (Object.hasOwn(traced, prop)) return traced[prop];
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  trace(text) {
    const file = path.join(this.rootDir, this.traceFile);
    if (!this.traceOpened) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, '');
      this.traceOpened = true;
      process.stdout.write(
        `[trace] ${path.relative(this.rootDir, this.testPath)}: its console.log lines are in ${this.traceFile}\n`,
      );
    }
    appendFileSync(file, `${text}\n`);
    this.traced.push([this.currentTest, text]);
  }

  /** Prints what a failed test (or, with test undefined, a failed hook) logged, after the last hook lines. */
  printTrace(test, what) {
    const hooks = this.traced.filter(([t]) => t === undefined).map(([, text]) => text);
    const own = test === undefined ? [] : this.traced.filter(([t]) => t === test).map(([, text]) => text);
    if (hooks.length === 0 && own.length === 0) return;
    const lines = [...hooks.slice(-TRACE_HOOK_LINES), ...own];
    let text = lines.join('\n');
    let cut = '';
    if (Buffer.byteLength(text) > TRACE_DUMP_BYTES) {
      text = text.slice(-TRACE_DUMP_BYTES);
      text = text.slice(text.indexOf('\n') + 1);
      cut = ', its last lines';
    }
    process.stdout.write(
      `\n[trace] ${what} failed: what it logged (${own.length} line(s)) after the last of the file's hooks (${Math.min(hooks.length, TRACE_HOOK_LINES)} of ${hooks.length})${cut}; all in ${this.traceFile}:\n` +
        `${text.replace(/^/gm, '  | ')}\n[trace] end of ${what}\n`,
    );
  }

  handleTestEvent(event) {
    if (event.name === 'test_start') this.currentTest = event.test;
    else if (event.name === 'test_done') {
      if (event.test.errors.length > 0) this.printTrace(event.test, `"${fullName(event.test)}"`);
      this.currentTest = undefined;
    } else if (event.name === 'hook_failure') {
      this.printTrace(
        this.currentTest,
        `${event.hook.type} of ${path.relative(this.rootDir, this.testPath)}`,
      );
    }
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
