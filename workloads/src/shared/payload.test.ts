import { MAX_ABS_AMOUNT, MAX_PAYLOAD_DEPTH, payloadIssues } from './payload.js';

/** `{a: {a: … {leaf}}}` with `levels` objects in all (the payload itself is level 1). */
function nested(levels: number, leaf: unknown = 1): Record<string, unknown> {
  let value: unknown = leaf;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value as Record<string, unknown>;
}

describe('payloadIssues', () => {
  it('accepts ordinary payloads, including nesting up to the limit', () => {
    expect(payloadIssues({ amount: 12.5, note: 'x', items: [{ sku: 'a' }] })).toEqual([]);
    expect(payloadIssues(nested(MAX_PAYLOAD_DEPTH))).toEqual([]);
    expect(payloadIssues({ amount: -MAX_ABS_AMOUNT, constructor: 1, toString: 'x' })).toEqual([]);
  });

  it('refuses nesting past the limit and names the limit, without overflowing on extreme depth', () => {
    expect(payloadIssues(nested(MAX_PAYLOAD_DEPTH + 1))).toEqual([
      {
        path: Array.from({ length: MAX_PAYLOAD_DEPTH }, () => 'a'),
        message: `nested deeper than ${MAX_PAYLOAD_DEPTH} levels (MAX_PAYLOAD_DEPTH)`,
      },
    ]);
    // 100,000 levels of arrays: JSON.stringify would throw "Maximum call stack size exceeded".
    const deep = JSON.parse(`{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`) as unknown;
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    const issues = payloadIssues(deep);
    expect(issues).toHaveLength(1);
    expect(issues[0]?.message).toContain('MAX_PAYLOAD_DEPTH');
  });

  it('refuses a __proto__ key at any depth (a parser keeps it, a copy would drop it)', () => {
    const top = JSON.parse('{"__proto__": {"admin": true}, "amount": 1}') as unknown;
    expect(payloadIssues(top)).toEqual([
      { path: ['__proto__'], message: expect.stringContaining('__proto__') },
    ]);
    const deep = JSON.parse('{"a": [{"b": {"__proto__": 1}}]}') as unknown;
    expect(payloadIssues(deep)).toEqual([
      { path: ['a', 0, 'b', '__proto__'], message: expect.stringContaining('not allowed') },
    ]);
  });

  it.each([
    ['above the bound', 1.8e303],
    ['below the bound', -(MAX_ABS_AMOUNT * 10)],
    ['a string', '12'],
    ['null', null],
  ])('refuses an amount that is %s', (_name, amount) => {
    expect(payloadIssues({ amount })).toEqual([
      { path: ['amount'], message: expect.stringContaining('MAX_ABS_AMOUNT') },
    ]);
  });

  it('reports each rule at most once, however hostile the payload', () => {
    const many = Object.fromEntries(
      Array.from({ length: 1000 }, (_, i) => [`k${i}`, JSON.parse('{"__proto__": 1}') as unknown]),
    );
    expect(payloadIssues(many)).toHaveLength(1);
    expect(payloadIssues([1])).toEqual([{ path: [], message: 'must be a JSON object' }]);
  });
});
