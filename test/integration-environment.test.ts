// The integration environment keeps a file's console.log traces out of the CI log
// (test/integration-environment.js): they go to reports/traces/<file>.log, the log gets one line
// naming it, and a failed test's own lines (after the file's hook lines) are printed into the log.
// Driven here as jest drives it: constructed, set up, fed the test events, torn down.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { jest } from '@jest/globals';
import IntegrationEnvironment from './integration-environment.js';
import { testScratchDir } from './scratch.js';

interface Env {
  setup(): Promise<void>;
  teardown(): Promise<void>;
  handleTestEvent(event: unknown): void;
  global: { console: Console };
}

/** A test as jest-circus hands it to the environment: a name and its describe block. */
function circusTest(name: string, errors: unknown[] = []) {
  const root = { name: 'ROOT_DESCRIBE_BLOCK', parent: undefined };
  const block = { name: 'a block', parent: root };
  return { name, parent: block, errors };
}

async function withEnvironment(
  run: (env: Env, printed: () => string, root: string) => Promise<void>,
): Promise<void> {
  const root = testScratchDir('jetscale-trace-env-');
  mkdirSync(path.join(root, 'operator', 'test'), { recursive: true });
  const testPath = path.join(root, 'operator', 'test', 'example.int.test.ts');
  const jestConsole = {
    log: jest.fn(),
    info: jest.fn(),
    debug: jest.fn(),
    warn: jest.fn(),
    error: jest.fn(),
  };
  const env = new (IntegrationEnvironment as unknown as new (config: unknown, context: unknown) => Env)(
    { projectConfig: { rootDir: root, testEnvironmentOptions: {}, globals: {} }, globalConfig: {} },
    { testPath, console: jestConsole, docblockPragmas: {} },
  );
  const out: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    out.push(String(chunk));
    return true;
  });
  try {
    // jest sets the file's console before setup (jest-runner); the environment wraps whatever is there.
    env.global.console = jestConsole as unknown as Console;
    await env.setup();
    await run(env, () => out.join(''), root);
    expect(jestConsole.log).not.toHaveBeenCalled();
    env.global.console.warn('a warning stays with jest');
    expect(jestConsole.warn).toHaveBeenCalledWith('a warning stays with jest');
  } finally {
    write.mockRestore();
    await env.teardown();
  }
}

test('console.log of an integration file goes to its trace file, and the log gets one line naming it', async () => {
  await withEnvironment(async (env, printed, root) => {
    const file = path.join(root, 'reports', 'traces', 'operator-test-example.int.log');
    expect(existsSync(file)).toBe(false);
    env.global.console.log('poll %d: %s', 1, 'a long per-poll line');
    const test = circusTest('passes');
    env.handleTestEvent({ name: 'test_start', test });
    env.global.console.info({ replicas: 4 });
    env.global.console.debug('another');
    env.handleTestEvent({ name: 'test_done', test });
    expect(readFileSync(file, 'utf8')).toBe('poll 1: a long per-poll line\n{ replicas: 4 }\nanother\n');
    expect(printed()).toBe(
      '[trace] operator/test/example.int.test.ts: its console.log lines are in reports/traces/operator-test-example.int.log\n',
    );
  });
});

test("a failed test's own lines are printed, after the hooks' lines, and not another test's", async () => {
  await withEnvironment(async (env, printed) => {
    env.global.console.log('beforeAll: scenario started');
    const passing = circusTest('passes');
    env.handleTestEvent({ name: 'test_start', test: passing });
    env.global.console.log('line of the passing test');
    env.handleTestEvent({ name: 'test_done', test: passing });
    const failing = circusTest('fails', [new Error('expected 4, got 3')]);
    env.handleTestEvent({ name: 'test_start', test: failing });
    env.global.console.log('readings 1 2 3\nsecond line');
    env.handleTestEvent({ name: 'test_done', test: failing });
    const out = printed();
    expect(out).toContain('[trace] "a block fails" failed: what it logged (1 line(s))');
    expect(out).toContain('  | beforeAll: scenario started\n  | readings 1 2 3\n  | second line\n');
    expect(out).not.toContain('line of the passing test');
    expect(out).toContain('[trace] end of "a block fails"');
  });
});

test('a failed hook prints what the hooks logged', async () => {
  await withEnvironment(async (env, printed) => {
    env.global.console.log('publishing 1,500 standing messages');
    env.handleTestEvent({ name: 'hook_failure', hook: { type: 'beforeAll' } });
    expect(printed()).toContain(
      "[trace] beforeAll of operator/test/example.int.test.ts failed: what it logged (0 line(s)) after the last of the file's hooks (1 of 1)",
    );
    expect(printed()).toContain('  | publishing 1,500 standing messages\n');
  });
});

test("a failed test's trace printed into the log is its last 64 KiB at most", async () => {
  await withEnvironment(async (env, printed) => {
    const failing = circusTest('fails', [new Error('no')]);
    env.handleTestEvent({ name: 'test_start', test: failing });
    for (let i = 0; i < 2000; i++) env.global.console.log(`line ${i} ${'x'.repeat(100)}`);
    env.handleTestEvent({ name: 'test_done', test: failing });
    const out = printed();
    expect(out).toContain('its last lines');
    expect(out).toContain(`  | line 1999 ${'x'.repeat(100)}\n`);
    expect(out).not.toContain('  | line 0 ');
    expect(out.length).toBeLessThan(80 * 1024);
  });
});
