// Which Node.js jetscale needs, checked against what its packages declare (package-lock.json's
// `engines`, what npm compares when it prints EBADENGINE) and against what one of them needs in
// fact. package.json's `engines.node` is the one place the minimum is written; the README quotes it.
import { jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { repoRoot } from '../../hack/stack/tools.js';

type Version = [number, number, number];

/** The smallest version a partial like 20, 20.18, 22.x or 6.* names, and the first above it. */
function partial(text: string): { low: Version; high: Version } {
  const parts = text.replace(/^v/, '').split('.');
  const nums = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : undefined));
  const [major = 0, minor, patch] = nums;
  if (minor === undefined) return { low: [major, 0, 0], high: [major + 1, 0, 0] };
  if (patch === undefined) return { low: [major, minor, 0], high: [major, minor + 1, 0] };
  return { low: [major, minor, patch], high: [major, minor, patch + 1] };
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** Whether `version` satisfies an npm `engines` range (the comparator forms the lockfile uses). */
function satisfies(version: Version, range: string): boolean {
  return range.split('||').some((alternative) => {
    const comparators = alternative
      .trim()
      .replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1')
      .split(/\s+/);
    return comparators.every((c) => {
      if (c === '' || c === '*' || c === 'x') return true;
      const m = /^(>=|<=|>|<|=|\^|~)?(.+)$/.exec(c);
      if (!m?.[2]) throw new Error(`cannot read the engines range "${range}"`);
      const { low, high } = partial(m[2]);
      switch (m[1]) {
        case '>=':
          return compare(version, low) >= 0;
        case '>':
          return compare(version, high) >= 0;
        case '<':
          return compare(version, low) < 0;
        case '<=':
          return compare(version, high) < 0;
        case '^':
          return compare(version, low) >= 0 && version[0] === low[0];
        case '~':
          return compare(version, low) >= 0 && version[0] === low[0] && version[1] === low[1];
        default:
          return compare(version, low) >= 0 && compare(version, high) < 0;
      }
    });
  });
}

const packageJson = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  engines: { node: string };
};
const lock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } }>;
};

/** Packages whose declared engines leave out the minimum, and why jetscale runs them there anyway. */
const knownExceptions: Record<string, string> = {
  '@nats-io/nuid@3.0.0':
    'declares node ">= 22.x" but uses nothing newer than Node 19 (globalThis.crypto): the test below runs it',
};

describe('the Node.js version jetscale declares', () => {
  const minimum = /^>=(\d+\.\d+)$/.exec(packageJson.engines.node)?.[1];

  test('package.json states one minimum, >=MAJOR.MINOR', () => {
    expect(minimum).toBeDefined();
  });

  test('the engines range reader agrees with npm on the forms the lockfile uses', () => {
    expect(satisfies([20, 18, 0], '^20.19.0 || ^22.13.0 || >=24')).toBe(false);
    expect(satisfies([20, 19, 0], '^20.19.0 || ^22.13.0 || >=24')).toBe(true);
    expect(satisfies([20, 20, 2], '>= 22.x')).toBe(false);
    expect(satisfies([22, 0, 0], '>= 22.x')).toBe(true);
    expect(satisfies([20, 0, 0], '20 || >=22')).toBe(true);
    expect(satisfies([21, 5, 0], '20 || >=22')).toBe(false);
    expect(satisfies([20, 18, 0], '>=16 || 14 >=14.17')).toBe(true);
    expect(satisfies([20, 18, 0], '6.* || 8.* || >= 10.*')).toBe(true);
    expect(satisfies([20, 18, 0], '*')).toBe(true);
  });

  test('every package in package-lock.json admits it, except the ones known and explained', () => {
    const [major = 0, minor = 0] = (minimum ?? '0.0').split('.').map(Number);
    const refusing = Object.entries(lock.packages)
      .filter(([, p]) => p.engines?.node !== undefined && !satisfies([major, minor, 0], p.engines.node))
      .map(([where, p]) => `${where.replace(/^.*node_modules\//, '')}@${p.version ?? '?'}`);
    expect([...new Set(refusing)].sort()).toEqual(Object.keys(knownExceptions).sort());
  });
});

describe('@nats-io/nuid on the Node.js running these tests', () => {
  // Resolved as nats-core resolves it (the copy every NATS connection's inbox names come from).
  const requireFromCore = createRequire(
    createRequire(path.join(repoRoot, 'package.json')).resolve('@nats-io/nats-core'),
  );
  const { Nuid } = requireFromCore('@nats-io/nuid') as { Nuid: new () => { next(): string } };

  test('takes its prefix from crypto.getRandomValues, not the Math.random fallback', () => {
    const spy = jest.spyOn(globalThis.crypto, 'getRandomValues');
    try {
      new Nuid().next();
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  test('produces 22-character base-62 ids, unique, sharing a prefix within one generator', () => {
    const generator = new Nuid();
    const ids = Array.from({ length: 20_000 }, () => generator.next());
    for (const id of ids.slice(0, 1000)) expect(id).toMatch(/^[0-9A-Za-z]{22}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids.map((id) => id.slice(0, 12))).size).toBe(1);
    expect(new Nuid().next().slice(0, 12)).not.toBe(ids[0]?.slice(0, 12));
  });
});
