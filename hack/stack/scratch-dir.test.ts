import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeScratchDir, startInScratchDir } from './scratch-dir.js';

describe('startInScratchDir', () => {
  const parents: string[] = [];
  const parent = (): string => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-scratch-test-'));
    parents.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of parents) rmSync(dir, { recursive: true, force: true });
  });

  it('starts in a fresh directory and removes it, with what was written there, once stopped', async () => {
    const tmp = parent();
    const neighbour = path.join(tmp, 'jetscale-realnode-other');
    mkdirSync(neighbour);
    const events: string[] = [];
    const run = await startInScratchDir(
      'jetscale-realnode-',
      async (dir) => {
        mkdirSync(path.join(dir, 'kwok'));
        writeFileSync(path.join(dir, 'kwok', 'log'), 'x');
        return {
          stop: async () => void events.push(`stopped while ${existsSync(dir) ? 'present' : 'gone'}`),
        };
      },
      tmp,
    );
    expect(path.dirname(run.dir)).toBe(tmp);
    expect(path.basename(run.dir)).toMatch(/^jetscale-realnode-.{6}$/);
    expect(existsSync(path.join(run.dir, 'kwok', 'log'))).toBe(true);
    await run.stop();
    expect(events).toEqual(['stopped while present']);
    expect(existsSync(run.dir)).toBe(false);
    // Only its own directory: a neighbour with the same prefix stays.
    expect(readdirSync(tmp)).toEqual(['jetscale-realnode-other']);
  });

  it('keeps the directory when starting fails: the error points at the logs in it', async () => {
    const tmp = parent();
    await expect(
      startInScratchDir(
        'jetscale-test-',
        async (dir) => {
          writeFileSync(path.join(dir, 'kwokctl.log'), 'bind: address in use');
          throw new Error(`kwokctl create cluster failed (logs in ${dir})`);
        },
        tmp,
      ),
    ).rejects.toThrow(/kwokctl create cluster failed/);
    const [left] = readdirSync(tmp);
    expect(left).toMatch(/^jetscale-test-/);
    expect(readdirSync(path.join(tmp, left ?? ''))).toEqual(['kwokctl.log']);
  });

  it('keeps the directory when stopping fails: something may still run there', async () => {
    const tmp = parent();
    const run = await startInScratchDir(
      'jetscale-test-',
      async () => ({
        stop: async () => {
          throw new Error('kwokctl delete cluster failed');
        },
      }),
      tmp,
    );
    await expect(run.stop()).rejects.toThrow(/kwokctl delete cluster failed/);
    expect(existsSync(run.dir)).toBe(true);
  });

  it.each(['', 'jetscale-test', '../jetscale-', 'Jetscale-', 'jetscale/x-'])(
    'refuses the prefix %j, saying what a prefix looks like',
    async (prefix) => {
      await expect(
        startInScratchDir(prefix, async () => ({ stop: async () => undefined }), parent()),
      ).rejects.toThrow(/must be lower-case words joined and ended by "-"/);
    },
  );
});

describe('makeScratchDir', () => {
  it('makes a fresh directory and removes it, and only it', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'jetscale-scratch-test-'));
    try {
      mkdirSync(path.join(tmp, 'jetscale-values-other'));
      const scratch = makeScratchDir('jetscale-values-', tmp);
      expect(path.basename(scratch.dir)).toMatch(/^jetscale-values-.{6}$/);
      writeFileSync(path.join(scratch.dir, 'values.yaml'), '{}');
      scratch.remove();
      expect(readdirSync(tmp)).toEqual(['jetscale-values-other']);
      scratch.remove(); // twice is fine
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('refuses a prefix that could name another directory', () => {
    expect(() => makeScratchDir('../jetscale-')).toThrow(/must be lower-case words joined and ended by "-"/);
  });
});
