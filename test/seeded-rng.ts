// The seeded random source every fuzzer here draws from (the operator's object fuzzer, the
// gateway's request fuzzer, the scaling-policy fuzzer): the same seed gives the same run, so a
// failure replays from the seed it printed.

export type Rng = () => number;

/** mulberry32: small, fast and good enough to drive a fuzzer reproducibly. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** One of `items`, uniformly. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}
