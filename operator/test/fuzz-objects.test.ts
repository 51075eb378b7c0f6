// The fuzz generators are deterministic per seed (a failure reproduces with the printed seed) and
// reach every kind of case.
import {
  fuzzChaos,
  fuzzEdit,
  fuzzSecretData,
  fuzzSpec,
  seededRng,
  type FuzzContext,
} from './fuzz-objects.js';

const ctx: FuzzContext = {
  natsUrl: 'nats://127.0.0.1:4222',
  stream: 'FUZZ',
  consumer: 'worker',
  targets: ['fuzz-target-0', 'fuzz-target-1'],
  secrets: ['fuzz-secret-0'],
};

describe('fuzz generators', () => {
  it('give the same objects for the same seed and different ones for another', () => {
    const run = (seed: number): string => {
      const rng = seededRng(seed);
      return JSON.stringify(
        [...Array(50)].map(() => [fuzzSpec(rng, ctx), fuzzSecretData(rng), fuzzEdit(rng, ctx)]),
      );
    };
    expect(run(42)).toBe(run(42));
    expect(run(42)).not.toBe(run(43));
  });

  it('give Secrets whose keys the API server accepts, over many seeds', () => {
    // Seed 22052's first Secret had the key '..aJS.API0a…', refused (422): the fuzz stopped at once.
    const configKey = /^[-._a-zA-Z0-9]+$/;
    for (let seed = 0; seed < 1000; seed += 1) {
      const rng = seededRng(seed);
      for (let i = 0; i < 8; i++)
        for (const key of Object.keys(fuzzSecretData(rng))) {
          const ok = configKey.test(key) && key.length <= 253 && key !== '.' && !key.startsWith('..');
          if (!ok) throw new Error(`seed ${seed}, Secret ${i}: key ${JSON.stringify(key)} would be refused`);
        }
    }
  });

  it('produce huge strings, Unicode whitespace and out-of-range numbers among 500 specs', () => {
    const rng = seededRng(7);
    const text = JSON.stringify([...Array(500)].map(() => fuzzSpec(rng, ctx)));
    // Booleans, not toContain: a failure must not print megabytes of junk.
    expect(text.length > 100_000).toBe(true);
    expect(text.includes('\u00a0')).toBe(true);
    expect(/9007199254740994|2147483648|1e\+300/.test(text)).toBe(true);
    expect(text.includes('\\r\\n')).toBe(true);
  });

  it('give most objects their own Deployment, and edits that lower maxReplicas and rename targets', () => {
    const rng = seededRng(11);
    const specs = [...Array(200)].map(() => fuzzSpec(rng, { ...ctx, own: 'mine' }));
    const own = specs.filter(
      (s) => (s.scaleTargetRef as { name?: string } | undefined)?.name === 'mine',
    ).length;
    expect(own).toBeGreaterThan(80);
    const edits = JSON.stringify([...Array(200)].map(() => fuzzEdit(rng, { ...ctx, own: 'theirs' })));
    expect(edits.includes('"maxReplicas":1')).toBe(true);
    expect(edits.includes('"name":"theirs"')).toBe(true);
    expect(edits.includes('"paused":true')).toBe(true);
  });

  it('give chaos of every kind, on shared and own Deployments, and edits that set and remove pausedReplicas', () => {
    const rng = seededRng(13);
    const actions = [...Array(100)].map(() => fuzzChaos(rng, { ...ctx, own: 'mine' }));
    const kinds = new Set(actions.map((a) => a.kind));
    expect([...kinds].sort()).toEqual([
      'holdDeletion',
      'recreateDeployment',
      'recreateEventConsumer',
      'scaleDeployment',
    ]);
    const names = new Set(actions.flatMap((a) => ('name' in a ? [a.name] : [])));
    expect(names.has('mine') && names.has('fuzz-target-0')).toBe(true);
    const replicas = new Set(actions.flatMap((a) => ('replicas' in a ? [a.replicas] : [])));
    expect(replicas.has(0) && replicas.has(40)).toBe(true);
    const edits = [...Array(500)].map(() => fuzzEdit(rng, ctx));
    const paused = new Set(edits.flatMap((e) => ('pausedReplicas' in e ? [e.pausedReplicas] : [])));
    expect(paused.has(7) && paused.has(null)).toBe(true);
  });
});
